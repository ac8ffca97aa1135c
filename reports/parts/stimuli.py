"""Report section "Stimuli": a contact sheet per example image, and each image's reveal budget."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from reports import panels
from reports.inputs import read_image, read_output
from reports.parts import Item


def contact_sheets(root: Path) -> list[Item]:
    folder = root / "stimuli"
    everything = read_output(
        folder / "manifest.csv",
        ["image_id", "map_source", "level", "path"],
        numeric=["level", "budget", "pixels_revealed"],
    )
    empty = np.flatnonzero(everything["path"].isna().to_numpy() | everything["level"].isna().to_numpy())
    if len(empty):
        raise InputError(
            "expected a stimulus path and level in every row",
            path=folder / "manifest.csv",
            line=int(empty[0]) + 2,
            field="path",
        )
    shares = budget_shares(everything)
    manifest = everything[everything["map_source"].astype(str) != "intact"]
    if manifest.empty:
        raise InputError("no stimuli other than intact images", path=folder / "manifest.csv")
    first = manifest.drop_duplicates("image_id")
    # one target (animal) and one non-target image when the manifest says which is which
    by = first["target"].astype(str) if "target" in first else pd.Series(0, index=first.index)
    ids = first.groupby(by, sort=False)["image_id"].first().astype(str).tolist()
    items = []
    for image_id in ids[:2]:
        rows = manifest[manifest["image_id"].astype(str) == str(image_id)]
        sheet: dict = {}
        for row in rows.itertuples(index=False):
            path = Path(row.path) if Path(row.path).is_absolute() else folder / row.path
            sheet.setdefault(str(row.map_source), {})[float(row.level)] = read_image(path)
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", str(image_id))  # a file name, an HTML id
        budget = f"; this image's budget is {shares[image_id]:.0f}% of its pixels" if image_id in shares.index else ""
        items.append(
            Item(
                f"contact_sheet_{safe_id}",
                f"Stimuli: {image_id}",
                f"Stimulus contact sheet for image {image_id}: one row per map "
                "source, columns the reveal level, the percentage of the reveal budget "
                f"shown (each source's highest-ranked pixels first){budget}.",
                panels.contact_sheet(sheet, str(image_id)),
            )
        )
    return items


def budget_shares(manifest: pd.DataFrame) -> pd.Series:
    """Image id -> reveal budget as a percentage of the image's pixels (empty when unknown).

    From ``stimuli/manifest.csv``: ``budget`` (pixels) and the intact row's ``pixels_revealed``.
    """
    if not {"budget", "pixels_revealed"} <= set(manifest.columns):
        return pd.Series(dtype=float)
    frame = manifest.assign(
        image_id=manifest["image_id"].astype(str),
        budget=pd.to_numeric(manifest["budget"], errors="coerce"),
        pixels=pd.to_numeric(manifest["pixels_revealed"], errors="coerce"),
    )
    full = frame[frame["map_source"].astype(str) == "intact"].groupby("image_id")["pixels"].first()
    budget = frame.groupby("image_id")["budget"].first()
    return (100 * budget / full[full > 0]).dropna()
