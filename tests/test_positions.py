"""Positions from `Located` are libcst's `PositionProvider` positions, for every node asked about,
whether or not the nodes around it are asked about too."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from gradlint.engine.positions import Located, code_for_node
from gradlint.engine.walker import iter_tree
from gradlint.rule import NodeCode

def _parses(path: Path) -> bool:
    try:
        cst.parse_module(path.read_text(encoding="utf-8"))
    except Exception:  # the fixtures of unreadable input
        return False
    return True


FIXTURES = [path for path in sorted((Path(__file__).parent.parent / "fixtures").rglob("*.py"))[::7] if _parses(path)]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_positions_match_libcst(path):
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = [node for node in iter_tree(module) if node in expected]
    everything = Located(module, placed=nodes)
    # Asked about one node in three: a statement's position ends at its body, which is not asked.
    some = Located(module, placed=nodes[::3])
    for index, node in enumerate(nodes):
        assert everything.position(node) == expected[node], module.code_for_node(node)
        if index % 3 == 0:
            assert some.position(node) == expected[node], module.code_for_node(node)
    assert Located(module).position(nodes[-1]) is None  # a node not asked about has no position


@pytest.mark.parametrize("path", FIXTURES[:10], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_code_for_node_is_libcst_code(path):
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    for node in list(iter_tree(module))[::5]:
        if isinstance(node, cst.Annotation):
            continue  # libcst generates an annotation only with its parent, which knows the `:` or `->`
        assert code_for_node(module, node) == module.code_for_node(node)


@pytest.mark.parametrize("path", FIXTURES[:10], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_an_expression_span_is_its_code(path):
    """What a `NodeCode` message field reads from the positions pass is the node's own code on
    one line (inside the module, a continuation line also carries the enclosing indentation)."""
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    expressions = [node for node in iter_tree(module) if isinstance(node, cst.BaseExpression)]
    located = Located(module, wanted=expressions)
    for node in expressions:
        span = located.span(node)
        assert NodeCode(node).text(located.code[span.start : span.end]) == " ".join(code_for_node(module, node).split())
