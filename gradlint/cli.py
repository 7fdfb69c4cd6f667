"""The command line: `gradlint [PATH ...]`, `gradlint rule GL030`.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error.
Imports stay inside functions so that `--version` and `--help` start without libcst.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence

from gradlint import __version__

FORMATS = ("text", "json", "sarif", "github")
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradlint",
        description="Find differentiability pitfalls in machine-learning code.",
        epilog="`gradlint rule CODE` prints a rule's documentation; `gradlint server` starts the "
        "language server for editors. Exit status: 0 clean, "
        "1 findings, 2 usage, configuration or internal error.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to lint; `-` reads standard input (default: .)")
    parser.add_argument("--select", type=_codes, action="extend", metavar="CODES", help="only these rule codes or prefixes (comma-separated)")
    parser.add_argument("--ignore", type=_codes, action="extend", default=[], metavar="CODES", help="skip these rule codes or prefixes")
    parser.add_argument("--extend-select", type=_codes, action="extend", default=[], metavar="CODES", help="add rules to the selection")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of standard output")
    parser.add_argument("--statistics", action="store_true", help="count findings per rule")
    parser.add_argument("--jobs", "-j", type=int, default=0, metavar="N", help="processes to use (default: all cores)")
    parser.add_argument("--config", metavar="FILE", help="read settings from FILE instead of the nearest pyproject.toml / gradlint.toml")
    parser.add_argument("--isolated", action="store_true", help="ignore configuration files")
    parser.add_argument("--stdin-filename", metavar="NAME", help="the name to report for standard input")
    parser.add_argument("--force-exclude", action="store_true", help="apply exclude settings and .gitignore to files named on the command line too (for pre-commit)")
    parser.add_argument("--no-respect-gitignore", dest="respect_gitignore", action="store_false", help="lint files that .gitignore ignores")
    parser.add_argument("--fix", action="store_true", help="apply safe fixes in place (with `-`, print the fixed code)")
    parser.add_argument("--unsafe-fixes", action="store_true", help="also offer and apply fixes that change numerical results")
    parser.add_argument("--diff", action="store_true", help="print the fixes as a unified diff instead of writing them")
    parser.add_argument("--no-cache", dest="cache", action="store_false", help="neither read nor write the result cache")
    parser.add_argument("--cache-dir", metavar="DIR", help="where the result cache lives (default: .gradlint_cache beside the configuration, else in the current directory)")
    parser.add_argument("--baseline", metavar="FILE", help="report only findings not recorded in FILE; records them when FILE does not exist")
    parser.add_argument("--update-baseline", action="store_true", help="rewrite the --baseline file with the current findings")
    dynamic = parser.add_argument_group("dynamic mode", "run the code behind each finding and observe its gradient")
    dynamic.add_argument("--dynamic", action="store_true", help="confirm findings by running them (needs the framework installed)")
    dynamic.add_argument("--confirmed-only", action="store_true", help="report only findings the dynamic mode confirmed")
    dynamic.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="where to run them (auto: a GPU when the framework sees one; default: cpu)")
    dynamic.add_argument("--dynamic-timeout", type=float, default=20.0, metavar="S", help="seconds allowed per finding (default: 20)")
    dynamic.add_argument("--dynamic-jobs", type=int, default=1, metavar="N", help="worker processes at once (default: 1)")
    dynamic.add_argument("--dynamic-memory", type=int, default=4096, metavar="MB", help="memory limit per worker in MiB (default: 4096; 0: none)")
    dynamic.add_argument("--dynamic-sandbox", action="store_true", help="run the checked code without network and with the project read-only (Linux namespaces)")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    parser.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    parser.add_argument("--version", action="version", version=f"gradlint {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["rule"]:
            return _rule_command(argv[1:])
        if argv[:1] == ["server"]:
            return _server_command(argv[1:])
        return _lint_command(build_parser().parse_args(argv))
    except UsageError as error:
        print(f"gradlint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("gradlint: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gradlint . | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


def _rule_command(args: list[str]) -> int:
    from gradlint.dev.docs import rule_page
    from gradlint.registry import SelectionError, all_rules, get_rule

    if len(args) != 1 or args[0].startswith("-"):
        if args in (["--all"], []):
            for rule in all_rules():
                print(rule_page(rule))
            return EXIT_CLEAN
        raise UsageError("usage: gradlint rule CODE (or `gradlint rule --all`)")
    try:
        print(rule_page(get_rule(args[0])), end="")
    except SelectionError as error:
        raise UsageError(str(error)) from None
    return EXIT_CLEAN


def _server_command(args: list[str]) -> int:
    if args:
        raise UsageError("usage: gradlint server (speaks the language server protocol on stdin/stdout)")
    try:
        from gradlint.server import main as serve
    except ImportError as error:
        raise UsageError(f"the language server needs pygls: pip install 'gradlint[server]' ({error})") from None
    return serve()


def _settings(args: argparse.Namespace):
    from pathlib import Path

    from gradlint.config import ConfigError, Settings, find_config, load_settings

    try:
        if args.isolated:
            return Settings()
        if args.config:
            config = Path(args.config)
            if not config.is_file():
                raise UsageError(f"config file not found: {args.config}")
        else:
            first = next((p for p in args.paths if p != "-" and os.path.exists(p)), ".")
            config = find_config(Path(first))
        return load_settings(config)
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _lint_command(args: argparse.Namespace) -> int:
    from gradlint.api import lint_paths
    from gradlint.registry import SelectionError, expand, get_rule, select_codes
    from gradlint.report import renderer

    settings = _settings(args)
    _check_dynamic_options(args)
    try:
        codes = select_codes(
            args.select if args.select is not None else settings.select,
            [*settings.ignore, *args.ignore],
            [*settings.extend_select, *args.extend_select],
            dynamic=args.dynamic,
        )
        for listed in settings.per_file_ignores.values():
            expand(listed)  # an unknown code there is a configuration error too
    except SelectionError as error:
        where = f" (in {settings.source})" if settings.source else ""
        raise UsageError(f"{error}{where}") from None
    if args.list_rules:
        from gradlint.dev.docs import summary

        for rule in map(get_rule, codes):
            print(f"{rule.code}  {rule.name:<32} {rule.severity.value:<8} {summary(rule)}")
        return EXIT_CLEAN
    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (all cores) or more")
    paths = args.paths or ["."]
    stdin = sys.stdin.buffer.read() if "-" in paths else None
    fixing = args.fix or args.diff
    result, missing = lint_paths(
        paths,
        settings,
        codes,
        jobs=args.jobs or None,
        stdin=stdin,
        stdin_filename=args.stdin_filename or "-",
        force_exclude=args.force_exclude,
        respect_gitignore=args.respect_gitignore,
        fix=fixing,
        unsafe_fixes=args.unsafe_fixes,
        cache=_cache(args, settings),
        progress=_FileProgress() if _wants_progress(args) else None,
        plan=args.dynamic,
    )
    for path in missing:
        print(f"gradlint: error: no such file or directory: {path}", file=sys.stderr)
    if args.diff:
        return _show_diff(result, stdin, args.stdin_filename or "-", bool(missing or result.errors))
    if args.baseline:
        _apply_baseline(args, result, stdin)
    elif args.update_baseline:
        raise UsageError("--update-baseline needs --baseline FILE")
    report_stream = sys.stdout
    if args.fix:
        report_stream = _write_fixes(result, stdin, args.stdin_filename or "-")
    if args.dynamic:
        _run_dynamic(args, result, stdin, settings)
    text = renderer(args.format)(result, statistics=args.statistics, unsafe_fixes=args.unsafe_fixes)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    else:
        report_stream.write(text)
        report_stream.flush()
    if missing or result.errors:
        return EXIT_ERROR
    if result.findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _check_dynamic_options(args: argparse.Namespace) -> None:
    if not args.dynamic:
        used = [flag for flag, value in (("--confirmed-only", args.confirmed_only), ("--device", args.device != "cpu"),
                                         ("--dynamic-timeout", args.dynamic_timeout != 20.0),
                                         ("--dynamic-jobs", args.dynamic_jobs != 1),
                                         ("--dynamic-memory", args.dynamic_memory != 4096),
                                         ("--dynamic-sandbox", args.dynamic_sandbox)) if value]
        if used:
            raise UsageError(f"{used[0]} needs --dynamic")
    if args.dynamic_timeout <= 0:
        raise UsageError("--dynamic-timeout must be more than 0 seconds")
    if args.dynamic_jobs < 1:
        raise UsageError("--dynamic-jobs must be 1 or more")
    if args.dynamic_memory < 0:
        raise UsageError("--dynamic-memory must be 0 (no limit) or more")


def _sandbox_read_only(args: argparse.Namespace, settings, paths: list[str]) -> list[str] | None:
    """The directories a sandboxed worker sees read-only (the project and the directories of
    the checked files), or None: no sandbox asked for, or none possible here."""
    import tempfile

    from gradlint.dynamic import sandbox

    if not args.dynamic_sandbox:
        return None
    directories = {os.path.realpath(settings.root or os.getcwd())}
    directories.update(os.path.dirname(os.path.realpath(path)) for path in paths if path != "-")
    outermost = sorted(d for d in directories if not any(d.startswith(o + os.sep) for o in directories))
    reason = sandbox.unavailable_reason()
    temporary = os.path.realpath(tempfile.gettempdir())
    if reason is None and any(temporary == d or temporary.startswith(d + os.sep) for d in outermost):
        reason = f"the temporary directory {temporary} is inside the project"
    if reason is not None:
        print(f"gradlint: warning: --dynamic-sandbox is not available here: {reason}; "
              "the checked code runs without it (no network isolation, project writable)", file=sys.stderr)
        return None
    return outermost


def _run_dynamic(args: argparse.Namespace, result, stdin: bytes | None, settings) -> None:
    """Confirm what can be confirmed; keep dynamic-only findings only when confirmed, and with
    --confirmed-only nothing else either."""
    import time

    from gradlint.dynamic import DynamicOptions, confirm, count_confirmable
    from gradlint.engine.runner import decode
    from gradlint.registry import dynamic_only

    sources = {}
    if stdin is not None:
        fixed = next((f.fixed for f in result.fixed if f.path == (args.stdin_filename or "-")), None)
        sources[args.stdin_filename or "-"] = decode(fixed if fixed is not None else stdin)
    total = count_confirmable(result.findings)
    bar = _progress_bar(total) if _wants_progress(args) else None
    started = time.perf_counter()
    try:
        stats = confirm(
            result.findings,
            DynamicOptions(args.device, args.dynamic_timeout, args.dynamic_jobs, args.dynamic_memory,
                           _sandbox_read_only(args, settings, [f.path for f in result.findings])),
            on_result=(lambda _: bar.update(1)) if bar is not None else None,
            sources=sources,
            plans=result.plans,
        )
    finally:
        if bar is not None:
            bar.close()
    before = len(result.findings)
    result.findings = [
        f for f in result.findings
        if (f.confirmation or {}).get("verdict") == "confirmed" or not (args.confirmed_only or dynamic_only(f.rule))
    ]
    result.dynamic = {"checked": stats.checked, "verdicts": stats.verdicts,
                      "seconds": round(time.perf_counter() - started, 2), "hidden": before - len(result.findings)}


def _progress_bar(total: int):
    """The dynamic mode's progress bar on stderr (when tqdm is installed), else None."""
    if total == 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="gradlint --dynamic", unit="finding", file=sys.stderr, leave=False)


