"""Rule lookup and selection: codes, prefixes (`GL0`, `GL03`), defaults."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from gradlint.rule import Rule, registered_rules

_loaded = False


class SelectionError(ValueError):
    """A code or prefix that matches no rule."""


def _load() -> None:
    global _loaded
    if not _loaded:
        import gradlint.rules as package

        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
        _loaded = True


def all_rules() -> list[type[Rule]]:
    _load()
    return [registered_rules()[code] for code in sorted(registered_rules())]


def get_rule(code: str) -> type[Rule]:
    _load()
    rule = registered_rules().get(code.upper())
    if rule is None:
        by_name = {r.name: r for r in registered_rules().values()}
        rule = by_name.get(code.lower())
    if rule is None:
        raise SelectionError(f"unknown rule {code!r}")
    return rule


def default_codes() -> list[str]:
    return [rule.code for rule in all_rules() if rule.default_enabled]


def expand(selectors: Iterable[str]) -> set[str]:
    """Codes matched by each selector: a code, a prefix, a rule name, or ALL."""
    codes: set[str] = set()
    rules = all_rules()
    for raw in selectors:
        selector = raw.strip()
        if not selector:
            continue
        if selector.upper() == "ALL":
            codes.update(rule.code for rule in rules)
            continue
        matched = [rule.code for rule in rules if rule.code.startswith(selector.upper()) or rule.name == selector]
        if not matched:
            raise SelectionError(f"unknown rule code or prefix {selector!r} (see `gradlint --list-rules`)")
        codes.update(matched)
    return codes


def select_rules(
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    extend_select: Iterable[str] = (),
) -> list[type[Rule]]:
    """Rules to run: `select` (default: the default-enabled ones) plus `extend_select`, minus `ignore`."""
    chosen = expand(select) if select is not None else set(default_codes())
    chosen |= expand(extend_select)
    chosen -= expand(ignore)
    return [rule for rule in all_rules() if rule.code in chosen]
