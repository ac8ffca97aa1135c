"""ClickMe at full size: ``clickme maps`` and ``clickme reliability`` on a ClickMe-shaped log.

Generates a synthetic ClickMe 2.0 CSV (``image_path, clicks, user_id``, one row per map, cells
like ``{(12,30),(14,33)}``) shaped as the paper's data set: at ``--scale 1`` 196,499 images,
472,946 participant maps (1 + Poisson participants per image) and about 35 M clicks (20-128 per
map, clustered around an object centre per image; rows in play order, shuffled across blocks of
images). Then runs, each as a child process whose peak RSS is read from ``wait4``:

* reading the log (clicks per second),
* ``clickme maps`` to an HDF5 map store (maps per second, peak RSS, bytes per map),
* ``clickme reliability --n-images 10000`` (wall time, reading included),

at the asked scale and at ``--scale 0.1`` (the reference for the RSS ratio), and the same steps
with the implementation this replaces (commit ce4b42e, taken with ``git show`` into a temporary
folder and driven through its own ``read_logs`` / ``make_map_archive`` / ``write_reliability``)
on the ``--scale 0.1`` log, whose cells use square brackets (that reader rejected braces).

Usage: ``python benchmarks/clickme_scale.py --scale 0.1`` (quick) or ``--scale 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "ce4b42e"
FULL_IMAGES, FULL_MAPS = 196_499, 472_946

READ = """
import sys, time
from clickme_analysis.clicklog import ClickReader
start = time.perf_counter()
n = sum(len(chunk) for chunk in ClickReader(sys.argv[1]))
print({"clicks": n, "seconds": time.perf_counter() - start})
"""
OLD_READ = """
import sys, time
from clickme_analysis.clicklog import read_clicks
start = time.perf_counter()
n = len(read_clicks(sys.argv[1]).clicks)
print({"clicks": n, "seconds": time.perf_counter() - start})
"""
OLD_MAPS = """
import sys
from clickme_analysis.pipeline import MapOptions, make_map_archive, read_logs
log = read_logs([sys.argv[1]])
per_image = make_map_archive(log.clicks, sys.argv[2], MapOptions())
print({"maps": len(per_image)})
"""
OLD_RELIABILITY = """
import sys
from clickme_analysis.pipeline import MapOptions, read_logs, write_reliability
log = read_logs([sys.argv[1]])
write_reliability(log.clicks, sys.argv[2], MapOptions(), n_images=10_000)
"""


def generate(path: Path, scale: float, seed: int = 0, brackets: bool = False, block: int = 20_000) -> dict:
    """Write the synthetic log; returns its counts. Memory: one block of images at a time."""
    rng = np.random.default_rng(seed)
    n_images = max(2, round(FULL_IMAGES * scale))
    n_maps = max(n_images, round(FULL_MAPS * scale))
    players = 1 + rng.poisson(n_maps / n_images - 1, n_images)
    surplus = int(players.sum() - n_maps)  # adjust to the exact number of maps, keeping one player each
    while surplus:
        pick = rng.integers(0, n_images, abs(surplus))
        if surplus > 0:
            pick = pick[players[pick] > 1]
            np.subtract.at(players, pick[:surplus], 1)
        else:
            np.add.at(players, pick, 1)
        surplus = int(players.sum() - n_maps)
    point = [f"({x},{y})" for x in range(256) for y in range(256)]
    opening, closing = ("[", "]") if brackets else ("{", "}")
    n_clicks = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("image_path,clicks,user_id\n")
        for first in range(0, n_images, block):
            rows = []
            for image in range(first, min(first + block, n_images)):
                centre = rng.uniform(48, 208, 2)
                users = rng.choice(50_000, size=players[image], replace=False)
                for user in users:
                    k = int(rng.integers(20, 129))
                    xy = np.clip(rng.normal(centre, 28, (k, 2)), 0, 255).astype(np.int64)
                    n_clicks += k
                    cell = opening + ",".join([point[i] for i in (xy[:, 0] * 256 + xy[:, 1]).tolist()]) + closing
                    rows.append(f'imagenet/train/n{image // 1300:05d}/img_{image:06d}.JPEG,"{cell}",{user}\n')
            for index in rng.permutation(len(rows)):
                fh.write(rows[index])
    return {"images": n_images, "maps": n_maps, "clicks": n_clicks, "bytes": path.stat().st_size}


def run_child(argv, cwd=None, env=None) -> dict:
    """Run a child process: its wall time, its own peak RSS (MB, from ``os.wait4``) and last output line."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        # drain the pipes in threads so the child never blocks, then reap it with wait4
        import threading

        def drain(src, dst):
            shutil.copyfileobj(src, dst)

        threads = [
            threading.Thread(target=drain, args=(process.stdout, out)),
            threading.Thread(target=drain, args=(process.stderr, err)),
        ]
        for thread in threads:
            thread.start()
        _, status, usage = os.wait4(process.pid, 0)
        for thread in threads:
            thread.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode:
        raise SystemExit(f"{' '.join(map(str, argv[:5]))} failed ({process.returncode}):\n{stderr[-3000:]}")
    lines = [line for line in stdout.splitlines() if line.strip()]
    return {
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "last": lines[-1] if lines else "",
    }


