"""Recall on real bugs: gradlint scored on a corpus of pitfalls reported in real repositories.

    python bench/recall.py --mirrors DIR [--cases FILE] [--only ID,RULE,FRAMEWORK] [--dynamic]
                           [--jobs N] [--json FILE] [--compare OLD.json] [--list-repos]

`bench/recall/cases.toml` holds metadata only: for each case a repository, a commit, a path and
lines, the rule that should fire there (`positive`) or a correct look-alike where no rule may fire
(`negative`), and the evidence for the label. This script takes a folder of local git clones, one
per repository (see `bench/recall/README.md` for the layouts it accepts), writes each case's
commit into a temporary folder outside this repository (the case's file and the other Python files
of its repository at that commit, so that imports between modules resolve), runs this checkout's
gradlint once over every case file, and prints:

- recall per rule and per framework (a positive is found when a finding of one of its rules
  overlaps its lines), and false positives on the negatives (a finding of one of its rules there);
- every missed positive with the nearest finding in its file, of any rule, and why the file gave
  nothing when it gave nothing (skipped, unparsable);
- with `--dynamic`, the verdict on every found positive, the share confirmed, the inconclusive
  ones grouped by reason, and any verdict other than `inconclusive`/`not-reproduced` on a negative;
- the time, and every case that could not be read (never silently dropped).

`--compare OLD.json` puts the counts of an earlier `--json` run beside the new ones.
It is a benchmark, not a test: it needs the clones. Exit status 0, or 2 on bad input
(an unreadable or malformed cases file, a missing mirrors folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = ROOT / "bench" / "recall" / "cases.toml"
LABELS = ("positive", "negative")
FRAMEWORKS = ("torch", "tensorflow", "keras2", "keras3", "jax", "flax", "numpy", "scipy", "theano")
REQUIRED = ("id", "rule", "label", "repo", "commit", "path", "lines", "framework", "description", "evidence")
# Files besides the case's own that go into the temporary copy of its repository: the project's
# other modules (imports between them) and its configuration.
CONTEXT_SUFFIXES = (".py", "pyproject.toml", "setup.cfg")
# Why a dynamic check ended inconclusive, read from its evidence: first matching pattern wins.
INCONCLUSIVE_REASONS = (
    ("python 2 file", r"a Python 2 file"),
    ("missing module", r"No module named|cannot import name|ImportError"),
    ("timed out", r"timed out"),
    ("out of memory", r"ran out of memory|MemoryError"),
    ("no stand-in input", r"stand-in|cannot build|could not build|no value for|missing \d+ required"),
    ("framework global state", r"global state"),
    ("refused side effect", r"refused"),
    ("name not defined", r"NameError|is not defined"),
    ("attribute missing", r"AttributeError|has no attribute"),
    ("shape or type mismatch", r"shape|dimension|size mismatch|TypeError|ValueError"),
    ("crashed", r"signal|SIG[A-Z]+|exit status"),
)


class InputError(Exception):
    """A cases file or option that cannot be used; the message says why."""


@dataclass(frozen=True)
class Case:
    id: str
    rules: tuple[str, ...]
    label: str
    repo: str
    commit: str
    path: str
    ranges: tuple[tuple[int, int], ...]
    framework: str
    description: str
    evidence: str
    pair: str | None = None
    # Other places of the same pitfall (the loss in another file that takes the model's
    # probabilities): path -> ranges. A finding in any place counts.
    also: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()

    @property
    def places(self) -> tuple[tuple[str, tuple[tuple[int, int], ...]], ...]:
        return ((self.path, self.ranges), *self.also)

    def covers(self, finding: dict, path: str) -> bool:
        start, end = finding["line"], finding.get("end_line") or finding["line"]
        return any(
            start <= last and end >= first for where, ranges in self.places if where == path for first, last in ranges
        )

    def distance(self, finding: dict, path: str) -> int:
        start, end = finding["line"], finding.get("end_line") or finding["line"]
        gaps = [max(first - end, start - last, 0) for where, ranges in self.places if where == path for first, last in ranges]
        return min(gaps, default=10**9)


def load_cases(paths: Iterable[Path]) -> list[Case]:
    """Every case of the given TOML files, checked field by field; raises InputError naming the
    file, the case and the field."""
    from gradlint.registry import rule_index

    known_rules = set(rule_index())
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            entries = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("case", [])
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise InputError(f"{path}: cannot read the cases: {error}") from None
        for number, entry in enumerate(entries, 1):
            where = f"{path}: case {entry.get('id', f'#{number}')}"
            missing = [name for name in REQUIRED if name not in entry]
            if missing:
                raise InputError(f"{where}: missing {', '.join(missing)}")
            rules = tuple([entry["rule"]] if isinstance(entry["rule"], str) else entry["rule"])
            unknown = [code for code in rules if code not in known_rules]
            if not rules or unknown:
                raise InputError(f"{where}: unknown rule {unknown or 'none given'}")
            if entry["label"] not in LABELS:
                raise InputError(f"{where}: label must be one of {LABELS}")
            if entry["framework"] not in FRAMEWORKS:
                raise InputError(f"{where}: framework must be one of {FRAMEWORKS}")
            if not re.fullmatch(r"[0-9a-f]{40}", entry["commit"]):
                raise InputError(f"{where}: commit must be 40 lowercase hex digits")
            if not re.fullmatch(r"[\w.-]+/[\w.-]+", entry["repo"]):
                raise InputError(f"{where}: repo must be owner/name")
            if entry["id"] in seen:
                raise InputError(f"{where}: id also used in {seen[entry['id']]}")
            seen[entry["id"]] = str(path)
            cases.append(
                Case(
                    id=entry["id"],
                    rules=rules,
                    label=entry["label"],
                    repo=entry["repo"],
                    commit=entry["commit"],
                    path=entry["path"],
                    ranges=_ranges(entry["lines"], where),
                    framework=entry["framework"],
                    description=entry["description"],
                    evidence=entry["evidence"],
                    pair=entry.get("pair"),
                    also=tuple((place["path"], _ranges(place["lines"], where)) for place in entry.get("also", [])),
                )
            )
    ids = {case.id for case in cases}
    for case in cases:
        if case.pair is not None and case.pair not in ids:
            raise InputError(f"case {case.id}: its pair {case.pair} is not a case")
    return cases


def _ranges(lines: object, where: str) -> tuple[tuple[int, int], ...]:
    """`[first, last]` or a list of such ranges, 1-based and inclusive."""
    if isinstance(lines, list) and lines and all(isinstance(item, list) for item in lines):
        ranges = [tuple(item) for item in lines]
    else:
        ranges = [tuple(lines)] if isinstance(lines, list) else []
    if not ranges or any(
        len(r) != 2 or not all(isinstance(n, int) for n in r) or not 1 <= r[0] <= r[1] for r in ranges
    ):
        raise InputError(f"{where}: lines must be [first, last] or a list of them (1-based, first <= last)")
    return tuple(ranges)  # type: ignore[return-value]


def mirror_of(mirrors: Path, repo: str) -> Path | None:
    """The local git directory of `repo` ("owner/name") under `mirrors`, in any layout the
    README names: owner/name, owner+name, owner__name or name, each a clone or a bare repository
    (also inside a `repo` folder)."""
    owner, name = repo.split("/")
    for folder in (f"{owner}/{name}", f"{owner}+{name}", f"{owner}__{name}", name):
        for candidate in (mirrors / folder, mirrors / f"{folder}.git", mirrors / folder / "repo"):
            if candidate.is_dir() and _git(candidate, "rev-parse", "--git-dir").returncode == 0:
                return candidate
    return None


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, timeout=600)


@dataclass
class Checkout:
    """The cases' files written out, and the cases that could not be read, with why."""

    root: Path
    files: dict[str, dict[str, Path]] = field(default_factory=dict)  # case id -> its paths -> files written
    unreadable: dict[str, str] = field(default_factory=dict)  # case id -> reason
    seconds: float = 0.0


