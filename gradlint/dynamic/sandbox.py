"""`--dynamic-sandbox`: workers in Linux user, network and mount namespaces.

Inside, the worker has no network (a fresh network namespace holds only a loopback device that is
down) and sees the project read-only (a read-only bind mount over it), so checked code can neither
reach out nor change the project, even from C code that the audit-hook guard cannot see. It needs
`unshare` (util-linux) and unprivileged user namespaces; where they are missing the caller warns
and runs without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import shutil
import subprocess

READ_ONLY_ENV = "GRADLINT_SANDBOX_READ_ONLY"
UNSHARE = ("unshare", "--user", "--map-root-user", "--net", "--mount", "--")

# From <sys/mount.h>.
_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC = 1, 32, 4096, 16384


@functools.cache
def unavailable_reason() -> str | None:
    """Why the sandbox cannot be used here, or None when it can."""
    if shutil.which("unshare") is None:
        return "the `unshare` command (util-linux) is not installed"
    try:
        probe = subprocess.run([*UNSHARE, "true"], check=False, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`unshare` failed: {error}"
    if probe.returncode != 0:
        message = probe.stderr.decode(errors="replace").strip().splitlines()
        return f"user namespaces are not available ({message[-1] if message else f'exit status {probe.returncode}'})"
    return None


def command(worker: list[str]) -> list[str]:
    return [*UNSHARE, *worker]


def make_read_only(paths: list[str]) -> None:
    """Called first thing in a sandboxed worker: bind each path read-only over itself."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    for path in paths:
        target = path.encode()
        if libc.mount(target, target, None, _MS_BIND | _MS_REC, None) != 0 or libc.mount(
            None, target, None, _MS_BIND | _MS_REC | _MS_REMOUNT | _MS_RDONLY, None
        ) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"cannot make {path} read-only: {os.strerror(error)}")
