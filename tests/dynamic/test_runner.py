"""How the worker runs a finding's code on real projects: the project on `sys.path`, packages that
re-export from the flagged module, imports the check does not need, module-level loops, and the
global-state check after a framework import. In-process on torch (`run_job`)."""

from __future__ import annotations

import builtins
import ctypes
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from gradlint.dynamic.backends import installed
from gradlint.dynamic.plan import plan, project_paths
from gradlint.rule import Finding
from tests.conftest import require_frameworks

if not installed("torch") and not require_frameworks():
    pytest.skip("torch is not installed", allow_module_level=True)

ROOT_OF = "torch.sqrt(((a - b) ** 2).sum(-1))"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _job(path: Path, flagged: str = ROOT_OF, code: str = "GL030"):
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if flagged in text)
    column = path.read_text().splitlines()[line - 1].index(flagged) + 1
    finding = Finding(str(path), line, column, line, column + len(flagged), code, "", "error", "m")
    jobs, unrunnable = plan([finding], {code}, "cpu")
    assert not unrunnable, unrunnable
    return jobs[0]


def _run(path: Path, flagged: str = ROOT_OF, code: str = "GL030") -> dict:
    from gradlint.dynamic.backends import backend_for
    from gradlint.dynamic.worker import run_job

    def stop(*_):
        raise TimeoutError("the snippet ran the module-level loop")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(30)
    try:
        return run_job(_job(path, flagged, code).__dict__, backend_for("torch"))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_package_that_re_exports_from_the_flagged_module_imports(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "from .losses import distance\n",
        "pkg/constants.py": "SCALE = 1.0\n",
        "pkg/losses.py": f"""\
            import torch
            from pkg.constants import SCALE


            def distance(a, b):
                return SCALE * {ROOT_OF}
            """,
    })
    result = _run(tmp_path / "pkg" / "losses.py")
    assert result["verdict"] == "confirmed", result


def test_the_git_root_is_on_the_path_for_a_layout_without_init_files(tmp_path):
    (tmp_path / ".git").mkdir()
    _write(tmp_path, {
        "helpers/scales.py": "SCALE = 1.0\n",
        "experiments/run.py": f"""\
            import torch
            from helpers.scales import SCALE


            def distance(a, b):
                return SCALE * {ROOT_OF}
            """,
    })
    result = _run(tmp_path / "experiments" / "run.py")
    assert result["verdict"] == "confirmed", result


def test_the_configuration_folder_comes_before_the_git_root(tmp_path):
    (tmp_path / ".git").mkdir()
    _write(tmp_path, {"project/pyproject.toml": "[tool.gradlint]\n", "project/src/train.py": ""})
    assert project_paths(str(tmp_path / "project" / "src" / "train.py")) == [
        str(tmp_path / "project"), str(tmp_path / "project" / "src"), str(tmp_path)]
    assert project_paths(str(tmp_path / "train.py")) == [str(tmp_path)]


def test_the_src_folder_of_a_src_layout_is_on_the_path(tmp_path):
    (tmp_path / ".git").mkdir()
    _write(tmp_path, {
        "src/geometry/__init__.py": "",
        "src/geometry/scales.py": "SCALE = 1.0\n",
        "examples/run.py": f"""\
            import torch
            from geometry.scales import SCALE


            def distance(a, b):
                return SCALE * {ROOT_OF}
            """,
    })
    assert project_paths(str(tmp_path / "examples" / "run.py")) == [str(tmp_path), str(tmp_path / "src")]
    result = _run(tmp_path / "examples" / "run.py")
    assert result["verdict"] == "confirmed", result


MISSING = "gradlint_missing_pkg"


def test_an_import_the_check_does_not_touch_does_not_block_it(tmp_path):
    _write(tmp_path, {"loss.py": f"""\
        import torch
        import {MISSING} as tracker
        from torch import nn


        class Distance(nn.Module):
            def forward(self, a, b):
                return {ROOT_OF}

            def report(self, value):
                tracker.log(value)
        """})
    result = _run(tmp_path / "loss.py")
    assert result["verdict"] == "confirmed", result


