"""The toolkit's ResNets, built as timm ResNets: parameter counts, layout, attention placement,
and checkpoints of the former toolkit ResNet module (``attn`` layers)."""

import dataclasses
from pathlib import Path

import pytest
import torch
from timm.models.resnet import ResNet

from clickme_analysis.errors import InputError
from models.attention import GALA, SqueezeExcite
from models.checkpoint import model_from_checkpoint, save_checkpoint
from models.config import TrainConfig
from models.networks import build_network, build_resnet, upgrade_state_dict

#: State dicts saved by the former ``models.resnet`` module (tiny networks, tiny_width 4, with
#: their output on a fixed input; key lists of the full ones), before it was deleted.
OLD_LAYOUT = Path(__file__).parent / "data" / "old_resnet_layout.pt"


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "arch, expected", [("resnet50", 25_557_032), ("se_resnet50", 28_088_024), ("gala_resnet50", 30_298_670)]
)
def test_parameter_counts(arch, expected):
    with torch.device("meta"):
        model = build_resnet(arch)
    assert isinstance(model, ResNet) and n_params(model) == expected


def test_gala_sits_in_the_six_conv4_blocks_only():
    model = build_resnet("gala_resnet50")
    names = [n for n, m in model.named_modules() if isinstance(m, GALA)]
    assert names == [f"layer3.{i}.se" for i in range(6)]
    block = n_params(model.layer3[0].se)
    assert block == 790_273
    assert n_params(model) - n_params(build_resnet("resnet50")) == 6 * block  # nothing else added
    assert model.layer3[0].se.a.eq(1).all() and model.layer3[0].bn3.weight.eq(1).all()  # no zero-init


def test_se_in_every_block():
    model = build_resnet("se_resnet50")
    assert sum(isinstance(m, SqueezeExcite) for m in model.modules()) == 16


def test_torchvision_state_dict_layout_equals_timm_resnet50():
    import timm

    with torch.device("meta"):
        ours, theirs = build_resnet("resnet50").state_dict(), timm.create_model("resnet50").state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight", "layer4.2.bn3.weight", "fc.bias"):
        assert key in ours
    assert ours["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)


def test_gala_map_is_14x14_at_224():
    model = build_resnet("tiny_gala_resnet", num_classes=3)
    seen = {}
    model.layer3[0].se.gate.register_forward_hook(lambda m, i, o: seen.update(a=o))
    model(torch.zeros(1, 3, 32, 32))
    assert seen["a"].shape[-2:] == (8, 8)
    big = build_resnet("gala_resnet50")
    # stride 32 overall; conv4 stage at stride 16 -> 14x14 at 224, checked on the stage alone
    x = torch.zeros(1, 512, 28, 28)
    big.layer3.eval()
    assert big.layer3(x).shape == (1, 1024, 14, 14)


def test_tiny_forward_backward():
    model = build_resnet("tiny_se_resnet", num_classes=5)
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 5)
    assert model.conv1.weight.grad is not None and model.conv1.weight.shape == (8, 3, 3, 3)


def test_bad_arguments():
    with pytest.raises(InputError, match="arch"):
        build_resnet("vgg16")


@pytest.mark.parametrize("arch", ["resnet50", "se_resnet50", "gala_resnet50"])
def test_old_keys_upgrade_to_todays_keys_in_order(arch):
    old = torch.load(OLD_LAYOUT, weights_only=True)[arch]["keys"]
    with torch.device("meta"):
        today = list(build_resnet(arch).state_dict())
    assert list(upgrade_state_dict(dict.fromkeys(old))) == today  # same order: optimiser states resume


@pytest.mark.parametrize("arch", ["tiny_gala_resnet", "tiny_se_resnet"])
def test_a_checkpoint_of_the_old_module_loads_and_computes_the_same(arch, tmp_path):
    saved = torch.load(OLD_LAYOUT, weights_only=True)[arch]
    assert any(".attn." in key for key in saved["state"])
    with pytest.raises(RuntimeError, match="attn"):
        build_network(arch, num_classes=3, tiny_width=4).load_state_dict(saved["state"])
    config = TrainConfig(arch=arch, num_classes=3, tiny_width=4)
    save_checkpoint(tmp_path / "old.pt", {"config": dataclasses.asdict(config), "model": saved["state"]})
    model, _ = model_from_checkpoint(tmp_path / "old.pt")
    with torch.no_grad():
        assert torch.allclose(model(saved["input"]), saved["output"], atol=1e-6)
