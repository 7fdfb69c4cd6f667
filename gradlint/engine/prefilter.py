"""Skip files that import no framework the selected rules check, before parsing them."""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable

from gradlint.data import _data

# A line starts after "\n" or a lone "\r" (old Mac line endings), which `(?m)^` does not see.
_LINE_START = rb"(?:\A|(?<=[\r\n]))"
_SKIP_FILE = re.compile(_LINE_START + rb"(?:\xef\xbb\xbf)?[ \t\f]*#[ \t]*gradlint:[ \t]*skip-file\b")


def framework_pattern(frameworks: Iterable[str]) -> re.Pattern[bytes] | None:
    """A regex matching an import of any module of these frameworks; None means 'any file'."""
    groups = _data()["frameworks"]["groups"]
    modules: set[str] = set()
    for framework in frameworks:
        if framework == "*":
            return None
        modules.update(groups.get(framework, [framework]))
    names = b"|".join(re.escape(m.encode()) for m in sorted(modules))
    # `import torch`, `import os, torch.nn as nn`, `from jax import numpy`, indented or not
    # (a form feed is whitespace to Python too), or first in a file that starts with a byte order mark.
    return re.compile(
        _LINE_START + rb"(?:\xef\xbb\xbf)?[ \t\f]*(?:from[ \t\f]+(?:" + names + rb")\b|import[ \t\f][^\r\n#;]*?\b(?:" + names + rb")\b)"
    )


def wants_file(data: bytes, pattern: re.Pattern[bytes] | None) -> bool:
    return pattern is None or pattern.search(data) is not None


def skip_file_comment(data: bytes) -> bool:
    # The substring test is a memchr-speed scan; the regex tries its look-behind at every byte.
    return b"skip-file" in data and _SKIP_FILE.search(data) is not None


def decode(data: bytes) -> str:
    """Decode as Python does: a BOM or a coding cookie, else UTF-8 (errors raise)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def is_source_text(data: bytes) -> bool:
    """Whether Python could read these bytes as source: decodable and free of NUL bytes. A file
    that is not is reported (GL000) even when it names no framework."""
    if b"\0" in data:
        return False
    try:
        decode(data)
    except (UnicodeDecodeError, LookupError, SyntaxError):
        return False
    return True