def test_an_import_the_check_touches_says_so(tmp_path):
    _write(tmp_path, {"loss.py": f"""\
        import torch
        from {MISSING} import SCALE


        def distance(a, b):
            return torch.sqrt(SCALE * ((a - b) ** 2).sum(-1))
        """})
    result = _run(tmp_path / "loss.py", "torch.sqrt(SCALE * ((a - b) ** 2).sum(-1))")
    assert result["verdict"] == "inconclusive", result
    assert f"`{MISSING}` could not be imported (No module named '{MISSING}'), and the check needed it" in result["evidence"]


def test_a_project_module_that_imports_a_missing_package_still_imports(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/base.py": f"""\
            import {MISSING}.io as images
            from {MISSING}.units import metre
            from torch import nn


            class Base(nn.Module):
                def load(self, path):
                    return images.read(path) * metre
            """,
        "pkg/loss.py": f"""\
            import torch
            from pkg.base import Base


            class Distance(Base):
                def forward(self, a, b):
                    return {ROOT_OF}
            """,
    })
    result = _run(tmp_path / "pkg" / "loss.py")
    assert result["verdict"] == "confirmed", result
    assert f"missing here, stood in and never touched by the check: `{MISSING}`" in result["evidence"]
    assert not [name for name in sys.modules if name.startswith(MISSING)]


def test_a_stood_in_package_the_check_touches_is_inconclusive_even_when_the_error_is_caught(tmp_path):
    _write(tmp_path, {
        "scales.py": f"""\
            import {MISSING}


            def scale():
                try:
                    return {MISSING}.factor()
                except Exception:
                    return 1.0
            """,
        "loss.py": """\
            import torch
            from scales import scale


            def distance(a, b):
                return torch.sqrt(scale() * ((a - b) ** 2).sum(-1))
            """,
    })
    result = _run(tmp_path / "loss.py", "torch.sqrt(scale() * ((a - b) ** 2).sum(-1))")
    assert result["verdict"] == "inconclusive", result
    assert f"`{MISSING}` could not be imported (No module named '{MISSING}'), and the check needed it" in result["evidence"]


def test_an_optional_import_outside_the_project_still_fails_as_it_expects(tmp_path, monkeypatch):
    library = tmp_path / "site-packages"
    _write(library, {"optional_backend.py": f"""\
        try:
            import {MISSING}
            AVAILABLE = True
        except ImportError:
            AVAILABLE = False
        """})
    monkeypatch.syspath_prepend(str(library))
    monkeypatch.delitem(sys.modules, "optional_backend", raising=False)
    _write(tmp_path / "project", {"loss.py": """\
        import torch
        from optional_backend import AVAILABLE


        def distance(a, b):
            return torch.sqrt(((a - b) ** 2).sum(-1) + (0.0 if AVAILABLE else 1.0))
        """})
    result = _run(tmp_path / "project" / "loss.py", "torch.sqrt(((a - b) ** 2).sum(-1) + (0.0 if AVAILABLE else 1.0))")
    assert result["verdict"] == "not-reproduced", result


def test_a_module_level_training_loop_is_read_not_run(tmp_path):
    _write(tmp_path, {"train.py": f"""\
        import torch

        a = torch.ones(3, 2)
        b = torch.ones(3, 2)
        while True:
            loss = {ROOT_OF}
        """})
    job = _job(tmp_path / "train.py")
    assert job.skip == [(5, 6)]
    result = _run(tmp_path / "train.py")
    assert result["verdict"] == "confirmed", result


def _capsule():
    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return new(id(builtins), None, None)


def test_what_a_framework_import_registers_in_builtins_is_not_a_change(monkeypatch):
    from gradlint.dynamic.worker import _state

    before = _state("numpy")
    monkeypatch.setattr(builtins, "__pybind11_internals_v4_test__", _capsule(), raising=False)
    assert _state("numpy") == before
    monkeypatch.setattr(builtins, "print", lambda *args: None)
    assert _state("numpy") != before


def test_sizes_stay_integers_and_training_parameters_get_stand_ins(tmp_path):
    _write(tmp_path, {"loss.py": """\
        import torch
        import torch.nn.functional as F


        def pooled_distance(a, b, criterion, device, kernel_size=2):
            pooled = F.avg_pool1d((a - b).to(device).unsqueeze(1), kernel_size).squeeze(1)
            return torch.sqrt(criterion(pooled, torch.zeros_like(pooled)))
        """})
    flagged = "torch.sqrt(criterion(pooled, torch.zeros_like(pooled)))"
    result = _run(tmp_path / "loss.py", flagged)
    assert result["verdict"] == "confirmed", result
    for shown in ("kernel_size = 2 (its default)", "criterion = a mean squared error", "device = 'cpu'"):
        assert shown in result["inputs"], result


def test_self_is_built_when_the_class_can_be_constructed(tmp_path):
    _write(tmp_path, {"loss.py": """\
        import torch
        from torch import nn


        class Distance(nn.Module):
            def __init__(self, features=2, reduction="mean"):
                super().__init__()
                self.project = nn.Linear(features, features)
                self.reduction = reduction

            def forward(self, a, b):
                d = torch.sqrt(((self.project(a) - self.project(b)) ** 2).sum(-1))
                return d.mean() if self.reduction == "mean" else d
        """})
    result = _run(tmp_path / "loss.py", "torch.sqrt(((self.project(a) - self.project(b)) ** 2).sum(-1))")
    assert result["verdict"] == "confirmed", result
    assert "self = `Distance()`" in result["inputs"], result


def test_a_gradlint_example_builds_and_calls_the_model(tmp_path):
    source = (Path(__file__).parents[2] / "fixtures" / "dynamic" / "GL001" / "torch_example.py").read_text()
    _write(tmp_path, {"fusion.py": source})
    result = _run(tmp_path / "fusion.py", "self.refine = nn.Linear(4, 4)", "GL001")
    assert result["verdict"] == "confirmed", result
    assert "`fusion_example()` (a @gradlint.example) on its inputs" in result["inputs"], result


def test_the_reason_is_kept_whole_and_only_the_text_output_shortens_it(tmp_path):
    from gradlint.report.text import TEXT_EVIDENCE, verdict_line

    long_name = "a_setting_" + "x" * 500
    _write(tmp_path, {"loss.py": f"""\
        import torch

        SETTINGS = {{}}
        SCALE = SETTINGS["{long_name}"]


        def distance(a, b):
            return SCALE * {ROOT_OF}
        """})
    result = _run(tmp_path / "loss.py")
    assert result["verdict"] == "inconclusive" and f"KeyError: '{long_name}'" in result["evidence"], result
    line = verdict_line(result, TEXT_EVIDENCE)
    assert len(line) < TEXT_EVIDENCE + 60 and line.count("…") == 1


def test_a_command_line_parser_at_module_level_sees_no_arguments(tmp_path):
    _write(tmp_path, {"train.py": f"""\
        import argparse

        import torch

        parser = argparse.ArgumentParser()
        parser.add_argument("--scale", type=float, default=1.0)
        options = parser.parse_args()


        def distance(a, b):
            return options.scale * {ROOT_OF}
        """})
    result = _run(tmp_path / "train.py")
    assert result["verdict"] == "confirmed", result


TRAINING = """\
    import torch


    def build_model(features, classes):
        model = torch.nn.Sequential()
        model.add_module("linear", torch.nn.Linear(features, classes))
        model.add_module("softmax", torch.nn.Softmax(dim=1))
        return model


    def step(model, loss, optimizer, x, y):
        optimizer.zero_grad()
        output = loss.forward(model.forward(x), y)
        output.backward()
        optimizer.step()


    def main(data):
        features = {features}
        model = build_model(features, 3)
        loss = torch.nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in data:
            step(model, loss, optimizer, x, y)
    """


def test_a_loss_object_and_a_model_passed_by_the_file_are_what_the_check_uses(tmp_path):
    _write(tmp_path, {"train.py": TRAINING.format(features="4")})
    result = _run(tmp_path / "train.py", "model.forward(x)", "GL082")
    assert result["verdict"] == "confirmed", result
    assert "loss = `torch.nn.CrossEntropyLoss()` (as the file passes it)" in result["inputs"]
    assert "model = `build_model(4, 3)` (as the file passes it)" in result["inputs"]


def test_a_model_whose_value_is_not_known_gives_no_verdict(tmp_path):
    _write(tmp_path, {"train.py": TRAINING.format(features="data.features")})
    result = _run(tmp_path / "train.py", "model.forward(x)", "GL082")
    assert result["verdict"] == "inconclusive", result
    assert "comes from `model.forward`, which the check does not see into" in result["evidence"]


CLASSIFIER = """
    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 3), {last})

        def forward(self, x):
            return self.net(x)
    """


def test_a_model_of_the_project_is_run_to_see_its_last_layer(tmp_path):
    source = TRAINING.format(features="4").replace("model = build_model(features, 3)", "model = Classifier()")
    _write(tmp_path, {"train.py": source + CLASSIFIER.format(last="torch.nn.Softmax(dim=1)")})
    result = _run(tmp_path / "train.py", "model.forward(x)", "GL082")
    assert result["verdict"] == "confirmed", result
    assert "through the last layer of `model.forward`" in result["evidence"]


def test_a_model_of_the_project_is_not_taken_for_logits(tmp_path):
    # Its output is not the output of a softmax module it holds: the check cannot tell.
    source = TRAINING.format(features="4").replace("model = build_model(features, 3)", "model = Classifier()")
    _write(tmp_path, {"train.py": source + CLASSIFIER.format(last="torch.nn.Identity()")})
    result = _run(tmp_path / "train.py", "model.forward(x)", "GL082")
    assert result["verdict"] == "inconclusive", result
    assert "comes from `model.forward`, which the check does not see into" in result["evidence"]


def test_calls_that_pass_different_values_leave_the_parameter_an_input(tmp_path):
    source = TRAINING.format(features="4") + "    step(model, torch.nn.MSELoss(), optimizer, x, y)\n"
    _write(tmp_path, {"train.py": source})
    result = _run(tmp_path / "train.py", "model.forward(x)", "GL082")
    assert result["verdict"] == "inconclusive", result
    assert "as the file passes it" not in result["inputs"]


def test_a_model_is_built_as_the_file_builds_it(tmp_path):
    _write(tmp_path, {"gate.py": """\
        import torch
        from torch import nn


        class Gate(nn.Module):
            def __init__(self, width, activation):
                super().__init__()
                self.linear = nn.Linear(width, width)
                self.activation = activation
                self.thr = nn.Parameter(torch.tensor(0.7))

            def forward(self, x):
                y = self.activation(self.linear(x))
                if self.thr < 0.5:
                    return -y
                return y


        def main():
            width = 3
            return Gate(width, nn.ReLU())
        """})
    result = _run(tmp_path / "gate.py", "self.thr", "GL001")
    assert result["verdict"] == "confirmed", result
    assert "Gate(3, nn.ReLU()) (as the file builds it)" in result["evidence"] + result["inputs"]


def test_numpy_1_aliases_of_builtins_run_as_the_builtins(tmp_path):
    flagged = "torch.sqrt(np.float(1) * ((a - b) ** 2).sum(-1))"
    _write(tmp_path, {"loss.py": f"""\
        import numpy as np
        import torch


        def distance(a, b):
            return {flagged}
        """})
    result = _run(tmp_path / "loss.py", flagged)
    assert result["verdict"] == "confirmed", result
    assert "`np.float` as `builtins.float`" in result["evidence"]


def test_tensorflow_code_with_float32_constants_runs_in_float32(tmp_path):
    from gradlint.dynamic.backends import backend_for
    from gradlint.dynamic.worker import run_job

    if not installed("tensorflow") and not require_frameworks():
        pytest.skip("tensorflow is not installed")
    _write(tmp_path, {"loss.py": """\
        import tensorflow as tf


        def loss(logits, labels):
            epsilon = tf.constant(value=1e-4)
            softmax = tf.nn.softmax(logits) + epsilon
            return -tf.reduce_sum(labels * tf.math.log(softmax), axis=[1])
        """})
    job = _job(tmp_path / "loss.py", "tf.math.log(softmax)", "GL080")
    result = run_job(job.__dict__, backend_for("tensorflow"))
    assert result["verdict"] == "confirmed", result
    assert "run in float32, the dtype of the code's own constants" in result["evidence"]
    assert "(float64)" not in result["inputs"]


def test_a_model_the_caller_builds_from_data_sizes_is_built_with_a_guessed_size(tmp_path):
    _write(tmp_path, {"train.py": """\
        import torch


        def build_model(input_dim, output_dim):
            model = torch.nn.Sequential()
            model.add_module("linear", torch.nn.Linear(input_dim, output_dim, bias=False))
            model.add_module("softmax", torch.nn.Softmax(dim=1))
            return model


        def train(model, loss, x, y):
            output = loss.forward(model.forward(x), y)
            output.backward()


        def main(data):
            n_examples, n_features = data.size()
            model = build_model(n_features, 10)
            loss = torch.nn.CrossEntropyLoss()
            train(model, loss, data, torch.zeros(n_examples, dtype=torch.long))
        """})
    result = _run(tmp_path / "train.py", "model.forward(x)", "GL082")
    assert result["verdict"] == "confirmed", result
    assert "model = `build_model(n_features, 10)` (as the file passes it; n_features = 4, guessed sizes)" in result["inputs"]


def test_a_custom_model_ending_in_a_softmax_module_is_seen_by_running_it(tmp_path):
    _write(tmp_path, {"train.py": """\
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self, classes=3):
                super().__init__()
                self.fc = nn.Linear(4, classes)
                self.act = nn.Softmax(dim=1)

            def forward(self, x):
                h = self.fc(x)
                return self.act(h)


        def train(model, x, y):
            loss = nn.CrossEntropyLoss()(model(x), y)
            loss.backward()


        def main(x, y):
            train(Net(), x, y)
        """})
    result = _run(tmp_path / "train.py", "model(x)", "GL082")
    assert result["verdict"] == "confirmed", result


def test_a_size_read_from_a_missing_data_loader_is_guessed_and_said(tmp_path):
    _write(tmp_path, {"train.py": f"""\
        import torch
        from {MISSING}.datasets import load

        data = load("digits")
        in_dim = data.images.shape[1]
        layer = torch.nn.Linear(in_dim, 3)


        def distance(a, b):
            a, b = layer(a), layer(b)
            return {ROOT_OF}
        """})
    result = _run(tmp_path / "train.py")
    assert result["verdict"] == "confirmed", result
    assert "computed from what is missing here, so guessed: in_dim = 4" in result["evidence"]


def test_a_value_read_from_a_missing_data_loader_that_the_check_needs_is_inconclusive(tmp_path):
    _write(tmp_path, {"train.py": f"""\
        import torch
        from {MISSING}.datasets import load

        data = load("digits")
        scale = data.images.std()


        def distance(a, b):
            return torch.sqrt(scale * ((a - b) ** 2).sum(-1))
        """})
    result = _run(tmp_path / "train.py", "torch.sqrt(scale * ((a - b) ** 2).sum(-1))")
    assert result["verdict"] == "inconclusive", result
    assert f"`scale` has no value here: `{MISSING}` could not be imported" in result["evidence"]


def test_a_project_module_runs_guarded_past_what_a_missing_package_would_give(tmp_path):
    _write(tmp_path, {
        "widgets.py": f"""\
            from {MISSING}.gui import *
            import numpy as np

            DEFAULT_COLOR = Color(0, 255, 0)
            SHIFT = np.float(0)


            def shift():
                return SHIFT
            """,
        "loss.py": f"""\
            import torch
            from widgets import shift


            def distance(a, b):
                return torch.sqrt(((a - b) ** 2).sum(-1) + shift())
            """,
    })
    result = _run(tmp_path / "loss.py", "torch.sqrt(((a - b) ** 2).sum(-1) + shift())")
    assert result["verdict"] == "confirmed", result
    assert "`np.float` as `builtins.float`" in result["evidence"]


def test_a_project_module_value_a_missing_package_would_give_is_inconclusive_when_used(tmp_path):
    _write(tmp_path, {
        "widgets.py": f"""\
            from {MISSING}.gui import *

            SHIFT = Color(0, 0, 0).red
            """,
        "loss.py": """\
            import torch
            from widgets import SHIFT


            def distance(a, b):
                return torch.sqrt(((a - b) ** 2).sum(-1) + SHIFT)
            """,
    })
    result = _run(tmp_path / "loss.py", "torch.sqrt(((a - b) ** 2).sum(-1) + SHIFT)")
    assert result["verdict"] == "inconclusive", result
    assert "`Color` is not defined here" in result["evidence"]


def test_a_package_that_imports_the_flagged_module_through_a_sibling_is_imported_first(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "from pkg.base import Loss\nfrom pkg.losses import distance\n",
        "pkg/base.py": "class Loss:\n    scale = 1.0\n",
        "pkg/losses.py": f"""\
            import torch
            from pkg.base import Loss


            def distance(a, b):
                return torch.sqrt(Loss.scale * ((a - b) ** 2).sum(-1))
            """,
    })
    result = _run(tmp_path / "pkg" / "losses.py", "torch.sqrt(Loss.scale * ((a - b) ** 2).sum(-1))")
    assert result["verdict"] == "confirmed", result


def test_a_straight_line_function_of_the_module_is_inlined_into_the_checked_expression(tmp_path):
    _write(tmp_path, {"gan.py": """\
        import torch

        W = torch.eye(3)


        def discriminator(x):
            \"\"\"Probabilities of each class.\"\"\"
            logits = x @ W
            probs = torch.softmax(logits, -1)
            return probs


        def loss(x):
            return torch.log(discriminator(x)).sum()
        """})
    result = _run(tmp_path / "gan.py", "torch.log(discriminator(x))", "GL080")
    assert result["verdict"] == "confirmed", result
    # Inlined whole, and run in float32: the module's `W` is float32.
    assert "torch.log(torch.softmax(x @ W, -1))" in result["evidence"]
    assert "run in float32" in result["evidence"]


def test_a_function_with_branches_is_not_inlined(tmp_path):
    _write(tmp_path, {"gan.py": """\
        import torch

        W = torch.eye(3)


        def discriminator(x, stable=True):
            logits = x @ W
            if stable:
                return torch.log_softmax(logits, -1).exp()
            return torch.softmax(logits, -1)


        def loss(x):
            return torch.log(discriminator(x)).sum()
        """})
    result = _run(tmp_path / "gan.py", "torch.log(discriminator(x))", "GL080")
    assert result["verdict"] == "inconclusive", result
    assert "no softmax, sigmoid or exp of the logits" in result["evidence"]


def test_a_sequential_ending_in_a_sigmoid_is_split_into_its_logits_and_the_sigmoid(tmp_path):
    _write(tmp_path, {"gan.py": """\
        import torch

        D = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1), torch.nn.Sigmoid())

        for step in range(1000):
            z = torch.randn(8, 2)
            D_real = D(z)
            loss = -torch.mean(torch.log(D_real))
            loss.backward()
        """})
    result = _run(tmp_path / "gan.py", "torch.log(D_real)", "GL080")
    assert result["verdict"] == "confirmed", result
    assert "`torch.log(torch.sigmoid(logits))`" in result["evidence"] and "(`D[:-1](z)` replaced by the logits)" in result["evidence"]


# A training loop that unpacks a straight-line function's tuple return; `{rebind}` is what
# runs between the unpacking and the flagged use.
_UNPACKED_HEAD = """\
import torch

