"""Networks by name (toolkit and timm), GALA for timm ResNets, weights files, loss choice."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from clickme_analysis.errors import InputError
from models.checkpoint import model_from_checkpoint
from models.config import load_train_config
from models.harmonize import resolve_loss
from models.networks import build_network, load_weights_file
from models.train import train


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_gala_on_a_timm_resnet50_has_the_toolkit_count():
    from models.layers import attention_layers, record_layers

    with torch.device("meta"):  # counts only: no memory, no initialisation cost
        timm_gala = build_network("timm:resnet50", attention="gala")
        assert _count(timm_gala) == _count(build_network("gala_resnet50")) == 30_298_670
        assert _count(build_network("timm:resnet50")) == 25_557_032
    assert resolve_loss("auto", timm_gala) == "clickme"
    small = build_network("timm:resnet26", num_classes=3, attention="gala").eval()
    layers = attention_layers(small)
    assert layers == ["layer3.0.se.gate", "layer3.1.se.gate"]
    with torch.no_grad(), record_layers(small, layers) as seen:
        assert small(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    assert seen[layers[0]].shape == (1, 1024, 2, 2)


def test_names_are_checked_with_close_matches(tmp_path):
    with pytest.raises(InputError, match="unknown timm model 'resnet5'; close matches: .*resnet50"):
        build_network("timm:resnet5")
    (tmp_path / "c.toml").write_text('[model]\narch = "gala_resnet18"\n')
    with pytest.raises(InputError, match="did you mean 'gala_resnet50'") as err:
        load_train_config(tmp_path / "c.toml")
    assert err.value.field == "model.arch"
    with pytest.raises(InputError, match="needs a timm ResNet with bottleneck"):
        build_network("timm:test_vit", attention="gala")


def test_clickme_loss_on_a_model_without_attention_layers_is_refused():
    vit = build_network("timm:test_vit", num_classes=3)
    assert resolve_loss("auto", vit) == "harmonizer"
    with pytest.raises(InputError, match="loss = 'clickme' supervises attention layers.*harmonizer"):
        resolve_loss("clickme", vit, "timm:test_vit")
    assert resolve_loss("clickme", build_network("tiny_resnet", num_classes=3), "tiny_resnet") == "clickme"


def test_weights_files_name_what_does_not_fit(tmp_path):
    source = build_network("timm:test_resnet", num_classes=10)
    torch.save(source.state_dict(), tmp_path / "w.pth")
    target = build_network("timm:test_resnet", num_classes=3)
    head = target.fc.weight.clone()
    with pytest.warns(UserWarning, match=r"head of another size kept as built: \['fc.bias', 'fc.weight'\]"):
        load_weights_file(target, tmp_path / "w.pth")
    assert torch.equal(target.conv1[0].weight, source.conv1[0].weight)
    assert torch.equal(target.fc.weight, head)
    state = source.state_dict()
    state["conv1.0.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(InputError, match=r"1 tensors have the wrong shape.*conv1\.0\.weight: file \(1,\)"):
        load_weights_file(target, tmp_path / "bad.pth")
    with pytest.raises(InputError, match="nothing is downloaded") as err:
        load_weights_file(target, "resnet50.a1_in1k")
    assert err.value.field == "weights"


def test_a_timm_model_trains_from_shards_with_the_harmonizer(tiny_config, packed, tmp_path):
    config = tiny_config.replace(
        arch="timm:test_resnet",
        train=str(packed),
        val=str(packed),
        workers=0,
        epochs=1,
        lam=1.0,
        label_smoothing=0.1,
        weight_decay=1e-5,
        out=str(tmp_path / "h"),
    )
    assert config.loss == "auto"
    train(config)
    steps = pd.read_csv(tmp_path / "h" / "steps.csv")
    assert steps["attention"].gt(0).all() and steps["loss"].gt(steps["cross_entropy"]).all()
    val = pd.read_csv(tmp_path / "h" / "epochs.csv").query("split == 'val'").iloc[0]
    assert -1 <= val["map_alignment"] <= 1 and 0 <= val["accuracy"] <= 1
    model, saved = model_from_checkpoint(Path(tmp_path / "h" / "best.pt"))
    assert saved.arch == "timm:test_resnet" and model(torch.zeros(1, 3, 30, 30)).shape == (1, 3)
    from models.alignment_loading import load_checkpoint_model
    from models.explain import importance_maps

    loaded = load_checkpoint_model(tmp_path / "h" / "best.pt")  # as `clickme alignment` loads it
    assert loaded.kind == "checkpoint" and loaded.num_classes == 3 and not loaded.gala
    maps = importance_maps(loaded.module, torch.rand(2, 3, 30, 30), "saliency")
    assert maps.shape == (2, 30, 30) and (maps >= 0).all()


def test_a_run_without_any_map_warns_once(tiny_config, tmp_path):
    config = tiny_config.replace(
        arch="timm:test_resnet", loss="harmonizer", val="", epochs=2, map_source="clickme", out=str(tmp_path / "w")
    )
    import dataclasses

    from models.data import SampleDataset
    from models.synthetic import synthetic_samples

    samples = [dataclasses.replace(s, map=None) for s in synthetic_samples(16, n_classes=3, image_size=30)]
    train_set = SampleDataset(samples, True, config.image_size, config.resize, config.seed)
    with pytest.warns(UserWarning, match="no training image of the first epoch has a human map") as seen:
        train(config, (train_set, None))
    assert sum("human map" in str(w.message) for w in seen) == 1


def test_loss_none_is_cross_entropy_alone(tiny_config, tmp_path):
    train(tiny_config.replace(arch="timm:test_resnet", loss="none", val="", epochs=1, out=str(tmp_path / "n")))
    steps = pd.read_csv(tmp_path / "n" / "steps.csv")
    assert (steps["attention"] == 0).all()
    assert steps["loss"].to_numpy() == pytest.approx(steps["cross_entropy"].to_numpy())
