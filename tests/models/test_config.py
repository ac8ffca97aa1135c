"""TOML configuration and sweep parsing."""

import pytest

from clickme_analysis.errors import InputError
from models.config import TrainConfig, config_from_dict, load_train_config, parse_sweep


def test_sections_and_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[model]\narch = "resnet50"\n[loss]\nlambda = 3\n[optim]\nmilestones = [1, 2]\nepochs = 3\n')
    config = load_train_config(path)
    assert (config.arch, config.lam, config.milestones, config.epochs) == ("resnet50", 3.0, [1, 2], 3)
    assert config.momentum == 0.9 and config.nesterov and config.weight_decay == 1e-4
    assert TrainConfig().milestones == [30, 60, 80, 90] and TrainConfig().lam == 6.0


def test_british_key_still_read_with_a_warning(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text('[loss]\nnormalisation = "sqrt_sum"\n')
    with pytest.warns(FutureWarning, match="'loss.normalisation' is deprecated; use 'normalization'"):
        config = load_train_config(path)
    assert config.normalization == "sqrt_sum"
    path.write_text('[loss]\nnormalisation = "sqrt_sum"\nnormalization = "l2"\n')
    with pytest.raises(InputError, match="set twice"), pytest.warns(FutureWarning):
        load_train_config(path)


def test_bad_config(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_train_config(tmp_path / "none.toml")
    (tmp_path / "a.toml").write_text("epochs = = 3")
    with pytest.raises(InputError, match="TOML"):
        load_train_config(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text("[optim]\nepoch = 3\n")
    with pytest.raises(InputError, match="unknown setting") as err:
        load_train_config(tmp_path / "b.toml")
    assert err.value.field == "optim.epoch" and err.value.path.endswith("b.toml")
    with pytest.raises(InputError, match="expected int"):
        config_from_dict({"epochs": "ten"})
    with pytest.raises(InputError, match="expected bool"):
        config_from_dict({"nesterov": 1})


def test_parse_sweep():
    assert parse_sweep("lambda=0,1,3") == ("lam", [0.0, 1.0, 3.0])
    assert parse_sweep("arch=tiny_resnet,tiny_gala_resnet") == ("arch", ["tiny_resnet", "tiny_gala_resnet"])
    with pytest.raises(InputError, match="KEY="):
        parse_sweep("lambda")
    with pytest.raises(InputError, match="unknown"):
        parse_sweep("lamda=1,2")
