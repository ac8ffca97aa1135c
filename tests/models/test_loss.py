"""ClickMe loss (paper Eq. 1) against hand-computed cases."""

import math

import pytest
import torch

from clickme_analysis.errors import InputError
from models.layers import attention_layers, record_layers
from models.loss import attention_map, clickme_loss, map_distance, resize_maps
from models.networks import build_network

VOLUME = torch.tensor([[[[3.0, 0.0], [0.0, 0.0]], [[4.0, 0.0], [0.0, 0.0]]]])  # L2 over channels: 5 at (0, 0)
HUMAN = torch.tensor([[[0.0, 2.0], [0.0, 0.0]]])


def test_hand_computed_case():
    # model map (5, 0, 0, 0) -> (1, 0, 0, 0); human (0, 2, 0, 0) -> (0, 1, 0, 0); distance sqrt 2
    logits = torch.zeros(1, 2)
    parts = clickme_loss(logits, torch.tensor([1]), [VOLUME], HUMAN, lam=6.0)
    assert parts["attention"].item() == pytest.approx(math.sqrt(2), rel=1e-6)
    assert parts["cross_entropy"].item() == pytest.approx(math.log(2), rel=1e-6)
    assert parts["loss"].item() == pytest.approx(math.log(2) + 6 * math.sqrt(2), rel=1e-6)


def test_identical_maps_cost_nothing():
    assert map_distance([VOLUME], torch.tensor([[[7.0, 0.0], [0.0, 0.0]]])).item() == pytest.approx(0, abs=1e-6)


def test_layers_are_summed_or_averaged():
    assert map_distance([VOLUME, VOLUME], HUMAN).item() == pytest.approx(2 * math.sqrt(2), rel=1e-6)
    assert map_distance([VOLUME, VOLUME], HUMAN, combine="mean").item() == pytest.approx(math.sqrt(2), rel=1e-6)


def test_authors_options_hand_computed():
    # mean of A^2: 12.5 at (0, 0); x / sqrt(sum x): sqrt(12.5) and sqrt(2); half sum of squares
    value = map_distance(
        [VOLUME], HUMAN, reduction="mean_square", normalization="sqrt_sum", distance="half_sum_squares"
    )
    assert value.item() == pytest.approx(0.5 * (12.5 + 2), rel=1e-6)


def test_images_without_maps_are_masked_out():
    volumes = torch.cat([VOLUME, VOLUME])
    human = torch.cat([HUMAN, torch.tensor([[[5.0, 0.0], [0.0, 0.0]]])])  # second would cost 0
    logits, labels = torch.zeros(2, 2), torch.tensor([0, 1])
    both = clickme_loss(logits, labels, [volumes], human)
    first_only = clickme_loss(logits, labels, [volumes], human, has_map=torch.tensor([True, False]))
    second_only = clickme_loss(logits, labels, [volumes], human, has_map=torch.tensor([False, True]))
    assert both["attention"].item() == pytest.approx(math.sqrt(2) / 2, rel=1e-6)
    assert first_only["attention"].item() == pytest.approx(math.sqrt(2), rel=1e-6)
    assert second_only["attention"].item() == pytest.approx(0, abs=1e-6)
    none = clickme_loss(logits, labels, [volumes], human, has_map=torch.tensor([False, False]))
    assert none["loss"].item() == pytest.approx(math.log(2), rel=1e-6)


def test_human_map_is_resized_to_the_layer():
    human = torch.zeros(1, 8, 8)
    human[0, :4, :4] = 1  # top-left quadrant
    small = resize_maps(human, (2, 2))
    assert small.shape == (1, 2, 2) and small[0, 0, 0] == small.max() and small.min() >= 0
    bilinear = resize_maps(human, (2, 2), "bilinear")
    assert bilinear[0, 0, 1] == pytest.approx(bilinear[0, 1, 0].item())  # symmetric quadrant
    assert bilinear[0, 0, 0] > bilinear[0, 0, 1] > bilinear[0, 1, 1]
    match = map_distance([VOLUME], human)
    assert match.item() < 0.2 < map_distance([VOLUME.flip(-1)], human).item()


def test_gradient_pulls_attention_towards_the_human_map():
    volume = torch.rand(1, 3, 4, 4, requires_grad=True)
    human = torch.zeros(1, 4, 4)
    human[0, 1, 2] = 1
    before = map_distance([volume], human)
    before.sum().backward()
    with torch.no_grad():
        after = map_distance([volume - 0.5 * volume.grad], human)
    assert after.item() < before.item()


def test_attention_map_is_column_l2_norm():
    volume = torch.randn(2, 5, 3, 3)
    assert torch.allclose(attention_map(volume), volume.pow(2).sum(1).sqrt())


def test_default_layers():
    assert attention_layers(build_network("gala_resnet50")) == [f"layer3.{i}.se.gate" for i in range(6)]
    assert attention_layers(build_network("resnet50")) == [f"layer3.{i}" for i in range(6)]
    assert len(attention_layers(build_network("se_resnet50"))) == 16


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: attention_map(torch.zeros(2, 3, 4)), "attention volume"),
        (lambda: attention_map(VOLUME, "max"), "reduction"),
        (lambda: map_distance([], HUMAN), "at least one"),
        (lambda: map_distance([torch.cat([VOLUME, VOLUME])], HUMAN), "batch"),
        (lambda: map_distance([VOLUME], HUMAN, normalization="max"), "normalization"),
        (lambda: map_distance([VOLUME], HUMAN, distance="l1"), "distance"),
        (lambda: map_distance([VOLUME], HUMAN, combine="max"), "combine"),
        (lambda: resize_maps(torch.zeros(4, 4), (2, 2)), "human maps"),
        (lambda: resize_maps(torch.zeros(1, 4, 4), (2, 2), "nearest"), "interpolation"),
        (lambda: clickme_loss(torch.zeros(2), torch.zeros(2, dtype=torch.long), [VOLUME], HUMAN), "logits"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_unknown_layer_is_named():
    with pytest.raises(InputError, match="layer9"):
        with record_layers(build_network("tiny_resnet", num_classes=2), ["layer9"]):
            pass