# A run shows its progress only once it has taken this long.
PROGRESS_DELAY = 1.0


def _wants_progress(args: argparse.Namespace) -> bool:
    """A bar only for a person watching: standard error a terminal, not CI, and the text format
    (JSON, SARIF and GitHub output are read by programs)."""
    return args.format == "text" and sys.stderr.isatty() and not os.environ.get("CI")


class _FileProgress:
    """Files done, files per second and the file being linted, on standard error; drawn once a
    run passes `PROGRESS_DELAY` (a thread redraws it while one slow file is linted) and erased
    at the end."""

    def __init__(self) -> None:
        self.bar = None
        self.current = ""
        self.stop = threading.Event()
        self.redrawing = threading.Thread(target=self._redraw, daemon=True)

    def start(self, files: int) -> None:
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=files, desc="gradlint", unit="file", file=sys.stderr, leave=False, delay=PROGRESS_DELAY)
        self.redrawing.start()

    def _redraw(self) -> None:
        if self.stop.wait(PROGRESS_DELAY):
            return
        while not self.stop.is_set():
            bar = self.bar
            if bar is not None:
                bar.set_postfix_str(self.current, refresh=False)
                bar.refresh()
            self.stop.wait(0.2)

    def working_on(self, path: str) -> None:
        self.current = path

    def done(self, files: int) -> None:
        if self.bar is not None:
            self.bar.update(files)

    def close(self) -> None:
        self.stop.set()
        if self.bar is not None:
            self.redrawing.join()  # no redraw after the bar is erased
            self.bar.close()


