"""Report section "ClickMe maps": example maps, participants per map, reliability, saliency metrics."""

from __future__ import annotations

from pathlib import Path

from clickme_analysis.archive import MapArchive
from clickme_analysis.errors import InputError
from reports import figures, panels, tables
from reports.inputs import (
    Missing,
    demo_notes,
    example_ids,
    image_labels,
    need,
    read_archive,
    read_image,
    read_json,
    read_output,
)
from reports.parts import Item


def example_map_figure(root: Path, main: tuple[str, str], second: tuple[str, str]):
    """Example images with a row per map source: ``main`` (name, archive under root) is needed,
    ``second`` is drawn when its archive exists. Returns the figure and whether ``second`` was drawn."""
    with MapArchive(need(root / main[1])) as archive:
        ids = example_ids(root, archive.image_ids)
    if not ids:
        raise Missing(str(root / "clickme" / "images" / "<image_id>.png"))
    images = {i: read_image(root / "clickme" / "images" / f"{i}.png") for i in ids}
    maps = {
        name: read_archive(root / path, ids)
        for name, path in (main, second)
        if path == main[1] or (root / path).is_file()
    }
    return panels.example_maps(images, maps, titles=image_labels(root)), len(maps) > 1


def clickme_maps(root: Path) -> list[Item]:
    fig, both = example_map_figure(root, ("clickme", "clickme/maps.npz"), ("saliency", "clickme/saliency_maps.npz"))
    caption = (
        "Example ClickMe maps (middle row) over their images, opacity and colour from "
        "the blurred map divided by its maximum"
        + (f"; bottom row: the second map source, {_second_source(root)}." if both else ".")
    )
    return [Item("clickme_maps", "ClickMe maps", caption, fig)]


def participants(root: Path) -> list[Item]:
    frame = read_output(
        root / "clickme" / "participants_per_image.csv", ["image_id", "n_participants"], numeric=["n_participants"]
    )
    caption = f"Number of participants whose clicks make up each ClickMe map ({len(frame)} images; dashed line: mean)."
    return [Item("participants_per_map", "Participants per map", caption, figures.participants_histogram(frame))]


def reliability(root: Path) -> list[Item]:
    frame = read_output(root / "clickme" / "reliability_per_image.csv", ["rho", "distribution"], numeric=["rho"])
    return [
        Item(
            "reliability",
            "Inter-rater reliability",
            "Spearman correlation between the maps of two participants of the same image "
            "(human) and of two different images (null); dashed lines: the means.",
            figures.reliability_null(frame),
        )
    ]


def reliability_summary(root: Path) -> list[Item]:
    path = need(root / "clickme" / "reliability_summary.json")
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", path=path)
    table = tables.reliability_table(data)
    details = "; ".join(
        f"{key.replace('_', ' ')}: {data[key]}"
        for key in ("method", "null_method", "ceiling", "n_boot", "seed")
        if key in data
    )
    return [
        Item(
            "reliability_summary",
            "Reliability summary",
            "Mean Spearman rho between participants' maps with its confidence interval"
            + (f" ({details})." if details else "."),
            table,
        )
    ]


def _second_source(root: Path) -> str:
    """What ``clickme/saliency_maps.npz`` holds: the demo's stand-in, or the user's maps."""
    if demo_notes(root, "clickme") is not None:
        return (
            "the bottom-up saliency stand-in of the demo (blurred edge energy with a centre "
            "bias, clickme/saliency_maps.npz)"
        )
    return "the maps in clickme/saliency_maps.npz"


def metrics(root: Path) -> list[Item]:
    frame = read_output(root / "clickme" / "metrics.csv", ["image_id", "metric", "value"], numeric=["value"])
    predictions = (
        "The demo's bottom-up saliency stand-in (clickme/saliency_maps.npz)"
        if demo_notes(root, "clickme") is not None
        else "The predicted maps given to `clickme metrics --pred`"
    )
    return [
        Item(
            "saliency_metrics",
            "Saliency metrics",
            f"{predictions} scored against the ClickMe maps (clickme/metrics.csv): mean, "
            "S.E.M. and number of images per metric.",
            tables.metric_table(frame),
        )
    ]
