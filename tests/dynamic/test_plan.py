"""The snippet a finding runs with: its definition and what that needs, nothing else, at the
original line numbers; and the worker that runs it."""

from __future__ import annotations

import textwrap

from gradlint.dynamic.plan import ModulePlan, module_location, plan
from gradlint.rule import Finding

MODULE = textwrap.dedent('''\
    from __future__ import annotations

    import os
    import numpy as np
    import torch
    from torch import nn

    EPS = 1e-12
    UNUSED = 3
    print("training starts")  # a side effect at import


    def traced(fn):
        return fn


    @traced
    def helper(x):
        return x * EPS


    class Head(nn.Module):
        def forward(self, x):
            return torch.sqrt(helper(x))


    model = Head()
    for step in range(1000):
        model(torch.ones(3))

    if __name__ == "__main__":
        os.remove("data.bin")
    ''')


def _finding(line: int, path: str = "m.py") -> Finding:
    return Finding(path, line, 1, line, 2, "GL030", "unsafe-sqrt-or-norm", "error", "m")


def test_the_snippet_keeps_what_the_finding_needs_at_its_lines():
    module = ModulePlan("m.py", MODULE)
    target = module.statement_at(24)
    snippet = module.snippet(module.closure(target))
    original = MODULE.splitlines()
    kept = {number for number, line in enumerate(snippet.splitlines(), 1) if line.strip()}
    for number in kept:
        assert snippet.splitlines()[number - 1] == original[number - 1]
    text = snippet
    assert "from __future__ import annotations" in text
    assert "import torch" in text and "from torch import nn" in text
    assert "EPS = 1e-12" in text and "@traced\ndef helper" in text and "class Head" in text
    for left_out in ("import os", "import numpy", "UNUSED", "print(", "model = Head()", "for step", "__main__", "os.remove"):
        assert left_out not in text, left_out
    assert len(snippet.splitlines()) == len(original)


def test_the_worker_follows_the_framework_the_code_uses(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(MODULE)
    jobs, unrunnable = plan([_finding(24, str(path))], {"GL030"}, "cpu")
    assert not unrunnable
    (job,) = jobs
    assert job.framework == "torch" and job.line == 24 and job.search_path == str(tmp_path)


def test_code_without_a_supported_framework_cannot_run(tmp_path):
    path = tmp_path / "t.py"
    path.write_text("import theano.tensor as T\n\n\ndef f(x):\n    return T.sqrt(x)\n")
    jobs, unrunnable = plan([_finding(5, str(path))], {"GL030"}, "cpu")
    assert not jobs and "imports none of them" in unrunnable[0].reason


def test_a_python_2_file_runs_as_its_python_3_reading_at_the_same_places(tmp_path):
    path = tmp_path / "old.py"
    path.write_text("import torch\n\n\ndef f(x):\n    print 'x'; y = torch.sqrt(x)\n    return y\n")
    # `torch.sqrt(x)` starts at column 16 of the file, 17 of its reading `print('x'); ...`.
    finding = Finding(str(path), 5, 16, 5, 29, "GL030", "", "error", "m")
    jobs, unrunnable = plan([finding], {"GL030"}, "cpu")
    assert not unrunnable and jobs[0].python2
    assert "print('x')" in jobs[0].source and (jobs[0].column, jobs[0].end_column) == (17, 30)


def test_a_module_in_a_package_keeps_its_name_for_relative_imports(tmp_path):
    package = tmp_path / "pkg" / "sub"
    package.mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "losses.py").write_text("")
    assert module_location(str(package / "losses.py")) == ("pkg.sub.losses", str(tmp_path))
    assert module_location(str(tmp_path / "script.py")) == ("__gradlint_snippet__", str(tmp_path))


def test_the_static_pass_hands_its_parse_to_the_planner(tmp_path, monkeypatch):
    """With the dynamic mode, the file is parsed once: by the static pass, which builds the plan."""
    import libcst

    from gradlint.api import lint_paths
    from gradlint.config import Settings

    path = tmp_path / "m.py"
    path.write_text(MODULE.replace("torch.sqrt(helper(x))", "torch.sqrt(((x - helper(x)) ** 2).sum(-1))"))
    result, _ = lint_paths([str(path)], Settings(root=tmp_path), ["GL030"], jobs=1, plan=True)
    assert [f.line for f in result.findings] == [24] and set(result.plans) == {str(path)}

    def refuse(*_args, **_kwargs):
        raise AssertionError("the planner parsed the file again")

    monkeypatch.setattr(libcst, "parse_module", refuse)
    jobs, unrunnable = plan([_finding(24, str(path))], {"GL030"}, "cpu", plans=result.plans)
    monkeypatch.undo()
    again = ModulePlan(str(path), path.read_text())  # what the planner built when it parsed the file itself
    assert not unrunnable and jobs[0].source == again.snippet(again.closure(again.statement_at(24)))


def test_a_file_too_large_to_parse_again_is_inconclusive(tmp_path, monkeypatch):
    import gradlint.dynamic.plan as planning

    path = tmp_path / "m.py"
    path.write_text(MODULE)
    monkeypatch.setattr(planning, "PLAN_LIMIT", 100)
    jobs, unrunnable = plan([_finding(24, str(path))], {"GL030"}, "cpu")
    assert not jobs and "too large" in unrunnable[0].reason


def test_a_name_nothing_in_the_file_binds_keeps_the_star_imports():
    text = textwrap.dedent('''\
        import torch
        from layers import *
        from plots import *

        SCALE = 2.0


        def head(x):
            return Measure(SCALE)(x)


        def scaled(x):
            return torch.sqrt(x * SCALE)
        ''')
    module = ModulePlan("m.py", text)
    needs_star = module.snippet(module.closure(module.statement_at(9)))
    assert "from layers import *" in needs_star and "from plots import *" in needs_star
    resolved = module.snippet(module.closure(module.statement_at(13)))
    assert "import *" not in resolved and "SCALE = 2.0" in resolved


def test_relative_imports_in_folders_without_init_make_them_namespace_packages(tmp_path):
    folder = tmp_path / "flows" / "steps"
    folder.mkdir(parents=True)
    (folder / "coupling.py").write_text("")
    path = str(folder / "coupling.py")
    assert module_location(path, 1) == ("steps.coupling", str(tmp_path / "flows"))
    assert module_location(path, 2) == ("flows.steps.coupling", str(tmp_path))
    assert module_location(path, 0) == ("__gradlint_snippet__", str(folder))
    (folder / "__init__.py").write_text("")  # a regular package: its own name, and above it a namespace one for `..`
    assert module_location(path, 1) == ("steps.coupling", str(tmp_path / "flows"))
    assert module_location(path, 2) == ("flows.steps.coupling", str(tmp_path))


def test_a_module_using_relative_imports_runs_in_its_namespace_package(tmp_path):
    folder = tmp_path / "flowpkg"
    folder.mkdir()
    (folder / "ops.py").write_text("import torch\n\ndef halves(z):\n    c = z.shape[1] // 2\n    return z[:, :c], z[:, c:]\n")
    text = "import torch\nfrom . import ops\n\ndef loss(x):\n    return torch.log(torch.softmax(x, -1)).mean()\n"
    (folder / "model.py").write_text(text)
    jobs, unrunnable = plan([Finding(str(folder / "model.py"), 5, 12, 5, 45, "GL080", "log-of-softmax", "error", "m")], {"GL080"}, "cpu")
    assert not unrunnable and (jobs[0].module, jobs[0].search_path) == ("flowpkg.model", str(tmp_path))
