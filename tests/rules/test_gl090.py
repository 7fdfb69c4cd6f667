"""GL090 missing-zero-grad: spellings, severities and exemptions that fixtures show poorly."""

import textwrap

import pytest

from gradlint import lint_source
from tests.conftest import findings_in, write_files


def found(source: str) -> list[tuple[int, str]]:
    return [(f.line, f.severity) for f in lint_source(textwrap.dedent(source), select=["GL090"])]


LOOP = """\
{imports}

def train(model, loader):
    {construct}
    for x, y in loader:
        {zero}
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        {step}
"""


@pytest.mark.parametrize(
    "imports, construct",
    [
        ("import torch", "opt = torch.optim.SGD(model.parameters(), lr=0.1)"),
        ("from torch.optim import Adam", "opt = Adam(model.parameters())"),
        ("import torch.optim as optim", "opt = optim.NAdam(model.parameters())"),
        ("import torch", "opt = make_optimizer(model)"),  # known by its name
    ],
)
def test_optimizer_spellings(imports, construct):
    source = LOOP.format(imports=imports, construct=construct, zero="pass", step="opt.step()")
    assert found(source) == [(9, "error")]
    fixed = LOOP.format(imports=imports, construct=construct, zero="opt.zero_grad()", step="opt.step()")
    assert found(fixed) == []


@pytest.mark.parametrize(
    "zero",
    [
        "opt.zero_grad(set_to_none=True)",
        "model.zero_grad()",
        "zero_grad(model)",
        "[setattr(p, 'grad', None) for p in model.parameters()] and opt.zero_grad()",
    ],
)
def test_zeroing_spellings(zero):
    source = LOOP.format(imports="import torch", construct="opt = torch.optim.SGD(model.parameters(), lr=0.1)",
                         zero=zero, step="opt.step()")
    assert found(source) == []


def test_model_zero_of_another_model_does_not_count():
    source = LOOP.format(imports="import torch", construct="opt = torch.optim.SGD(model.parameters(), lr=0.1)",
                         zero="critic.zero_grad()", step="opt.step()")
    assert found(source) == [(9, "error")]


def test_not_an_optimizer():
    for step in ("scheduler.step()", "env.step()", "opt.step(closure)", "self.lr_scheduler.step()"):
        source = LOOP.format(imports="import torch", construct="pass", zero="pass", step=step)
        assert found(source) == [], step


def test_zero_before_loop_is_a_warning():
    source = LOOP.format(imports="import torch", construct="optimizer = torch.optim.SGD(model.parameters(), lr=0.1)"
                         + "; optimizer.zero_grad()", zero="pass", step="optimizer.step()")
    assert found(source) == [(9, "warning")]


def test_alias_of_attribute():
    source = """\
    import torch

    class T:
        def fit(self, loader):
            optimizer = self.optimizer
            for x in loader:
                self.optimizer.zero_grad()
                self.model(x).sum().backward()
                optimizer.step()
    """
    assert found(source) == []


def test_no_backward_in_loop_is_quiet():
    source = """\
    import torch

    def fit(model, batches, optimizer):
        for x in batches:
            loss = model(x).sum()
        loss.backward()
        optimizer.step()
    """
    assert found(source) == []


def test_test_files_are_quiet():
    source = LOOP.format(imports="import torch", construct="opt = torch.optim.SGD(model.parameters(), lr=0.1)",
                         zero="pass", step="opt.step()")
    assert lint_source(source, path="test_training.py", select=["GL090"]) == []


def test_noqa():
    source = LOOP.format(imports="import torch", construct="opt = torch.optim.SGD(model.parameters(), lr=0.1)",
                         zero="pass", step="opt.step()  # noqa: GL090")
    assert found(source) == []


STEP_FUNCTION = """\
import torch


class GAN:
    def step(self, real, noise):
        {zero_d}
        err_d = self.criterion(self.discriminator(real), torch.ones(2))
        err_d.backward()
        self.discriminator.optimizer.step()
        {zero_g}
        err_g = self.criterion(self.discriminator(self.generator(noise)), torch.ones(2))
        err_g.backward()
        self.generator.optimizer.step()
"""


def test_a_step_function_that_zeroes_one_model_but_not_the_other():
    source = STEP_FUNCTION.format(zero_d="pass", zero_g="self.generator.zero_grad()")
    found = lint_source(source, select=["GL090"])
    assert [(f.line, "step function" in f.message) for f in found] == [(9, True)]


def test_a_step_function_that_zeroes_both_or_none_is_quiet():
    # Zeroing nothing: the caller may zero (nothing here says this function is responsible).
    for zero_d, zero_g in (("self.discriminator.zero_grad()", "self.generator.zero_grad()"), ("pass", "pass")):
        assert lint_source(STEP_FUNCTION.format(zero_d=zero_d, zero_g=zero_g), select=["GL090"]) == []


def test_a_step_function_is_checked_where_other_modules_call_it(tmp_path):
    write_files(tmp_path, {
        "tr/__init__.py": "",
        "tr/steps.py": """
            import torch

            def train_step(model, optimizer, x, y):
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                optimizer.step()

            class Learner:
                def __init__(self, model):
                    self.model = model
                    self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

                def update(self, x, y):
                    torch.nn.functional.mse_loss(self.model(x), y).backward()
                    self.optimizer.step()

            def fine_step(model, optimizer, x, y):
                torch.nn.functional.mse_loss(model(x), y).backward()
                optimizer.step()
        """,
        "tr/main.py": """
            import torch
            from .steps import Learner, fine_step, train_step

            def run(model, loader):
                opt = torch.optim.Adam(model.parameters())
                for x, y in loader:
                    train_step(model, opt, x, y)
                learner = Learner(model)
                for x, y in loader:
                    learner.update(x, y)
                for x, y in loader:
                    opt.zero_grad()
                    fine_step(model, opt, x, y)
        """,
    })
    # `fine_step`'s caller zeroes in its loop; the other two are only ever called in loops that do not.
    assert findings_in(tmp_path / "tr", ["GL090"]) == [("steps.py", 7, "GL090"), ("steps.py", 16, "GL090")]
