"""The GPU check of ``scripts/gpu_check.sh``: throughput, data wait and a short supervised run.

Prints, on one CUDA GPU (or, with ``--reduced``, in seconds on a CPU so that the test suite
keeps it working):

1. training images/s (forward, ClickMe loss, backward, SGD step; bf16 autocast, channels_last)
   of ResNet-50, SE-ResNet-50 and GALA-ResNet-50 (paper and authors' variants) on synthetic
   tensors, with and without ``torch.compile``, and the GALA / ResNet-50 step-time ratio; then
   harmonized training images/s (:func:`models.loss.harmonizer_loss`) of timm's ResNet-50 and
   ViT-B/16 (reduced mode: timm's test_resnet and test_vit);
2. the same fed by the shard pipeline (a generated JPEG + map shard set packed here, decoded
   by loader workers, augmented on the device) with the fraction of step time spent waiting
   for data;
3. a ClickMe-supervised run (300 steps) on shards of the synthetic framed-glyph task, whose
   loss must fall (exit status 1 otherwise).

Runs with whatever torch / torchvision the machine has, from the source tree (no install).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy import ndimage

from clickme_analysis.archive import save_maps
from models.augment import augment_batch
from models.config import TrainConfig
from models.layers import attention_layers, record_layers
from models.loss import clickme_loss, harmonizer_loss
from models.networks import build_network
from models.shards import ShardStream, pack
from models.synthetic import synthetic_task
from models.train import train

VARIANTS = (
    ("resnet50", "resnet50", "paper"),
    ("se_resnet50", "se_resnet50", "paper"),
    ("gala_resnet50", "gala_resnet50", "paper"),
    ("gala_resnet50_authors", "gala_resnet50", "authors"),
)
REDUCED = {"resnet50": "tiny_resnet", "se_resnet50": "tiny_se_resnet", "gala_resnet50": "tiny_gala_resnet"}


def prepare_device(device) -> str:
    """Turn on cuDNN autotuning on a GPU; return the device's name for a report line."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stepper:
    """One model's training step (bf16 autocast, channels_last, ClickMe loss with lambda 6)."""

    def __init__(self, arch: str, variant: str, device, compile: bool, num_classes: int = 1000):
        torch.manual_seed(0)
        self.model = build_network(arch, num_classes=num_classes, gala_variant=variant).to(device)
        self.model = self.model.to(memory_format=torch.channels_last).train()
        self.net = torch.compile(self.model) if compile else self.model
        self.layers = attention_layers(self.model)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4
        )
        self.device = device

    def __call__(self, batch: dict, seen: dict) -> float:
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            logits = self.net(batch["image"])
        parts = clickme_loss(
            logits, batch["label"], [seen[n] for n in self.layers], batch["map"], batch["has_map"], lam=6.0
        )
        self.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        self.optimizer.step()
        return parts["loss"]


#: Harmonized training (the neural harmonizer's double backward): timm model names, full / reduced.
HARMONIZED = (
    ("harmonized_resnet50", "resnet50", "test_resnet"),
    ("harmonized_vit_b16", "vit_base_patch16_224", "test_vit"),
)


class HarmonizedStepper:
    """One timm model's harmonized training step (bf16 autocast, channels_last, lambda 1)."""

    def __init__(self, name: str, device, size: int, num_classes: int = 1000):
        import timm

        torch.manual_seed(0)
        extra = {"img_size": size} if "vit" in name else {}
        self.model = timm.create_model(name, pretrained=False, num_classes=num_classes, **extra)
        self.model = self.model.to(device).to(memory_format=torch.channels_last).train()
        self.layers: list = []
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        self.device = device

    def __call__(self, batch: dict, seen: dict) -> float:
        parts = harmonizer_loss(
            self.model,
            batch["image"],
            batch["label"],
            batch["map"],
            batch["has_map"],
            amp_context=torch.autocast(self.device.type, dtype=torch.bfloat16),
        )
        self.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        self.optimizer.step()
        return parts["loss"]


def harmonized_throughput(
    figures: dict, device, *, batch: int, crop: int, classes: int, warmup: int, steps: int, reduced: bool
) -> None:
    """Images/s of harmonized training of ResNet-50 and ViT-B/16 (timm) on synthetic tensors."""
    data = synthetic_batch(batch, crop, device, classes)
    for label, name, small in HARMONIZED:
        stepper = HarmonizedStepper(small if reduced else name, device, crop, classes)
        result = time_steps(stepper, repeat(data), warmup, steps)
        figures[label] = {"images_per_s": batch / result["step_s"], "step_s": result["step_s"]}
        target = " (target >= 1000 on an H100/H200)" if label == "harmonized_resnet50" else ""
        print(
            f"   {label:32s} {batch / result['step_s']:9.1f} img/s  {result['step_s'] * 1e3:8.1f} ms/step{target}",
            flush=True,
        )
        del stepper


