"""Peak RSS of streaming training against the size of the packed set (memory must stay flat).

For each size: generate that many 40 x 40 JPEGs with maps, pack them (``clickme pack``), then
train the tiny GALA network for one epoch over the whole shard set (batch 250, so few steps)
in a fresh process, and read that process's peak RSS. Printed: peak RSS per size and the
ratio largest / smallest (target <= 1.3).

    python benchmarks/shard_memory.py [--sizes 2000 20000] [--workers 0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = 40

TRAIN = """
import resource, sys, time, torch
torch.set_num_threads(1)
from models.config import TrainConfig
from models.train import train
start = time.perf_counter()
config = TrainConfig(arch="tiny_gala_resnet", num_classes=10, tiny_width=4, train=sys.argv[1],
                     image_size=32, resize=40, blur_size=9, batch_size=250, workers=int(sys.argv[3]),
                     epochs=1, milestones=[], out=sys.argv[2], progress=False, log_every=1000)
train(config)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - start)
"""


def make_packed(root: Path, n: int) -> Path:
    import simplejpeg

    from clickme_analysis.archive import save_maps
    from models.shards import pack

    rng = np.random.default_rng(0)
    maps = {}
    for i in range(n):
        folder = root / "images" / f"c{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
        (folder / f"i{i:06d}.jpg").write_bytes(simplejpeg.encode_jpeg(image, quality=90))
        human = np.zeros((SIZE, SIZE), np.float32)
        y, x = rng.integers(0, SIZE - 10, 2)
        human[y : y + 10, x : x + 10] = 1
        maps[f"i{i:06d}"] = human
    save_maps(root / "maps.h5", maps)
    pack(root / "images", root / "shards", maps=root / "maps.h5", shard_size=1000, progress=False)
    return root / "shards"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--workers", type=int, default=0, help="loader workers (0: all in one process)")
    args = parser.parse_args(argv)
    peaks = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            shards = make_packed(Path(tmp), n)
            size_mb = sum(p.stat().st_size for p in shards.glob("*.tar")) / 2**20
            done = subprocess.run(
                [sys.executable, "-c", TRAIN, str(shards), str(Path(tmp) / "run"), str(args.workers)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
            )
            if done.returncode:
                print(done.stderr[-2000:])
                return 1
            own, children, seconds = map(float, done.stdout.split()[-3:])
            peaks[n] = own + children
            print(
                f"  {n:6d} images ({size_mb:5.1f} MB of shards): peak RSS {own:6.0f} MB "
                f"(+ {children:.0f} MB largest child process), one epoch in {seconds:.0f} s"
            )
    small, large = peaks[min(peaks)], peaks[max(peaks)]
    print(
        f"peak RSS {max(peaks)} / {min(peaks)} images: x{large / small:.3f} (target <= 1.3: "
        f"{'met' if large / small <= 1.3 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
