"""Worker processes, one framework each, reused across findings; faults end one finding only.

A finding that hangs past its timeout, a worker that crashes (a signal, `os._exit`), runs out
of memory or changes its framework's global state is replaced by a fresh worker; that finding is
inconclusive with the reason and the others still get their verdicts.
"""

from __future__ import annotations

import collections
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from gradlint.dynamic import sandbox
from gradlint.dynamic.backends import FRAMEWORKS, INSTALL_HINT, installed
from gradlint.dynamic.probe import INCONCLUSIVE, Job

# Importing TensorFlow takes 5-7 s on a quiet machine; allow for a loaded CI runner.
IMPORT_TIMEOUT = 180.0
_POLL = 0.05
# Where libraries put their configuration and caches instead of the home directory, and the
# folder each gets in the worker's temporary directory.
USER_FOLDERS = {"XDG_CONFIG_HOME": "config", "XDG_CACHE_HOME": "cache", "XDG_DATA_HOME": "data",
                "MPLCONFIGDIR": "matplotlib", "KERAS_HOME": "keras"}


def inconclusive(job: Job, reason: str, framework: str = "", device: str = "") -> dict:
    return {"id": job.id, "verdict": INCONCLUSIVE, "evidence": reason, "framework": framework or job.framework,
            "device": device or job.device, "inputs": "", "seconds": 0.0}


class WorkerFailed(Exception):
    pass


class Worker:
    """One worker process and its temporary directory (its working directory and TMPDIR)."""

    def __init__(self, framework: str, device: str, memory_mb: int, read_only: list[str] | None = None) -> None:
        self.framework = framework
        self.memory_mb = memory_mb
        self.directory = tempfile.mkdtemp(prefix=f"gradlint-{framework}-")
        self.log_path = os.path.join(self.directory, ".worker.log")
        env = dict(os.environ)
        env.update(TMPDIR=self.directory, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                   TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
        # Libraries create their configuration and cache folders in the home directory as they
        # are imported (matplotlib, Keras, torch hub): in here, where the file guard lets them.
        env.update({name: os.path.join(self.directory, folder) for name, folder in USER_FOLDERS.items()})
        if device == "cpu":
            env.update(CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "gradlint.dynamic.worker", framework, device, str(memory_mb)]
        if read_only is not None:  # --dynamic-sandbox
            env[sandbox.READ_ONLY_ENV] = os.pathsep.join(read_only)
            command = sandbox.command(command)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=self.directory, env=env,
                start_new_session=True,
            )
        self._buffer = b""
        started = time.monotonic()
        hello = self._read(IMPORT_TIMEOUT)
        if hello is None or not hello.get("ready"):
            reason = hello.get("reason") if hello else self._death_reason(f"did not start within {IMPORT_TIMEOUT:.0f} s")
            self.close()
            raise WorkerFailed(reason)
        self.description = hello["framework"]
        self.device = hello["device"]
        self.import_seconds = hello.get("import_seconds", time.monotonic() - started)

    def run(self, job: Job, timeout: float) -> tuple[dict, bool]:
        """The result of one job, and whether this worker can take another."""
        try:
            self.process.stdin.write((json.dumps(job.__dict__) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return inconclusive(job, self._death_reason("the worker had exited"), self.description, self.device), False
        result = self._read(timeout, job)
        if isinstance(result, dict):
            return result, "replace_worker" not in result
        return inconclusive(job, result, self.description, self.device), False

    def _rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.process.pid}/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            return 0.0

    def _read(self, timeout: float, job: Job | None = None):
        """The next message, or (for a job) the reason there is none; None when starting fails."""
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return f"timed out after {timeout:g} s" if job else None
            if self.memory_mb and self._rss_mb() > self.memory_mb:
                self.kill()
                return f"used more than {self.memory_mb} MiB of memory; stopped" if job else None
            ready, _, _ = select.select([fd], [], [], min(left, _POLL))
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return self._death_reason("the worker ended") if job else None
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _death_reason(self, default: str) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return default
        if code < 0:
            name = signal.Signals(-code).name
            if name == "SIGKILL":
                return "the worker was killed (SIGKILL; out of memory?)"
            return f"the worker crashed with {name}"
        tail = self._log_tail()
        if "MemoryError" in tail or "bad_alloc" in tail:
            return f"ran out of memory (limit {self.memory_mb} MiB)"
        return f"the code ended the worker process with exit status {code} (os._exit?)" + (f": {tail}" if tail else "")

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                lines = [l for l in log.read().decode("utf-8", "replace").splitlines() if l.strip()]
            return lines[-1][:200] if lines else ""
        except OSError:
            return ""

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self.process.stdout.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class Pool:
    """Runs jobs on up to `jobs` workers at once; each worker serves one framework's queue."""

    def __init__(self, device: str = "cpu", timeout: float = 20.0, jobs: int = 1, memory_mb: int = 4096,
                 on_result: Callable[[dict], None] | None = None, read_only: list[str] | None = None) -> None:
        self.read_only = read_only  # None: no sandbox
        self.device = device
        self.timeout = timeout
        self.jobs = max(1, jobs)
        self.memory_mb = memory_mb
        self.on_result = on_result or (lambda result: None)
        self.import_seconds: dict[str, list[float]] = collections.defaultdict(list)
        self._lock = threading.Lock()

    def run(self, jobs: list[Job]) -> dict[int, dict]:
        results: dict[int, dict] = {}
        queues: dict[str, collections.deque] = collections.OrderedDict()
        for job in jobs:
            queues.setdefault(job.framework, collections.deque()).append(job)
        for framework in list(queues):
            if not installed(framework):
                label = FRAMEWORKS[framework][1]
                for job in queues.pop(framework):
                    self._done(results, inconclusive(job, f"{label} is not installed ({INSTALL_HINT[framework]})"))
        serving: collections.Counter = collections.Counter()

        def next_queue() -> str | None:
            with self._lock:
                pending = [f for f, q in queues.items() if q]
                if not pending:
                    return None
                framework = min(pending, key=lambda f: (serving[f], -len(queues[f])))
                serving[framework] += 1
                return framework

        def slot() -> None:
            while (framework := next_queue()) is not None:
                try:
                    self._serve(framework, queues[framework], results)
                finally:
                    with self._lock:
                        serving[framework] -= 1

        threads = [threading.Thread(target=slot, daemon=True) for _ in range(min(self.jobs, len(jobs)) or 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def _take(self, queue: collections.deque) -> Job | None:
        with self._lock:
            return queue.popleft() if queue else None

    def _serve(self, framework: str, queue: collections.deque, results: dict[int, dict]) -> None:
        worker: Worker | None = None
        try:
            while (job := self._take(queue)) is not None:
                if worker is None:
                    try:
                        worker = Worker(framework, self.device, self.memory_mb, self.read_only)
                        self.import_seconds[framework].append(worker.import_seconds)
                    except WorkerFailed as error:  # the next start would fail the same way
                        reason = f"could not start the {FRAMEWORKS[framework][1]} worker: {error}"
                        while job is not None:
                            self._done(results, inconclusive(job, reason))
                            job = self._take(queue)
                        return
                result, reusable = worker.run(job, self.timeout)
                self._done(results, result)
                if not reusable:
                    worker.close()
                    worker = None
        finally:
            if worker is not None:
                worker.close()

    def _done(self, results: dict[int, dict], result: dict) -> None:
        result.pop("replace_worker", None)
        with self._lock:
            results[result["id"]] = result
        self.on_result(result)