def check_out(cases: list[Case], mirrors: Path, root: Path) -> Checkout:
    """Write each (repository, commit) once under `root`: the case files, then the repository's
    other Python files and configuration at that commit (best effort: context, not the case)."""
    started = time.perf_counter()
    checkout = Checkout(root)
    by_commit: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in cases:
        by_commit[case.repo, case.commit].append(case)
    for (repo, commit), group in by_commit.items():
        mirror = mirror_of(mirrors, repo)
        if mirror is None:
            for case in group:
                checkout.unreadable[case.id] = f"no clone of {repo} under {mirrors}"
            continue
        tree = root / f"{repo.replace('/', '+')}@{commit[:12]}"
        _write_context(mirror, commit, tree)
        (tree / ".git").mkdir(parents=True, exist_ok=True)  # the root of a clone, as the user's copy is
        for case in group:
            written = {}
            for path, _ in case.places:
                shown = _git(mirror, "show", f"{commit}:{path}")
                if shown.returncode != 0:
                    checkout.unreadable[case.id] = shown.stderr.decode(errors="replace").strip() or "git show failed"
                    break
                target = tree / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(shown.stdout)
                written[path] = target
            else:
                checkout.files[case.id] = written
    checkout.seconds = time.perf_counter() - started
    return checkout