def _cache(args: argparse.Namespace, settings):
    from pathlib import Path

    from gradlint.cache import CACHE_DIR_NAME, ResultCache

    if not args.cache:
        return None
    if args.cache_dir:
        return ResultCache(Path(args.cache_dir))
    return ResultCache(Path(settings.root) / CACHE_DIR_NAME)


def _write_fixes(result, stdin: bytes | None, stdin_name: str):
    """Write fixed files in place; standard input's fixed code goes to stdout, and the report
    then goes to stderr, as with ruff. Returns the stream the report belongs on."""
    from gradlint.engine.fixes import write_atomically

    stream = sys.stdout
    for fixed in result.fixed:
        if stdin is not None and fixed.path == stdin_name:
            continue
        try:
            write_atomically(fixed.path, fixed.fixed)
        except OSError as error:  # that file keeps its old content; the others are still written
            result.errors.append({"path": fixed.path, "rule": None,
                                  "message": f"fixes not written: {error.strerror or error}"})
    if stdin is not None:
        fixed_stdin = next((f.fixed for f in result.fixed if f.path == stdin_name), None)
        sys.stdout.buffer.write(fixed_stdin if fixed_stdin is not None else stdin)
        sys.stdout.flush()
        stream = sys.stderr
    return stream


def _show_diff(result, stdin: bytes | None, stdin_name: str, failed: bool) -> int:
    """`--diff`: print what `--fix` would change; exit 1 when it would change something."""
    import difflib
    from pathlib import Path

    from gradlint.engine.runner import decode

    for fixed in result.fixed:
        try:
            before = stdin if stdin is not None and fixed.path == stdin_name else Path(fixed.path).read_bytes()
        except OSError as error:  # deleted or replaced since it was linted
            print(f"gradlint: error: cannot read {fixed.path}: {error.strerror or error}", file=sys.stderr)
            failed = True
            continue
        relative = not os.path.isabs(fixed.path)  # `a/`, `b/` prefixes let `git apply` take the diff
        sys.stdout.writelines(
            difflib.unified_diff(
                decode(before).splitlines(keepends=True),
                decode(fixed.fixed).splitlines(keepends=True),
                f"a/{fixed.path}" if relative else fixed.path,
                f"b/{fixed.path}" if relative else fixed.path,
            )
        )
    unchecked = [f for f in result.findings if f.rule == "GL000"]  # unreadable or unparsable: no diff can be made
    for finding in unchecked:
        print(f"{finding.path}:{finding.line}:{finding.column}: {finding.rule} {finding.message}", file=sys.stderr)
    failed = failed or bool(unchecked)
    count = result.fixes_applied
    print(f"Would fix {count} finding{'s' if count != 1 else ''}." if count else "No fixes available.", file=sys.stderr)
    if failed:
        return EXIT_ERROR
    return EXIT_FINDINGS if count else EXIT_CLEAN


