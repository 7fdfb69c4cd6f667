"""A worker process: imports one framework once, then runs one job after another.

`python -m gradlint.dynamic.worker FRAMEWORK DEVICE MEMORY_MB` speaks JSON lines with its parent
on the stdin and stdout it was started with; the user's code sees an empty stdin and a stdout
that goes nowhere. The parent enforces the per-finding timeout and replaces a worker that dies.
`run_job` is also usable in-process (the tests, `gradlint.testing`).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import os
import sys
import time
import traceback
import types
from typing import Any

from gradlint.dynamic import witnesses
from gradlint.dynamic.backends import Backend, backend_for
from gradlint.dynamic.guard import FileSystemGuard
from gradlint.dynamic.probe import INCONCLUSIVE, Inconclusive, Job, Observation, Probe
from gradlint.dynamic.sandbox import READ_ONLY_ENV, make_read_only

# Set by `main`: the limit this worker runs under, for the message when it is reached.
MEMORY_LIMIT_MB = 0


class SnippetError(Exception):
    pass


def execute_snippet(job: Job) -> dict:
    """Run the snippet's definitions as a module of their own; returns its namespace."""
    module = types.ModuleType(job.module)
    module.__file__ = job.path
    if "." in job.module:
        module.__package__ = job.module.rpartition(".")[0]
    sys.modules[job.module] = module  # dataclasses, pickling and typing look the module up
    try:
        exec(compile(job.source, job.path, "exec"), module.__dict__)  # noqa: S102 - the point of dynamic mode
    except SystemExit as error:
        raise SnippetError(f"the module's definitions called sys.exit({error.code!r})") from None
    except MemoryError:
        raise
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        raise SnippetError(f"could not run the definitions the finding needs: {_describe_error(error, job.path)}") from None
    return module.__dict__


def _describe_error(error: BaseException, path: str) -> str:
    text = f"{type(error).__name__}: {error}".strip().rstrip(":")
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
    if frames:
        text += f" (line {frames[-1].lineno})"
    return text[:400]


def run_job(job: Job | dict, backend: Backend, guard: FileSystemGuard | None = None) -> dict:
    """Check one finding; always returns a result, never raises for user code."""
    if isinstance(job, dict):
        job = Job.from_dict(job)
    started = time.perf_counter()
    inputs = ""
    # As when the file runs as a script, its directory (or its package's root) comes first on
    # the path; afterwards the path and the modules imported from there are as before.
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    if job.search_path:
        sys.path.insert(0, job.search_path)
    try:
        if guard is not None:
            guard.start()
        try:
            namespace = execute_snippet(job)
            probe = Probe(job, namespace, ast.parse(job.source), backend, job.source.splitlines())
            observation = witnesses.load(job.rule)(probe)
        finally:
            if guard is not None:
                guard.stop()
        inputs = observation.inputs
    except Inconclusive as error:
        observation = Observation(INCONCLUSIVE, str(error))
    except SnippetError as error:
        observation = Observation(INCONCLUSIVE, str(error))
    except MemoryError:
        observation = Observation(INCONCLUSIVE, f"ran out of memory (limit {MEMORY_LIMIT_MB or 'of the machine'} MiB)")
    except SystemExit as error:
        observation = Observation(INCONCLUSIVE, f"the code called sys.exit({error.code!r})")
    except RecursionError:
        observation = Observation(INCONCLUSIVE, "the check recursed without end")
    except Exception as error:  # noqa: BLE001 - the code could not be exercised: say how
        observation = Observation(INCONCLUSIVE, f"the check could not run: {_describe_error(error, job.path)}")
    finally:
        sys.path[:] = saved_path
        _forget_modules_under(job.search_path, saved_modules)
        sys.modules.pop(job.module, None)
    if guard is not None and guard.violations:
        observation = Observation(
            INCONCLUSIVE,
            "the code tried to change files outside its temporary directory "
            f"({'; '.join(guard.violations[:3])}); nothing was changed",
        )
        guard.violations.clear()
    return {
        "id": job.id,
        "verdict": observation.verdict,
        "evidence": observation.evidence,
        "framework": backend.describe(),
        "device": backend.device,
        "inputs": inputs,
        "seconds": round(time.perf_counter() - started, 4),
    }