def _write_context(mirror: Path, commit: str, tree: Path) -> None:
    """The repository's Python files and configuration at `commit`, read blob by blob (a
    mirror may lack large data files, which would stop `git archive` halfway)."""
    listing = _git(mirror, "ls-tree", "-r", "-z", commit)
    if listing.returncode != 0:
        return
    wanted = []
    for entry in listing.stdout.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        path = name.decode(errors="replace")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == b"blob" and path.endswith(CONTEXT_SUFFIXES) and ".." not in Path(path).parts:
            wanted.append((parts[2], path))
    if not wanted:
        return
    batch = subprocess.run(["git", "-C", str(mirror), "cat-file", "--batch"], capture_output=True,
                           input=b"".join(sha + b"\n" for sha, _ in wanted), timeout=600)
    out, at = batch.stdout, 0
    for _, path in wanted:
        header_end = out.index(b"\n", at)
        header = out[at:header_end].split()
        at = header_end + 1
        if len(header) != 3:  # "<sha> missing"
            continue
        size = int(header[2])
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out[at : at + size])
        at += size + 1


def run_gradlint(files: list[Path], dynamic: bool, jobs: int | None, cwd: Path) -> tuple[dict, float]:
    """This checkout's gradlint over the files, as a user runs it: one process, JSON out."""
    command = [sys.executable, "-m", "gradlint", "--format", "json", "--isolated", "--no-cache",
               "--exit-zero", "--select", "ALL"]
    if dynamic:
        command.append("--dynamic")
    if jobs:
        command += ["--jobs", str(jobs)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run(command + [str(f) for f in files], capture_output=True, cwd=cwd, env=env)
    seconds = time.perf_counter() - started
    try:
        return json.loads(done.stdout), seconds
    except json.JSONDecodeError:
        raise InputError(
            f"gradlint exited {done.returncode} without a JSON report:\n{done.stderr.decode(errors='replace')[-2000:]}"
        ) from None


@dataclass
class Outcome:
    """What gradlint said about one case."""

    case: Case
    status: str  # found, missed, false-positive, clean, unreadable
    matching: list[dict] = field(default_factory=list)  # findings of the case's rules on its lines
    nearest: dict | None = None  # for a miss: the nearest finding in the file, any rule
    why_nothing: str | None = None  # for a miss with no finding in the file
    verdict: str | None = None  # dynamic verdict of the best matching finding
    evidence: str | None = None


def score(cases: list[Case], checkout: Checkout, report: dict) -> list[Outcome]:
    by_file: dict[str, list[dict]] = defaultdict(list)
    for finding in report.get("findings", []):
        by_file[str(Path(finding["path"]).resolve())].append(finding)
    errors = {str(Path(e.get("path", "")).resolve()): e.get("message", "") for e in report.get("errors", [])}
    outcomes = []
    for case in cases:
        if case.id in checkout.unreadable:
            outcomes.append(Outcome(case, "unreadable", why_nothing=checkout.unreadable[case.id]))
            continue
        files = {path: str(file.resolve()) for path, file in checkout.files[case.id].items()}
        findings = [(path, f) for path, file in files.items() for f in by_file.get(file, [])]
        matching = [f for path, f in findings if f["rule"] in case.rules and case.covers(f, path)]
        if case.label == "positive":
            status = "found" if matching else "missed"
        else:
            status = "false-positive" if matching else "clean"
        outcome = Outcome(case, status, matching)
        if status == "missed":
            others = [(path, f) for path, f in findings if f["rule"] != "GL000"]
            file = files[case.path]
            if others:
                path, nearest = min(others, key=lambda item: (item[0] != case.path, case.distance(item[1], item[0]), item[1]["line"]))
                outcome.nearest = {**nearest, "distance": case.distance(nearest, path), "place": path}
            elif file in errors:
                outcome.why_nothing = f"internal error: {errors[file]}"
            elif any(f["rule"] == "GL000" for _, f in findings):
                outcome.why_nothing = "unparsable (GL000)"
            elif _skipped(checkout.files[case.id][case.path]):
                outcome.why_nothing = "skipped: the file imports no framework gradlint reads"
            else:
                outcome.why_nothing = "no finding in the file"
        confirmations = [f.get("confirmation") for f in matching if f.get("confirmation")]
        if confirmations:
            best = min(confirmations, key=lambda c: ("confirmed", "not-reproduced", "inconclusive").index(c["verdict"])
                       if c["verdict"] in ("confirmed", "not-reproduced", "inconclusive") else 3)
            outcome.verdict, outcome.evidence = best["verdict"], best.get("evidence", "")
        outcomes.append(outcome)
    return outcomes


def _skipped(file: Path) -> bool:
    """Whether gradlint skips the file before parsing it (as `api._Job.run` decides)."""
    from gradlint.data import framework_modules
    from gradlint.engine.prefilter import framework_pattern, skip_file_comment, wants_file

    data = file.read_bytes()
    return skip_file_comment(data) or not wants_file(data, framework_pattern(framework_modules()))


def inconclusive_reason(evidence: str) -> str:
    for reason, pattern in INCONCLUSIVE_REASONS:
        if re.search(pattern, evidence or ""):
            return reason
    return "other"


def summary(outcomes: list[Outcome], key) -> dict[str, dict[str, int]]:
    """Counts per group (`key` maps a case to its groups): positives, found, negatives, false positives."""
    table: dict[str, Counter] = defaultdict(Counter)
    for outcome in outcomes:
        if outcome.status == "unreadable":
            continue
        for group in key(outcome.case):
            row = table[group]
            if outcome.case.label == "positive":
                row["positives"] += 1
                row["found"] += outcome.status == "found"
            else:
                row["negatives"] += 1
                row["false_positives"] += outcome.status == "false-positive"
    total = Counter()
    for row in table.values():
        total.update(row)
    return {**{name: dict(table[name]) for name in sorted(table)}, "all": dict(total)}


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def render_table(title: str, rows: dict[str, dict[str, int]], before: dict[str, dict[str, int]] | None) -> str:
    head = f"| {title} | positives | found | recall | negatives | false positives | FP rate |"
    if before is not None:
        head += " recall before | FP rate before |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, row in rows.items():
        p, f, n, fp = (row.get(k, 0) for k in ("positives", "found", "negatives", "false_positives"))
        line = f"| {name} | {p} | {f} | {_percent(f, p)} | {n} | {fp} | {_percent(fp, n)} |"
        if before is not None:
            old = before.get(name, {})
            line += (f" {_percent(old.get('found', 0), old.get('positives', 0))} |"
                     f" {_percent(old.get('false_positives', 0), old.get('negatives', 0))} |")
        lines.append(line)
    return "\n".join(lines)


def render(outcomes: list[Outcome], results: dict, before: dict | None, dynamic: bool) -> str:
    out = [render_table("rule", results["per_rule"], before and before.get("per_rule")), ""]
    out += [render_table("framework", results["per_framework"], before and before.get("per_framework")), ""]
    missed = [o for o in outcomes if o.status == "missed"]
    if missed:
        out.append(f"Missed positives ({len(missed)}):")
        for o in missed:
            where = f"{o.case.repo}@{o.case.commit[:8]}:{o.case.path}:{_lines(o.case)}"
            if o.nearest:
                elsewhere = "" if o.nearest["place"] == o.case.path else f" of {o.nearest['place']}"
                near = f"nearest {o.nearest['rule']} at line {o.nearest['line']}{elsewhere} ({o.nearest['distance']} lines away)"
            else:
                near = o.why_nothing
            out.append(f"  {o.case.id} [{'/'.join(o.case.rules)}] {where}: {near}")
        out.append("")
    false_positives = [o for o in outcomes if o.status == "false-positive"]
    if false_positives:
        out.append(f"False positives on negatives ({len(false_positives)}):")
        for o in false_positives:
            for f in o.matching:
                out.append(f"  {o.case.id} {f['rule']} line {f['line']}: {f['message']}")
        out.append("")
    unreadable = [o for o in outcomes if o.status == "unreadable"]
    if unreadable:
        out.append(f"Cases that could not be read ({len(unreadable)}):")
        out += [f"  {o.case.id} ({o.case.repo}@{o.case.commit[:8]}:{o.case.path}): {o.why_nothing}" for o in unreadable]
        out.append("")
    if dynamic:
        out.append(render_dynamic(results["dynamic"]))
    times = results["seconds"]
    out.append(f"Time: checkout {times['checkout']:.1f} s, gradlint {times['gradlint']:.1f} s "
               f"over {results['files']} files ({len(outcomes)} cases).")
    return "\n".join(out)


def _lines(case: Case) -> str:
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in case.ranges)


