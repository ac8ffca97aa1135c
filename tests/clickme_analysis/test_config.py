"""The one typed configuration loader and the checked CLI option types."""

from __future__ import annotations

import argparse
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Literal

import pytest

from clickme_analysis.cliargs import nonnegative_int, output_path, positive_float, positive_int, probability
from clickme_analysis.config import load_config
from clickme_analysis.errors import InputError


@dataclass(frozen=True)
class Example:
    size: int = field(default=256, metadata={"min": 1})
    lr: float = field(default=0.1, metadata={"gt": 0})
    blur: Literal["box", "gaussian"] = "box"
    fullscreen: bool = True
    milestones: list[int] = field(default_factory=lambda: [30, 60])
    name: str | None = None


def test_defaults_sections_aliases_and_frozen(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("size = 64\n[optim]\nlearning_rate = 1\nmilestones = [1, 2]\n")
    config = load_config(Example, path, sections=("optim",), aliases={"learning_rate": "lr"})
    assert config == Example(size=64, lr=1.0, milestones=[1, 2])
    assert isinstance(config.lr, float)
    with pytest.raises(FrozenInstanceError):
        config.size = 3
    assert load_config(Example) == Example()


@pytest.mark.parametrize(
    "values, message",
    [
        ({"size": 1.5}, "field 'size': expected int, got 1.5"),
        ({"size": True}, "field 'size': expected int, got True"),
        ({"size": 0}, "field 'size': expected a value >= 1, got 0"),
        ({"lr": -0.1}, "field 'lr': expected a value > 0, got -0.1"),
        ({"blur": "disk"}, "field 'blur': expected one of 'box', 'gaussian', got 'disk'"),
        ({"fullscreen": "no"}, "field 'fullscreen': expected bool, got 'no'"),
        ({"milestones": [1, "x"]}, "field 'milestones': expected a list of int"),
        ({"name": 3}, "field 'name': expected str or nothing, got 3"),
        ({"sise": 3}, "did you mean 'size'"),
    ],
)
def test_bad_values_are_located(values, message):
    with pytest.raises(InputError) as err:
        load_config(Example, values)
    assert message in str(err.value)


def test_file_and_section_key_are_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[optim]\nlr = "fast"\n')
    with pytest.raises(InputError, match=r"c\.toml, field 'optim\.lr': expected float, got 'fast'"):
        load_config(Example, path, sections=("optim",))
    path.write_text("size = \n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_config(Example, path)


def test_overrides_are_checked():
    assert load_config(Example, {"size": 3}, overrides={"size": 5}).size == 5
    with pytest.raises(InputError, match="'size'"):
        load_config(Example, {}, overrides={"size": -5})


def test_cli_types(tmp_path):
    assert positive_int("3") == 3 and nonnegative_int("0") == 0 and probability("0.5") == 0.5
    for parse, text in [
        (positive_int, "0"),
        (positive_int, "-5"),
        (positive_int, "1.5"),
        (nonnegative_int, "-1"),
        (positive_float, "nan"),
        (probability, "1.1"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    assert output_path(str(tmp_path / "x.npz")) == tmp_path / "x.npz"
    with pytest.raises(argparse.ArgumentTypeError, match="existing folder"):
        output_path(str(tmp_path / "no" / "x.npz"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-boot", type=positive_int)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--n-boot", "0"])
    assert exit_.value.code == 2