def old_tree(folder: Path) -> Path:
    """The replaced implementation's clickme_analysis package, from git, in ``folder``."""
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{OLD_COMMIT}:clickme_analysis"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    package = folder / "clickme_analysis"
    package.mkdir(parents=True)
    for name in names:
        if name.endswith(".py"):
            data = subprocess.run(
                ["git", "show", f"{OLD_COMMIT}:clickme_analysis/{name}"], cwd=ROOT, check=True, capture_output=True
            ).stdout
            (package / name).write_bytes(data)
    return folder


def measure_new(log: Path, counts: dict, work: Path, tag: str) -> dict:
    py = sys.executable
    read = run_child([py, "-c", READ, str(log)])
    read_result = eval(read["last"])  # noqa: S307 - our own child's dict
    out = work / f"maps_{tag}.h5"
    maps = run_child([py, "-m", "clickme_app", "maps", str(log), "--out", str(out), "--no-progress"])
    rel = run_child(
        [
            py,
            "-m",
            "clickme_app",
            "reliability",
            str(log),
            "--n-images",
            "10000",
            "--out",
            str(work / f"reliability_{tag}"),
            "--no-progress",
        ]
    )
    summary = json.loads((work / f"reliability_{tag}" / "reliability_summary.json").read_text())
    return {
        "clicks_per_s": read_result["clicks"] / read_result["seconds"],
        "read_s": read_result["seconds"],
        "read_rss_mb": read["rss_mb"],
        "maps_s": maps["seconds"],
        "maps_per_s": counts["images"] / maps["seconds"],
        "participant_maps_per_s": counts["maps"] / maps["seconds"],
        "maps_rss_mb": maps["rss_mb"],
        "bytes_per_map": out.stat().st_size / counts["images"],
        "reliability_s": rel["seconds"],
        "maps_cpu_s": maps["cpu_s"],
        "reliability_cpu_s": rel["cpu_s"],
        "reliability_rss_mb": rel["rss_mb"],
        "human_rho": summary["human"]["mean"],
        "null_rho": summary["null"]["mean"],
        "maps_line": maps["last"],
    }


