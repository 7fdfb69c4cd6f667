"""A worker process: imports one framework once, then runs one job after another.

`python -m gradlint.dynamic.worker FRAMEWORK DEVICE MEMORY_MB` speaks JSON lines with its parent
on the stdin and stdout it was started with; the user's code sees an empty stdin and a stdout
that goes nowhere. The parent enforces the per-finding timeout and replaces a worker that dies.
`run_job` is also usable in-process (the tests, `gradlint.testing`).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

from gradlint import examples
from gradlint.dynamic import old_spellings, python2, witnesses
from gradlint.dynamic.backends import Backend, backend_for
from gradlint.dynamic.guard import FileSystemGuard
from gradlint.dynamic.probe import INCONCLUSIVE, Inconclusive, Job, Observation, Probe
from gradlint.dynamic.sandbox import READ_ONLY_ENV, make_read_only
from gradlint.dynamic.unavailable import GuardedModules, MissingModules, Unavailable, Unbound, distinct, guarded

# Set by `main`: the limit this worker runs under, for the message when it is reached.
MEMORY_LIMIT_MB = 0
# The evidence is kept whole (the text output shortens it) up to this bound: an error message
# can print a whole tensor.
MAX_EVIDENCE = 4000
# Imported by each worker before any job: they start programs the first time they are imported.
WARM_UP = ("matplotlib.font_manager",)


class SnippetError(Exception):
    pass


def _executed(job: Job) -> ast.Module:
    """The snippet as it runs: without the statements kept only for the witness to read (a
    module-level loop holding the finding), and with guarded imports and assignments."""
    tree = ast.parse(job.source)
    skipped = [range(start, end + 1) for start, end in job.skip]
    tree.body = [s for s in tree.body if not any(s.lineno in lines for lines in skipped)]
    if job.python2:
        tree = python2.transform(tree)
    return guarded(tree)


def execute_snippet(job: Job, unbound: Unbound) -> dict:
    """Run the snippet's definitions as a module of their own; returns its namespace. `unbound`
    collects why each stand-in for an import that failed was touched."""
    code = compile(_executed(job), job.path, "exec")
    package = job.module.rpartition(".")[0]
    try:
        namespace = _run_module(job, code, unbound)
        if not (package and unbound.circular):
            return namespace
    except SnippetError as error:
        if not package or "partially initiali" not in str(error):
            raise
    # A package whose `__init__` imports from this very module (`from .losses import entropy`)
    # finds it half run: import the package first, as any user of it does, then run again.
    sys.modules.pop(job.module, None)
    unbound.used.clear()
    unbound.guessed.clear()
    unbound.failed.clear()
    unbound.circular = False
    try:
        importlib.import_module(package)
    except Exception as failure:  # noqa: BLE001 - the package itself does not import: say so
        raise SnippetError(f"could not import the package `{package}`: {_describe_error(failure, job.path)}") from None
    return _run_module(job, code, unbound)


def _run_module(job: Job, code: Any, unbound: Unbound) -> dict:
    module = types.ModuleType(job.module)
    module.__file__ = job.path
    unbound.install(module.__dict__)
    if job.python2:
        module.__dict__.update(python2.names(unbound.used))
    if "." in job.module:
        module.__package__ = job.module.rpartition(".")[0]
    sys.modules[job.module] = module  # dataclasses, pickling and typing look the module up
    try:
        exec(code, module.__dict__)  # noqa: S102 - the point of dynamic mode
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
    return text


def run_job(job: Job | dict, backend: Backend, guard: FileSystemGuard | None = None) -> dict:
    """Check one finding; always returns a result, never raises for user code."""
    if isinstance(job, dict):
        job = Job.from_dict(job)
    started = time.perf_counter()
    inputs = ""
    backend.narrowed = False
    placeholders: list[str] = []
    shimmed: list[str] = []  # old spellings run through `old_spellings`, for the evidence
    if job.framework == "tensorflow":
        source, placeholders, skip = old_spellings.without_placeholders(job.source)
        if placeholders:
            job = dataclasses.replace(job, source=source, skip=[*job.skip, *skip])
    # As when the file runs as a script, its directory (or its package's root) comes first on
    # the path; afterwards the path and the modules imported from there are as before.
    saved_path, saved_modules, saved_argv = list(sys.path), set(sys.modules), sys.argv
    project = list(dict.fromkeys(p for p in (*job.project_paths, job.search_path) if p))
    sys.path[:0] = project
    sys.argv = [job.path]  # a command-line parser in the file sees no arguments, not the worker's
    used: list[str] = []  # why each stand-in for a missing import was touched
    missing = MissingModules(project, job.path, used, shimmed)
    unbound = Unbound(job.module, used, shimmed=shimmed)
    bases_before = len(Unavailable.stand_in_bases)
    try:
        if guard is not None:
            guard.start()
        try:
            with missing, GuardedModules(project, unbound):
                namespace = execute_snippet(job, unbound)
                old_spellings.install(namespace, shimmed)
                probe = Probe(job, namespace, ast.parse(job.source), backend, job.source.splitlines())
                observation = witnesses.load(job.rule)(probe)
        finally:
            if guard is not None:
                guard.stop()
        inputs = "; ".join(filter(None, [observation.inputs, ", ".join(probe.stand_ins.values())]))
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
        examples.clear()  # the next job's classes are new objects
        sys.path[:] = saved_path
        sys.argv = saved_argv
        for directory in project:
            _forget_modules_under(directory, saved_modules)
        sys.modules.pop(job.module, None)
    labels = ([python2.LABEL] if job.python2 else []) + shimmed + ([f"TF1 placeholders {', '.join(f'`{n}`' for n in placeholders)} left unbound, as inputs of the check"]
                        if placeholders else [])
    if labels:
        observation.evidence += f" (old spellings run on today's {backend.name}: {'; '.join(labels)})"
    if backend.narrowed:
        inputs = inputs.replace("(float64)", "(float32)")
        observation.evidence += " (run in float32, the dtype of the code's own constants or weights)"
    if unbound.guessed:
        observation.evidence += (" (computed from what is missing here, so guessed: "
                                 f"{', '.join(unbound.guessed)})")
    touched = distinct(used)
    if touched:  # even when the user's code caught the failure: what ran is not what the code does
        observation = Observation(INCONCLUSIVE, f"{touched[0]}, and the check needed it"
                                  + (f" (also: {'; '.join(touched[1:])})" if touched[1:] else ""))
    else:
        bases = list(dict.fromkeys(Unavailable.stand_in_bases[bases_before:]))
        if bases:
            observation.evidence += (" (classes defined on a placeholder for the missing base class "
                                     f"{', '.join(f'`{name}`' for name in bases)}; nothing was read from it)")
        if missing.roots:
            observation.evidence += (" (missing here, stood in and never touched by the check: "
                                     f"{', '.join(f'`{name}`' for name in missing.roots)})")
        if unbound.failed:
            observation.evidence += (" (module-level statements that failed here, what they bind stood in and never "
                                     f"touched by the check: {'; '.join(unbound.failed)})")
    del Unavailable.stand_in_bases[bases_before:]
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
        "evidence": observation.evidence[:MAX_EVIDENCE],
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
        if name.partition(".")[0] == "gradlint":
            continue  # the witnesses a job loads (when the project is gradlint's own checkout)
        file = getattr(sys.modules.get(name), "__file__", None)
        real = os.path.realpath(file) if file else ""
        # Installed packages (a virtual environment inside the project) are not the user's modules.
        if real.startswith(prefix) and not {"site-packages", "dist-packages"} & set(Path(real).parts):
            del sys.modules[name]


def _state(framework: str) -> dict[str, Any]:
    """What a snippet must not change for its verdict, and the next one, to be trusted: the
    builtins and the framework's global switches and entry points."""
    # Extension modules keep capsules in builtins (importing TensorFlow adds pybind11's internals):
    # what a framework import registers there is not a change made by the user's code.
    state: dict[str, Any] = {"builtins": tuple(sorted((k, id(v)) for k, v in vars(builtins).items()
                                                      if type(v).__name__ != "PyCapsule"))}
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


def _warm_caches() -> None:
    """Build the caches that libraries fill on first use by starting a program (matplotlib lists
    the system's fonts with `fc-list`, `platform.processor()` runs `uname -p` as h5py is
    imported) before the guard, which refuses process starts, is on."""
    platform.processor()
    for module in WARM_UP:
        if importlib.util.find_spec(module.partition(".")[0]) is not None:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001, S110 - a broken install fails later, in the job that uses it
                pass


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
    _warm_caches()
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
