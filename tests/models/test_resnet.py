"""ResNet family: parameter counts, layout, attention placement."""

import pytest
import torch

from clickme_analysis.errors import InputError
from models.attention import GALA, SqueezeExcite
from models.resnet import ResNet, build_model


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "arch, expected", [("resnet50", 25_557_032), ("se_resnet50", 28_088_024), ("gala_resnet50", 30_298_670)]
)
def test_parameter_counts(arch, expected):
    assert n_params(build_model(arch)) == expected


def test_gala_sits_in_the_six_conv4_blocks_only():
    model = build_model("gala_resnet50")
    names = [n for n, m in model.named_modules() if isinstance(m, GALA)]
    assert names == [f"layer3.{i}.attn" for i in range(6)]
    block = n_params(model.layer3[0].attn)
    assert block == 790_273
    assert n_params(model) - n_params(build_model("resnet50")) == 6 * block  # nothing else added


def test_se_in_every_block():
    model = build_model("se_resnet50")
    assert sum(isinstance(m, SqueezeExcite) for m in model.modules()) == 16


def test_torchvision_state_dict_layout():
    keys = build_model("resnet50").state_dict().keys()
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight", "layer4.2.bn3.weight", "fc.bias"):
        assert key in keys
    assert build_model("resnet50").state_dict()["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)


def test_gala_map_is_14x14_at_224():
    model = build_model("tiny_gala_resnet", num_classes=3)
    seen = {}
    model.layer3[0].attn.gate.register_forward_hook(lambda m, i, o: seen.update(a=o))
    model(torch.zeros(1, 3, 32, 32))
    assert seen["a"].shape[-2:] == (8, 8)
    big = build_model("gala_resnet50")
    # stride 32 overall; conv4 stage at stride 16 -> 14x14 at 224, checked on the stage alone
    x = torch.zeros(1, 512, 28, 28)
    big.layer3.eval()
    assert big.layer3(x).shape == (1, 1024, 14, 14)


def test_tiny_forward_backward():
    model = build_model("tiny_se_resnet", num_classes=5)
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 5)
    assert model.conv1.weight.grad is not None


def test_bad_arguments():
    with pytest.raises(InputError, match="arch"):
        build_model("vgg16")
    with pytest.raises(InputError, match="differ"):
        ResNet(depths=(1, 1), widths=(8,))
    with pytest.raises(InputError, match="attn_layers"):
        ResNet(depths=(1,), widths=(8,), attn_layers=[None, None])
