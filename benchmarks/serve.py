"""Benchmark of ``clickme serve``: trials stored per second and post latency, SQLite and
PostgreSQL, and the partner's query latency.

A ``clickme serve`` process on loopback serves the tiny study
(:func:`experiments.online.simulate.write_tiny_study`); N simulated participants post their
trials at once (:func:`experiments.online.simulate.load_test`, every third post retried). The
reference, measured in the same run, is the lab runner's own store: appending the same rows to a
trial CSV with :class:`experiments.session.TrialLog` (flush + fsync per trial), in one process.

Run: ``.venv/bin/python benchmarks/serve.py [--participants 100] [--queries 100] [--no-postgres]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def serve_process(files: dict, db: str, workers: int = 1):
    """``clickme serve`` in a child process on a free loopback port; yields its URL."""
    import httpx

    from experiments.online.simulate import _free_port

    port = _free_port()
    argv = [sys.executable, "-m", "clickme_app", "serve", "--experiment", str(files["experiment"]),
            "--game-config", str(files["game"]), "--images", str(files["images"]), "--labels", str(files["labels"]),
            "--db", db, "--port", str(port), "--admin-token", "bench", "--workers", str(workers)]
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read()[-500:]}")
            try:
                httpx.get(url + "/favicon.ico", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def p99(values) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def reference_rate(files: dict, n_rows: int) -> float:
    """Trials per second appended to a lab trial CSV (TrialLog: flush + fsync per row)."""
    import numpy as np

    from experiments.online.models import TrialIn
    from experiments.online.simulate import observer_answer, trial_body
    from experiments.online.tasks import ExperimentTask
    from experiments.session import TrialLog

    task = ExperimentTask(files["experiment"])
    design = task.design(0)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_rows):
        t = design["trials"][i % len(design["trials"])]
        key, rt = observer_answer(t, design["info"], rng)
        rows.append(task.trial_row("R", design, TrialIn(**trial_body("R", t, key, rt))))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with TrialLog(Path(tmp) / "R.csv") as log:
            for row in rows:
                log.append(row)
        return n_rows / (time.perf_counter() - start)


def measure_posts(files, db, n, label, workers=1) -> dict:
    from experiments.online.simulate import load_test

    with serve_process(files, db, workers) as url:
        result = load_test(url, n, timeout=600, prefix=label[:2])
    posted = sum(result["status"].values())
    assert set(result["status"]) == {201} and result["completed"] == n, result["status"]
    return {"backend": label, "participants": n, "trials": posted, "trials_per_s": posted / result["post_elapsed_s"],
            "start_s": result["start_elapsed_s"],
            "p50_ms": statistics.median(result["latency_ms"]), "p99_ms": p99(result["latency_ms"])}


def measure_partner(files, n_queries: int) -> dict:
    """HTTP latency of /api/game/query (stand-in partner) and the server's partner compute time."""
    import secrets

    import httpx

    with serve_process(files, f"sqlite:///{files['root'] / 'partner.db'}") as url, httpx.Client(base_url=url) as c:
        secret = secrets.token_hex(32)
        headers = {"Authorization": f"Bearer {secret}"}
        c.post("/api/game/start", json={"participant_id": "Q1", "token": secret}, headers=headers).raise_for_status()
        http, compute = [], []
        for i in range(n_queries):
            k = 1 + i % 140  # up to 140 points: a full 7 s round at one point per 50 ms
            x = [60.0 + (j * 7) % 140 for j in range(k)]
            y = [60.0 + (j * 3) % 140 for j in range(k)]
            start = time.perf_counter()
            r = c.post("/api/game/query", json={"participant_id": "Q1", "round": 1, "x": x, "y": y}, headers=headers)
            http.append(1000 * (time.perf_counter() - start))
            compute.append(r.json()["compute_ms"])
    return {"queries": n_queries, "http_p50_ms": statistics.median(http), "http_p99_ms": p99(http),
            "compute_p50_ms": statistics.median(compute), "compute_p99_ms": p99(compute)}


def main(argv=None) -> int:
    from experiments.online.simulate import postgres_cluster, write_tiny_study

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100, help="simulated participants at once")
    parser.add_argument("--queries", type=int, default=100, help="partner queries")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_tiny_study(Path(tmp))
        ref = reference_rate(files, 300)
        print(f"reference: lab TrialLog CSV append (fsync per trial): {ref:.0f} trials/s")
        rows = [measure_posts(files, f"sqlite:///{tmp}/bench.db", args.participants, "sqlite")]
        if not args.no_postgres:
            try:
                with postgres_cluster() as url:
                    rows.append(measure_posts(files, url, args.participants, "postgresql"))
                    import sqlalchemy as sa

                    engine = sa.create_engine(url)
                    with engine.begin() as conn:
                        conn.execute(sa.text("DROP TABLE trials, rounds, participants"))
                    engine.dispose()
                    rows.append(measure_posts(files, url, args.participants, "postgresql, 2 workers", workers=2))
            except RuntimeError as err:
                print(f"postgresql: skipped ({err})")
        for r in rows:
            print(f"{r['backend']:>22}: {r['participants']} participants, {r['trials']} trial posts, "
                  f"{r['trials_per_s']:.0f} trials/s stored ({r['trials_per_s'] / ref:.2f}x the reference), "
                  f"post latency p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; {r['participants']} starts took "
              f"{r['start_s']:.1f} s")
        q = measure_partner(files, args.queries)
        print(f"partner (stand-in) over HTTP: {q['queries']} queries, p50 {q['http_p50_ms']:.1f} ms, "
              f"p99 {q['http_p99_ms']:.1f} ms; partner compute p50 {q['compute_p50_ms']:.1f} ms, "
              f"p99 {q['compute_p99_ms']:.1f} ms")
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(f"peak RSS (largest of this process and the servers): {rss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
