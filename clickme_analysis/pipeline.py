"""File-level steps shared by the ``clickme`` subcommands and the demo: read, compute, write.

``clickme maps`` streams: the logs are read block by block into a
:class:`~clickme_analysis.clickstore.ClickStore` (clicks grouped by image in bucket files), then
each bucket's maps are painted in parallel, compressed in a thread pool and written to the
archive as they are made, so memory is set by the bucket size, not by the number of images.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from clickme_analysis.archive import MapWriter
from clickme_analysis.blur import BlurSpec, scaled_blur_size
from clickme_analysis.ceiling import split_half_ceiling, summarize_ceiling
from clickme_analysis.clicklog import ClickLog, ClickReader, read_clicks
from clickme_analysis.clickstore import ClickStore
from clickme_analysis.config import load_config
from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_write_text, read_toml
from clickme_analysis.maps import bounding_box_map, exact_maps, map_batches
from clickme_analysis.presets import preset_values
from clickme_analysis.progress import progress as bar
from clickme_analysis.reliability import (
    PAPER_CEILING,
    inter_rater_reliability,
    split_half_reliability,
    summarize_reliability,
)
from clickme_analysis.selection import select_maps
from clickme_analysis.shapes import is_empty_map


@dataclass(frozen=True)
class MapOptions:
    """How clicks become maps (defaults: the paper's game and blur). A TOML file of these keys
    (at top level or under ``[maps]``) is read by :func:`load_map_options`."""

    size: int = field(default=256, metadata={"min": 1, "max": 8192})  # image grid is size x size
    bubble_size: int = field(default=14, metadata={"min": 1})  # square bubbles of 14x14 px, as in the game
    bubble: Literal["square", "disc"] = "square"
    blur: Literal["box", "gaussian", "disc"] | None = "box"  # 49x49 box (paper); gaussian: authors' code, sigma 28
    blur_size: int = field(default=49, metadata={"min": 1})
    sigma: float | None = field(default=None, metadata={"gt": 0})
    normalize: Literal["sum", "max", "z"] | None = None
    min_clicks: int = field(default=0, metadata={"min": 0})  # drop maps with this many clicks or fewer (2.0: 10)
    max_clicks: int | None = field(default=None, metadata={"min": 1})  # keep each map's first clicks (2.0: 75)
    # --- the ClickMe 2.0 authors' rules, each an option (clickme_analysis.presets; docs/metrics.md) ---
    preset: Literal["clickme2"] | None = None  # a named bundle of the values below; explicit settings win
    count_outside: bool = True  # False: a map also needs min_clicks of its clicks inside the image
    min_subjects: int = field(default=1, metadata={"min": 1})  # an image needs this many kept maps (2.0: 5)
    repeat_submissions: Literal["merge", "first", "error"] = "merge"  # clickme_analysis.submissions
    exclude_mobile: bool = False  # ClickMe 2.0 NPZ: leave out mobile trials (2.0: True)
    mobile_rule: Literal["any", "first"] = "any"  # which is_mobile values mark a mobile trial (2.0: first)
    blur_passes: int = field(default=1, metadata={"min": 1})  # the kernel applied this many times (2.0: 2)
    blur_border: Literal["reflect", "constant", "nearest", "mirror", "wrap"] = "reflect"  # 2.0: constant (zeros)
    disc_radius: Literal["size/2", "(size-1)/2"] = "size/2"  # disc kernel radius (2.0: (size-1)/2)
    blur_reference_size: int | None = field(default=None, metadata={"min": 1})  # scale the kernel to the map
    blur_max_size: int | None = field(default=None, metadata={"min": 1})  # cap of the scaled kernel (2.0: 51)
    split_half_replacement: bool = False  # halves topped up by n // 2 draws with replacement (2.0: True)
    split_half_resize: int | None = field(default=None, metadata={"min": 1})  # halves resized (2.0: 256)
    split_half_crop: int | None = field(default=None, metadata={"min": 1})  # then centre-cropped (2.0: 224)
    split_half_correction: bool = True  # Spearman-Brown on the split-half ceiling (2.0: False)

    def __post_init__(self):
        if self.max_clicks is not None and self.max_clicks <= self.min_clicks:
            raise InputError(
                f"expected max_clicks > min_clicks (a map keeps at most max_clicks clicks and needs "
                f"more than min_clicks), got {self.max_clicks} and {self.min_clicks}",
                field="max_clicks",
            )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.size, self.size)

    @property
    def kernel_size(self) -> int:
        """The blur kernel's side on the square grid: ``blur_size``, or scaled by ``blur_reference_size``."""
        if self.blur_reference_size is None:
            return self.blur_size
        return scaled_blur_size(self.blur_size, self.size, self.blur_reference_size, self.blur_max_size)

    @property
    def authors_split_half(self) -> bool:
        """Whether split halves follow :mod:`clickme_analysis.ceiling` (any of its options set)."""
        return (
            self.split_half_replacement
            or self.split_half_resize is not None
            or self.split_half_crop is not None
            or not self.split_half_correction
        )

    def blur_spec(self):
        """The blur: a kernel name as before, or a :class:`~clickme_analysis.blur.BlurSpec` when
        passes, border, disc radius or kernel scaling differ from the defaults (a scaled kernel
        follows each map's own short side: :meth:`~clickme_analysis.blur.BlurSpec.for_shape`)."""
        plain = (self.blur_passes, self.blur_border, self.disc_radius) == (1, "reflect", "size/2")
        if self.blur is None or (plain and self.blur_reference_size is None):
            return self.blur
        return BlurSpec(
            self.blur,
            self.blur_size,
            self.sigma,
            self.blur_passes,
            self.blur_border,
            self.disc_radius,
            reference_size=self.blur_reference_size,
            max_size=self.blur_max_size,
        )

    def paint_kwargs(self) -> dict:
        """Keyword arguments of the painting and blurring functions."""
        return dict(
            shape=self.shape,
            bubble_size=self.bubble_size,
            bubble=self.bubble,
            blur=self.blur_spec(),
            blur_size=self.kernel_size,
            sigma=self.sigma,
        )

    def reader_kwargs(self) -> dict:
        """Keyword arguments of :class:`~clickme_analysis.clicklog.ClickReader` these options set."""
        return dict(
            exclude_mobile=self.exclude_mobile, mobile_rule=self.mobile_rule, repeat_submissions=self.repeat_submissions
        )

    def select(self, store, sizes=None):
        """The kept and dropped maps of ``store`` (:func:`clickme_analysis.selection.select_maps`);
        ``sizes``: each image code's own ``(H, W)`` (default: the square grid)."""
        return select_maps(
            store,
            min_clicks=self.min_clicks,
            max_clicks=self.max_clicks,
            count_outside=self.count_outside,
            shape=self.shape if sizes is None else sizes,
            min_subjects=self.min_subjects,
        )


def load_map_options(source=None, overrides: dict | None = None) -> MapOptions:
    """:class:`MapOptions` from a TOML file or dict (``[maps]`` section or top level), checked.

    A ``preset`` (in the file or the overrides) sets every option of
    :data:`clickme_analysis.presets.PRESETS` that neither the file nor the overrides set.

    Examples
    --------
    >>> load_map_options({"maps": {"blur_size": 25}}).blur_size
    25
    >>> options = load_map_options({"preset": "clickme2", "min_subjects": 3}, overrides={"max_clicks": 50})
    >>> options.min_subjects, options.max_clicks, options.min_clicks, options.blur_passes
    (3, 50, 10, 2)
    """
    overrides = dict(overrides or {})
    from_file = load_config(MapOptions, source, sections=("maps",))
    given = _keys_set(source)
    preset = overrides.get("preset", from_file.preset)
    values = {k: v for k, v in preset_values(preset).items() if k not in given or k == "preset"}
    return load_config(MapOptions, source, sections=("maps",), overrides={**values, **overrides})


def _keys_set(source) -> set:
    """The MapOptions keys a TOML file or dict sets (sections flattened)."""
    if source is None:
        return set()
    values = source if isinstance(source, dict) else read_toml(Path(source), "configuration file")
    keys = set()
    for key, value in values.items():
        keys |= set(value) if key == "maps" and isinstance(value, dict) else {key}
    return keys


def read_logs(paths, fmt: str | None = None, on_error: str = "raise", **reader_kwargs) -> ClickLog:
    """Read and concatenate several click logs into one table (small logs; see :func:`open_logs`)."""
    return read_clicks(list(paths), fmt=fmt, on_error=on_error, **reader_kwargs)


def open_logs(
    paths,
    *,
    fmt: str | None = None,
    on_error: str = "raise",
    progress: bool = False,
    spill: bool = True,
    **reader_kwargs,
):
    """Read click logs into a :class:`~clickme_analysis.clickstore.ClickStore` (bounded memory).

    ``spill=False``: keep no click, read the logs again for the images asked of the store
    (:meth:`~clickme_analysis.clickstore.ClickStore.from_reader`; faster for a sample).

    Returns
    -------
    store : ClickStore
        Close it (or use it as a context manager) to remove its bucket files.
    reader : ClickReader
        Its ``skipped()`` lists the rows left out; ``n_rows`` counts the rows read.
    """
    reader = ClickReader(list(paths), fmt, on_error, **reader_kwargs)
    return ClickStore.from_reader(reader, progress=progress, spill=spill), reader


@dataclass
class MapsResult:
    """What :func:`write_maps` wrote."""

    per_image: pd.DataFrame  # image_id, n_participants, n_clicks, median_clicks, n_outside, n_excluded, n_repeats
    path: Path
    n_maps: int
    bytes_per_map: float  # archive size on disk / maps
    encoding: str
    empty: list = field(default_factory=list)  # image ids whose map is all zero (no click inside)


def _per_image_table(store, kept, dropped) -> pd.DataFrame:
    frame = pd.DataFrame({"image": kept.image, "participant": kept.participant, "n_clicks": kept.n_clicks})
    table = frame.groupby("image", sort=False).agg(
        n_participants=("participant", "size"), n_clicks=("n_clicks", "sum"), median_clicks=("n_clicks", "median")
    )
    excluded = np.bincount(dropped.image, minlength=len(store.image_ids))
    table["n_excluded"] = excluded[table.index.to_numpy()].astype(int)
    table["code"] = table.index.to_numpy()
    table.index = np.asarray(store.image_ids, dtype=object)[table.index.to_numpy()]
    return table.rename_axis("image_id")


def _selected(store, options: MapOptions, sizes=None):
    """The kept and dropped maps; none kept is an error saying which rule dropped them."""
    kept, dropped = options.select(store, sizes)
    if not len(kept.image):
        rules = (
            ""
            if options.min_subjects == 1 and options.count_outside
            else f", or fail --min-subjects {options.min_subjects} / --no-count-outside"
        )
        detail = (
            "the logs hold no clicks"
            if not store.n_clicks
            else f"all {len(dropped.image)} participant maps have {options.min_clicks} clicks or fewer "
            f"(--min-clicks){rules}"
        )
        raise InputError(f"expected at least one map to write, got none: {detail}", field="logs")
    return kept, dropped


def _archive_order(store, per_image: pd.DataFrame):
    """Archive order (image ids sorted): the table, its image codes, the slot of each code (-1:
    no map) and each code's participant count."""
    codes = per_image.pop("code").to_numpy()
    order = np.argsort(per_image.index.to_numpy(dtype=object), kind="stable")
    per_image, codes = per_image.iloc[order], codes[order]
    code_position = np.full(len(store.image_ids), -1, dtype=np.int64)
    code_position[codes] = np.arange(len(codes))
    participants = np.zeros(len(store.image_ids), dtype=np.int64)
    participants[codes] = per_image["n_participants"].to_numpy()
    return per_image, codes, code_position, participants


def _outside(pair_stats: list, code_position: np.ndarray, n_maps: int) -> np.ndarray:
    """Clicks outside the map per archive slot, from :func:`map_batches`' ``pair_stats``."""
    outside = np.zeros(n_maps, dtype=np.int64)
    if pair_stats:
        image, _, _, n_out = (np.concatenate(parts) for parts in zip(*pair_stats))
        np.add.at(outside, code_position[image], n_out)
    return outside


def _finished_table(store, per_image: pd.DataFrame, codes, outside) -> pd.DataFrame:
    repeats = np.asarray(getattr(store, "repeats_per_image", np.zeros(0, np.int64)))
    repeats = np.concatenate([repeats, np.zeros(max(0, len(store.image_ids) - len(repeats)), np.int64)])
    return per_image.assign(n_outside=outside, n_repeats=repeats[codes])[
        ["n_participants", "n_clicks", "median_clicks", "n_outside", "n_excluded", "n_repeats"]
    ].reset_index()


def _code_sizes(store, sizes: dict | None, out) -> np.ndarray | None:
    """``(height, width)`` per image code from image id -> size (None: the square grid); every
    image of the logs needs a size, and an HDF5 map store holds one size only."""
    if sizes is None:
        return None
    missing = [i for i in store.image_ids if i not in sizes]
    if missing:
        raise InputError(
            f"expected an image for every image of the logs, {len(missing)} missing (first: {missing[:5]})",
            field="--images",
        )
    table = np.array([sizes[i] for i in store.image_ids], dtype=np.int64).reshape(-1, 2)
    if Path(out).suffix.lower() != ".npz" and len(np.unique(table, axis=0)) > 1:
        raise InputError(
            "an HDF5 map store holds maps of one size, and the images have "
            f"{len(np.unique(table, axis=0))} sizes: write an .npz archive (--out maps.npz)",
            path=out,
            field="--images",
        )
    return table


def write_maps(
    store,
    out,
    options: MapOptions,
    *,
    labels: dict | None = None,
    bbox_out=None,
    progress: bool = False,
    workers: int | None = None,
    sizes: dict | None = None,
) -> MapsResult:
    """Paint every image's map from a click store and write it as it is made.

    Parameters
    ----------
    store : ClickStore
    out : path
        ``.h5`` / ``.hdf5`` (HDF5 map store, lossless, about 20 KB a 256x256 map) or ``.npz``.
    options : MapOptions
    labels : dict, optional
        Image id -> label, stored with the maps.
    bbox_out : path, optional
        Also write the bounding-box control maps there.
    progress : bool
    workers : int, optional
        Threads compressing maps (default: the machine's cores).
    sizes : dict, optional
        Image id -> ``(height, width)``: each map takes its image's size (default: the square grid).

    Returns
    -------
    MapsResult

    Raises
    ------
    InputError
        When no map is left to write (no clicks, or every map filtered out).
    """
    code_sizes = _code_sizes(store, sizes, out)
    kept, dropped = _selected(store, options, code_sizes)
    per_image, codes, code_position, participants = _archive_order(store, _per_image_table(store, kept, dropped))
    exact = exact_maps(options.blur_spec(), options.normalize)
    encoding = "delta-ratio" if exact else "float32"
    writers = [MapWriter(out, n_maps=len(per_image), encoding=encoding)]
    if bbox_out is not None:
        writers.append(MapWriter(bbox_out, n_maps=len(per_image), encoding="delta-ratio"))
    pair_stats, empty = [], []
    try:
        with (
            ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool,
            bar(total=len(per_image), enabled=progress, desc="maps", unit="map") as shown,
        ):
            for batch in map_batches(
                store,
                kept,
                max_clicks=options.max_clicks,
                normalize=options.normalize,
                pair_stats=pair_stats,
                sizes=code_sizes,
                **options.paint_kwargs(),
            ):
                ids = [store.image_ids[c] for c in batch.codes]
                metas = [
                    dict(
                        label=labels.get(image_id, "") if labels else "",
                        participant_count=int(participants[code]),
                        position=int(code_position[code]),
                    )
                    for image_id, code in zip(ids, batch.codes)
                ]
                empty += _write_batch(batch, ids, metas, writers, pool=pool, exact=exact)
                shown.update(len(ids))
        paths = [writer.close() for writer in writers]
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    per_image = _finished_table(store, per_image, codes, _outside(pair_stats, code_position, len(per_image)))
    size = paths[0].stat().st_size
    return MapsResult(per_image, paths[0], len(per_image), size / len(per_image), encoding, sorted(empty))


def _write_batch(batch, ids: list, metas: list, writers: list, *, pool, exact: bool) -> list:
    """Write one :class:`~clickme_analysis.maps.MapBatch` (and its bounding-box maps to a second
    writer); the ids of its all-zero maps."""
    main = writers[0]
    # compressed in the pool (zlib releases the GIL), written in order
    if exact:
        encoded = list(pool.map(partial(main.encode, None), batch.numerators))
    else:
        encoded = list(pool.map(main.encode, batch.maps))
    sources = batch.numerators if exact else batch.maps
    for k, image_id in enumerate(ids):
        if exact:
            main.write(
                image_id,
                numerator=batch.numerators[k],
                denominator=batch.denominators[k],
                encoded=encoded[k],
                **metas[k],
            )
        else:
            main.write(image_id, batch.maps[k], encoded=encoded[k], **metas[k])
        if len(writers) > 1:
            box = bounding_box_map(sources[k]).astype(np.int32)
            writers[1].write(image_id, numerator=box, denominator=1.0, **metas[k])
    return [image_id for k, image_id in enumerate(ids) if is_empty_map(sources[k])]


def make_map_archive(
    clicks, out, options: MapOptions, *, labels=None, bbox_out=None, progress: bool = False
) -> pd.DataFrame:
    """Build per-image maps from clicks (a table or a click store) and write them.

    Returns
    -------
    DataFrame
        Per-image statistics: ``image_id, n_participants, n_clicks, median_clicks, n_outside,
        n_excluded``.
    """
    store = clicks if isinstance(clicks, ClickStore) else ClickStore.from_frame(clicks)
    return write_maps(store, out, options, labels=labels, bbox_out=bbox_out, progress=progress).per_image


def ceiling_source(ceiling: float) -> str:
    """Where a reliability ceiling comes from, for every output that divides by it.

    Examples
    --------
    >>> ceiling_source(0.58)
    "the paper's: PAPER_CEILING = 0.58, the ImageNet ClickMe inter-rater rho (Linsley et al., 2019), not this log's"
    >>> ceiling_source(0.5)
    'given: 0.5 (--ceiling)'
    """
    if ceiling == PAPER_CEILING:
        return (
            f"the paper's: PAPER_CEILING = {PAPER_CEILING}, the ImageNet ClickMe inter-rater rho "
            "(Linsley et al., 2019), not this log's"
        )
    return f"given: {ceiling:g} (--ceiling)"


def write_reliability(
    clicks,
    out_dir,
    options: MapOptions,
    *,
    n_images: int | None = 10_000,
    split_half_iterations: int = 0,
    n_boot: int = 1000,
    ceiling: float = PAPER_CEILING,
    seed: int = 0,
    n_jobs: int = 1,
    progress: bool = False,
) -> dict:
    """Inter-rater (and optionally split-half) reliability -> CSV files and a JSON summary.

    ``clicks`` is a tidy click table or a :class:`~clickme_analysis.clickstore.ClickStore`.
    Writes ``reliability_per_image.csv``, ``reliability_summary.json`` and, when
    ``split_half_iterations`` > 0, ``reliability_split_half.csv`` in ``out_dir``.

    Returns
    -------
    dict
        The summary written to JSON.
    """
    out_dir = _reliability_folder(out_dir, n_boot=n_boot, ceiling=ceiling, split_half_iterations=split_half_iterations)
    store = clicks if isinstance(clicks, ClickStore) else ClickStore.from_frame(clicks)
    clicks = store.restricted(options.select(store)[0])  # count_outside, min_subjects
    kwargs = dict(min_clicks=options.min_clicks, max_clicks=options.max_clicks, **options.paint_kwargs())
    per_image = inter_rater_reliability(
        clicks, n_images=n_images, seed=seed, n_jobs=n_jobs, progress=progress, **kwargs
    )
    per_image.to_csv(out_dir / "reliability_per_image.csv", index=False)
    summary_table = summarize_reliability(per_image, n_boot=n_boot, seed=seed)
    summary = {
        row.distribution: {"mean": row.mean, "ci_low": row.ci_low, "ci_high": row.ci_high, "n": row.n}
        for row in summary_table.itertuples()
    }
    summary.update(
        method="inter-rater: two random participants per image, Spearman over pixels",
        null_method="one participant each of two different images",
        ceiling=ceiling,
        ceiling_source=ceiling_source(ceiling),
        fraction_of_ceiling=summary["human"]["mean"] / ceiling,
        n_boot=n_boot,
        seed=seed,
        maps=asdict(options),
    )
    if split_half_iterations > 0:
        halves, summary["split_half"] = _split_half(
            clicks, options, split_half_iterations, seed=seed, n_jobs=n_jobs, progress=progress, **kwargs
        )
        halves.to_csv(out_dir / "reliability_split_half.csv", index=False)
    atomic_write_text(out_dir / "reliability_summary.json", json.dumps(summary, indent=2))
    return summary


def _reliability_folder(out_dir, *, n_boot: int, ceiling: float, split_half_iterations: int) -> Path:
    """Check :func:`write_reliability`'s numbers and make its output folder."""
    if n_boot < 1:
        raise InputError(f"expected n_boot >= 1, got {n_boot}", field="n_boot")
    if not ceiling > 0:
        raise InputError(f"expected a positive ceiling, got {ceiling}", field="ceiling")
    if split_half_iterations < 0:
        raise InputError(f"expected split-half iterations >= 0, got {split_half_iterations}", field="split_half")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("expected an output folder, got a file", path=out_dir, field="out")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _split_half(clicks, options: MapOptions, iterations: int, *, seed, n_jobs, progress, **kwargs):
    """Split-half reliability, the authors' way (:mod:`clickme_analysis.ceiling`) when the options
    ask for it: the per-iteration table and its summary."""
    if options.authors_split_half:
        halves = split_half_ceiling(
            clicks,
            n_iterations=iterations,
            seed=seed,
            n_jobs=n_jobs,
            progress=progress,
            replacement=options.split_half_replacement,
            resize=options.split_half_resize,
            crop=options.split_half_crop,
            **kwargs,
        )
        summary = {
            "iterations": iterations,
            "method": "clickme_analysis.ceiling",
            **summarize_ceiling(halves, correction=options.split_half_correction),
        }
        return halves, summary
    halves = split_half_reliability(
        clicks, n_iterations=iterations, seed=seed, n_jobs=n_jobs, progress=progress, **kwargs
    )
    summary = {
        "iterations": iterations,
        "mean": float(halves["rho"].mean()),
        "mean_spearman_brown": float(halves["rho_spearman_brown"].mean()),
    }
    return halves, summary
