"""Dynamic mode: run the code behind each finding and observe its gradient.

`confirm(findings, ...)` gives every finding whose rule has a witness a `confirmation`:
`{"verdict": "confirmed" | "not-reproduced" | "inconclusive", "evidence", "framework",
"device", "inputs", "seconds"}`. The parts:

- `plan`: cuts the snippet a finding needs out of its module (libcst, parent process);
- `pool`: worker processes, one framework each, with timeouts and a memory limit;
- `worker`: runs a snippet and the rule's witness (`witnesses/`), in the worker;
- `probe`, `backends`: what witnesses use to evaluate code and take gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gradlint.rule import Finding

DEFAULT_TIMEOUT = 20.0
DEFAULT_MEMORY_MB = 4096
DEVICES = ("cpu", "cuda", "auto")


@dataclass
class DynamicOptions:
    device: str = "cpu"
    timeout: float = DEFAULT_TIMEOUT
    jobs: int = 1
    memory_mb: int = DEFAULT_MEMORY_MB
    # --dynamic-sandbox: the directories workers see read-only, inside namespaces without
    # network; None runs without the sandbox.
    sandbox_read_only: list[str] | None = None


@dataclass
class DynamicStats:
    checked: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    import_seconds: dict[str, list[float]] = field(default_factory=dict)


def confirmable(code: str) -> bool:
    from gradlint.dynamic import witnesses

    return witnesses.confirmable(code)


def count_confirmable(findings: list[Finding]) -> int:
    return sum(1 for f in findings if confirmable(f.rule))


def confirm(
    findings: list[Finding],
    options: DynamicOptions | None = None,
    on_result: Callable[[dict], None] | None = None,
    sources: dict[str, str] | None = None,
    plans: dict | None = None,
) -> DynamicStats:
    """Set `confirmation` on each finding a witness can check (in place); `plans` are the
    module plans the static pass built, by path."""
    from gradlint.dynamic import witnesses
    from gradlint.dynamic.plan import plan
    from gradlint.dynamic.pool import Pool

    options = options or DynamicOptions()
    codes = set(witnesses.table())
    jobs, unrunnable = plan(findings, codes, options.device, sources, plans)
    stats = DynamicStats()

    def record(result: dict) -> None:
        finding = findings[result["id"]]
        finding.confirmation = {key: result[key] for key in ("verdict", "evidence", "framework", "device", "inputs", "seconds")}
        stats.checked += 1
        stats.verdicts[result["verdict"]] = stats.verdicts.get(result["verdict"], 0) + 1
        if on_result is not None:
            on_result(result)

    for item in unrunnable:
        record({"id": item.index, "verdict": "inconclusive", "evidence": item.reason, "framework": "",
                "device": options.device, "inputs": "", "seconds": 0.0})
    pool = Pool(options.device, options.timeout, options.jobs, options.memory_mb, record, options.sandbox_read_only)
    pool.run(jobs)
    stats.import_seconds = dict(pool.import_seconds)
    return stats
