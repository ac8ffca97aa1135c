"""Benchmark of ``clickme serve``: trials stored per second (saturated) and post latency at an
offered load of N participants each posting a trial a second, SQLite (one process) and
PostgreSQL (2 workers), each against the *floor* of the same stack measured in the same run.

- Load generator: ``wrk`` (C; Debian package ``wrk``) with ``benchmarks/serve_wrk.lua``, on
  loopback only. A Python client on 2 cores caps near 270 posts/s, so it would measure itself.
- Study: 72 images x 5 conditions, 74 trials per participant (2 training + 3 blocks of 24);
  N participants are started and pass the browser check over HTTP first; every post is a
  distinct trial (its own idempotency key and place), so each one is a real insert. The
  saturated run posts each participant's first ``SATURATED_TRIALS`` trials (23,000 posts at 500
  participants: no wrk thread runs out of new trials), the offered run the rest, whose fourth
  post ends block 2: all N participants ask for their block feedback within about two seconds, the
  worst case of a study whose participants all start at once. A list that
  wraps round re-posts stored trials (200 replies, no insert): the report says so.
- Saturated: 50 connections, as fast as the server answers. Offered load: N connections, each
  waiting 0.5-1.5 s (mean 1 s) between its posts (wrk's ``delay()``: a participant posting one
  trial a second). wrk's latency excludes that wait. This is wrk's closed loop with think time,
  not a fixed-schedule open loop (wrk2 is not packaged here): if the server slows, the offered
  rate drops with it, which the achieved rate shows.
- Floor: a minimal FastAPI endpoint (same uvicorn, same worker count, same database settings)
  that parses the same JSON bodies and does one insert per post, no checks.
- Checks: after each server run, no 5xx, no trial stored twice, and rows stored = 201 replies
  plus the posts wrk cut off at its end (sent, stored, reply not awaited: at most one per
  connection).

Run: ``.venv/bin/python benchmarks/serve.py [--participants 500] [--seconds 8] [--no-postgres]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[0].parent
sys.path.insert(0, str(ROOT))
LUA = Path(__file__).resolve().parent / "serve_wrk.lua"
ADMIN = "benchmark-admin-token-0123456789abcdefXYZ"
FLOOR_ENV = "CLICKME_FLOOR_DB"
#: Trials of each participant posted by the saturated run (the offered run posts the rest)
SATURATED_TRIALS = 46


# ------------------------------------------------------------------ the floor: one insert per post
def floor_app():
    """uvicorn factory: ``POST /floor`` parses the JSON body and inserts it (``$CLICKME_FLOOR_DB``)."""
    import sqlalchemy as sa
    from fastapi import Body, FastAPI
    from fastapi.responses import JSONResponse

    from experiments.online.storage import Store

    store = Store(os.environ[FLOOR_ENV])  # the server's engine settings (WAL, synchronous=NORMAL; PG pool)
    meta = sa.MetaData()
    table = sa.Table(
        "floor",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("received", sa.String(40)),
    )
    meta.create_all(store.engine)
    insert = table.insert()  # bound parameters: the fastest insert SQLAlchemy Core makes
    gc.collect()
    gc.freeze()  # as the server does: the imports stay out of the collector's full passes
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/floor")
    def floor(body: dict = Body(...)):  # noqa: B008
        with store._write, store.engine.begin() as conn:
            conn.execute(insert, {"body": body, "received": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return JSONResponse({"status": "stored"}, status_code=201)

    return app


# ------------------------------------------------------------------ the study and the servers
def write_study(root: Path, n_images: int = 72, n_blocks: int = 3) -> Path:
    """Stimuli (32 px blocks), manifest and experiment TOML: 2 training + 3 blocks x 24 trials."""
    from experiments.online.simulate import _png

    stim = root / "stimuli"
    stim.mkdir(parents=True)
    rows, k = ["image_id,category,target,map_source,level,path"], 0
    for i in range(n_images):
        target = i % 2 == 0
        category = "animal" if target else "non-animal"
        for source, level in (
            ("clickme", 10.0),
            ("clickme", 50.0),
            ("saliency", 10.0),
            ("saliency", 50.0),
            ("intact", 100.0),
        ):
            name = f"i{i}_{source}_{level:g}.png"
            _png(stim / name, k, 32)
            rows.append(f"i{i},{category},{str(target).lower()},{source},{level},{name}")
            k += 1
    (stim / "manifest.csv").write_text("\n".join(rows) + "\n")
    config = root / "experiment.toml"
    config.write_text(
        f'manifest = "stimuli/manifest.csv"\nn_training = 2\nn_blocks = {n_blocks}\n'
        f"trials_per_block = {n_images // n_blocks}\nimage_size = 128\n"
    )
    return config


@contextlib.contextmanager
def process(argv, env, url):
    """A server child process; yields once ``url/favicon.ico`` (or any reply) answers."""
    import httpx

    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read()[-800:]}")
            try:
                httpx.get(url + "/favicon.ico", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def serve_argv(config: Path, db: str, port: int, workers: int) -> list[str]:
    toml = config.parent / "serve.toml"
    toml.write_text(
        f'[serve]\nexperiment_config = "{config}"\nstart_limit_per_minute = 0\npacing_factor = 0.0\n'
        f'admin_token = "{ADMIN}"\n'
    )
    return [
        sys.executable,
        "-m",
        "clickme_app",
        "serve",
        "--config",
        str(toml),
        "--db",
        db,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def floor_argv(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.serve:floor_app",
        "--factory",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--http",
        "httptools",
        "--timeout-keep-alive",
        "30",
    ]


# ------------------------------------------------------------------ participants and requests
async def _start_all(url: str, n: int, prefix: str) -> list:
    import httpx

    from experiments.online.simulate import BROWSER_CHECK

    sem = asyncio.Semaphore(16)

    async def one(client, k):
        pid, secret = f"{prefix}{k:04d}", secrets.token_hex(32)
        headers = {"Authorization": f"Bearer {secret}"}
        async with sem:
            r = await client.post(
                "/api/experiment/start", json={"participant_id": pid, "token": secret}, headers=headers
            )
            r.raise_for_status()
            (
                await client.post(
                    "/api/experiment/browser", json={"participant_id": pid, **BROWSER_CHECK}, headers=headers
                )
            ).raise_for_status()
        return pid, secret, r.json()["design"]

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        return await asyncio.gather(*(one(client, k) for k in range(n)))


def request_files(sessions, folder: Path, split: int) -> tuple[Path, Path]:
    """Two request files ("token<TAB>JSON" lines, participants interleaved): trials before
    ``split`` of every design (the saturated run) and from ``split`` on (the offered-load run)."""
    import numpy as np

    from experiments.online.simulate import observer_answer, trial_body

    rng = np.random.default_rng(0)
    files = (folder / "saturated.txt", folder / "offered.txt")
    for path, part in zip(files, (slice(0, split), slice(split, None))):
        per = [
            [(secret, trial_body(pid, t, *observer_answer(t, design["info"], rng))) for t in design["trials"][part]]
            for pid, secret, design in sessions
        ]
        with open(path, "w") as f:
            for k in range(max(len(p) for p in per)):
                for p in per:
                    if k < len(p):
                        f.write(f"{p[k][0]}\t{json.dumps(p[k][1], separators=(',', ':'))}\n")
    return files


def wrk(url: str, path: str, requests: Path, *, connections: int, seconds: float, delay_ms: int) -> dict:
    threads = 2
    env = {
        **os.environ,
        "CLICKME_WRK_REQUESTS": str(requests),
        "CLICKME_WRK_PATH": path,
        "CLICKME_WRK_THREADS": str(threads),
        "CLICKME_WRK_DELAY_MS": str(delay_ms),
    }
    done = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=seconds + 60,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("CLICKME ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    out = json.loads(line[len("CLICKME ") :])
    out["per_s"] = out["requests"] / (out["duration_us"] / 1e6)
    out["stored_per_s"] = out["s201"] / (out["duration_us"] / 1e6)
    return out


def stored_trials(db: str) -> tuple[int, int]:
    """(trial rows, distinct places) in a clickme serve database."""
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM trials")).scalar()
        places = conn.execute(
            sa.text("SELECT count(*) FROM (SELECT DISTINCT participant_pk, phase, block, trial FROM trials) AS p")
        ).scalar()
    engine.dispose()
    return int(n), int(places)


# ------------------------------------------------------------------ one backend
def measure_backend(label: str, config: Path, db: str, floor_db: str, workers: int, args, folder: Path) -> dict:
    from experiments.online.simulate import _free_port

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    runs = {}
    with process(serve_argv(config, db, port, workers), {}, url):
        sessions = asyncio.run(_start_all(url, args.participants, label[:2].upper()))
        files = request_files(sessions, folder, split=SATURATED_TRIALS)
        before = stored_trials(db)[0]
        runs["serve_saturated"] = wrk(
            url, "/api/experiment/trials", files[0], connections=50, seconds=args.seconds, delay_ms=0
        )
        runs["serve_offered"] = wrk(
            url, "/api/experiment/trials", files[1], connections=args.participants, seconds=args.seconds, delay_ms=1000
        )
    rows, places = stored_trials(db)  # once the server has stopped (posts cut off by wrk's end included)
    stored = runs["serve_saturated"]["s201"] + runs["serve_offered"]["s201"]
    runs["check"] = {
        "rows_added": rows - before,
        "replied_201": stored,
        "places_unique": rows == places,
        "cut_off": rows - before - stored,
        "s5xx": runs["serve_saturated"]["s5xx"] + runs["serve_offered"]["s5xx"],
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with process(floor_argv(port, workers), {FLOOR_ENV: floor_db}, url):
        runs["floor_saturated"] = wrk(url, "/floor", files[0], connections=50, seconds=args.seconds, delay_ms=0)
        runs["floor_offered"] = wrk(
            url, "/floor", files[1], connections=args.participants, seconds=args.seconds, delay_ms=1000
        )
    return runs


def report(label: str, runs: dict) -> None:
    sat, fl = runs["serve_saturated"], runs["floor_saturated"]
    off, flo = runs["serve_offered"], runs["floor_offered"]
    c = runs["check"]
    print(f"{label}:")
    print(
        f"  saturated (50 connections): {sat['stored_per_s']:.0f} trials/s stored, floor {fl['stored_per_s']:.0f}/s "
        f"-> {sat['stored_per_s'] / max(fl['stored_per_s'], 1e-9):.2f}x the floor; p50 {sat['p50_us'] / 1000:.1f} ms, "
        f"p99 {sat['p99_us'] / 1000:.1f} ms (floor {fl['p50_us'] / 1000:.1f} / {fl['p99_us'] / 1000:.1f} ms)"
    )
    print(
        f"  offered ({off['requests']} posts, ~1/s per connection): achieved {off['per_s']:.0f} posts/s; "
        f"p50 {off['p50_us'] / 1000:.1f} ms, p99 {off['p99_us'] / 1000:.1f} ms (floor {flo['per_s']:.0f}/s, "
        f"p50 {flo['p50_us'] / 1000:.1f} ms, p99 {flo['p99_us'] / 1000:.1f} ms)"
    )
    print(
        f"  checks: {c['replied_201']} replies 201, {c['rows_added']} rows added ({c['cut_off']} cut off by wrk's "
        f"end), no trial twice: "
        f"{c['places_unique']}, 5xx: {c['s5xx']}, socket errors/timeouts: "
        f"{sat['errors'] + off['errors']}/{sat['timeouts'] + off['timeouts']}, wrapped lists: "
        f"{sat['wrapped'] + off['wrapped']}"
    )
    if sat["wrapped"] + off["wrapped"]:
        print(
            "  WARNING: a request list wrapped round: its re-posts were retries (200, nothing stored), "
            "so the stored rate is capped by the list, not the server; run longer lists or shorter runs"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=500, help="participants (connections at offered load)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each wrk run")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = write_study(folder / "study")
        if not args.no_sqlite:
            runs = measure_backend(
                "sqlite", config, f"sqlite:///{folder}/bench.db", f"sqlite:///{folder}/floor.db", 1, args, folder
            )
            report("SQLite, 1 process", runs)
        if not args.no_postgres:
            from experiments.online.simulate import postgres_cluster

            try:
                with postgres_cluster() as url:
                    runs = measure_backend("postgresql", config, url, url, 2, args, folder)
                    report("PostgreSQL, 2 workers", runs)
            except RuntimeError as err:
                print(f"postgresql: skipped ({err})")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak RSS of the largest server process: {rss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