def measure_old(log: Path, counts: dict, work: Path) -> dict:
    tree = old_tree(work / "old")
    env = dict(os.environ, PYTHONPATH=str(tree))
    py = sys.executable
    read = run_child([py, "-c", OLD_READ, str(log)], cwd=tree, env=env)
    read_result = eval(read["last"])  # noqa: S307 - our own child's dict
    out = work / "maps_old.npz"
    maps = run_child([py, "-c", OLD_MAPS, str(log), str(out)], cwd=tree, env=env)
    rel = run_child([py, "-c", OLD_RELIABILITY, str(log), str(work / "reliability_old")], cwd=tree, env=env)
    return {
        "clicks_per_s": read_result["clicks"] / read_result["seconds"],
        "read_s": read_result["seconds"],
        "read_rss_mb": read["rss_mb"],
        "maps_s": maps["seconds"],
        "maps_per_s": counts["images"] / maps["seconds"],
        "participant_maps_per_s": counts["maps"] / maps["seconds"],
        "maps_rss_mb": maps["rss_mb"],
        "bytes_per_map": out.stat().st_size / counts["images"],
        "reliability_s": rel["seconds"],
        "maps_cpu_s": maps["cpu_s"],
        "reliability_cpu_s": rel["cpu_s"],
        "reliability_rss_mb": rel["rss_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1 = the paper's size (default 0.1)")
    parser.add_argument("--skip-old", action="store_true", help="do not run the replaced implementation")
    parser.add_argument("--workdir", type=Path, help="folder for the logs and outputs (default: a temporary one)")
    parser.add_argument(
        "--reference-scale",
        type=float,
        default=0.1,
        help="the scale of the RSS reference and of the replaced implementation's run (default 0.1)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ref = args.reference_scale
    work = Path(tempfile.mkdtemp(prefix="clickme-scale-", dir=args.workdir))
    print(
        f"work folder {work}; cores {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} (times are wall "
        "clock on this machine as it is: compare within one run)",
        flush=True,
    )
    try:
        results, counts = {}, {}
        scales = sorted({ref, args.scale})
        for scale in scales:
            log = work / f"clickme_{scale:g}.csv"
            start = time.perf_counter()
            counts[scale] = generate(log, scale, args.seed)
            print(f"scale {scale:g}: {counts[scale]} written in {time.perf_counter() - start:.0f} s", flush=True)
            results[scale] = measure_new(log, counts[scale], work, f"{scale:g}")
            print(f"  new: {results[scale]}", flush=True)
        if not args.skip_old:
            log = work / f"clickme_{ref:g}_brackets.csv"
            generate(log, ref, args.seed, brackets=True)
            results["old"] = measure_old(log, counts[ref], work)
            print(f"  old (scale {ref:g}): {results['old']}", flush=True)
        report(results, args.scale, ref)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict, scale: float, ref: float) -> None:
    rows = [
        ("clicks read / s", "clicks_per_s", "{:,.0f}"),
        ("maps / s (archive entries)", "maps_per_s", "{:,.0f}"),
        ("participant maps / s", "participant_maps_per_s", "{:,.0f}"),
        ("maps wall time (s)", "maps_s", "{:,.1f}"),
        ("maps CPU time (s)", "maps_cpu_s", "{:,.1f}"),
        ("maps peak RSS (MB)", "maps_rss_mb", "{:,.0f}"),
        ("bytes per map (KB)", "bytes_per_map", "{:,.1f}"),
        ("reliability 10,000 images (s)", "reliability_s", "{:,.1f}"),
        ("reliability CPU time (s)", "reliability_cpu_s", "{:,.1f}"),
        ("reliability peak RSS (MB)", "reliability_rss_mb", "{:,.0f}"),
    ]
    columns = [k for k in results]
    names = {k: (f"new, scale {k:g}" if k != "old" else f"{OLD_COMMIT}, scale {ref:g}") for k in columns}
    print("\n" + f"{'':32}" + "".join(f"{names[c]:>22}" for c in columns))
    for label, key, fmt in rows:
        cells = []
        for c in columns:
            value = results[c][key] / (1024 if key == "bytes_per_map" else 1)
            cells.append(fmt.format(value))
        print(f"{label:32}" + "".join(f"{cell:>22}" for cell in cells))
    if "old" in results:
        new, old = results[ref], results["old"]
        print(
            f"\nratios at scale {ref:g} (new / old): clicks/s {new['clicks_per_s'] / old['clicks_per_s']:.1f}x, maps/s "
            f"{new['maps_per_s'] / old['maps_per_s']:.1f}x, maps RSS {new['maps_rss_mb'] / old['maps_rss_mb']:.2f}x, "
            f"bytes/map {new['bytes_per_map'] / old['bytes_per_map']:.2f}x, reliability time "
            f"{new['reliability_s'] / old['reliability_s']:.2f}x"
        )
    if scale != ref:
        ratio = results[scale]["maps_rss_mb"] / results[ref]["maps_rss_mb"]
        print(f"maps peak RSS, scale {scale:g} / scale {ref:g}: {ratio:.2f}x")
    print(
        "targets (2 cores): full-size maps <= 600 s and <= 1,500 MB, RSS ratio <= 1.3, reliability <= 15 s, "
        ">= 2,000,000 clicks/s, <= 27 KB/map lossless"
    )


if __name__ == "__main__":
    main()