W = torch.eye(3)


def head(x):
    logits = x @ W
    return torch.sigmoid(logits), logits


for step in range(1000):
    x = torch.randn(4, 3)
    prob, logits = head(x)
{rebind}    loss = -torch.log(prob).mean()
    loss.backward()
"""


def test_a_name_unpacked_from_a_straight_line_function_is_that_element_of_its_return(tmp_path):
    _write(tmp_path, {"gan.py": _UNPACKED_HEAD.format(rebind="")})
    result = _run(tmp_path / "gan.py", "torch.log(prob)", "GL080")
    assert result["verdict"] == "confirmed", result
    assert "`torch.log(torch.sigmoid(logits))`" in result["evidence"]


def test_a_name_unpacked_again_in_a_branch_before_the_use_is_not_followed(tmp_path):
    rebind = "    if step % 2:\n        prob = torch.ones(4, 3)\n"
    _write(tmp_path, {"gan.py": _UNPACKED_HEAD.format(rebind=rebind)})
    result = _run(tmp_path / "gan.py", "torch.log(prob)", "GL080")
    assert result["verdict"] != "confirmed", result


def test_a_function_whose_assignment_nothing_reads_is_not_inlined(tmp_path):
    _write(tmp_path, {"gan.py": """\
        import torch

        W = torch.eye(3)
        seen = []


        def discriminator(x):
            logits = x @ W
            count = seen.append(logits)
            return torch.softmax(logits, -1)


        def loss(x):
            return torch.log(discriminator(x)).sum()
        """})
    result = _run(tmp_path / "gan.py", "torch.log(discriminator(x))", "GL080")
    assert result["verdict"] == "inconclusive", result


def test_an_attribute_self_only_reads_through_is_a_namespace_of_inputs(tmp_path):
    _write(tmp_path, {"gate.py": """\
        import torch


        class Gate(torch.nn.Module):
            def forward(self, x):
                if x > self.previous.out:
                    return x
                return -x
        """})
    result = _run(tmp_path / "gate.py", "x > self.previous.out", "GL010")
    assert result["verdict"] == "confirmed", result
    assert "self.previous.out = " in result["evidence"]


@pytest.mark.skipif(not installed("tensorflow") and not require_frameworks(), reason="TensorFlow is not installed")
def test_a_tensorflow_predicate_with_its_own_float32_tensors_runs_in_float32(tmp_path):
    from gradlint.dynamic.backends import backend_for
    from gradlint.dynamic.worker import run_job

    _write(tmp_path, {"act.py": """\
        import tensorflow as tf


        def hard_tanh(inputs):
            t = tf.shape(inputs)
            inside = tf.less(inputs, tf.ones(t)) and tf.greater(inputs, -tf.ones(t))
            return tf.where(inside, inputs, tf.sign(inputs))
        """})
    job = _job(tmp_path / "act.py", "tf.less(inputs, tf.ones(t))", "GL010")
    result = run_job(job.__dict__, backend_for("tensorflow"))
    assert result["verdict"] == "confirmed", result
    assert "run in float32, the dtype of the code's own constants" in result["evidence"]


PYTHON_2 = """
import torch

