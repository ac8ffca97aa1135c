"""GALA and SE blocks: the paper's equations, the authors' switches, parameter counts."""

import pickle

import pytest
import torch

from clickme_analysis.errors import InputError
from models.attention import GALA, SqueezeExcite, gala
from models.layers import record_layers


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_gala_parameter_count_matches_hand_count():
    # shrink 1024*256+256, expand 256*1024+1024, local 1024*256+256 and 256+1, a and m 2*1024
    assert n_params(GALA(1024)) == 262_400 + 263_168 + 262_400 + 257 + 2_048 == 790_273


def test_gala_forward_is_the_paper_equation():
    torch.manual_seed(0)
    block = GALA(8, reduction=4)
    with torch.no_grad():
        block.a.normal_()
        block.m.normal_()
    u = torch.randn(2, 8, 5, 6)
    g = block.expand(torch.relu(block.shrink(u.mean((2, 3), keepdim=True))))
    s = block.local[2](torch.relu(block.local[0](u)))
    expected = u * torch.tanh(block.a * (g + s) + block.m * (g * s))
    assert torch.allclose(block(u), expected, atol=1e-6)


def test_gala_default_start_is_tanh_of_g_plus_s():
    block = GALA(4)
    assert torch.equal(block.a, torch.ones(1, 4, 1, 1)) and torch.equal(block.m, torch.zeros(1, 4, 1, 1))


def test_gala_exposes_its_attention_volume_through_the_gate():
    block = GALA(8)
    u = torch.randn(2, 8, 4, 4)
    with record_layers(block, ["gate"]) as seen:
        out = block(u)
    assert seen["gate"].shape == (2, 8, 4, 4)
    assert torch.allclose(out, u * seen["gate"])
    assert seen["gate"].abs().max() < 1  # tanh


def test_authors_variant_switches():
    torch.manual_seed(0)
    block = gala("authors")(16)
    assert isinstance(block.local[2], torch.nn.Conv2d) and block.local[2].kernel_size == (5, 5)
    assert not torch.equal(block.a, torch.ones_like(block.a))  # drawn at random
    with record_layers(block, ["gate"]) as seen:
        block(torch.randn(1, 16, 6, 6))
    assert seen["gate"].min() >= 0 and seen["gate"].max() <= 1  # sigmoid
    # 5x5 conv adds 4*4*25 + 4 parameters
    assert n_params(block) - n_params(GALA(16)) == 4 * 4 * 25 + 4


def test_bad_options_raise():
    with pytest.raises(InputError, match="squash"):
        GALA(8, squash="relu")
    with pytest.raises(InputError, match="variant"):
        gala("tensorflow")


def test_squeeze_excite_is_sigmoid_channel_gate():
    torch.manual_seed(0)
    block = SqueezeExcite(32)
    u = torch.randn(2, 32, 3, 3)
    s = torch.sigmoid(block.fc2(torch.relu(block.fc1(u.mean((2, 3), keepdim=True)))))
    assert torch.allclose(block(u), u * s)
    assert block.fc1.out_channels == 8  # 32 / 16 = 2, rounded up to the divisor 8


def test_gala_factory_is_a_picklable_partial_with_its_options():
    factory = gala("authors", reduction=8)
    assert factory.keywords["reduction"] == 8
    block = pickle.loads(pickle.dumps(factory))(32)
    assert isinstance(block, GALA) and block.local[0].out_channels == 4
