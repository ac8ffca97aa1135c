"""File-level steps shared by the ``clickme`` subcommands and the demo: read, compute, write."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from clickme_analysis.archive import save_maps
from clickme_analysis.errors import InputError
from clickme_analysis.io import ClickLog, read_clicks, read_table
from clickme_analysis.maps import bounding_box_map, build_maps, filter_clicks, game_statistics
from clickme_analysis.reliability import (PAPER_CEILING, inter_rater_reliability, split_half_reliability,
                                          summarize_reliability)


@dataclass
class MapOptions:
    """How clicks become maps (defaults: the paper's game and blur)."""

    size: int = 256  # image grid is size x size
    bubble_size: int = 14  # square bubbles of 14x14 px, as in the game
    bubble: str = "square"  # or "disc"
    blur: str = "box"  # 49x49 box blur (paper); "gaussian" (authors' code: sigma 28) or "disc"
    blur_size: int = 49
    sigma: float | None = None
    normalize: str | None = None  # None, "sum", "max" or "z"
    min_clicks: int = 0  # drop participant maps with this many clicks or fewer (ClickMe 2.0 code: 10)
    max_clicks: int | None = None  # keep each map's first clicks only (ClickMe 2.0 code: 75)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.size, self.size)


def read_logs(paths, fmt: str | None = None, on_error: str = "raise") -> ClickLog:
    """Read and concatenate several click logs."""
    logs = [read_clicks(p, fmt=fmt, on_error=on_error) for p in paths]
    if not logs:
        raise InputError("expected at least one click log", field="logs")
    return ClickLog(clicks=pd.concat([log.clicks for log in logs], ignore_index=True),
                    skipped=pd.concat([log.skipped for log in logs], ignore_index=True))


def read_labels(path) -> dict[str, str]:
    """``labels.csv`` (``image_id, label[, category]``) -> image id -> label."""
    table = read_table(path, ["image_id", "label"], "labels file", dtype=str, keep_default_na=False)
    return dict(zip(table["image_id"], table["label"]))


def make_map_archive(clicks: pd.DataFrame, out, options: MapOptions, labels=None, bbox_out=None,
                     progress: bool = False) -> pd.DataFrame:
    """Build per-image maps from clicks and write them (and optionally bounding-box maps).

    Returns
    -------
    DataFrame
        Per-image game statistics (:func:`clickme_analysis.maps.game_statistics`).
    """
    clicks, excluded = filter_clicks(clicks, options.min_clicks, options.max_clicks)
    maps, stats = build_maps(clicks, options.shape, options.bubble_size, options.bubble, options.blur,
                             options.blur_size, options.sigma, options.normalize, progress)
    per_image = game_statistics(stats, excluded)
    counts = dict(zip(per_image["image_id"], per_image["n_participants"]))
    save_maps(out, maps, labels=labels, participant_counts=counts)
    if bbox_out is not None:
        save_maps(bbox_out, ((i, bounding_box_map(m)) for i, m in maps.items()), labels=labels,
                  participant_counts=counts)
    return per_image


def write_reliability(clicks: pd.DataFrame, out_dir, options: MapOptions, n_images: int | None = 10_000,
                      split_half_iterations: int = 0, n_boot: int = 1000, ceiling: float = PAPER_CEILING,
                      seed: int = 0, n_jobs: int = 1, progress: bool = False) -> dict:
    """Inter-rater (and optionally split-half) reliability -> CSV files and a JSON summary.

    Writes ``reliability_per_image.csv``, ``reliability_summary.json`` and, when
    ``split_half_iterations`` > 0, ``reliability_split_half.csv`` in ``out_dir``.

    Returns
    -------
    dict
        The summary written to JSON.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clicks, _ = filter_clicks(clicks, options.min_clicks, options.max_clicks)
    map_kwargs = dict(shape=options.shape, bubble_size=options.bubble_size, bubble=options.bubble,
                      blur=options.blur, blur_size=options.blur_size, sigma=options.sigma)
    per_image = inter_rater_reliability(clicks, n_images=n_images, seed=seed, n_jobs=n_jobs, progress=progress,
                                        **map_kwargs)
    per_image.to_csv(out_dir / "reliability_per_image.csv", index=False)
    summary_table = summarize_reliability(per_image, n_boot=n_boot, seed=seed)
    summary = {row.distribution: {"mean": row.mean, "ci_low": row.ci_low, "ci_high": row.ci_high, "n": row.n}
               for row in summary_table.itertuples()}
    summary.update(method="inter-rater: two random participants per image, Spearman over pixels",
                   null_method="one participant each of two different images", ceiling=ceiling,
                   fraction_of_ceiling=summary["human"]["mean"] / ceiling, n_boot=n_boot, seed=seed,
                   maps=asdict(options))
    if split_half_iterations > 0:
        halves = split_half_reliability(clicks, n_iterations=split_half_iterations, seed=seed, n_jobs=n_jobs,
                                        progress=progress, **map_kwargs)
        halves.to_csv(out_dir / "reliability_split_half.csv", index=False)
        summary["split_half"] = {"iterations": split_half_iterations, "mean": float(halves["rho"].mean()),
                                 "mean_spearman_brown": float(halves["rho_spearman_brown"].mean())}
    (out_dir / "reliability_summary.json").write_text(json.dumps(summary, indent=2))
    return summary
