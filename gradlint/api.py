"""Text or paths in, findings out; nothing here prints."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from gradlint.cache import ResultCache
from gradlint.config import DEFAULT_MAX_FILE_SIZE, Settings, size_text
from gradlint.data import framework_modules
from gradlint.discovery import discover, force_excluded
from gradlint.engine.prefilter import framework_pattern, is_source_text, skip_file_comment, wants_file
from gradlint.engine.result import (
    ENGINE_CODES,
    NOT_CHECKED,
    SKIP_COMMENT,
    SKIP_NO_FRAMEWORK,
    SKIP_NOT_PYTHON,
    SYNTAX_ERROR,
    FileResult,
)
from gradlint.notebook import Notebook, NotebookError, is_notebook, place_in_cell
from gradlint.registry import get_rule, rule_index, select_codes
from gradlint.rule import Finding, Rule

# Below this many files a process pool costs more than it saves.
PARALLEL_THRESHOLD = 16
# A chunk of files sent to a worker holds at most this many, however small they are.
MAX_CHUNK_FILES = 64


class Progress:
    """What a run tells of its progress (the command line draws a bar from it); by default nothing."""

    def start(self, files: int) -> None:
        pass

    def working_on(self, path: str) -> None:
        """Linting `path` starts (known in one process only: a pool reports files as done)."""

    def done(self, files: int) -> None:
        pass

    def close(self) -> None:
        pass


_NO_PROGRESS = Progress()


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    files_skipped: int = 0
    skip_reasons: Counter = field(default_factory=Counter)  # SKIP_* reason -> files
    errors: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixed: list[FileResult] = field(default_factory=list)  # files with fixes applied (not yet written)
    baseline_hidden: int = 0  # findings left out because a baseline records them
    plans: dict = field(default_factory=dict)  # path -> the dynamic mode's plan (see `lint_paths`)
    # Set by a dynamic run: {"checked", "verdicts": {verdict: n}, "seconds", "hidden"}.
    dynamic: dict | None = None

    @property
    def fixes_applied(self) -> int:
        return sum(result.fixes_applied for result in self.fixed)


class _Job:
    """Everything a worker process needs to lint (and fix) files, small enough to pickle."""

    def __init__(
        self, codes: Sequence[str], settings: Settings | None = None, fix: bool = False, unsafe_fixes: bool = False,
        plan: bool = False,
    ) -> None:
        self.codes = tuple(codes)
        self.settings = settings
        self.fix = fix
        self.unsafe_fixes = unsafe_fixes
        self.plan = plan and not fix  # fixed files are read again from what was written
        self._rules: list[type[Rule]] | None = None
        self._prefilter = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_rules": None, "_prefilter": None}

    @property
    def rules(self) -> list[type[Rule]]:
        if self._rules is None:
            self._rules = [get_rule(code) for code in self.codes]
        return self._rules

    @property
    def max_file_size(self) -> int:
        return self.settings.max_file_size if self.settings is not None else DEFAULT_MAX_FILE_SIZE

    def run(self, path: str, data: bytes | None = None) -> FileResult:
        if data is None:
            try:
                if os.stat(path).st_size > self.max_file_size:  # not even read: it may be gigabytes
                    return self._too_large(path, os.stat(path).st_size)
                data = Path(path).read_bytes()
            except OSError as error:
                from gradlint.engine.runner import _gl000

                result = FileResult(path)
                result.findings.append(_gl000(path, 1, 1, f"cannot read it ({error.strerror or error})"))
                return result
        if len(data) > self.max_file_size:
            return self._too_large(path, len(data))
        if is_notebook(path):
            return self._run_notebook(path, data)
        if skip_file_comment(data):
            return FileResult(path, skipped=SKIP_COMMENT)
        if not wants_file(data, self.prefilter) and is_source_text(data):  # else GL000 says why
            return FileResult(path, skipped=SKIP_NO_FRAMEWORK)
        # The engine (and libcst) is imported only for a file that is really parsed.
        from gradlint.engine import runner

        rules = self._rules_for(path)
        result = runner.lint_bytes(path, data, rules, None, SYNTAX_ERROR in self.codes, self.plan)  # prefiltered above
        if self.fix and any(f.fixable(self.unsafe_fixes) for f in result.findings):
            self._fix(result, data, rules)
        return result

    def _too_large(self, path: str, size: int) -> FileResult:
        limit = size_text(self.max_file_size)
        return FileResult(path, errors=[{"path": path, "rule": None, "kind": NOT_CHECKED, "message": (
            f"not checked: {size_text(size)} is more than max-file-size ({limit}); raise it in the configuration to check it")}])

    def _rules_for(self, path: str) -> list[type[Rule]]:
        codes = set(self.codes_for(path))
        return [rule for rule in self.rules if rule.code in codes]

    def _run_notebook(self, path: str, data: bytes) -> FileResult:
        """A notebook's code cells are linted as one program; positions come back per cell."""
        try:
            notebook = Notebook(data)
        except NotebookError as error:
            from gradlint.engine.runner import _gl000

            result = FileResult(path)
            if SYNTAX_ERROR in self.codes:
                result.findings.append(_gl000(path, 1, 1, str(error)))
            return result
        program = notebook.program.encode("utf-8")
        if not notebook.is_python:
            return FileResult(path, skipped=SKIP_NOT_PYTHON)
        if skip_file_comment(program):
            return FileResult(path, skipped=SKIP_COMMENT)
        if not wants_file(program, self.prefilter):
            return FileResult(path, skipped=SKIP_NO_FRAMEWORK)
        from gradlint.engine import runner

        rules = self._rules_for(path)
        result = runner.lint_bytes(path, program, rules, None, SYNTAX_ERROR in self.codes, self.plan)
        if self.fix and any(f.fixable(self.unsafe_fixes) for f in result.findings):
            self._fix(result, program, rules)
            if result.fixed is not None:
                if notebook.round_trips():
                    result.fixed = notebook.with_program(result.fixed.decode("utf-8"))
                else:  # rewriting would reformat the whole file
                    result.fixed, result.fixes_applied, result.fixed_rules = None, 0, {}
                    result.findings = runner.lint_bytes(path, program, rules, None, True).findings
                    result.warnings.append(
                        f"{path}: fixes not written: the notebook's JSON is not laid out as Jupyter "
                        "writes it (save it from Jupyter, then run --fix again)")
        for finding in result.findings:
            place_in_cell(finding, notebook)
        return result

    def codes_for(self, path: str) -> list[str]:
        """The selected codes less those that per-file-ignores switch off for this file."""
        if self.settings is None or not self.settings.per_file_ignores:
            return list(self.codes)
        ignored = self.settings.ignored_for(path)
        return [code for code in self.codes if code not in ignored]

    def _fix(self, result: FileResult, data: bytes, rules: list[type[Rule]]) -> None:
        """Replace `result`'s findings by those left after fixing; keep the fixed content."""
        from gradlint.engine.fixes import encoding_of, fix_text
        from gradlint.engine.runner import decode, lint_bytes

        encoding = encoding_of(data)

        def lint(text: str) -> list[Finding]:
            return lint_bytes(result.path, text.encode(encoding), rules, None, True).findings

        outcome = fix_text(decode(data), lint, self.unsafe_fixes)
        if outcome.applied:
            result.findings = outcome.findings
            result.fixes_applied = outcome.applied
            result.fixed_rules = dict(outcome.rules)
            result.fixed = outcome.text.encode(encoding)

    @property
    def prefilter(self):
        if self._prefilter is None:
            # GL000 and GL900 are the engine's own: they do not widen the set of files worth parsing.
            index = rule_index()
            frameworks = {f for code in self.codes if code not in ENGINE_CODES for f in index[code]["frameworks"]}
            self._prefilter = framework_pattern(frameworks or framework_modules())
        return self._prefilter

    def run_many(self, paths: list[str]) -> list[FileResult]:
        return [self.run(path) for path in paths]


