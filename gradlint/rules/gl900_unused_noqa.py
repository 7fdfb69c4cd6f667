from gradlint.rule import Rule, Severity


class UnusedNoqa(Rule):
    """
    ## What it does
    Reports a suppression comment that suppressed nothing in this run: a `# noqa: GL080` or
    `# gradlint: ignore[GL080]` whose rule checked the file and found nothing on that line,
    a bare `# gradlint: ignore` on a line without findings, or a code that names no rule
    (`# noqa: GL999`). The engine judges the comments itself, once the other rules are done,
    like ruff's `RUF100`.

    ## Why is this bad?
    A suppression outlives the finding it was written for: once the code is fixed, the
    comment stays and silently hides the next problem on that line. A mistyped code
    suppresses nothing at all.

    Only gradlint's own codes are judged: `# noqa: E501` and a bare `# noqa` may serve
    another tool. A code whose rule did not check the file is not judged either (not
    selected, switched off by `per-file-ignores`, or a rule of `--dynamic` only): another run
    may need it. Off by default; select it with `--extend-select GL900`.

    ## Example
    ```python
    import torch

    logp = torch.log_softmax(logits, dim=-1)  # noqa: GL080
    ```

    Use instead:
    ```python
    import torch

    logp = torch.log_softmax(logits, dim=-1)
    ```

    ## Fix safety
    No fix: `gradlint --add-noqa` writes these comments, and deleting one is left to you.
    """

    code = "GL900"
    severity = Severity.WARNING
    message = "unused `{directive}` directive ({why})"
    frameworks = ("any",)
    default_enabled = False
