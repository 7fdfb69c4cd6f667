"""Rules, and the findings they produce.

A rule is a small class: a docstring (its documentation), a code, a message template and
`visit_<NodeType>` / `leave_<NodeType>` methods that the engine calls in one shared walk of
each file. Subclassing `Rule` registers the rule; nothing else has to list it.
"""

from __future__ import annotations

import enum
import re
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # the engine module imports libcst; keep `gradlint --version` light
    import libcst as cst

    from gradlint.engine.context import FileContext


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass
class Fix:
    """An edit a rule proposes: replace `node` by `replacement` (applied by `--fix`).

    `safe=None` takes the rule's `fix_safe`; unsafe fixes change numerical results and are
    applied only with `--unsafe-fixes`."""

    node: Any
    replacement: Any
    safe: bool | None = None


@dataclass(slots=True)  # a dense file has hundreds of thousands
class Finding:
    """One problem in one file; lines and columns are 1-based, end columns exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    rule: str
    name: str
    severity: str
    message: str
    fix: dict | None = None
    confirmation: dict | None = None
    cell: int | None = None  # in a notebook: the cell (from 1); `line` is then within the cell

    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.line, self.column, self.rule)

    def fixable(self, unsafe: bool = False) -> bool:
        """Whether `--fix` applies this finding's fix (unsafe ones only with `--unsafe-fixes`)."""
        return self.fix is not None and (self.fix["safe"] or unsafe)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "confirmation": self.confirmation,
            "cell": self.cell,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(**data)


@dataclass
class Report:
    """What a rule asked to report, before the engine turns the node into a position."""

    rule: type[Rule]
    node: Any
    message: str  # the text, or the template that `fields` fill once the node codes are read
    statement: Any = None
    fix: Fix | None = None
    bind: dict = field(default_factory=dict)
    severity: Severity | None = None  # overrides the rule's default for this finding
    fields: dict | None = None  # set when a field is a `NodeCode`


@dataclass(frozen=True)
class NodeCode:
    """A message field: the code of an expression of the module on one line, shortened to
    `limit` characters. The engine reads it from the positions pass that places the finding,
    so a dense file does not generate the code of each such node once more."""

    node: Any
    limit: int | None = None

    def text(self, code: str) -> str:
        text = " ".join(code.split())
        if self.limit is not None and len(text) > self.limit:
            text = text[: self.limit - 3] + "..."
        return text


_RULES: dict[str, type[Rule]] = {}
_RESERVED_FIELDS = frozenset({"node", "message", "fix", "bind", "statement", "severity"})


def _template_fields(template: str) -> set[str]:
    return {name.split(".", 1)[0].split("[", 1)[0] for _, name, _, _ in string.Formatter().parse(template) if name}

_CODE = re.compile(r"^GL\d{3}$")


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


class Rule:
    """Base class of every rule; see the module docstring."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.WARNING
    # Severities some findings get instead, each case explained under `## Severity` in the docstring.
    other_severities: ClassVar[tuple[Severity, ...]] = ()
    message: ClassVar[str]
    fix_title: ClassVar[str | None] = None
    fix_safe: ClassVar[bool] = True
    # Top-level packages whose import makes a file worth parsing for this rule (the prefilter).
    frameworks: ClassVar[tuple[str, ...]] = ()
    # Off unless selected explicitly (opinionated or noisy rules).
    default_enabled: ClassVar[bool] = True
    # Its findings are candidates that only `--dynamic` can judge: they are reported only when
    # a witness confirms them, and without `--dynamic` the rule does not run.
    dynamic_only: ClassVar[bool] = False
    # Every finding is about code gradients go through (`not_differentiated` gates each one), so
    # the rule does not run on a file that is not differentiated as a whole (`undifferentiated_file`:
    # tests, optimiser packages).
    differentiated_code_only: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not _CODE.match(getattr(cls, "code", "")):
            raise TypeError(f"{cls.__name__}: code must look like GL123")
        if cls.code in _RULES and _RULES[cls.code].__qualname__ != cls.__qualname__:
            raise TypeError(f"{cls.__name__}: code {cls.code} is taken by {_RULES[cls.code].__name__}")
        if not cls.__doc__ or not getattr(cls, "message", ""):
            raise TypeError(f"{cls.__name__}: a rule needs a docstring and a message")
        if not cls.frameworks:
            raise TypeError(f"{cls.__name__}: a rule names the frameworks it checks")
        reserved = _RESERVED_FIELDS.intersection(_template_fields(cls.message))
        if reserved:  # `report(**fields)` would take them as its own arguments
            raise TypeError(f"{cls.__name__}: message fields {sorted(reserved)} are reserved by `report`")
        if cls.other_severities and "## Severity" not in cls.__doc__:
            raise TypeError(f"{cls.__name__}: other_severities are explained under `## Severity`")
        cls.name = _kebab(cls.__name__)
        _RULES[cls.code] = cls

    def __init__(self, context: FileContext) -> None:
        self.context = context
        self.reports: list[Report] = []

    # Helpers shared by every rule -------------------------------------------------------

    def qualified_names(self, node: cst.CSTNode) -> frozenset[str]:
        """Canonical API names an expression may refer to (empty when unknown)."""
        return self.context.names.qualified_names(node)

    def callee(self, node: cst.CSTNode, table: Any) -> str | None:
        """The canonical name of a call's function when it is in `table`, else None."""
        return self.context.names.callee(node, table)

    def value(self, node: cst.BaseExpression):
        """What the semantic model (`gradlint.semantic`) knows of `node`, read where the walk is."""
        context = self.context
        return context.semantic.value(node, context.scopes, context.current_statement())

    def place(self):
        """Where the walk is, as the semantic model reads it (`gradlint.semantic.model.Place`):
        for a rule that follows values itself with `ModuleModel.assignments` and `returns`."""
        context = self.context
        return context.semantic.place(context.scopes, context.current_statement())

    def source(self, node: cst.CSTNode) -> str:
        """The node's code as the user wrote it, on one line."""
        return self.context.source(node)

    def report(
        self,
        node: cst.CSTNode,
        message: str | None = None,
        *,
        fix: Fix | None = None,
        bind: dict | None = None,
        statement: cst.CSTNode | None = None,
        severity: Severity | None = None,
        **fields: Any,
    ) -> None:
        """Report `node`; `fields` fill the rule's message template (or `message`).

        `statement` is the statement holding `node`, where a `# noqa` may also sit; it
        defaults to the statement being walked, so pass it when reporting a node seen earlier.
        `severity` overrides the rule's default when one case is surer than another.
        """
        if severity not in (None, self.severity, *self.other_severities):
            raise ValueError(f"{self.code}: severity {severity.value} is not declared in other_severities")
        template = message or self.message
        statement = statement or self.context.current_statement()
        if any(isinstance(value, NodeCode) for value in fields.values()):
            self.reports.append(Report(type(self), node, template, statement, fix, bind or {}, severity, fields))
        else:
            self.reports.append(Report(type(self), node, template.format(**fields), statement, fix, bind or {}, severity))


def registered_rules() -> dict[str, type[Rule]]:
    return _RULES
