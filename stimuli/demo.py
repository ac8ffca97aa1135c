"""The demo's stimuli stage: a reveal stimulus set from the ClickMe stage's images and maps."""

from __future__ import annotations

from pathlib import Path

from clickme_analysis.errors import InputError
from stimuli.build import StimulusConfig, build_stimulus_set


def run_demo(root: Path, seed: int = 0, progress: bool = True) -> None:
    """Write ``root/stimuli`` (docs/outputs.md) from ``root/clickme``'s images, labels and two map archives.

    ClickMe maps (``maps.npz``, source ``clickme``) and the saliency stand-in
    (``saliency_maps.npz``, source ``saliency``) are revealed with equal budgets at the default
    11 log-spaced levels.
    """

    clickme = Path(root) / "clickme"
    needed = [clickme / "images", clickme / "labels.csv", clickme / "maps.npz", clickme / "saliency_maps.npz"]
    for path in needed:
        if not path.exists():
            raise InputError("missing input of the stimuli demo stage (run the clickme stage first)", path=path)
    build_stimulus_set(
        clickme / "images",
        {"clickme": needed[2], "saliency": needed[3]},
        Path(root) / "stimuli",
        labels=needed[1],
        config=StimulusConfig(seed=seed),
        progress=progress,
    )