def _forget_modules_under(directory: str, keep: set[str]) -> None:
    """Drop the modules a job imported from the user's directory, so the next job (another
    file, maybe another project) imports its own."""
    if not directory:
        return
    prefix = os.path.join(os.path.realpath(directory), "")
    for name in set(sys.modules) - keep:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and os.path.realpath(file).startswith(prefix):
            del sys.modules[name]


def _state(framework: str) -> dict[str, Any]:
    """What a snippet must not change for its verdict, and the next one, to be trusted: the
    builtins and the framework's global switches and entry points."""
    state: dict[str, Any] = {"builtins": tuple(sorted((k, id(v)) for k, v in vars(builtins).items()))}
    if framework == "torch":
        torch = sys.modules["torch"]
        state.update({"grad mode": torch.is_grad_enabled(), "default dtype": torch.get_default_dtype(),
                      "anomaly mode": torch.is_anomaly_enabled(), "torch.autograd.grad": id(torch.autograd.grad),
                      "Tensor.backward": id(torch.Tensor.backward)})
    elif framework == "tensorflow":
        tf = sys.modules["tensorflow"]
        state.update({"eager execution": tf.executing_eagerly(), "run_functions_eagerly": tf.config.functions_run_eagerly(),
                      "tf.GradientTape": id(tf.GradientTape), "tf.reduce_sum": id(tf.reduce_sum)})
    elif framework == "jax":
        jax = sys.modules["jax"]
        state.update({"jax.grad": id(jax.grad), "jax_enable_x64": bool(jax.config.jax_enable_x64),
                      "jax_disable_jit": bool(jax.config.jax_disable_jit)})
    return state


def _limit_memory(megabytes: int, device: str) -> None:
    if megabytes <= 0 or device != "cpu":
        return  # GPU drivers map huge virtual ranges; the parent watches the resident size instead
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def main(argv: list[str] | None = None) -> int:
    framework, device, memory = (argv or sys.argv[1:])[:3]
    read_only = [p for p in os.environ.pop(READ_ONLY_ENV, "").split(os.pathsep) if p]
    if read_only:  # inside `--dynamic-sandbox`'s namespaces, before any user code runs
        try:
            make_read_only(read_only)
        except OSError as error:
            print(json.dumps({"ready": False, "reason": f"the sandbox could not be set up: {error.strerror}"}), flush=True)
            return 1
    # The protocol keeps the original pipes; user code gets an empty stdin and a silent stdout.
    protocol_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115

    def send(message: dict) -> None:
        protocol_out.write(json.dumps(message) + "\n")
        protocol_out.flush()

    started = time.perf_counter()
    try:
        backend = backend_for(framework, device)
    except Exception as error:  # noqa: BLE001 - not installed, no GPU, broken install
        send({"ready": False, "reason": f"{type(error).__name__}: {error}"[:400]})
        return 1
    global MEMORY_LIMIT_MB
    MEMORY_LIMIT_MB = int(memory) if device == "cpu" else 0
    _limit_memory(int(memory), device)
    send({"ready": True, "framework": backend.describe(), "device": backend.device,
          "import_seconds": round(time.perf_counter() - started, 3)})
    guard = FileSystemGuard(os.getcwd())
    guard.install()
    before = _state(framework)
    for line in protocol_in:
        result = run_job(json.loads(line), backend, guard)
        after = _state(framework)
        changed = [name for name in before if after.get(name) != before[name]]
        if changed:  # this verdict ran under changed rules, and the next would too
            result.update(verdict=INCONCLUSIVE, inputs="", replace_worker=True,
                          evidence=f"the code changed {backend.name}'s global state ({', '.join(changed)}), "
                                   "so its gradients cannot be trusted")
        send(result)
        if changed:
            return 0
    return 0


if __name__ == "__main__":
    importlib.import_module("gradlint.dynamic.backends")  # fail early and clearly if numpy is missing
    sys.exit(main())