def distance(a, b):
    print 'distance'
    return torch.sqrt(((a - b) ** 2).sum(-1))
"""


def test_a_python_2_file_is_checked_as_its_python_3_reading_and_says_so(tmp_path):
    _write(tmp_path, {"old.py": PYTHON_2})
    result = _run(tmp_path / "old.py")
    assert result["verdict"] == "confirmed", result
    assert "Python 2 code run as its Python 3 reading" in result["evidence"]


def test_an_integer_division_of_a_python_2_file_is_not_run_as_python_3_divides(tmp_path):
    _write(tmp_path, {"old.py": PYTHON_2.replace("print 'distance'", "print 'distance'\n    a = a[: len(a) / 2]")})
    result = _run(tmp_path / "old.py")
    assert result["verdict"] == "inconclusive", result
    assert "which Python 2 floors" in result["evidence"]


def test_python_2_division_and_round_agree_or_say_they_cannot():
    import ast

    import numpy as np

    from gradlint.dynamic import python2
    from gradlint.dynamic.unavailable import StandInTouched

    used: list[str] = []
    namespace = python2.names(used)
    code = compile(python2.transform(ast.parse("x = 3.0 / 2\ny = np.ones(2) / 2\nz = np.arange(4)\nz = z * 1.0\nz /= 2\n")), "t", "exec")
    exec(code, {**namespace, "np": np})  # noqa: S102
    assert not used
    for text in ("3 / 2", "np.arange(4) / 2", "w = np.arange(4)\nw /= 2", "round(2.5)"):
        with pytest.raises(StandInTouched):
            exec(compile(python2.transform(ast.parse(text)), "t", "exec"), {**namespace, "np": np})  # noqa: S102
    assert namespace["round"](2.4) == 2.0 and isinstance(namespace["zip"]([1], [2]), list)


def test_a_straight_line_function_imported_from_a_project_module_is_inlined(tmp_path):
    _write(tmp_path, {"nets.py": """\
        import torch

        W = torch.eye(3)


        def classifier(x):
            logits = x @ W
            return torch.softmax(logits, -1)
        """, "train.py": """\
        import torch
        from nets import classifier


        def loss(x, labels):
            return torch.nn.functional.cross_entropy(classifier(x), labels)
        """})
    result = _run(tmp_path / "train.py", "classifier(x)", "GL082")
    assert result["verdict"] == "confirmed", result
    assert "through `torch.softmax(logits, -1)`" in result["evidence"]


def test_an_imported_function_whose_names_mean_something_else_here_is_not_inlined(tmp_path):
    _write(tmp_path, {"nets.py": """\
        import torch as F

        W = F.eye(3)


        def classifier(x):
            logits = x @ W
            return F.softmax(logits, -1)
        """, "train.py": """\
        import torch
        import torch.nn.functional as F
        from nets import classifier


        def loss(x, labels):
            return F.cross_entropy(classifier(x), labels)
        """})
    result = _run(tmp_path / "train.py", "classifier(x)", "GL082")
    assert result["verdict"] == "inconclusive", result  # `F.softmax` would be read as torch.nn.functional's
