"""The embedded demo data set: photographs shipped by scikit-image, with labelled object parts,
and simulated ClickMe players who paint along mouse paths toward those parts.

The images are real (scikit-image's bundled samples: no download); the players are simulated,
so the maps' reliability reflects the simulation's settings, not human behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import skimage.data
from skimage.color import rgb2gray
from skimage.filters import sobel
from skimage.transform import resize

from clickme_analysis.errors import InputError
from clickme_analysis.maps import blur_map, normalize_map

SIZE = 256


@dataclass(frozen=True)
class DemoImage:
    """One base photograph: how to square it and where its diagnostic parts are.

    ``parts`` are (x, y, weight) in the 256x256 squared image; players favour heavier parts.
    """

    name: str
    loader: str  # attribute of skimage.data
    label: str
    category: str  # "animal" or "non-animal"
    square: str  # "crop" (centre crop) or "pad" (pad with the border colour)
    parts: tuple[tuple[float, float, float], ...]


BASE_IMAGES = (
    DemoImage(
        "chelsea",
        "chelsea",
        "tabby cat",
        "animal",
        "crop",
        ((88, 100, 1.0), (190, 104, 1.0), (150, 182, 0.8), (40, 20, 0.3)),
    ),
    DemoImage(
        "horse", "horse", "horse", "animal", "pad", ((236, 55, 1.0), (178, 200, 0.5), (56, 200, 0.5), (130, 118, 0.3))
    ),
    DemoImage("coffee", "coffee", "espresso", "non-animal", "crop", ((140, 92, 1.0), (62, 150, 0.7), (196, 160, 0.6))),
    DemoImage("rocket", "rocket", "rocket", "non-animal", "crop", ((131, 95, 1.0), (131, 150, 0.8), (131, 205, 0.4))),
    DemoImage(
        "motorcycle",
        "stereo_motorcycle",
        "motor scooter",
        "non-animal",
        "crop",
        ((52, 188, 1.0), (214, 180, 0.9), (134, 170, 0.6), (120, 100, 0.4)),
    ),
    DemoImage("clock", "clock", "wall clock", "non-animal", "crop", ((130, 124, 1.0), (130, 90, 0.5))),
    DemoImage("coins", "coins", "coin", "non-animal", "crop", ((140, 148, 1.0), (84, 94, 0.6), (196, 206, 0.6))),
)

#: variants of each base image: (suffix, mirror, zoom); zoom > 1 crops the centre
VARIANTS = (("", False, 1.0), ("_mirror", True, 1.0), ("_zoom", False, 1.4))


def _squared(base: DemoImage) -> np.ndarray:
    image = getattr(skimage.data, base.loader)()
    image = np.asarray(image[0] if isinstance(image, tuple) else image)  # stereo pairs: left view
    if image.dtype == bool:
        image = np.where(image, 255, 0).astype(np.uint8)  # skimage's horse: True = background
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    h, w = image.shape[:2]
    if base.square == "pad":
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        pad = ((top, side - h - top), (left, side - w - left), (0, 0))
        image = np.pad(image, pad, mode="edge")
    else:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top : top + side, left : left + side]
    return (resize(image, (SIZE, SIZE), anti_aliasing=True, preserve_range=True)).astype(np.uint8)


def _variant(image: np.ndarray, parts, mirror: bool, zoom: float):
    parts = np.array(parts, dtype=float)
    if zoom != 1.0:
        side = int(round(SIZE / zoom))
        start = (SIZE - side) // 2
        image = resize(
            image[start : start + side, start : start + side], (SIZE, SIZE), anti_aliasing=True, preserve_range=True
        ).astype(np.uint8)
        parts[:, :2] = (parts[:, :2] - SIZE / 2) * zoom + SIZE / 2
        parts = parts[((parts[:, :2] >= 0) & (parts[:, :2] < SIZE)).all(axis=1)]
    if mirror:
        image = image[:, ::-1].copy()
        parts[:, 0] = SIZE - 1 - parts[:, 0]
    return image, parts


def demo_images(per_category: int = 6):
    """The demo images: ``per_category`` animal and as many non-animal images.

    Each category cycles through its base photographs, first as they are, then mirrored, then
    zoomed, until it has ``per_category`` images (at most 3 x its bases).

    Returns
    -------
    images : dict[str, ndarray]
        Image id -> uint8 (256, 256, 3).
    labels : DataFrame
        ``image_id, label, category``.
    parts : dict[str, ndarray]
        Image id -> (K, 3) part table (x, y, weight).
    """
    images, parts, rows = {}, {}, []
    for category in ("animal", "non-animal"):
        bases = [b for b in BASE_IMAGES if b.category == category]
        if not 1 <= per_category <= len(VARIANTS) * len(bases):
            raise InputError(
                f"expected 1 to {len(VARIANTS) * len(bases)} images per category, got {per_category}",
                field="per_category",
            )
        squares = {}
        for k in range(per_category):
            (suffix, mirror, zoom), base = VARIANTS[k // len(bases)], bases[k % len(bases)]
            if base.name not in squares:
                squares[base.name] = _squared(base)
            image_id = base.name + suffix
            images[image_id], parts[image_id] = _variant(squares[base.name], base.parts, mirror, zoom)
            rows.append((image_id, base.label, category))
    return images, pd.DataFrame(rows, columns=["image_id", "label", "category"]), parts


def simulate_player(
    parts: np.ndarray,
    rng: np.random.Generator,
    n_points: int,
    skill: float,
    *,
    interval_ms: float = 50.0,
    size: int = SIZE,
) -> np.ndarray:
    """One simulated round: a mouse path through parts, sampled every ``interval_ms``.

    The player visits parts in random order, favouring heavier parts, moving in straight
    strokes with jitter; with probability ``1 - skill`` a stroke goes to a random spot instead
    (of the ``size`` x ``size`` image, where the path also starts).

    Returns
    -------
    ndarray, shape (n_points, 3)
        x, y (pixels; may fall outside the image) and t (ms).
    """
    weights = parts[:, 2] / parts[:, 2].sum()
    points = []
    position = rng.uniform(0, size, 2)
    while len(points) < n_points:
        if rng.random() < skill:
            target = parts[rng.choice(len(parts), p=weights), :2] + rng.normal(0, 6, 2)
        else:
            target = rng.uniform(0, size, 2)
        steps = int(rng.integers(4, 12))
        for k in range(1, steps + 1):
            points.append(position + (target - position) * k / steps + rng.normal(0, 4, 2))
        position = target
    xy = np.array(points[:n_points])
    t = np.arange(n_points) * interval_ms + rng.uniform(0, interval_ms)
    return np.column_stack([xy, t])


def simulate_clicks(parts: dict, *, participants=(5, 14), clicks=(40, 120), skill=(0.6, 0.95), seed=0) -> pd.DataFrame:
    """Simulated ClickMe logs for a set of images.

    Parameters
    ----------
    parts : dict[str, ndarray]
        Image id -> (K, 3) parts (x, y, weight), as :func:`demo_images` returns.
    participants : tuple of int
        Range (inclusive) of players per image.
    clicks : tuple of int
        Range of points painted per round. The default's median (about 80) lies within the real
        ClickMe 2.0 medians of clicks per map (57 to 119, ``../shared/realdata``).
    skill : tuple of float
        Range of the per-player probability that a stroke targets a part.
    seed : int
        Random seed.

    Returns
    -------
    DataFrame
        One row per click: ``image_id, participant_id, x, y, t``.
    """
    rng = np.random.default_rng(seed)
    pool = [f"p{i:03d}" for i in range(3 * participants[1])]
    player_skill = dict(zip(pool, rng.uniform(*skill, size=len(pool))))
    frames = []
    for image_id in sorted(parts):
        players = rng.choice(pool, size=int(rng.integers(participants[0], participants[1] + 1)), replace=False)
        for player in players:
            n_points = int(rng.integers(clicks[0], clicks[1] + 1))
            path = simulate_player(parts[image_id], rng, n_points, player_skill[player])
            frames.append(
                pd.DataFrame(
                    {
                        "image_id": image_id,
                        "participant_id": player,
                        "x": path[:, 0].round(1),
                        "y": path[:, 1].round(1),
                        "t": path[:, 2].round(1),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def saliency_standin(image: np.ndarray, size: int = 49) -> np.ndarray:
    """A bottom-up saliency stand-in: blurred edge energy times a centre bias.

    Documented as a stand-in for a saliency model (the paper compared with Salicon maps);
    it is the demo's second map source.
    """
    edges = sobel(rgb2gray(image) if image.ndim == 3 else image)
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    centre = np.exp(
        -(((yy - image.shape[0] / 2) ** 2 + (xx - image.shape[1] / 2) ** 2) / (2 * (image.shape[0] / 3) ** 2))
    )
    return normalize_map(blur_map(edges * centre, "box", size), "max").astype(np.float32)