def lint_source(
    source: str | bytes,
    path: str | os.PathLike = "<string>",
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
) -> list[Finding]:
    """Lint one file's content with the selected rules (default: the default rule set). A
    dynamic-only rule runs when it is selected by name: its findings are unconfirmed candidates."""
    data = source.encode("utf-8") if isinstance(source, str) else source
    codes = select_codes(list(select) if select is not None else None, ignore, dynamic=select is not None)
    result = _Job(codes).run(str(path), data)
    if result.errors:
        raise RuntimeError("; ".join(error["message"] for error in result.errors))
    return sorted(result.findings, key=Finding.sort_key)


def fix_source(
    source: str | bytes,
    path: str | os.PathLike = "<string>",
    select: Iterable[str] | None = None,
    unsafe_fixes: bool = False,
) -> tuple[bytes, list[Finding]]:
    """Apply the fixes for one file's content; returns the new content and what remains."""
    data = source.encode("utf-8") if isinstance(source, str) else source
    codes = select_codes(list(select) if select is not None else None)
    result = _Job(codes, fix=True, unsafe_fixes=unsafe_fixes).run(str(path), data)
    if result.errors:
        raise RuntimeError("; ".join(error["message"] for error in result.errors))
    return (result.fixed if result.fixed is not None else data), sorted(result.findings, key=Finding.sort_key)


