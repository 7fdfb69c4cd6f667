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
        epilog="`gradlint check PATH` is `gradlint PATH`; `gradlint rule CODE` prints a rule's documentation; `gradlint server` starts the "
        "language server for editors. Exit status: 0 clean, "
        "1 findings, 2 usage, configuration or internal error.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to lint; `-` reads standard input (default: .)")
    parser.add_argument("--select", type=_codes, action="extend", metavar="CODES", help="only these rule codes or prefixes (comma-separated)")
    parser.add_argument("--ignore", type=_codes, action="extend", default=[], metavar="CODES", help="skip these rule codes or prefixes")
    parser.add_argument("--extend-select", type=_codes, action="extend", default=[], metavar="CODES", help="add rules to the selection")
    parser.add_argument("--output-format", "--format", dest="format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of standard output")
    parser.add_argument("--statistics", action="store_true", help="count findings per rule instead of listing them (text or json)")
    parser.add_argument("--show-fixes", action="store_true", help="list each finding's fix, and with --fix what was fixed")
    parser.add_argument("--show-settings", action="store_true", help="print the settings that apply to the paths and exit")
    parser.add_argument("--show-files", action="store_true", help="print the files that would be linted and exit")
    parser.add_argument("--add-noqa", action="store_true", help="add `# noqa: CODE` comments to the lines with findings")
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
        if argv[:1] == ["check"]:  # ruff's spelling: `gradlint check PATH`
            argv = argv[1:]
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
        raise UsageError(f"the language server needs pygls: pip install pygls (or `pip install -e '.[server]'` in a gradlint clone) ({error})") from None
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
    from gradlint.report import renderer

    settings = _settings(args)
    _check_dynamic_options(args)
    codes = _selected_codes(args, settings)
    if args.list_rules:
        return _list_rules(codes, args.format)
    if args.show_settings:
        return _show_settings(args, settings, codes)
    if args.show_files:
        return _show_files(args, settings)
    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (all cores) or more")
    if args.statistics and args.format not in ("text", "json"):
        raise UsageError("--statistics prints text or json")
    if args.add_noqa and (args.fix or args.diff or "-" in args.paths):
        raise UsageError("--add-noqa edits files: not with --fix, --diff or `-`")
    if not codes:
        print("gradlint: warning: no rules selected", file=sys.stderr)
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
    for warning in result.warnings:
        print(f"gradlint: warning: {warning}", file=sys.stderr)
    nothing_linted = not (result.files_checked or result.files_skipped) and stdin is None
    if nothing_linted and not missing:
        print(f"gradlint: warning: no Python files found under {', '.join(paths)}", file=sys.stderr)
    if args.diff:
        return _show_diff(result, stdin, args.stdin_filename or "-", bool(missing or result.errors))
    if args.add_noqa:
        return _add_noqa(result, bool(missing))
    if args.baseline:
        _apply_baseline(args, result, stdin)
    elif args.update_baseline:
        raise UsageError("--update-baseline needs --baseline FILE")
    report_stream = sys.stdout
    if args.fix:
        report_stream = _write_fixes(result, stdin, args.stdin_filename or "-")
    if args.dynamic:
        _run_dynamic(args, result, stdin, settings)
    if missing and nothing_linted and args.format in ("text", "github"):
        return EXIT_ERROR  # the error says it all; a summary of no files would not
    text = renderer(args.format)(result, statistics=args.statistics, unsafe_fixes=args.unsafe_fixes,
                                 show_fixes=args.show_fixes, read_lines=_source_lines(args, stdin))
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


def _source_lines(args: argparse.Namespace, stdin: bytes | None):
    """How a report reads a checked file's lines (standard input's included), for fingerprints."""
    from gradlint.baseline import read_source_lines

    return lambda path: read_source_lines(path, stdin, args.stdin_filename or "-")


def _selected_codes(args: argparse.Namespace, settings) -> list[str]:
    """The configuration's selection, then the command line's over it (as in ruff); an unknown
    code is reported with the place it was written."""
    from gradlint.registry import SelectionError, expand, resolve_selection

    config = f"in {settings.source}" if settings.source else "in the configuration"
    for values, where in ((settings.select or [], f"{config}, select"), (settings.ignore, f"{config}, ignore"),
                          (settings.extend_select, f"{config}, extend-select"), (args.select or [], "in --select"),
                          (args.ignore, "in --ignore"), (args.extend_select, "in --extend-select")):
        try:
            expand(values)
        except SelectionError as error:
            raise UsageError(f"{error} ({where})") from None
    return resolve_selection(
        [(settings.select, settings.ignore, settings.extend_select), (args.select, args.ignore, args.extend_select)],
        dynamic=args.dynamic,
    )


def _list_rules(codes: list[str], fmt: str) -> int:
    import json

    from gradlint.dev.docs import fix_kind, summary
    from gradlint.registry import get_rule

    rules = [get_rule(code) for code in codes]
    if fmt == "json":
        print(json.dumps([{"code": r.code, "name": r.name, "severity": r.severity.value, "default": r.default_enabled,
                           "frameworks": list(r.frameworks), "fix": fix_kind(r), "summary": summary(r)}
                          for r in rules], indent=2))
    elif fmt == "text":
        width = max((len(r.name) for r in rules), default=0)
        for rule in rules:
            print(f"{rule.code}  {rule.name:<{width}}  {rule.severity.value:<7}  {summary(rule)}")
    else:
        raise UsageError("--list-rules prints text or json")
    return EXIT_CLEAN


def _show_settings(args: argparse.Namespace, settings, codes: list[str]) -> int:
    """What applies to this run: where the settings came from, and what they resolve to."""
    import json

    shown = {
        "config": str(settings.source) if settings.source else None,
        "root": str(settings.root),
        "rules": codes,
        "exclude": settings.exclude,
        "per-file-ignores": settings.per_file_ignores,
        "respect-gitignore": args.respect_gitignore,
        "force-exclude": args.force_exclude,
        "cache": str(_cache(args, settings).directory) if args.cache else None,
    }
    if args.format == "json":
        print(json.dumps(shown, indent=2))
    else:
        for key, value in shown.items():
            print(f"{key} = {json.dumps(value)}")
    return EXIT_CLEAN


def _show_files(args: argparse.Namespace, settings) -> int:
    from gradlint.discovery import discover

    found = discover([p for p in args.paths or ["."] if p != "-"], settings, args.respect_gitignore, args.force_exclude)
    for path in found.missing:
        print(f"gradlint: error: no such file or directory: {path}", file=sys.stderr)
    for path in sorted(found.files):
        print(path)
    return EXIT_ERROR if found.missing else EXIT_CLEAN


def _add_noqa(result, failed: bool) -> int:
    """`--add-noqa`: a `# noqa: CODE` comment on each line with a finding, as ruff adds them."""
    from gradlint.engine.suppress import NoqaError, add_noqa

    added = 0
    by_path: dict[str, list] = {}
    for finding in result.findings:
        by_path.setdefault(finding.path, []).append(finding)
    for path, findings in by_path.items():
        try:
            added += add_noqa(path, findings)
        except NoqaError as error:
            print(f"gradlint: warning: {path}: {error}", file=sys.stderr)
    print(f"Added {added} noqa directive{'s' if added != 1 else ''}.", file=sys.stderr)
    return EXIT_ERROR if failed or result.errors else EXIT_CLEAN


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
    from gradlint.report.text import finding_line

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
        print(finding_line(finding), file=sys.stderr)
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

    read_lines = _source_lines(args, stdin)
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