def _apply_baseline(args: argparse.Namespace, result, stdin: bytes | None) -> None:
    """Record the findings in the baseline file, or keep only those it does not record."""
    from pathlib import Path

    from gradlint import baseline
    from gradlint.engine.runner import decode

    stdin_name = args.stdin_filename or "-"

    def read_lines(path: str) -> list[str] | dict[int, list[str]]:
        from gradlint.notebook import Notebook, NotebookError, is_notebook

        try:
            data = stdin if stdin is not None and path == stdin_name else Path(path).read_bytes()
            return Notebook(data).cell_lines() if is_notebook(path) else decode(data).splitlines()
        except (OSError, UnicodeDecodeError, SyntaxError, LookupError, NotebookError):
            return []

    target = Path(args.baseline)
    try:
        if args.update_baseline or not target.exists():
            count = baseline.write(target, result.findings, read_lines)
            print(f"gradlint: recorded {count} finding{'s' if count != 1 else ''} in {target}", file=sys.stderr)
            result.findings = []
            return
        filtered = baseline.filter_new(target, result.findings, read_lines)
    except baseline.BaselineError as error:
        raise UsageError(str(error)) from None
    result.findings = filtered.new
    result.baseline_hidden = filtered.known
    if filtered.stale:
        print(
            f"gradlint: {filtered.stale} finding{'s' if filtered.stale != 1 else ''} in {target} no longer "
            "occur; `--update-baseline` drops them",
            file=sys.stderr,
        )