def dynamic_results(outcomes: list[Outcome]) -> dict:
    found = [o for o in outcomes if o.status == "found"]
    verdicts = Counter(o.verdict or "no check" for o in found)
    reasons = Counter(inconclusive_reason(o.evidence) for o in found if o.verdict == "inconclusive")
    wrong = [
        {"id": o.case.id, "verdict": o.verdict, "evidence": o.evidence}
        for o in outcomes
        if o.case.label == "negative" and o.verdict not in (None, "inconclusive", "not-reproduced")
    ]
    return {
        "found": len(found),
        "verdicts": dict(verdicts),
        "confirmed_share": verdicts["confirmed"] / len(found) if found else 0.0,
        "inconclusive_reasons": dict(reasons.most_common()),
        "inconclusive": [
            {"id": o.case.id, "reason": inconclusive_reason(o.evidence), "evidence": o.evidence}
            for o in found if o.verdict == "inconclusive"
        ],
        "wrong_verdicts_on_negatives": wrong,
    }


def render_dynamic(results: dict) -> str:
    out = [f"Dynamic verdicts on the {results['found']} found positives: "
           + ", ".join(f"{v} {n}" for v, n in sorted(results["verdicts"].items()))
           + f"; confirmed {100 * results['confirmed_share']:.0f}%."]
    if results["inconclusive_reasons"]:
        out.append("Inconclusive by reason: " + ", ".join(f"{r} {n}" for r, n in results["inconclusive_reasons"].items()))
        out += [f"  {item['id']}: [{item['reason']}] {(item['evidence'] or '')[:160]}" for item in results["inconclusive"]]
    wrong = results["wrong_verdicts_on_negatives"]
    out.append(f"Verdicts on negatives other than inconclusive/not-reproduced: {len(wrong)}")
    out += [f"  {w['id']}: {w['verdict']}: {(w['evidence'] or '')[:160]}" for w in wrong]
    return "\n".join(out) + "\n"


