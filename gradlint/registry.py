"""Rule lookup and selection: codes, prefixes (`GL0`, `GL03`), defaults.

Selection reads `rules/index.toml` (generated with the rule pages from the rule classes), so
that choosing rules, keying the cache and prefiltering files import no rule module, and with
them no libcst: a run whose files are all cached never parses or imports a parser.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterable
from pathlib import Path

from gradlint.rule import Rule, registered_rules

INDEX = Path(__file__).parent / "rules" / "index.toml"
_loaded = False
_index: dict[str, dict] | None = None


class SelectionError(ValueError):
    """A code or prefix that matches no rule."""


def rule_index() -> dict[str, dict]:
    """code -> {name, module, frameworks, default}, for every built-in rule."""
    global _index
    if _index is None:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib

        _index = tomllib.loads(INDEX.read_text("utf-8"))
    return _index


def index_entry(rule: type[Rule]) -> dict:
    """What the index records of a rule (the docs generator writes it; a test compares)."""
    return {
        "name": rule.name,
        "module": rule.__module__.rsplit(".", 1)[-1],
        "frameworks": list(rule.frameworks),
        "default": rule.default_enabled,
        **({"dynamic_only": True} if rule.dynamic_only else {}),
    }


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
    """The rule class for a code or name, importing only its module."""
    index = rule_index()
    wanted = code.upper() if code.upper() in index else next(
        (c for c, entry in index.items() if entry["name"] == code.lower()), None
    )
    if wanted is None:
        raise SelectionError(f"unknown rule {code!r}")
    rule = registered_rules().get(wanted)
    if rule is None:
        importlib.import_module(f"gradlint.rules.{index[wanted]['module']}")
        rule = registered_rules()[wanted]
    return rule


def dynamic_only(code: str) -> bool:
    return rule_index()[code].get("dynamic_only", False)


def default_codes(dynamic: bool = False) -> list[str]:
    """The default rule set; dynamic-only rules join it only for a dynamic run."""
    return [code for code, entry in sorted(rule_index().items())
            if entry["default"] and (dynamic or not entry.get("dynamic_only"))]


def expand(selectors: Iterable[str]) -> set[str]:
    """Codes matched by each selector: a code, a prefix, a rule name, or ALL."""
    codes: set[str] = set()
    index = rule_index()
    for raw in selectors:
        selector = raw.strip()
        if not selector:
            continue
        if selector.upper() == "ALL":
            codes.update(index)
            continue
        matched = [code for code, entry in index.items() if code.startswith(selector.upper()) or entry["name"] == selector]
        if not matched:
            close = difflib.get_close_matches(selector, [*index, *(e["name"] for e in index.values())], n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]!r}?" if close else " (see `gradlint --list-rules`)"
            raise SelectionError(f"unknown rule code or prefix {selector!r}{hint}")
        codes.update(matched)
    return codes


def resolve_selection(
    layers: Iterable[tuple[Iterable[str] | None, Iterable[str], Iterable[str]]], dynamic: bool = False
) -> list[str]:
    """Codes to run from layers of (select, ignore, extend_select), the configuration's first and the command line's
    last: as in ruff, a layer's `select` starts afresh, so `--select` on the command line is not
    undone by the configuration's `ignore`; then `extend_select` adds and `ignore` removes."""
    chosen = set(default_codes(dynamic))
    for select, ignore, extend_select in layers:
        if select is not None:
            chosen = expand(select)
        chosen |= expand(extend_select)
        chosen -= expand(ignore)
    return sorted(code for code in chosen if dynamic or not dynamic_only(code))


def select_codes(
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    extend_select: Iterable[str] = (),
    dynamic: bool = False,
) -> list[str]:
    """Codes to run: `select` (default: the default-enabled ones) plus `extend_select`, minus
    `ignore`; dynamic-only rules only for a `dynamic` run (their findings need a witness)."""
    return resolve_selection([(select, ignore, extend_select)], dynamic)


def select_rules(
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    extend_select: Iterable[str] = (),
) -> list[type[Rule]]:
    """The rule classes of `select_codes` (this imports their modules)."""
    return [get_rule(code) for code in select_codes(select, ignore, extend_select)]