def synthetic_batch(batch: int, size: int, device, num_classes: int) -> dict:
    """Random normalised images and maps already on the device."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=generator).to(device)
    return {
        "image": images.contiguous(memory_format=torch.channels_last),
        "map": torch.rand(batch, size, size, generator=generator).to(device),
        "has_map": torch.ones(batch, dtype=torch.bool, device=device),
        "label": torch.randint(0, num_classes, (batch,), generator=generator).to(device),
    }


def time_steps(stepper: Stepper, batches, warmup: int, steps: int) -> dict:
    """Seconds per step and the fraction of it spent waiting for ``batches``."""
    with record_layers(stepper.model, stepper.layers) as seen:
        iterator = iter(batches)
        for _ in range(warmup):
            stepper(next(iterator), seen)
        _sync(stepper.device)
        waited, start = 0.0, time.perf_counter()
        for _ in range(steps):
            before = time.perf_counter()
            batch = next(iterator)
            _sync(stepper.device)
            waited += time.perf_counter() - before
            stepper(batch, seen)
        _sync(stepper.device)
        total = time.perf_counter() - start
    return {"step_s": total / steps, "data_wait": waited / total}


def repeat(batch):
    while True:
        yield batch


def make_shards(root: Path, n: int, size: int, workers: int) -> Path:
    """A JPEG + map shard set of ``n`` generated images (smooth noise, blob maps)."""
    import simplejpeg

    rng = np.random.default_rng(0)
    maps = {}
    for i in range(n):
        label = i % 10
        folder = root / "images" / f"c{label}"
        folder.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 255, (size // 8, size // 8, 3)).astype(np.uint8)
        image = np.kron(small, np.ones((8, 8, 1), np.uint8))
        (folder / f"img{i:05d}.jpg").write_bytes(simplejpeg.encode_jpeg(image, quality=90, colorsubsampling="420"))
        human = np.zeros((size, size), np.float32)
        y, x = rng.integers(0, size - size // 4, 2)
        human[y : y + size // 4, x : x + size // 4] = 1
        maps[f"img{i:05d}"] = ndimage.uniform_filter(human, 9)
    save_maps(root / "maps.npz", maps)
    pack(
        root / "images",
        root / "shards",
        maps=root / "maps.npz",
        shard_size=max(1, n // 32),
        workers=min(workers, 8) if n >= 512 else 0,
        progress=False,
    )
    return root / "shards"


def shard_batches(shards: Path, batch: int, *, size: int, crop: int, workers: int, device):
    """Endless augmented batches from the shard pipeline."""
    stream = ShardStream(shards, batch, train=True, image_size=crop, resize=size)
    epoch = 0
    while True:
        stream.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            stream,
            batch_size=None,
            num_workers=min(workers, stream.max_workers()),
            pin_memory=device.type == "cuda",
            prefetch_factor=4 if workers else None,
            persistent_workers=False,
        )
        for decoded in loader:
            yield augment_batch(
                decoded, image_size=crop, blur_size=49 if crop >= 100 else 5, device=device, channels_last=True
            )
        epoch += 1


def supervised_run(root: Path, device, steps: int, *, reduced: bool, workers: int) -> dict:
    """A ClickMe-supervised GALA run on shards of the synthetic task; is the loss falling?"""

    size = 30 if reduced else 120
    task = synthetic_task(64 if reduced else 1024, image_size=size, n_classes=4, seed=0)
    for i, (image, label) in enumerate(zip(task["images"], task["labels"])):
        (root / "task" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "task" / str(label) / f"t{i}.png")
    save_maps(root / "task_maps.npz", {f"t{i}": m for i, m in enumerate(task["maps"])})
    pack(
        root / "task", root / "task_shards", maps=root / "task_maps.npz", shard_size=32, jpeg_quality=95, progress=False
    )
    batch = 8 if reduced else 64
    config = TrainConfig(
        arch="tiny_gala_resnet" if reduced else "gala_resnet50",
        num_classes=4,
        tiny_width=8,
        train=str(root / "task_shards"),
        image_size=size - 2 if reduced else 112,
        resize=size,
        blur_size=5,
        batch_size=batch,
        workers=min(workers, 2 if reduced else 8),
        epochs=max(1, -(-steps * batch // len(task["labels"]))),
        lr=0.4 if reduced else 0.1,
        milestones=[],
        lam=6.0,
        amp="bf16",
        channels_last=True,
        out=str(root / "run"),
        log_every=1,
        progress=False,
        device="cuda" if device.type == "cuda" else "cpu",
    )
    train(config)

    loss = pd.read_csv(root / "run" / "steps.csv")["loss"].to_numpy()[:steps]
    k = max(1, len(loss) // 10)
    first, last = float(loss[:k].mean()), float(loss[-k:].mean())
    return {"steps": int(len(loss)), "loss_first": first, "loss_last": last, "falls": last < first}


def synthetic_throughput(
    figures: dict, device, *, compile: bool, batch: int, crop: int, classes: int, warmup: int, steps: int, reduced: bool
) -> None:
    """Training images/s of each variant on synthetic tensors, and the GALA / ResNet-50 step-time ratio."""
    for label, arch, variant in VARIANTS:
        arch = REDUCED[arch] if reduced else arch
        stepper = Stepper(arch, variant, device, compile, classes)
        data = synthetic_batch(batch, crop, device, classes)
        result = time_steps(stepper, repeat(data), warmup + (3 if compile else 0), steps)
        key = f"{label}{'+compile' if compile else ''}"
        figures[key] = {"images_per_s": batch / result["step_s"], "step_s": result["step_s"]}
        print(f"   {key:32s} {batch / result['step_s']:9.1f} img/s  {result['step_s'] * 1e3:8.1f} ms/step", flush=True)
        del stepper
    suffix = "+compile" if compile else ""
    ratio = figures[f"gala_resnet50{suffix}"]["step_s"] / figures[f"resnet50{suffix}"]["step_s"]
    figures[f"gala_over_resnet50{suffix}"] = ratio
    print(f"   GALA / ResNet-50 step time{' (compiled)' if compile else ''}: {ratio:.3f} (target <= 1.15)", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reduced", action="store_true", help="tiny networks and sizes (CPU, seconds): keeps the script tested"
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    workers = min(16, os.cpu_count() or 1)
    if args.reduced:
        batch, size, crop, warmup, steps, run_steps, classes = 4, 32, 32, 1, 2, 30, 10
        n_images = 64
    else:
        batch, size, crop, warmup, steps, run_steps, classes = 256, 256, 224, 10, 30, 300, 1000
        n_images = 2048
    name = prepare_device(device)
    print(
        f"gpu_check: torch {torch.__version__}, {name}, batch {batch}, {crop}x{crop}, bf16 "
        f"autocast, channels_last, {workers} loader workers{' (REDUCED MODE)' if args.reduced else ''}"
    )
    figures: dict = {"device": name, "torch": torch.__version__, "batch": batch, "reduced": args.reduced}
    started = time.perf_counter()

    sizes = dict(batch=batch, crop=crop, classes=classes, warmup=warmup, steps=steps, reduced=args.reduced)
    print("1. synthetic tensors: training images/s (eager)", flush=True)
    synthetic_throughput(figures, device, compile=False, **sizes)
    print("1b. harmonized training (timm, harmonizer loss, double backward): images/s", flush=True)
    harmonized_throughput(figures, device, **sizes)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        shards = make_shards(root, n_images, size, workers)
        print(
            f"2. shard pipeline ({n_images} generated {size}px JPEGs with maps, packed in "
            f"{time.perf_counter() - t0:.1f} s): training images/s and data wait",
            flush=True,
        )
        for label, arch, variant in VARIANTS[::2]:
            arch = REDUCED[arch] if args.reduced else arch
            stepper = Stepper(arch, variant, device, False, classes)
            result = time_steps(
                stepper,
                shard_batches(shards, batch, size=size, crop=crop, workers=workers, device=device),
                warmup,
                steps * 2,
            )
            figures[f"{label}_shards"] = {"images_per_s": batch / result["step_s"], "data_wait": result["data_wait"]}
            print(
                f"   {label:32s} {batch / result['step_s']:9.1f} img/s  data wait "
                f"{100 * result['data_wait']:5.1f}% of step time (target <= 5%)",
                flush=True,
            )
            del stepper
        print(f"3. ClickMe-supervised run ({run_steps} steps, GALA, lambda 6, synthetic task shards)", flush=True)
        run = supervised_run(root, device, run_steps, reduced=args.reduced, workers=workers)
    print(
        f"   loss {run['loss_first']:.3f} (first tenth) -> {run['loss_last']:.3f} (last tenth) "
        f"over {run['steps']} steps: {'falls' if run['falls'] else 'DOES NOT FALL'}",
        flush=True,
    )
    if args.json:  # in case compilation runs out of time
        Path(args.json).write_text(json.dumps({**figures, "supervised_run": run}, indent=1))
    if args.reduced:
        print("4. torch.compile: skipped in reduced mode (minutes of compilation on a CPU)")
    else:
        print("4. synthetic tensors, torch.compile (last: compilation takes minutes)", flush=True)
        synthetic_throughput(figures, device, compile=True, **sizes)
    figures["supervised_run"] = run
    figures["seconds"] = time.perf_counter() - started
    print(f"gpu_check: done in {figures['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0 if run["falls"] else 1


if __name__ == "__main__":
    sys.exit(main())