def select(cases: list[Case], only: str | None) -> list[Case]:
    if not only:
        return cases
    wanted = {item.strip() for item in only.split(",") if item.strip()}
    return [c for c in cases if c.id in wanted or c.framework in wanted or wanted & set(c.rules)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, help="folder of local git clones, one per repository")
    parser.add_argument("--cases", type=Path, action="append", help=f"cases file (default {DEFAULT_CASES.relative_to(ROOT)})")
    parser.add_argument("--only", help="comma-separated case ids, rule codes or frameworks")
    parser.add_argument("--dynamic", action="store_true", help="also run the dynamic mode and score its verdicts")
    parser.add_argument("--jobs", type=int, help="gradlint's --jobs")
    parser.add_argument("--json", type=Path, help="write every outcome and count to this file")
    parser.add_argument("--compare", type=Path, help="an earlier --json file: its recall and FP rate beside these")
    parser.add_argument("--list-repos", action="store_true", help="print a git clone command per repository and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = parser.parse_args(argv)
    try:
        cases = select(load_cases(args.cases or [DEFAULT_CASES]), args.only)
        if args.list_repos:
            for repo in sorted({case.repo for case in cases}):
                print(f"git clone https://github.com/{repo} {repo}")
            return 0
        if args.mirrors is None or not args.mirrors.is_dir():
            raise InputError(f"--mirrors must name a folder of clones (see bench/recall/README.md); got {args.mirrors}")
        before = json.loads(args.compare.read_text()) if args.compare else None
        return _run(cases, args, before)
    except InputError as error:
        print(f"recall: {error}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as error:
        print(f"recall: {error}", file=sys.stderr)
        return 2


def _run(cases: list[Case], args: argparse.Namespace, before: dict | None) -> int:
    root = Path(tempfile.mkdtemp(prefix="gradlint-recall-"))
    try:
        checkout = check_out(cases, args.mirrors.resolve(), root)
        files = sorted({file for written in checkout.files.values() for file in written.values()})
        report, seconds = run_gradlint(files, args.dynamic, args.jobs, root) if files else ({}, 0.0)
        outcomes = score(cases, checkout, report)
        results = {
            "per_rule": summary(outcomes, lambda case: case.rules),
            "per_framework": summary(outcomes, lambda case: (case.framework,)),
            "files": len(files),
            "seconds": {"checkout": checkout.seconds, "gradlint": seconds},
            "gradlint_errors": report.get("errors", []),
        }
        if args.dynamic:
            results["dynamic"] = dynamic_results(outcomes)
        print(render(outcomes, results, before, args.dynamic))
        if results["gradlint_errors"]:
            print(f"gradlint reported {len(results['gradlint_errors'])} internal errors (see --json).")
        if args.json:
            results["cases"] = [
                {**asdict(o.case), "status": o.status, "matching": o.matching, "nearest": o.nearest,
                 "why_nothing": o.why_nothing, "verdict": o.verdict, "evidence_dynamic": o.evidence}
                for o in outcomes
            ]
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    finally:
        if args.keep:
            print(f"Kept the checkout in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
