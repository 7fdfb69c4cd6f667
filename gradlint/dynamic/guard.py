"""Keeps user code in dynamic mode from changing files outside the worker's temporary directory.

An audit hook (PEP 578) sees every `open` for writing, every rename, removal, directory change
and process start made through Python; while a job runs, those that reach outside the worker's
directory are refused and recorded. C code that writes without Python is not seen: that is what
an operating-system sandbox is for.
"""

from __future__ import annotations

import os
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Audit events whose first argument is a path that gets changed.
_PATH_EVENTS = frozenset({
    "os.remove", "os.rmdir", "os.mkdir", "os.truncate", "os.chmod", "os.chown", "os.utime",
    "shutil.rmtree", "os.removexattr", "os.setxattr",
})
_TWO_PATH_EVENTS = frozenset({"os.rename", "os.link", "os.symlink", "shutil.move", "shutil.copyfile", "shutil.copytree"})
_PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.kill", "os.killpg"})
_ALLOWED_DEVICES = frozenset({os.devnull, "/dev/null", "/dev/shm"})


class FileSystemGuard:
    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.active = False
        self.violations: list[str] = []

    def install(self) -> None:
        sys.addaudithook(self._hook)

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def _inside(self, path: object) -> bool:
        if isinstance(path, int):
            return True  # an already open descriptor
        try:
            text = os.fsdecode(path)
        except TypeError:
            return True
        real = os.path.realpath(text)
        return real == self.root or real in _ALLOWED_DEVICES or real.startswith((self.root + os.sep, "/dev/shm/"))

    def _refuse(self, what: str) -> None:
        self.violations.append(what)
        raise PermissionError(f"gradlint dynamic mode: {what} is not allowed")

    def _hook(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, 0))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
            if writing and path is not None and not self._inside(path):
                self._refuse(f"writing {os.fsdecode(path)}")
        elif event in _PATH_EVENTS:
            if args and not self._inside(args[0]):
                self._refuse(f"{event} {os.fsdecode(args[0])}")
        elif event in _TWO_PATH_EVENTS:
            for path in args[:2]:
                if not self._inside(path):
                    self._refuse(f"{event} {os.fsdecode(path)}")
        elif event in _PROCESS_EVENTS or event == "os.chdir":
            self._refuse(event)
