"""The demo's ClickMe stage: embedded images, simulated players, maps, reliability and metrics."""

from __future__ import annotations

from pathlib import Path

from skimage.io import imsave

from clickme_analysis.archive import MapArchive, save_maps
from clickme_analysis.clicklog import read_clicks
from clickme_analysis.metrics import score_maps
from clickme_analysis.pipeline import MapOptions, make_map_archive, write_reliability
from clickme_analysis.synthetic import demo_images, saliency_standin, simulate_clicks


def run_demo(root: Path, seed: int = 0, progress: bool = True) -> None:
    """Write ``root/clickme`` (see docs/outputs.md) from the embedded demo data set."""
    out = Path(root) / "clickme"
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, labels, parts = demo_images(per_category=6)
    for image_id, image in images.items():
        imsave(out / "images" / f"{image_id}.png", image, check_contrast=False)
    labels.to_csv(out / "labels.csv", index=False)
    simulate_clicks(parts, seed=seed).to_csv(out / "clicks.csv", index=False)

    clicks = read_clicks(out / "clicks.csv").clicks  # through the real loader
    options = MapOptions()
    label_of = dict(zip(labels["image_id"], labels["label"]))
    per_image = make_map_archive(clicks, out / "maps.npz", options, labels=label_of, progress=progress)
    per_image.to_csv(out / "participants_per_image.csv", index=False)
    saliency = {i: saliency_standin(images[i]) for i in sorted(images)}
    save_maps(out / "saliency_maps.npz", saliency, labels=label_of)
    write_reliability(
        clicks, out, options, n_images=None, split_half_iterations=20, n_boot=1000, seed=seed, progress=progress
    )
    _write_metrics(out, saliency, seed, progress)
    # the report reads this marker to label these data as simulated (docs/reports.md)
    (out / "demo_log.txt").write_text(
        f"{clicks['participant_id'].nunique()} simulated ClickMe players "
        "(clickme_analysis.synthetic.simulate_clicks), not people; metrics.csv scores the "
        "saliency stand-in (saliency_maps.npz) against maps.npz\n",
        encoding="utf-8",
    )


def _write_metrics(out: Path, saliency: dict, seed: int, progress: bool) -> None:
    with MapArchive(out / "maps.npz") as human:
        score_maps(saliency, human, seed=seed, progress=progress).to_csv(out / "metrics.csv", index=False)
