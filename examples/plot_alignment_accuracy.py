"""
Alignment with humans against accuracy
======================================

How much of the human maps' variability a model's attention explains (its rank correlation with
the human maps over the ceiling; bootstrap 95% intervals over images) against its top-1
accuracy, for tiny GALA-ResNets trained with the ClickMe loss at three weights lambda (the
paper's Table 3 reports both columns for each model). On the synthetic task the "human" maps
are exact, so the ceiling is 1; the dotted line is the permutation null.
"""

import tempfile

import pandas as pd
import torch

from models.alignment_scoring import summarize_alignment
from models.checkpoint import model_from_checkpoint
from models.config import TrainConfig
from models.data import datasets_from_config
from models.score import score_model
from models.train import train
from reports.parts.alignment import alignment_vs_accuracy

torch.set_num_threads(1)
work = tempfile.mkdtemp()
recipe = TrainConfig(
    arch="tiny_gala_resnet",
    num_classes=4,
    tiny_width=6,
    train="synthetic",
    val="synthetic",
    synthetic_train=320,
    synthetic_val=100,
    image_size=20,
    resize=20,
    blur_size=3,
    batch_size=32,
    workers=0,
    epochs=5,
    lr=0.4,
    milestones=[4],
    seed=0,
    progress=False,
    log_every=1000,
)
datasets = datasets_from_config(recipe)
rows = []
for lam in (0.0, 1.0, 6.0):
    config = recipe.replace(lam=lam, out=f"{work}/lambda{lam:g}")
    train(config, datasets)
    model, _ = model_from_checkpoint(f"{config.out}/best.pt")
    per_image, summary = score_model(model, datasets[1], f"lambda {lam:g}", ceiling=1.0, n_permutations=200)
    reference = {"ceiling": 1.0, "null": float(summary["null"].iloc[0]), "source": "synthetic task"}
    rows.append(
        summarize_alignment(per_image.assign(model=f"GALA, lambda {lam:g}", method="attention"), reference, n_boot=500)
    )
table = pd.concat(rows, ignore_index=True)
print(
    table[["model", "top1_accuracy", "fraction_of_human", "fraction_of_human_ci_low", "fraction_of_human_ci_high"]]
    .round(3)
    .to_string(index=False)
)

# %%
fig = alignment_vs_accuracy(table)
