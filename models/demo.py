"""Demo stage of ``models``: map supervision on the synthetic task, on CPU in about a minute.

Trains the tiny GALA network with and without ClickMe-style supervision (and a small lambda
sweep) on the framed-glyph task of :mod:`models.synthetic`, then runs the multi-seed proof of
:mod:`models.proof` over 3 seeds (GALA + ClickMe and a timm CNN + harmonizer, each with and
without maps), and writes ``ROOT/models/``: ``curves.csv``, ``scores.csv``, ``sweep.csv``,
``proof_runs.csv`` and ``proof.csv`` (the seed distribution and its paired differences with 95 %
intervals), ``explain/*.png`` and ``attention.npz``
(docs/outputs.md; members ``images`` (N, H, W, 3) in [0, 1], ``image_ids``, ``human_maps``,
``gala_clickme``, ``gala`` and ``smoothgrad/<run>``, as docs/reports.md reads them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clickme_analysis.fileio import atomic_write, atomic_write_text
from models.checkpoint import model_from_checkpoint
from models.data import datasets_from_config
from models.explain import attention_maps, display_images, explain, smoothgrad
from models.proof import paired_differences, proof_config, run_proof
from models.score import score_model
from models.train import train

#: Lambdas of the demo sweep (0 and 6 are also the "without" and "with" runs).
DEMO_LAMBDAS = (0.0, 1.0, 6.0)
#: Seeds of the demo's multi-seed proof (models.proof; the slow test runs 5).
DEMO_PROOF_SEEDS = 3
#: The synthetic task's maps are noiseless (a second "rater" draws the same map), so their
#: inter-rater ceiling is 1, not the 0.58 of ImageNet ClickMe maps.
SYNTHETIC_CEILING = 1.0


def run_demo(root: Path, seed: int = 0, progress: bool = True) -> None:
    """Train, score and explain the synthetic-task networks; write ``root/models``."""
    out = Path(root) / "models"
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: a second thread only contends on shared cores
    try:
        _run(out, seed, progress)
    finally:
        torch.set_num_threads(threads)


def _run(out: Path, seed: int, progress: bool) -> None:
    base = proof_config(out / "runs", seed=seed, progress=progress)
    datasets = datasets_from_config(base)
    curves, scores, sweep, models = [], [], [], {}
    for lam in DEMO_LAMBDAS:
        name = "gala_clickme" if lam == 6.0 else "gala" if lam == 0.0 else f"gala_lambda{lam:g}"
        config = base.replace(lam=lam, out=str(out / "runs" / name))
        train(config, datasets)
        epochs = pd.read_csv(Path(config.out) / "epochs.csv")
        curves.append(epochs.assign(run=name))
        model, _ = model_from_checkpoint(Path(config.out) / "best.pt")
        models[name] = model
        _, summary = score_model(
            model,
            datasets[1],
            name,
            batch_size=64,
            ceiling=SYNTHETIC_CEILING,
            n_permutations=200,
            seed=seed,
            progress=progress,
        )
        scores.append(summary)
        sweep.append(summary.assign(**{"lambda": lam}))
    columns = ["run", "epoch", "split", "loss", "accuracy", "map_alignment"]
    curves = pd.concat(curves, ignore_index=True)
    atomic_write_text(
        out / "curves.csv", curves[columns + [c for c in curves.columns if c not in columns]].to_csv(index=False)
    )
    atomic_write_text(out / "scores.csv", pd.concat(scores, ignore_index=True).to_csv(index=False))
    atomic_write_text(
        out / "sweep.csv",
        pd.concat(sweep, ignore_index=True)[
            ["lambda", "top1_accuracy", "fraction_of_human", "ceiling", "null", "rho_mean", "p_value"]
        ].to_csv(index=False),
    )
    items = [datasets[1][i] for i in range(4)]
    images = torch.stack([item["image"] for item in items])
    maps = torch.stack([item["map"] for item in items])
    explain(
        models["gala_clickme"],
        images,
        out / "explain",
        maps,
        models["gala"],
        names=("GALA w/ ClickMe", "GALA"),
        seed=seed,
    )
    with torch.no_grad():
        target = models["gala_clickme"](images).argmax(1)
    panels = {
        "images": display_images(images),
        "image_ids": np.array([datasets[1].samples[i].image_id for i in range(4)]),
        "human_maps": maps.numpy(),
        "gala_clickme": attention_maps(models["gala_clickme"], images).numpy(),
        "gala": attention_maps(models["gala"], images).numpy(),
        **{
            f"smoothgrad/{name}": smoothgrad(models[name], images, target, seed=seed).numpy()
            for name in ("gala_clickme", "gala")
        },
    }
    with atomic_write(out / "attention.npz") as fh:
        np.savez_compressed(fh, **panels)
    _proof(out, seed)
    # the report reads this marker to label these results as the synthetic task's (docs/reports.md)
    (out / "demo_log.txt").write_text(
        f"trained and scored on the synthetic framed-glyph task (models.synthetic: {base.synthetic_train} "
        f"training and {base.synthetic_val} test images with their exact maps), not ImageNet\n",
        encoding="utf-8",
    )


def _proof(out: Path, seed: int) -> None:
    """The multi-seed proof (:mod:`models.proof`): ``proof_runs.csv`` (one row per run) and
    ``proof.csv`` (per arm and metric: mean paired difference with its 95 % interval)."""
    runs = run_proof(out / "proof", seeds=range(seed, seed + DEMO_PROOF_SEEDS))
    atomic_write_text(out / "proof_runs.csv", runs.to_csv(index=False))
    atomic_write_text(out / "proof.csv", paired_differences(runs).to_csv(index=False))
