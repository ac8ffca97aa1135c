"""``clickme maps --out maps.npz`` against ``--out maps.h5`` on the same generated ClickMe log.

Generates a ClickMe 2.0 CSV (:func:`clickme_scale.generate`) and runs ``clickme maps`` to both
outputs, each as a child process, alternately ``--repeats`` times; prints the wall and CPU
seconds, peak RSS, bytes per map, and the NPZ / HDF5 wall-time ratio (the reference is the
HDF5 run of the same round). Issue 21 measured 119 s vs 36 s (3.3x) on a 20,000-image log.

Usage: ``python benchmarks/maps_npz.py --scale 0.01`` (about 2,000 images).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clickme_scale import generate, run_child  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01, help="1 = the paper's 196,499 images (default 0.01)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maps-npz-") as work:
        log = Path(work) / "log.csv"
        counts = generate(log, args.scale, args.seed)
        print(f"log: {counts}")
        ratios = []
        for round_ in range(args.repeats):
            runs = {}
            for suffix in ("h5", "npz"):
                out = Path(work) / f"maps.{suffix}"
                runs[suffix] = run_child(
                    [sys.executable, "-m", "clickme_app", "maps", str(log), "--out", str(out), "--no-progress"]
                )
                runs[suffix]["kb_per_map"] = out.stat().st_size / counts["images"] / 1024
                print(
                    f"round {round_} {suffix:>3}: {runs[suffix]['seconds']:.1f} s wall, "
                    f"{runs[suffix]['cpu_s']:.1f} s CPU, peak RSS {runs[suffix]['rss_mb']:.0f} MB, "
                    f"{runs[suffix]['kb_per_map']:.1f} KB/map",
                    flush=True,
                )
            ratios.append(runs["npz"]["seconds"] / runs["h5"]["seconds"])
        print(f"npz / h5 wall time: {statistics.median(ratios):.2f}x (median of {len(ratios)})")


if __name__ == "__main__":
    main()