def lint_paths(
    paths: Sequence[str],
    settings: Settings,
    rules: Sequence[type[Rule] | str],
    jobs: int | None = None,
    stdin: bytes | None = None,
    stdin_filename: str = "-",
    force_exclude: bool = False,
    respect_gitignore: bool = True,
    fix: bool = False,
    unsafe_fixes: bool = False,
    cache: ResultCache | None = None,
    progress: Progress | None = None,
    plan: bool = False,
) -> tuple[RunResult, list[str]]:
    """Lint files and directories with `rules` (classes or codes); returns the result and
    the paths that do not exist.

    With `fix`, findings are those left after fixing, and `RunResult.fixed` holds the fixed
    content of each changed file: the caller decides whether to write it or show a diff.
    With a `cache`, files whose content, path and rules are unchanged are not linted again
    (fixing always lints: it needs the parse). `progress` hears of each file as it is done.
    With `plan` (the dynamic mode runs next), `RunResult.plans` holds the dynamic mode's plan of
    each file with findings, built from the parse made here.
    """
    codes = [rule if isinstance(rule, str) else rule.code for rule in rules]
    job = _Job(codes, settings, fix, unsafe_fixes, plan)
    discovered = discover(
        [p for p in paths if p != "-"], settings, respect_gitignore, force_exclude
    )
    results: list[FileResult] = []
    if "-" in paths and not (force_exclude and force_excluded(stdin_filename, settings, respect_gitignore)):
        results.append(job.run(stdin_filename, stdin if stdin is not None else b""))
    names = [str(path) for path in discovered.files]
    # A cached result has no plan: a run that plans lints every file.
    cached, misses = _cached(cache, job, names) if cache is not None and not fix and not plan else ({}, {})
    todo = [name for name in names if name not in cached]
    progress = progress or _NO_PROGRESS
    progress.start(len(todo))
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(todo) >= PARALLEL_THRESHOLD:
        fresh = dict(zip(todo, _parallel(job, todo, jobs, progress)))
    else:  # in this process, lint the very bytes the cache key was made from
        fresh = {}
        for name in todo:
            progress.working_on(name)
            fresh[name] = job.run(name, misses[name][1] if name in misses else None)
            progress.done(1)
    progress.close()
    for name, result in fresh.items():
        if name in misses:
            cache.put(misses[name][0], result)
    results.extend(cached.get(name) or fresh[name] for name in names)
    return _combine(results), discovered.missing


def _cached(
    cache: ResultCache, job: _Job, names: list[str]
) -> tuple[dict[str, FileResult], dict[str, tuple[str, bytes]]]:
    """The results the cache holds for these files, and the key and content of those it does not."""
    hits: dict[str, FileResult] = {}
    misses: dict[str, tuple[str, bytes]] = {}
    for name in names:
        try:
            if os.stat(name).st_size > job.max_file_size:
                continue  # linting reports it, unread
            data = Path(name).read_bytes()
        except OSError:
            continue  # linting reports it
        key = cache.key(name, data, job.codes_for(name))
        hit = cache.get(key)
        if hit is not None and hit.path == name:
            hits[name] = hit
        else:
            misses[name] = (key, data)
    return hits, misses


def _parallel(job: _Job, names: list[str], jobs: int, progress: Progress) -> list[FileResult]:
    chunks = _chunks(names, jobs * 8)
    # The largest chunks go first, so that no worker is left with a large one at the end; fork
    # shares the already imported libcst.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method)) as pool:
        futures = {
            index: pool.submit(job.run_many, chunks[index][1])
            for index in sorted(range(len(chunks)), key=lambda index: -chunks[index][0])
        }
        for future in as_completed(futures.values()):
            progress.done(len(future.result()))
        return [result for index in range(len(chunks)) for result in futures[index].result()]


def _chunks(names: list[str], count: int) -> list[tuple[int, list[str]]]:
    """`names` cut into about `count` runs of neighbouring files (a package's files share the
    modules the semantic model reads) of similar size in bytes, each with its size."""
    sizes = []
    for name in names:
        try:
            sizes.append(os.stat(name).st_size)
        except OSError:
            sizes.append(0)
    budget = max(1, sum(sizes) // count)
    chunks: list[tuple[int, list[str]]] = []
    size, current = 0, []
    for name, file_size in zip(names, sizes):
        if current and size + file_size > budget:
            chunks.append((size, current))
            size, current = 0, []
        current.append(name)
        size += file_size
        if size >= budget or len(current) >= MAX_CHUNK_FILES:
            chunks.append((size, current))
            size, current = 0, []
    if current:
        chunks.append((size, current))
    return chunks


def _combine(results: Iterable[FileResult]) -> RunResult:
    run = RunResult()
    for result in results:
        if result.skipped:
            run.files_skipped += 1
            run.skip_reasons[result.skipped] += 1
            continue
        run.files_checked += not any(error.get("kind") == NOT_CHECKED for error in result.errors)
        run.findings.extend(result.findings)
        run.errors.extend(result.errors)
        run.warnings.extend(result.warnings)
        if result.fixes_applied:
            run.fixed.append(result)
        if result.plan is not None:
            run.plans[result.path] = result.plan
    run.findings.sort(key=Finding.sort_key)
    return run
