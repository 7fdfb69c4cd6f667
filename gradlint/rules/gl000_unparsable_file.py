from gradlint.rule import Rule, Severity


class UnparsableFile(Rule):
    """
    ## What it does
    Reports a file that gradlint could not check: it is not valid text in its declared
    encoding, it is not valid Python, it could not be read, or it is nested too deeply for
    the parser.

    ## Why is this bad?
    Every other rule is silent on a file it cannot parse, so without this finding a broken
    file would look clean. The message gives the reason and, for syntax errors, CPython's
    own location and wording.

    ## Example
    ```python
    import torch

    def loss(x:
        return x.sum()
    ```

    Use instead: fix the syntax error, or save the file as UTF-8 (or declare its encoding
    with a `# -*- coding: ... -*-` line).

    ## Python 2
    A file in Python 2 syntax (`print x`, `except E, e:`, tabs mixed with spaces) is not
    reported: it is checked as its line-for-line Python 3 reading, its findings are placed in
    its own lines and columns, and they carry no fix (the dynamic mode does not run it).
    """

    code = "GL000"
    severity = Severity.ERROR
    message = "file could not be checked: {reason}"
    frameworks = ("any",)
