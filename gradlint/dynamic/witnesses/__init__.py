"""Witnesses: the experiment that proves a rule's finding, one module per kind of proof.

Each module has `witness(probe) -> Observation`; `gradlint/data/witnesses.toml` says which
rule uses which. A witness raises `Inconclusive("why")` when it cannot run its experiment and
returns `confirmed` or `not_reproduced` only from what it observed.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from gradlint.data import section


@functools.cache
def table() -> dict[str, str]:
    return dict(section("witnesses"))


def confirmable(code: str) -> bool:
    return code in table()


def load(code: str) -> Callable:
    from gradlint.dynamic.probe import Inconclusive

    if code not in table():
        raise Inconclusive(f"{code} has no dynamic witness")
    return importlib.import_module(f"{__name__}.{table()[code]}").witness
