"""Images/s per loader core with maps: the shard pipeline against the pre-shard PairedDataset.

One run, one process, one thread (a loader core): 256 x 256 JPEGs (4:2:0 chroma, quality 90,
the layout of ImageNet's JPEGs) with 256 x 256 ClickMe-like maps (clicks blurred by a
Gaussian), train mode (random 224 crop + flip, 49 x 49 box blur of the maps, normalisation).
Every path is warmed up once, then the paths take turns ``--repeats`` times and each keeps its
fastest pass (the machine may be shared). Printed:

* Pillow decode alone (the issue's reference);
* the pre-shard ``PairedDataset`` (the code of commit ce4b42e, read from git in this run):
  decode + per-sample resize / blur / crop / normalise, batched by a DataLoader;
* the shard loader: what a loader worker does now (read the shard, simplejpeg decode, map PNG
  decode, batch), images/s per core;
* the whole-batch augmentation (:func:`models.augment.augment_batch`) on this CPU: on a GPU
  it runs on the device instead of a loader core;
* loader + augmentation on one core (an upper bound on CPU cost: the like-for-like figure);
* ratios and peak RSS.

    python benchmarks/data_pipeline.py [--images 512] [--batch-size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its own name would shadow the
# "models" package: drop that folder before importing the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

OLD_COMMIT = "ce4b42e"


def make_dataset(root: Path, n: int, size: int = 256):
    """``n`` JPEG images (smooth colour noise) in 10 class folders and a map archive."""
    import simplejpeg
    from scipy import ndimage

    from clickme_analysis.archive import save_maps

    rng = np.random.default_rng(0)
    maps = {}
    for i in range(n):
        folder = root / "images" / f"c{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 255, (size // 8, size // 8, 3)).astype(np.uint8)
        image = ndimage.zoom(small, (8, 8, 1), order=1)
        (folder / f"img{i:05d}.jpg").write_bytes(simplejpeg.encode_jpeg(image, quality=90, colorsubsampling="420"))
        clicks = np.zeros((size, size), np.float32)
        centre = rng.integers(48, size - 48, 2)
        points = np.clip(centre + rng.normal(0, 24, (60, 2)), 0, size - 1).astype(int)
        np.add.at(clicks, (points[:, 0], points[:, 1]), 1.0)
        maps[f"img{i:05d}"] = ndimage.gaussian_filter(clicks, 8)
    save_maps(root / "maps.npz", maps)


def old_module():
    """models/data.py as of ``OLD_COMMIT``, imported from git (None when git cannot)."""
    repo = Path(__file__).resolve().parents[1]
    try:
        source = subprocess.run(
            ["git", "show", f"{OLD_COMMIT}:models/data.py"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "old_models_data.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_models_data", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_models_data"] = module
    spec.loader.exec_module(module)
    return module


def fastest(paths: dict, n: int, repeats: int) -> dict:
    """Images/s of each path: one warm-up pass each, then ``repeats`` turns, the fastest kept."""
    for fn in paths.values():
        fn()
    best = dict.fromkeys(paths, 0.0)
    for _ in range(repeats):
        for name, fn in paths.items():
            start = time.perf_counter()
            fn()
            best[name] = max(best[name], n / (time.perf_counter() - start))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from PIL import Image

    from models.augment import augment_batch
    from models.shards import ShardStream, pack
    from models.sources import load_samples

    n, batch = args.images, args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_dataset(root, n)
        pack(root / "images", root / "shards", maps=root / "maps.npz", shard_size=128, progress=False)
        samples, _ = load_samples(root / "images", root / "maps.npz")
        jpegs = [Path(s.image).read_bytes() for s in samples]
        print(
            f"{n} JPEGs 256x256 (4:2:0, q90) with maps, batch {batch}, train mode (224 crop, "
            f"flip, 49x49 blur), one process, one thread, fastest of {args.repeats} passes"
        )

        paths = {"pillow": lambda: [np.asarray(Image.open(io.BytesIO(j)).convert("RGB")) for j in jpegs]}
        old = old_module()
        if old is not None:
            dataset = old.PairedDataset([old.Sample(s.image_id, s.image, s.label, s.map) for s in samples], train=True)
            old_loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=0)
            paths["old"] = lambda: [b for b in old_loader]
        stream = ShardStream(root / "shards", batch, train=True, image_size=224, resize=256)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=0)
        paths["loader"] = lambda: [b for b in loader]
        decoded = list(loader)
        paths["augment"] = lambda: [augment_batch(b, image_size=224, blur_size=49) for b in decoded]
        rates = fastest(paths, n, args.repeats)
        pillow, loader_rate, augment_rate = rates["pillow"], rates["loader"], rates["augment"]
        old_rate = rates.get("old")
        both = 1 / (1 / loader_rate + 1 / augment_rate)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  Pillow decode alone                  {pillow:8.0f} img/s")
    if old_rate is None:
        print("  PairedDataset (ce4b42e)              not measured: git cannot show the old code here")
    else:
        print(f"  PairedDataset (ce4b42e, per sample)  {old_rate:8.0f} img/s")
    met = loader_rate >= 1000 and (not old_rate or loader_rate >= 4 * old_rate)
    print(
        f"  shard loader (per loader core)       {loader_rate:8.0f} img/s"
        + (f"   x{loader_rate / old_rate:.1f} PairedDataset" if old_rate else "")
        + f"   (target >= 1000 and >= 4x: {'met' if met else 'NOT met'})"
    )
    print(f"  batch augmentation on this CPU       {augment_rate:8.0f} img/s   (on a GPU: on the device)")
    print(
        f"  loader + augmentation, one core      {both:8.0f} img/s"
        + (f"   x{both / old_rate:.1f} PairedDataset" if old_rate else "")
    )
    print(f"  peak RSS {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
