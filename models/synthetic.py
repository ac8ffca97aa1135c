"""A small synthetic task on which human-map supervision must help (CPU proof of the method).

Each image shows every one of the ``n_classes`` glyphs once, at random places on a noisy
background; exactly one of them (the "part") sits inside a thin square frame. The class is the
glyph inside the frame, so glyph presence carries no information: a network must find the
framed part and read it. The "human map" marks the part, as a ClickMe map marks the features
people find diagnostic. Supervising attention with it tells the network where to look, which
labels alone only reveal slowly.
"""

from __future__ import annotations

import numpy as np

from clickme_analysis.errors import InputError
from models.sources import Sample

#: 5x5 glyphs, one per class: horizontal bar, vertical bar, diagonal, anti-diagonal, plus, ring.
GLYPHS = np.array(
    [
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
        [[0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0]],
        [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]],
        [[0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [1, 0, 0, 0, 0]],
        [[0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0]],
        [[0, 1, 1, 1, 0], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [0, 1, 1, 1, 0]],
    ],
    dtype=np.float32,
)
PART = 9  # framed part: 5x5 glyph, 1-pixel gap, 1-pixel frame
CELL = 10  # images are a grid of CELL x CELL cells, one glyph per cell at most


def synthetic_task(
    n_images: int, *, image_size: int = 40, n_classes: int = 4, noise: float = 0.15, seed: int = 0
) -> dict[str, np.ndarray]:
    """Draw images, part maps and labels of the framed-glyph task.

    Parameters
    ----------
    n_images : int
    image_size : int, default 40
        Side in pixels, a multiple of 10 (each glyph sits in its own 10x10 cell).
    n_classes : int, default 4
        Glyphs (2 to 6); every image shows each glyph once.
    noise : float, default 0.15
        SD of the background's Gaussian pixel noise (glyph contrast is 0.5).
    seed : int, default 0

    Returns
    -------
    dict
        ``images`` (N, S, S, 3) uint8, ``maps`` (N, S, S) float32 (1 on the framed part),
        ``labels`` (N,) int64, ``boxes`` (N, 4) int (top, left, bottom, right of the part).

    Examples
    --------
    >>> task = synthetic_task(2, seed=0)
    >>> task["images"].shape, task["maps"].shape, task["labels"].shape
    ((2, 40, 40, 3), (2, 40, 40), (2,))
    """
    if image_size % CELL or (image_size // CELL) ** 2 < n_classes:
        raise InputError(
            f"expected image_size a multiple of {CELL} with room for {n_classes} glyphs, got {image_size}",
            field="image_size",
        )
    if not 2 <= n_classes <= len(GLYPHS):
        raise InputError(f"expected 2 <= n_classes <= {len(GLYPHS)}, got {n_classes}", field="n_classes")
    rng = np.random.default_rng(seed)
    cells = image_size // CELL
    images = 0.5 + noise * rng.standard_normal((n_images, image_size, image_size, 3))
    maps = np.zeros((n_images, image_size, image_size), np.float32)
    labels = rng.integers(0, n_classes, n_images)
    boxes = np.zeros((n_images, 4), int)
    frame = np.ones((PART, PART), np.float32)
    frame[1:-1, 1:-1] = 0
    for i in range(n_images):
        where = rng.choice(cells * cells, n_classes, replace=False)
        for glyph, cell in enumerate(where):
            top = cell // cells * CELL + rng.integers(0, CELL - PART + 1)
            left = cell % cells * CELL + rng.integers(0, CELL - PART + 1)
            patch = np.zeros((PART, PART), np.float32)
            patch[2:-2, 2:-2] = GLYPHS[glyph]
            if glyph == labels[i]:
                patch = np.maximum(patch, frame)
                maps[i, top : top + PART, left : left + PART] = 1
                boxes[i] = top, left, top + PART, left + PART
            sign = rng.choice([-1, 1])  # light or dark ink, so contrast polarity says nothing
            images[i, top : top + PART, left : left + PART] += 0.5 * sign * patch[..., None]
    images = np.clip(images * 255, 0, 255).astype(np.uint8)
    return {"images": images, "maps": maps, "labels": labels.astype(np.int64), "boxes": boxes}


def synthetic_samples(n_images: int, seed: int = 0, **options) -> list:
    """The task as :class:`models.sources.Sample` objects (for :class:`models.data.PairedDataset`)."""
    task = synthetic_task(n_images, seed=seed, **options)
    return [
        Sample(f"synthetic-{seed}-{i}", task["images"][i], int(task["labels"][i]), task["maps"][i])
        for i in range(n_images)
    ]
