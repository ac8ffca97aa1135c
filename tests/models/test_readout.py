"""Animal readouts: the ImageNet animal class list and the class-sum readout."""

import pytest
import torch

from clickme_analysis.errors import InputError
from models.readout import IMAGENET_ANIMAL_CLASSES, ClassSum, default_readout, readout_from_name


def test_imagenet_animals_are_the_first_398_classes_of_the_standard_order():
    info = pytest.importorskip("timm.data").ImageNetInfo()
    synsets = [info.index_to_label_name(i) for i in range(1000)]
    assert synsets == sorted(synsets)  # the standard order is sorted WordNet ids
    assert IMAGENET_ANIMAL_CLASSES == tuple(range(398))
    assert info.index_to_description(0).startswith("tench")
    assert info.index_to_description(397).startswith("puffer")  # last animal
    assert info.index_to_description(398).startswith("abacus")  # first artefact
    assert synsets[397] == "n02655020" and synsets[398] == "n02666196"
    # animals everyone knows on either side of the boundary
    names = [info.index_to_description(i) for i in range(1000)]
    assert "tabby" in names[281] and "goldfish" in names[1] and "mushroom" in names[947]


def test_class_sum_is_summed_softmax():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0]])
    p = ClassSum((0, 1))(logits)
    assert p[0].item() == pytest.approx(0.5)
    assert p[1].item() == pytest.approx((torch.e**10 + 1) / (torch.e**10 + 3))
    imagenet = readout_from_name("imagenet_animals", 1000)
    assert imagenet(torch.zeros(1, 1000)).item() == pytest.approx(0.398)


def test_readout_names_and_errors():
    assert default_readout(2).classes == (0,) and default_readout(1000).name == "imagenet_animals"
    assert readout_from_name("class:1", 3).classes == (1,)
    with pytest.raises(InputError, match="1000 ImageNet outputs"):
        readout_from_name("imagenet_animals", 2)
    with pytest.raises(InputError, match="classes 0-1"):
        readout_from_name("class:2", 2)
    with pytest.raises(InputError, match="unknown readout"):
        readout_from_name("birds", 10)
    with pytest.raises(InputError, match="no default animal readout"):
        default_readout(4)
    with pytest.raises(InputError, match="needs logits"):
        ClassSum((5,))(torch.zeros(2, 3))
