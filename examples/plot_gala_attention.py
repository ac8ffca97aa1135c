"""
GALA attention and SmoothGrad
=============================

Two tiny GALA-ResNets learn the framed-glyph task of :mod:`models.synthetic` (each image shows
every glyph; the framed one is the label, and the frame is its "human" map), one with the
ClickMe loss (lambda 6), one without (lambda 0). With map supervision the GALA attention falls
on the framed part, as the paper's Fig. 4 shows for ImageNet; the last row is the difference of
their SmoothGrad maps. A few epochs on a CPU: the point is the mechanism, not the accuracy.
"""

import tempfile

import torch

from models.checkpoint import model_from_checkpoint
from models.config import TrainConfig
from models.data import datasets_from_config
from models.explain import attention_maps, display_images, smoothgrad
from models.train import train
from reports.panels import attention_panels

torch.set_num_threads(1)  # tiny networks: more threads only contend
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
models = {}
for name, lam in (("GALA", 0.0), ("GALA w/ ClickMe", 6.0)):
    config = recipe.replace(lam=lam, out=f"{work}/lambda{lam:g}")
    train(config, datasets)
    models[name], _ = model_from_checkpoint(f"{config.out}/best.pt")

# %%
# Attention of the last GALA block, and SmoothGrad, on four validation images.
items = [datasets[1][i] for i in range(4)]
images = torch.stack([item["image"] for item in items])
ids = [f"image {i}" for i in range(4)]
shown = dict(zip(ids, display_images(images)))
attention = {"human map": dict(zip(ids, torch.stack([item["map"] for item in items]).numpy()))}
gradients = {}
for name, model in models.items():
    attention[name] = dict(zip(ids, attention_maps(model, images).numpy()))
    target = torch.tensor([int(item["label"]) for item in items])
    gradients[name] = dict(zip(ids, smoothgrad(model, images, target, seed=0).numpy()))
fig = attention_panels(shown, attention, gradients)
