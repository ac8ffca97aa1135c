"""Simulated participants for load tests and benchmarks of a ``clickme serve`` deployment.

:func:`load_test` starts ``n`` simulated browsers at once (httpx, asyncio). Each starts the
experiment, posts every trial of its design as the page does (some twice, as a retry after a
lost reply would) and completes; the result says what was posted and how long each post took.
Point it only at a server you run (loopback in the tests and the benchmark).
:func:`write_tiny_study` writes a four-image study to serve, :func:`postgres_cluster` starts a
throwaway PostgreSQL on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

#: The browser check a simulated desktop browser posts
BROWSER_CHECK = {"refresh_hz": 60.0, "width": 1280, "height": 800, "browser": "chrome", "os": "linux"}


def trial_body(
    participant_id: str,
    trial: dict,
    key: str | None,
    rt_ms: float | None,
    *,
    hz: float = 60.0,
    stim_frames: int = 24,
    idempotency_key: str | None = None,
) -> dict:
    """The JSON the experiment page posts for one trial (nominal timing at ``hz``).

    Examples
    --------
    >>> t = {"phase": "test", "block": 1, "trial": 2, "fixation_duration": 1.2}
    >>> b = trial_body("P1", t, "s", 412.0, idempotency_key="P1-test-1-2-x")
    >>> b["stim_ms"], b["rt_frames"], b["fixation_frames"]
    (400.0, 24, 72)
    """
    period = 1000.0 / hz
    return {
        "participant_id": participant_id,
        "idempotency_key": idempotency_key
        or f"{participant_id}-{trial['phase']}-{trial['block']}-{trial['trial']}-{secrets.token_hex(3)}",
        "phase": trial["phase"],
        "block": trial["block"],
        "trial": trial["trial"],
        "response": key,
        "rt_ms": rt_ms,
        "rt_frames": None if rt_ms is None else int(rt_ms // period),
        "refresh_hz": hz,
        "fixation_frames": round(trial["fixation_duration"] * hz),
        "fixation_ms": 1000 * trial["fixation_duration"],
        "stim_frames_requested": round(0.4 * hz),
        "stim_frames": stim_frames,
        "stim_ms": stim_frames * period,
        "frame_intervals_ms": [period] * stim_frames,
        "onset_ms": 12345.0,
        "client_time": "2026-12-02T10:00:00.000Z",
    }


def observer_answer(trial: dict, info: dict, rng: np.random.Generator, p_correct: float = 0.8):
    """A simulated observer's key and RT (ms): right with ``p_correct``, 8 % misses. A trial
    without its ``target`` (a test trial as the server sends it) is answered at chance."""
    if rng.random() < 0.08:
        return None, None
    if "target" not in trial:
        return (info["target_key"] if rng.random() < 0.5 else info["distractor_key"]), float(rng.uniform(250, 540))
    right = info["target_key"] if trial["target"] else info["distractor_key"]
    wrong = info["distractor_key"] if trial["target"] else info["target_key"]
    return (right if rng.random() < p_correct else wrong), float(rng.uniform(250, 540))


async def _post(client, path: str, body: dict, headers: dict, attempts: int = 4):
    """POST, retrying network errors as the page does (the idempotency key makes it safe)."""
    import httpx

    for attempt in range(attempts):
        try:
            return await client.post(path, json=body, headers=headers)
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * 2**attempt)


async def _start(client, pid: str, out: dict):
    secret = secrets.token_hex(32)
    headers = {"Authorization": f"Bearer {secret}"}
    r = await _post(client, "/api/experiment/start", {"participant_id": pid, "token": secret}, headers)
    r.raise_for_status()
    design = r.json()["design"]
    r = await _post(client, "/api/experiment/browser", {"participant_id": pid, **BROWSER_CHECK}, headers)
    r.raise_for_status()
    out["expected"][pid] = len(design["trials"])
    return pid, headers, design


async def _post_trials(client, session, rng, retry_every: int, out: dict) -> None:
    pid, headers, design = session
    for i, trial in enumerate(design["trials"]):
        key, rt = observer_answer(trial, design["info"], rng)
        body = trial_body(pid, trial, key, rt)
        start = time.perf_counter()
        r = await _post(client, "/api/experiment/trials", body, headers)
        out["latency_ms"].append(1000 * (time.perf_counter() - start))
        out["status"][r.status_code] = out["status"].get(r.status_code, 0) + 1
        if retry_every and i % retry_every == 0:  # the reply was "lost": the page posts it again
            r = await _post(client, "/api/experiment/trials", body, headers)
            out["retry_status"][r.status_code] = out["retry_status"].get(r.status_code, 0) + 1
    r = await _post(client, "/api/experiment/complete", {"participant_id": pid}, headers)
    out["completed"] += int(r.status_code == 200)


async def _session(base_url, pid, rng, retry_every, out, started, go, tls) -> None:
    import httpx

    # one client (one keep-alive connection) per simulated browser, as real browsers have
    async with httpx.AsyncClient(base_url=base_url, timeout=60, verify=tls) as client:
        session = await _start(client, pid, out)
        started.append(pid)
        await go.wait()
        await _post_trials(client, session, rng, retry_every, out)


async def _load_test(base_url, n, retry_every, prefix, seed, timeout) -> dict:
    out = {"expected": {}, "latency_ms": [], "status": {}, "retry_status": {}, "completed": 0}
    rngs = np.random.default_rng(seed).spawn(n)
    started, go = [], asyncio.Event()
    tls = ssl.create_default_context()  # built once: loading the CA bundle per client costs more than a post
    start = time.perf_counter()
    tasks = [
        asyncio.create_task(_session(base_url, f"{prefix}{k:04d}", rngs[k], retry_every, out, started, go, tls))
        for k in range(n)
    ]

    async def all_started():
        while len(started) < n:
            done = [t for t in tasks if t.done() and t.exception() is not None]
            if done:
                raise done[0].exception()
            await asyncio.sleep(0.01)

    await asyncio.wait_for(all_started(), timeout)
    posting = time.perf_counter()
    go.set()  # every participant posts its trials at once
    await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    out["start_elapsed_s"] = posting - start
    out["post_elapsed_s"] = time.perf_counter() - posting
    return out


def load_test(
    base_url: str, n: int = 200, *, retry_every: int = 3, prefix: str = "L", seed: int = 0, timeout: float = 120.0
) -> dict:
    """Run ``n`` simulated participants at once against ``base_url``.

    Returns
    -------
    dict
        ``expected`` (participant -> trials in its design), ``latency_ms`` (every first post),
        ``status`` and ``retry_status`` (HTTP status counts), ``completed``, ``start_elapsed_s``
        (all participants started at once) and ``post_elapsed_s`` (then all their trials posted
        at once, retries and completions included).
    """
    return asyncio.run(_load_test(base_url, n, retry_every, prefix, seed, timeout))


#: The tiny study's images: (image_id, is an animal, game label)
TINY_IMAGES = (("a0", True, "cat"), ("a1", True, "dog"), ("n0", False, "car"), ("n1", False, "cup"))


def _png(path, seed: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    Image.fromarray(pixels).save(path)


def write_tiny_study(root) -> dict:
    """A tiny study for load tests and benchmarks: 4 images (2 animals) x 2 map sources x 2
    levels + intact (random blocks, not photographs), an experiment TOML (2 training trials, 1
    block of 4), game images, labels and a game TOML (2 s rounds, 2 rounds).

    Returns
    -------
    dict
        Paths: ``root, experiment, images, labels, game``.
    """
    root = Path(root)
    stim = root / "stimuli"
    stim.mkdir()
    rows = ["image_id,category,target,map_source,level,path"]
    k = 0
    for image_id, target, _label in TINY_IMAGES:
        category = "animal" if target else "non-animal"
        for source in ("clickme", "saliency"):
            for level in (10.0, 50.0):
                name = f"{image_id}_{source}_{level:g}.png"
                _png(stim / name, k, 32)
                rows.append(f"{image_id},{category},{str(target).lower()},{source},{level},{name}")
                k += 1
        _png(stim / f"{image_id}_intact.png", k, 32)
        rows.append(f"{image_id},{category},{str(target).lower()},intact,100,{image_id}_intact.png")
        k += 1
    (stim / "manifest.csv").write_text("\n".join(rows) + "\n")
    experiment = root / "experiment.toml"
    experiment.write_text(
        'manifest = "stimuli/manifest.csv"\nn_training = 2\nn_blocks = 1\ntrials_per_block = 4\n'
        "too_slow_duration = 0.2\ntraining_feedback_duration = 0.2\nblock_feedback_max = 0.5\nimage_size = 128\n"
    )
    images = root / "images"
    images.mkdir()
    for i, (image_id, _, _label) in enumerate(TINY_IMAGES):
        _png(images / f"{image_id}.png", 100 + i, 256)
    labels = root / "labels.csv"
    labels.write_text("image_id,label\n" + "".join(f"{i},{lab}\n" for i, _, lab in TINY_IMAGES))
    game = root / "game.toml"
    game.write_text("round_seconds = 2.0\nn_rounds = 2\n")
    return {"root": root, "experiment": experiment, "images": images, "labels": labels, "game": game}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_cluster():
    """A throwaway PostgreSQL cluster in a temporary folder (initdb + pg_ctl on a loopback port),
    run as the ``postgres`` user when this process is root; yields its SQLAlchemy URL. Raises
    RuntimeError saying why when it cannot start."""
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install -y postgresql)")
    bindir = Path(os.path.realpath(initdb)).parent
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root without runuser to start PostgreSQL as another user")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and no 'postgres' user to start PostgreSQL as") from None
        prefix = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="clickme-pg-"))
    if prefix:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()

    def run(*cmd, timeout=60):
        done = subprocess.run([*prefix, *map(str, cmd)], capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-300:]}")

    try:
        run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(
            bindir / "pg_ctl",
            "-D",
            data,
            "-l",
            folder / "log",
            "-w",
            "-t",
            "30",
            "start",
            "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
        )
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
