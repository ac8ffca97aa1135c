"""Reveal stimulus sets: per image, log-spaced reveal levels from each map source plus the intact image.

For each image: one phase scramble (the background of every level), one budget (from the first
map source, shared by all sources), one stochastic flood-fill order per source (every level a
prefix of it), one centring shift per source, then a composite per level. Files, a manifest, a
Latin-square assignment and contact sheets are written by :func:`build_stimulus_set`.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from skimage.transform import resize

from clickme_analysis.archive import open_maps
from clickme_analysis.config import check_value, load_config
from clickme_analysis.errors import InputError
from clickme_analysis.ids import image_id as id_of
from clickme_analysis.imagefile import read_image
from clickme_analysis.labels import read_labels
from clickme_analysis.progress import progress as progress_bar
from clickme_analysis.shapes import skip_empty
from stimuli.compose import centering_shift, composite, shift_image
from stimuli.reveal import check_importance, keep_top_pixels, level_counts, reveal_budget, reveal_masks, reveal_order
from stimuli.scramble import as_float_image, phase_scramble, to_grayscale

INTACT = "intact"
CATEGORIES = ("animal", "non-animal")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MANIFEST_COLUMNS = [
    "image_id",
    "category",
    "target",
    "map_source",
    "level",
    "pixels_revealed",
    "seed",
    "path",
    "level_index",
    "label",
    "budget",
]
ASSIGNMENT_COLUMNS = ["participant_list", "image_id", "level", "map_source", "level_index"]


@dataclasses.dataclass(frozen=True)
class StimulusConfig:
    """Settings of a reveal stimulus set (defaults as the paper's rapid-categorisation study).

    Read from TOML by :func:`load_stimulus_config` (``clickme stimuli build --config``); field
    metadata holds the valid ranges, checked by the loader and on direct construction.
    """

    n_levels: int = field(default=11, metadata={"min": 2})  #: log-spaced levels from 1% to 100% of the budget
    size: int = field(default=256, metadata={"min": 8})  #: output side in pixels (images are resized, not cropped)
    color: bool = False  #: False: grayscale stimuli (as the authors'); True: RGB
    top_fraction: float | None = field(default=None, metadata={"gt": 0.0, "max": 1.0})
    #: budget = top fraction of pixels; None: non-zero pixels
    importance_weight: float = field(
        default=1.0, metadata={"min": 0.0}
    )  #: a in exp((a * importance - b * distance) / T)
    distance_weight: float = field(default=1.0, metadata={"min": 0.0})  #: b (distance to the seed in image diagonals)
    temperature: float = field(default=0.1, metadata={"gt": 0.0})  #: T
    center: bool = True  #: center the revealed region (bounding box of the 100% mask)
    feather: float = field(default=0.0, metadata={"min": 0.0})  #: Gaussian sigma of the mask edge in pixels; 0: hard
    seed: int = 0  #: set seed; each image derives its own from it and its id

    def __post_init__(self):

        for f in dataclasses.fields(self):  # the loader checks these too; this guards direct construction
            if f.metadata:
                check_value(f.name, getattr(self, f.name), **f.metadata)


def load_stimulus_config(path=None, **overrides) -> StimulusConfig:
    """Read a flat TOML stimulus configuration (keys as :class:`StimulusConfig`, or under ``[stimuli]``).

    ``overrides`` (command-line options) win; None ones are ignored.

    Examples
    --------
    >>> load_stimulus_config(n_levels=5).n_levels
    5
    >>> load_stimulus_config(n_levels=1)
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'n_levels': expected a value >= 2, got 1
    """

    return load_config(
        StimulusConfig, path, sections=("stimuli",), overrides={k: v for k, v in overrides.items() if v is not None}
    )


def reveal_levels(n_levels: int = 11) -> np.ndarray:
    """Log-spaced reveal levels in percent, ``np.logspace(0, 2, n_levels)`` (1% .. 100%).

    Examples
    --------
    >>> reveal_levels(3)
    array([  1.,  10., 100.])
    """
    if int(n_levels) < 2:
        raise InputError(f"expected at least 2 levels, got {n_levels}", field="levels")
    return np.logspace(0, 2, int(n_levels))


def image_seed(seed: int, image_id: str) -> int:
    """Per-image seed from the set seed and the image id (independent of the other images).

    The scramble uses ``default_rng([s, 0])`` and the flood-fill ``default_rng([s, 1])``; the
    map sources of one image share their exponential clocks.

    Examples
    --------
    >>> image_seed(0, "cat") == image_seed(0, "cat") != image_seed(1, "cat")
    True
    """
    return int(np.random.SeedSequence([int(seed), zlib.crc32(str(image_id).encode())]).generate_state(1)[0])


def reveal_stimuli(
    image, maps: Mapping[str, np.ndarray], config: StimulusConfig = StimulusConfig(), seed: int = 0
) -> list[dict]:
    """All stimuli of one image: each map source at each level, then the intact image.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Integer image or float image in [0, 1].
    maps : Mapping[str, ndarray of shape (H, W)]
        Map source name -> attention map. The first source sets the budget (its non-zero pixels,
        or its top ``config.top_fraction``); every source reveals its own top-budget pixels.
    config : StimulusConfig
        ``size`` is ignored here (the image is used as it comes).
    seed : int
        Per-image seed (:func:`image_seed`).

    Returns
    -------
    list of dict
        Keys ``map_source, level_index, level, pixels_revealed, budget, mask`` (the revealed
        pixels, after centring) and ``stimulus`` (float image in [0, 1], gray unless
        ``config.color``).

    Examples
    --------
    >>> m = np.zeros((32, 32)); m[4:12, 4:12] = 1
    >>> rows = reveal_stimuli(np.full((32, 32), 0.5), {"clickme": m}, StimulusConfig(n_levels=3))
    >>> [(r["map_source"], r["pixels_revealed"]) for r in rows]
    [('clickme', 1), ('clickme', 6), ('clickme', 64), ('intact', 1024)]
    """
    image = as_float_image(image)
    maps = _checked_maps(maps, image.shape[:2])
    shown = image[..., :3] if config.color and image.ndim == 3 else to_grayscale(image)
    background = phase_scramble(shown, [seed, 0], color=config.color and shown.ndim == 3)
    levels = reveal_levels(config.n_levels)
    budget = reveal_budget(next(iter(maps.values())), config.top_fraction)
    rows = [
        row
        for name, importance in maps.items()
        for row in _source_stimuli(name, importance, shown, background, levels, budget, config, seed)
    ]
    shape = image.shape[:2]
    rows.append(
        {
            "map_source": INTACT,
            "level_index": len(levels),
            "level": 100.0,
            "pixels_revealed": int(np.prod(shape)),
            "budget": budget,
            "mask": np.ones(shape, bool),
            "stimulus": shown,
        }
    )
    return rows


def _checked_maps(maps: Mapping[str, np.ndarray], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The map sources, each checked (:func:`check_importance`) and of the image's ``shape``."""
    if not maps:
        raise InputError("expected at least one map source, got none", field="maps")
    maps = {name: check_importance(m, name=name) for name, m in maps.items()}
    for name, m in maps.items():
        if m.shape != shape:
            raise InputError(f"expected a map of the image's shape {shape}, got {m.shape}", field=name)
    return maps


def _source_stimuli(name, importance, shown, background, levels, budget: int, config: StimulusConfig, seed: int):
    """The stimuli of one map source, one per level (rows of :func:`reveal_stimuli`)."""
    order = reveal_order(
        keep_top_pixels(importance, budget),
        budget,
        importance_weight=config.importance_weight,
        distance_weight=config.distance_weight,
        temperature=config.temperature,
        seed=[seed, 1],
    )
    masks = reveal_masks(order, shown.shape[:2], level_counts(budget, levels))
    shift = centering_shift(masks[-1]) if config.center else (0, 0)
    moved = shift_image(shown, shift)
    rows = []
    for k, (level, mask) in enumerate(zip(levels, masks)):
        mask = shift_image(mask, shift, fill=False)
        rows.append(
            {
                "map_source": name,
                "level_index": k,
                "level": float(level),
                "pixels_revealed": int(mask.sum()),
                "budget": budget,
                "mask": mask,
                "stimulus": composite(moved, background, mask, config.feather),
            }
        )
    return rows


def find_images(directory) -> dict[str, Path]:
    """Image id -> file for the PNG / JPEG files of a folder (``<image_id>.png|.jpg|.jpeg``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("image folder not found", path=directory)
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            if path.stem in found:
                raise InputError(
                    f"two image files for image id {path.stem!r}: {found[path.stem].name} and {path.name}", path=path
                )
            found[path.stem] = path
    return found


def read_stimulus_labels(path) -> pd.DataFrame:
    """``labels.csv`` (:func:`clickme_analysis.labels.read_labels`) whose every category is
    ``animal`` or ``non-animal``."""
    frame = read_labels(path, required=("category",))
    for line, value in zip(frame["line"], frame["category"]):
        if value not in CATEGORIES:
            raise InputError(
                f"expected category in {CATEGORIES}, got {value!r}", path=path, line=int(line), field="category"
            )
    return frame[["image_id", "label", "category"]]


def load_image(path, size: int) -> np.ndarray:
    """Read an image file as float RGB in [0, 1], resized to (size, size) when it is not."""
    return _resize(as_float_image(read_image(path)), size)


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    if array.shape[:2] == (size, size):
        return array

    return resize(array, (size, size), order=1, anti_aliasing=True, preserve_range=True)


def _archive_map(archive, image_id: str, native_shape, size: int) -> np.ndarray:
    """The map of one image, checked and resized like its image; errors name the archive."""
    if image_id not in archive:
        raise InputError(f"no map for image {image_id!r}", path=archive.path, field=image_id)
    array = np.asarray(archive[image_id])
    if array.shape not in {tuple(native_shape), (size, size)}:
        raise InputError(
            f"expected a map of shape {tuple(native_shape)} (the image) or {(size, size)}, got {array.shape}",
            path=archive.path,
            field=image_id,
        )
    try:
        array = check_importance(array, name=image_id)
    except InputError as err:
        raise InputError(err.message, path=archive.path, field=image_id) from None
    return np.maximum(_resize(array, size), 0)


def save_png(path, image) -> Path:
    """Write a uint8 image, or a float image in [0, 1], as an 8-bit PNG (gray or RGB)."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(image).save(path)
    return path


def stimulus_contact_sheet(tiles, captions, tile_size: int = 128) -> np.ndarray:
    """One row of thumbnails with a caption under each; returns a uint8 (H, W) or (H, W, 3) image."""

    strip = 16
    thumbs = [
        Image.fromarray(np.round(np.clip(t, 0, 1) * 255).astype(np.uint8))
        .convert("RGB")
        .resize((tile_size, tile_size), Image.Resampling.BILINEAR)
        for t in tiles
    ]
    sheet = Image.new("RGB", (len(thumbs) * (tile_size + 4) + 4, tile_size + strip + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (thumb, caption) in enumerate(zip(thumbs, captions)):
        x = 4 + k * (tile_size + 4)
        sheet.paste(thumb, (x, 4))
        draw.text((x + 2, tile_size + 6), caption, fill="black")
    return np.asarray(sheet)


def latin_square(images: pd.DataFrame, levels, intact: bool = True) -> pd.DataFrame:
    """Latin-square lists: list ``L`` shows image ``i`` at condition ``(i + L) mod n_conditions``.

    Conditions are the reveal levels (increasing) then the intact image (unless ``intact`` is
    False); there are as many lists
    as conditions, so across lists every image appears once in every condition, and in each list
    every image appears once. ``i`` counts images within their category, so each list spreads
    targets and distractors evenly over the conditions. Participant ``k`` (0-based) takes list
    ``k mod n_conditions``.

    Parameters
    ----------
    images : pandas.DataFrame
        ``image_id, category`` (one row per image).
    levels : sequence of float
        Reveal levels in percent.
    intact : bool
        Include the intact image as the last condition.

    Returns
    -------
    pandas.DataFrame
        ``participant_list, image_id, level, map_source, level_index`` with ``map_source``
        ``"intact"`` for the intact condition (``level`` 100) and ``"revealed"`` otherwise (the
        participant's group decides which map source).

    Examples
    --------
    >>> frame = latin_square(pd.DataFrame({"image_id": ["a", "b"], "category": ["x", "x"]}), [1.0, 10.0])
    >>> frame[frame.participant_list == 1][["image_id", "level", "map_source"]].values.tolist()
    [['a', 10.0, 'revealed'], ['b', 100.0, 'intact']]
    """
    levels = [float(v) for v in levels]
    if not levels:
        raise InputError("expected at least one reveal level, got none", field="levels")
    n_conditions = len(levels) + int(intact)
    images = images.assign(category=images["category"].fillna("").astype(str))
    images = images.sort_values(["category", "image_id"], kind="stable")
    index = images.groupby("category", sort=False).cumcount().to_numpy()
    rows = []
    for lst in range(n_conditions):
        for image_id, i in zip(images["image_id"], index):
            k = int((i + lst) % n_conditions)
            intact = k == len(levels)
            rows.append((lst, image_id, 100.0 if intact else levels[k], INTACT if intact else "revealed", k))
    return pd.DataFrame(rows, columns=ASSIGNMENT_COLUMNS)


def build_stimulus_set(
    images_dir,
    maps: Mapping[str, object],
    out_dir,
    *,
    labels=None,
    config: StimulusConfig = StimulusConfig(),
    progress: bool = True,
) -> pd.DataFrame:
    """Build a reveal stimulus set on disk.

    Parameters
    ----------
    images_dir : path
        Folder of ``<image_id>.png|.jpg|.jpeg`` files.
    maps : Mapping[str, path]
        Map source name -> map archive (:mod:`clickme_analysis.archive`); the first source's
        images are the set and set the budget; every other archive must hold them too.
    out_dir : path
        Receives ``manifest.csv``, ``assignment.csv``, ``images/<map_source>/<image_id>_<k>.png``,
        ``images/intact/<image_id>.png`` and ``contact_sheets/<image_id>_<map_source>.png``.
    labels : path, optional
        ``labels.csv`` (:func:`read_stimulus_labels`); without it ``category`` is empty, ``target`` NA and
        ``label`` the archive's.
    config : StimulusConfig
    progress : bool
        Show a progress bar over images (on a terminal only).

    Returns
    -------
    pandas.DataFrame
        The manifest (``path`` relative to ``out_dir``).
    """

    if not maps:
        raise InputError("expected at least one map archive", field="maps")
    if INTACT in maps:
        raise InputError(f"map source name {INTACT!r} is reserved for the intact image", field="maps")
    if config.size < 8:
        raise InputError(f"expected a stimulus size >= 8 pixels, got {config.size}", field="size")
    reveal_levels(config.n_levels)
    out_dir = Path(out_dir)
    files = find_images(images_dir)
    label_table = read_stimulus_labels(labels).set_index("image_id") if labels is not None else None
    archives = {name: open_maps(path) for name, path in maps.items()}  # .npz, HDF5 or a map folder
    try:
        image_ids = sorted(next(iter(archives.values())).image_ids)
        if not image_ids:
            raise InputError("map archive holds no maps", path=next(iter(archives.values())).path)
        image_ids = _with_clicks(archives, image_ids)
        rows = []
        for image_id in progress_bar(image_ids, enabled=progress, desc="stimuli", unit="image"):
            rows.extend(_image_rows(image_id, images_dir, files, archives, label_table, labels, out_dir, config))
    finally:
        for archive in archives.values():
            archive.close()
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    manifest["target"] = manifest["target"].astype("boolean")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out_dir / "manifest.csv", index=False)
    images = manifest.drop_duplicates("image_id")[["image_id", "category"]]
    latin_square(images, reveal_levels(config.n_levels)).to_csv(out_dir / "assignment.csv", index=False)
    return manifest


def _with_clicks(archives: Mapping, image_ids: list[str]) -> list[str]:
    """The images whose map is not all zero in any archive holding it; the others are skipped
    and listed (:func:`clickme_analysis.shapes.skip_empty`)."""
    for archive in archives.values():
        kept = set(skip_empty(archive, [i for i in image_ids if i in archive], f"stimuli build ({archive.path.name})"))
        image_ids = [i for i in image_ids if i not in archive or i in kept]
    if not image_ids:
        raise InputError("expected at least one map with clicks, got only all-zero maps", field="maps")
    return image_ids


def _image_rows(image_id, images_dir, files, archives, label_table, labels_path, out_dir, config) -> list[dict]:
    """Write one image's stimuli and contact sheets; return its manifest rows."""

    first = next(iter(archives.values()))
    # image files are keyed by stem: a map id written with its suffix ("chelsea.png") is the image "chelsea"
    key = image_id if image_id in files else id_of(image_id)
    if key not in files:
        raise InputError(
            f"missing image for the map {image_id!r} of {first.path.name} (no .png, .jpg "
            f"or .jpeg file with the stem {key!r})",
            path=Path(images_dir) / f"{key}.png",
        )

    with Image.open(files[key]) as handle:
        native_shape = (handle.height, handle.width)
    image = load_image(files[key], config.size)
    maps = {
        name: _archive_map(archive, image_id if image_id in archive else key, native_shape, config.size)
        for name, archive in archives.items()
    }
    if label_table is not None:
        if image_id not in label_table.index:
            raise InputError(f"no row for image {image_id!r}", path=labels_path, field="image_id")
        category, label = label_table.at[image_id, "category"], label_table.at[image_id, "label"]
        target = category == "animal"
    else:
        category, label, target = "", first.label(image_id), pd.NA
    seed = image_seed(config.seed, image_id)
    stimuli = reveal_stimuli(image, maps, config, seed)
    rows = []
    for stim in stimuli:
        name = stim["map_source"]
        rel = (
            Path("images") / INTACT / f"{image_id}.png"
            if name == INTACT
            else Path("images") / name / f"{image_id}_{stim['level_index']:02d}.png"
        )
        save_png(out_dir / rel, stim["stimulus"])
        rows.append(
            {
                "image_id": image_id,
                "category": category,
                "target": target,
                "map_source": name,
                "level": stim["level"],
                "pixels_revealed": stim["pixels_revealed"],
                "seed": seed,
                "path": rel.as_posix(),
                "level_index": stim["level_index"],
                "label": label,
                "budget": stim["budget"],
            }
        )
    intact = stimuli[-1]["stimulus"]
    for name in archives:
        own = [s for s in stimuli if s["map_source"] == name]
        captions = [f"{s['level']:.3g}%" for s in own] + [INTACT]
        save_png(
            out_dir / "contact_sheets" / f"{image_id}_{name}.png",
            stimulus_contact_sheet([s["stimulus"] for s in own] + [intact], captions),
        )
    return rows
