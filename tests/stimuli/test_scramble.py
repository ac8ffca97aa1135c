"""Phase scrambling: amplitude spectrum, mean / RMS contrast, colour handling, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2gray
from skimage.transform import resize

from clickme_analysis.errors import InputError
from stimuli.scramble import as_float_image, phase_scramble, to_grayscale


@pytest.fixture(scope="module")
def cat():
    return resize(data.chelsea(), (64, 80), anti_aliasing=True)  # float RGB in [0, 1]


def amplitude(image):
    return np.abs(np.fft.fft2(image, axes=(0, 1)))


def test_gray_amplitude_spectrum_mean_and_sd_are_kept(cat):
    gray = rgb2gray(cat)
    out = phase_scramble(cat, seed=0, clip=False)
    assert out.shape == gray.shape
    np.testing.assert_allclose(amplitude(out), amplitude(gray), rtol=1e-9, atol=1e-9)
    assert out.mean() == pytest.approx(gray.mean(), abs=1e-12)
    assert out.std() == pytest.approx(gray.std(), abs=1e-12)
    assert np.abs(out - gray).mean() > 0.05  # the layout is gone


def test_clipped_output_is_in_range_and_close_in_mean_and_sd(cat):
    gray = rgb2gray(cat)
    out = phase_scramble(cat, seed=0)
    assert out.min() >= 0 and out.max() <= 1
    assert out.mean() == pytest.approx(gray.mean(), abs=0.02)
    assert out.std() == pytest.approx(gray.std(), rel=0.1)


def test_color_shares_one_phase_field_and_keeps_each_channel(cat):
    out = phase_scramble(cat, seed=1, color=True, clip=False)
    assert out.shape == cat.shape
    np.testing.assert_allclose(amplitude(out), amplitude(cat), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), cat.mean(axis=(0, 1)), atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 1)), cat.std(axis=(0, 1)), atol=1e-12)
    # one field for all channels, no mixing: permuting channels permutes the output
    permuted = phase_scramble(cat[..., [2, 0, 1]], seed=1, color=True, clip=False)
    np.testing.assert_allclose(permuted, out[..., [2, 0, 1]], atol=1e-12)
    # a gray picture in RGB stays gray
    gray3 = np.repeat(rgb2gray(cat)[..., None], 3, axis=2)
    out3 = phase_scramble(gray3, seed=1, color=True)
    np.testing.assert_allclose(out3[..., 0], out3[..., 2], atol=1e-12)


def test_same_seed_same_image(cat):
    np.testing.assert_array_equal(phase_scramble(cat, seed=5), phase_scramble(cat, seed=5))
    assert not np.array_equal(phase_scramble(cat, seed=5), phase_scramble(cat, seed=6))


def test_integer_images_and_constant_images():
    image = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)
    out = phase_scramble(image, seed=0, clip=False)
    assert out.mean() == pytest.approx(image.mean() / 255)
    flat = phase_scramble(np.full((5, 5), 0.3), seed=0)
    np.testing.assert_allclose(flat, 0.3)


def test_bad_images_are_refused():
    with pytest.raises(InputError, match=r"\(H, W\)"):
        phase_scramble(np.zeros((4, 4, 2)))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        phase_scramble(np.full((4, 4), 2.0))
    with pytest.raises(InputError, match="non-finite"):
        as_float_image(np.array([[np.nan, 0.0]]))
    with pytest.raises(InputError, match="dtype"):
        as_float_image(np.array([["a"]]))
    assert to_grayscale(np.ones((2, 2, 1))).shape == (2, 2)
