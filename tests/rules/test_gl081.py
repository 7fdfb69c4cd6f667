"""GL081 softmax-over-one-unit: spellings and the axes that are left alone."""

import textwrap

import pytest

from gradlint import lint_source
from tests.conftest import findings_in, write_files


def lines(source: str) -> list[int]:
    return [f.line for f in lint_source(textwrap.dedent(source), select=["GL081"])]


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("from tensorflow.keras.layers import Dense", 'Dense(1, activation="softmax")'),
        ("import tensorflow as tf", "tf.keras.layers.Dense(1, activation=tf.keras.activations.softmax)"),
        ("import tf_keras", 'tf_keras.layers.Dense(units=1, activation="softmax")'),
        ("from keras import layers", 'layers.Dense(1, "softmax")'),
        ("from keras.src.layers import Dense", 'Dense(1, activation="softmax")'),
        ("from torch import nn", "nn.Sequential(nn.Linear(8, 1), nn.Softmax(dim=-1))"),
        ("import torch.nn", "torch.nn.Sequential(torch.nn.Linear(8, out_features=1), torch.nn.Softmax(-1))"),
        ("import keras", "keras.Sequential([keras.layers.Dense(1), keras.layers.Softmax(axis=-1)])"),
    ],
)
def test_flagged(imports: str, expr: str) -> None:
    assert lines(f"{imports}\n\nlayer = {expr}\n") == [imports.count("\n") + 3]


@pytest.mark.parametrize(
    "imports, expr",
    [
        ("from tensorflow.keras.layers import Dense", 'Dense(2, activation="softmax")'),
        ("from tensorflow.keras.layers import Dense", 'Dense(n, activation="softmax")'),
        ("from tensorflow.keras.layers import Dense", 'Dense(1, activation="sigmoid")'),
        ("from torch import nn", "nn.Sequential(nn.Linear(8, 1), nn.Softmax(dim=1))"),
        ("from torch import nn", "nn.Sequential(nn.Linear(8, 1), nn.Softmax())"),
        ("from torch import nn", "nn.Sequential(nn.Linear(8, 1), nn.Sigmoid())"),
        ("from torch import nn", "nn.Sequential(nn.Linear(1, 8), nn.Softmax(dim=-1))"),
        ("import keras", "keras.Sequential([keras.layers.Dense(1), keras.layers.Softmax(axis=1)])"),
    ],
)
def test_quiet(imports: str, expr: str) -> None:
    assert lines(f"{imports}\nn = 3\nlayer = {expr}\n") == []


def test_forward_softmax_over_a_one_unit_linear() -> None:
    source = """
        import torch
        from torch import nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 1)

            def forward(self, x):
                out = self.fc(x)
                a = F.softmax(out, dim=-1)
                b = F.softmax(out, dim=1)
                c = torch.softmax(out, 0)
                d = F.softmax(out)
                return a, b, c, d
    """
    assert lines(source) == [13]


def test_attributes_are_per_class() -> None:
    source = """
        from torch import nn
        import torch.nn.functional as F

        class A(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 1)

        class B(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 4)

            def forward(self, x):
                return F.softmax(self.fc(x), dim=-1)
    """
    assert lines(source) == []


def test_tests_are_quiet() -> None:
    source = 'from keras.layers import Dense\n\ndef test_warns():\n    Dense(1, activation="softmax")\n'
    assert lines(source) == []


@pytest.mark.parametrize(
    "setting, expected",
    [("n_out = 1", [8]), ("n_out = 3", []), ("n_out = 1 if wide else 4", []), ("from config import n_out", [])],
)
def test_a_width_held_in_a_name_counts_when_every_value_is_one(setting: str, expected: list[int]) -> None:
    source = f"""
        from keras import layers
        wide = False
        {setting}

        def head(h):
            logits = layers.Dense(n_out)(h)
            return layers.Softmax()(logits)
    """
    assert lines(source) == expected


def test_a_width_given_by_the_callers_of_a_builder() -> None:
    source = """
        from keras import Sequential, layers

        def classifier(n_classes):
            model = Sequential()
            model.add(layers.Dense(n_classes))
            model.add(layers.Activation("softmax"))
            return model

        binary = classifier({width})
    """
    assert lines(source.format(width=1)) == [7]
    assert lines(source.format(width=2)) == []


def test_only_the_layer_added_just_before_decides() -> None:
    source = """
        from keras import Sequential, layers

        model = Sequential()
        model.add(layers.Dense(1))
        model.add(layers.Dense(4))
        model.add(layers.Activation("softmax"))
        other = Sequential()
        other.add(layers.Dense(1))
        model.add(layers.Softmax())
    """
    assert lines(source) == []


def test_a_one_output_model_defined_in_another_module(tmp_path) -> None:
    write_files(tmp_path, {
        "proj/__init__.py": "",
        "proj/models.py": """
            from torch import nn

            class Critic(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.body = nn.Sequential(nn.Linear(dim, 16), nn.Tanh())
                    self.value = nn.Linear(16, 1)

                def forward(self, x):
                    return self.value(self.body(x))
        """,
        "proj/train.py": """
            import torch.nn.functional as F
            from .models import Critic

            critic = Critic(4)

            def policy(x):
                return F.softmax(critic(x), dim=-1)
        """,
    })
    assert findings_in(tmp_path / "proj", ["GL081"]) == [("train.py", 8, "GL081")]


def test_layers_added_to_a_container_held_in_an_attribute() -> None:
    source = """
        from keras import Sequential, layers

        class Classifier:
            def __init__(self, outputs):
                self.model = Sequential()
                self.model.add(layers.Dense(8, activation="relu"))
                self.model.add(layers.Dense(outputs))
                self.model.add(layers.Activation("softmax"))

        class Binary:
            def __init__(self):
                self.model = Sequential()
                self.model.add(layers.Dense(1))
                self.model.add(layers.Activation("softmax"))
    """
    assert lines(source) == [15]
