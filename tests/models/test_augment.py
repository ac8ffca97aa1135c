"""Whole-batch augmentation: blur and boxes against the map module, paired crops, decoders."""

import numpy as np
import pytest
import simplejpeg
import torch
from scipy import ndimage

from clickme_analysis.maps import bounding_box_map
from models.augment import augment_batch, bounding_boxes, box_blur, crop_batch, decode_on_device, quantise_map
from models.data import collate_decoded, decoded_item, eval_transform
from models.decode import decode_image


@pytest.mark.parametrize("size", [1, 4, 5, 49])
def test_box_blur_matches_scipy_uniform_filter_reflect(size):
    rng = np.random.default_rng(size)
    maps = rng.random((3, 60, 50)) * (rng.random((3, 60, 50)) > 0.7)
    ours = box_blur(torch.tensor(maps, dtype=torch.float32), size).numpy()
    for m, o in zip(maps, ours):
        assert np.allclose(o, ndimage.uniform_filter(m, size, mode="reflect"), atol=1e-5)


def test_bounding_boxes_match_the_map_module():
    rng = np.random.default_rng(0)
    maps = rng.random((4, 20, 30)) ** 8
    maps[3] = 0  # no pixel above threshold: an empty box
    ours = bounding_boxes(torch.tensor(maps), 0.5).numpy()
    for m, o in zip(maps, ours):
        assert np.array_equal(o, bounding_box_map(m, 0.5 * m.max()))


def test_quantisation_error_is_within_the_documented_bound():
    human = np.random.default_rng(1).normal(size=(32, 32)) * 5
    for bits in (8, 16):
        q, offset, scale = quantise_map(human, bits)
        assert np.abs(offset + q * scale - human).max() <= scale / 2 + 1e-12
        assert scale == pytest.approx((human.max() - human.min()) / (2**bits - 1))


def test_crops_and_flips_are_the_same_on_image_and_map():
    size, crop = 12, 7
    cols = np.tile(np.arange(size, dtype=np.uint8) * 20, (size, 1))
    image = np.stack([cols, cols.T, np.zeros_like(cols)], -1)
    items = [
        decoded_item(
            image, *quantise_map(cols.astype(float)), 0, i, resize=size, image_size=crop, train=True, seed=0, epoch=0
        )
        for i in range(16)
    ]
    out = augment_batch(collate_decoded(items), image_size=crop, blur_size=0)
    red = (out["image"][:, 0] * 0.229 + 0.485) * 255
    assert torch.allclose(red, out["map"], atol=0.2)
    assert len({(int(t), int(f)) for t, f in zip(collate_decoded(items)["left"], collate_decoded(items)["flip"])}) > 3
    assert crop_batch(torch.arange(6).reshape(1, 2, 3), [0], [1], [True], size=2).tolist() == [[[2, 1], [5, 4]]]


def test_decoding_on_the_device_matches_the_workers():
    rng = np.random.default_rng(2)
    raws = [simplejpeg.encode_jpeg(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), quality=95) for _ in range(3)]
    on_device = decode_on_device(raws, 16, "cpu").numpy()
    in_workers = np.stack([decode_image(r) for r in raws])
    assert on_device.shape == (3, 16, 16, 3)
    assert np.abs(on_device.astype(int) - in_workers).max() <= 3  # two libjpeg IDCTs


def test_eval_transform_is_the_center_crop_of_the_batch_path():
    image = np.random.default_rng(3).integers(0, 255, (20, 20, 3), dtype=np.uint8)
    x = eval_transform(image, image_size=16, resize=20)
    expected = (
        torch.from_numpy(image[2:18, 2:18]).permute(2, 0, 1).float() / 255
        - torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    ) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    assert torch.allclose(x, expected, atol=1e-6)


def test_training_on_shards_with_device_decoding(tmp_path, tiny_config):
    from PIL import Image

    from models.shards import pack
    from models.train import train

    rng = np.random.default_rng(4)
    for i in range(16):
        (tmp_path / "img" / str(i % 3)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(
            tmp_path / "img" / str(i % 3) / f"x{i}.jpg", quality=90
        )
    pack(tmp_path / "img", tmp_path / "s", shard_size=4, progress=False)
    result = train(tiny_config.replace(train=str(tmp_path / "s"), val="", decode="device", epochs=1, lam=0.0))
    assert result["status"] == "finished"


def test_crops_are_uniform_independent_and_the_same_in_a_batch_or_alone():
    from models.augment import crop_params

    top, left, flip = crop_params(7, 3, np.arange(66_000), 256, 224, train=True)
    for values, levels in ((top, 33), (left, 33), (flip.astype(int), 2)):
        counts = np.bincount(values, minlength=levels)
        assert len(counts) == levels
        expected = len(values) / levels  # chi-square against uniform, below its 0.999 quantile
        assert ((counts - expected) ** 2 / expected).sum() < {33: 59.7, 2: 10.8}[levels]
    assert abs(np.corrcoef(top, left)[0, 1]) < 0.02 and abs(np.corrcoef(top, flip)[0, 1]) < 0.02
    assert [crop_params(7, 3, i, 256, 224, train=True) for i in (0, 41)] == [
        (int(top[i]), int(left[i]), bool(flip[i])) for i in (0, 41)
    ]
    other_epoch = crop_params(7, 4, np.arange(66_000), 256, 224, train=True)[0]
    assert 0.02 < (other_epoch == top).mean() < 0.04  # a fresh draw: 1/33 agree by chance
    assert crop_params(7, 3, [5, 6], 256, 224, train=False)[0].tolist() == [16, 16]
