"""A real browser (Playwright driving Debian's headless Chromium) completes a short experiment
and two game rounds against ``clickme serve`` on loopback; the rows land in the database and the
export is read by ``clickme experiment analyze`` and ``clickme maps``."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from tests.online.helpers import running_server, serve_config

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, or a skip that says why it cannot start."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as err:
        pytest.skip(f"playwright is not installed: {err}")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True, timeout=30000)
        except Error as err:
            pytest.skip(f"Chromium does not start: {str(err).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def jspsych():
    """jsPsych in ``experiments/online/web/node_modules``, or a skip that says how to install it."""
    from clickme_analysis.errors import InputError
    from experiments.online.app import web_libraries

    try:
        return web_libraries()
    except InputError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def server(jspsych, online_files, tmp_path_factory):
    from experiments.online.app import create_app

    db = tmp_path_factory.mktemp("browser") / "online.db"
    app = create_app(serve_config(online_files, f"sqlite:///{db}"))
    with running_server(app) as url:
        yield url, app.state.online.store, f"sqlite:///{db}"


def _page(browser, errors):
    page = browser.new_page(viewport={"width": 1000, "height": 760})
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return page


def _run_experiment(page, deadline: float, stop_after: int | None = None, seen: int = 0) -> int:
    """Answer each trial while its image is shown (the second one left to time out); returns
    trials seen, at the end or once ``stop_after`` trials were seen."""
    pressed_for = None
    while time.monotonic() < deadline:
        if stop_after is not None and seen >= stop_after:
            return seen
        state = page.evaluate("""() => {
            if (document.querySelector('#cm-done')) return 'done';
            if (document.querySelector('.cm-fatal')) return 'fatal:' + document.querySelector('.cm-fatal').textContent;
            const img = document.querySelector('.rc-stim');
            if (img && img.style.visibility === 'visible') return 'stim:' + img.getAttribute('src');
            if (document.querySelector('#cm-block-feedback')) return 'space';
            if (document.body.textContent.includes('Practice done')) return 'space';
            return 'wait';
        }""")
        if state == "done":
            return seen
        if state.startswith("fatal:"):
            raise AssertionError(state)
        if state.startswith("stim:") and pressed_for != (seen, state):
            seen += 1
            pressed_for = (seen, state)
            if seen != 2:  # the second trial times out: "Too slow!"
                page.keyboard.press("s" if seen % 2 else "l")
        elif state == "space":
            page.keyboard.press(" ")
            time.sleep(0.1)
        time.sleep(0.02)
    raise AssertionError("the experiment did not finish in time")


def _paint(page, seconds: float) -> None:
    box = page.locator("#cm-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        t = time.monotonic() - start
        page.mouse.move(cx + 90 * math.cos(3 * t) * min(1, t), cy + 90 * math.sin(3 * t) * min(1, t))
        time.sleep(0.02)
        if not page.locator("#cm-canvas").count():
            break
    page.mouse.up()


def test_browser_experiment_and_game(browser, server, tmp_path):
    from clickme_app.cli import main
    from experiments.online.export import export_all
    from experiments.session import DATA_COLUMNS

    url, store, db = server
    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(f"{url}/experiment?PROLIFIC_PID=W001&STUDY_ID=ST1&SESSION_ID=SE1&photodiode=1")
    page.get_by_role("button", name="I agree").click()
    page.locator("#jspsych-instructions-next").click()
    page.locator("#jspsych-instructions-next").click()
    page.locator("#jspsych-fullscreen-btn").click()
    deadline = time.monotonic() + 60
    seen = _run_experiment(page, deadline, stop_after=3)
    while len(store.rows("trials")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    page.reload()  # a reload resumes after the stored trials
    page.locator("#jspsych-instructions-next").click()  # "welcome back"
    page.locator("#jspsych-fullscreen-btn").click()
    seen = _run_experiment(page, deadline, seen=seen)
    assert seen == 6, errors
    assert "C0DE42" in page.locator("#cm-completion-code").inner_text()

    people = {p["participant_id"]: p for p in store.all_participants("experiment")}
    assert people["W001"]["status"] == "completed" and people["W001"]["study_id"] == "ST1"
    rows = [r["row"] for r in store.rows("trials", people["W001"]["id"])]
    assert len(rows) == 6 and len({(r["phase"], r["block"], r["trial"]) for r in rows}) == 6
    assert sum(r["timed_out"] for r in rows) >= 1  # the unanswered trial
    for r in rows:  # frame-timed: 400 ms requested as whole frames at the estimated rate
        assert r["refresh_hz"] > 20 and r["stim_frames_requested"] == round(0.4 * r["refresh_hz"])
        assert r["stim_ms"] > 0 and r["timing"] == "browser-raf"
        assert r["timing_flag"] == (abs(r["stim_frames"] - r["stim_frames_requested"]) > 1)
    answered = [r for r in rows if not r["timed_out"]]
    assert answered and all(0 < r["rt"] <= 0.55 for r in answered)

    game = _page(browser, errors)
    game.goto(f"{url}/game?PROLIFIC_PID=W001&STUDY_ID=ST1&SESSION_ID=SE1")
    game.get_by_role("button", name="I agree").click()
    game.locator("#jspsych-instructions-next").click()
    game.locator("#cm-canvas").wait_for()
    _paint(game, 2.3)  # round 1: painted until the partner recognises it or the 2 s run out
    game.get_by_role("button", name="Next picture").click()
    game.locator("#cm-canvas").wait_for()
    _paint(game, 0.4)
    game.locator("#cm-skip").click()  # round 2: skipped
    game.get_by_role("button", name="Next picture").click()
    game.locator("#cm-done").wait_for(timeout=10000)
    rounds = [r["record"] for r in store.rows("rounds")]
    assert [r["round"] for r in rounds] == [1, 2] and rounds[1]["skipped"] and not rounds[0]["skipped"]
    first = rounds[0]
    assert len(first["x"]) > 5 and first["guesses"], first
    steps = [
        math.hypot(x1 - x0, y1 - y0) for x0, y0, x1, y1 in zip(first["x"], first["y"], first["x"][1:], first["y"][1:])
    ]
    assert max(steps) <= 7.0 + 1e-6  # the original game's <= 7 px per point
    gaps = [b - a for a, b in zip(first["t"], first["t"][1:])]
    assert min(gaps) >= 50 - 0.15  # a point every 50 ms, stored only when new
    assert all(g["t"] <= 1000 * first["round_seconds"] + 1 for g in first["guesses"])
    assert all(g["latency_ms"] < 2000 for g in first["guesses"])  # answers return within the round
    assert not errors, errors

    # the analysis needs several participants and levels: simulated ones join the browser's
    import httpx

    from tests.online.sim import simulate_participants

    with httpx.Client(base_url=url) as client:
        simulate_participants(client, [f"S{k:03d}" for k in range(12)], seed=1)
    out = tmp_path / "export"
    export_all(store, out)
    header = (out / "experiment" / "data" / "W001.csv").read_text().splitlines()[0]
    assert header == ",".join(DATA_COLUMNS)
    assert (
        main(
            [
                "experiment",
                "analyze",
                str(out / "experiment" / "data"),
                "--out",
                str(tmp_path / "analysis"),
                "--permutations",
                "50",
                "--boot",
                "5",
            ]
        )
        == 0
    )
    assert main(["maps", str(out / "game" / "game_log.jsonl"), "--out", str(tmp_path / "maps.npz")]) == 0
    assert (tmp_path / "maps.npz").is_file()
    from clickme_analysis.psychophysics.trials import load_trials

    assert set(load_trials(out / "experiment" / "data")["participant"]) == {"W001", *(f"S{k:03d}" for k in range(12))}


def test_refused_trial_post_shows_a_message_not_a_blank_page(browser, server):
    """Any refused post (here a 409 the page cannot fix) stops the page with what to do and the id."""
    url, _store, _db = server
    errors: list[str] = []
    page = _page(browser, errors)
    page.route(
        "**/api/experiment/trials",
        lambda route: route.fulfill(
            status=409, content_type="application/json", body='{"detail": "another post holds this trial"}'
        ),
    )
    page.goto(f"{url}/experiment?PROLIFIC_PID=W409")
    page.get_by_role("button", name="I agree").click()
    page.locator("#jspsych-instructions-next").click()
    page.locator("#jspsych-instructions-next").click()
    page.locator("#jspsych-fullscreen-btn").click()
    fatal = page.locator(".cm-fatal")
    fatal.wait_for(timeout=30000)
    text = fatal.inner_text()
    assert "could not be saved" in text and "another post holds this trial" in text and "W409" in text


def _serve(argv, env):
    import subprocess

    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_server_killed_mid_round_is_invisible_to_the_player(browser, jspsych, online_files, tmp_path):
    """SIGKILL during a game round, restart (a new random admin token): the round is posted once
    the server is back, its partner answers (signed before the kill) are accepted, the game ends."""
    import os
    import signal
    import sys

    import httpx

    from tests.online.helpers import free_port

    root = Path(__file__).resolve().parents[2]
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "clickme_app",
        "serve",
        "--images",
        str(online_files["images"]),
        "--labels",
        str(online_files["labels"]),
        "--game-config",
        str(online_files["game"]),
        "--db",
        f"sqlite:///{tmp_path / 'kill.db'}",
        "--port",
        str(port),
        "--game-completion-code",
        "G4ME42",
    ]
    env = {**os.environ, "PYTHONPATH": str(root)}
    url = f"http://127.0.0.1:{port}"

    def wait_up(proc):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            try:
                httpx.get(url + "/favicon.ico", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start")

    proc = _serve(argv, env)
    try:
        wait_up(proc)
        errors: list[str] = []
        game = _page(browser, errors)
        game.goto(f"{url}/game?PROLIFIC_PID=K001")
        game.get_by_role("button", name="I agree").click()
        game.locator("#jspsych-instructions-next").click()
        game.locator("#cm-canvas").wait_for()
        _paint(game, 0.6)  # a few partner answers, signed by this process
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc = _serve(argv, env)
        _paint(game, 1.6)  # the round runs out while the server is down or starting
        wait_up(proc)
        game.get_by_role("button", name="Next picture").click(timeout=60000)
        game.locator("#cm-canvas").wait_for()
        game.locator("#cm-skip").click()
        game.get_by_role("button", name="Next picture").click(timeout=30000)
        game.locator("#cm-done").wait_for(timeout=30000)
        assert "G4ME42" in game.locator("#cm-completion-code").inner_text()
        assert not game.locator(".cm-fatal").count()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    import sqlite3

    with sqlite3.connect(tmp_path / "kill.db") as conn:
        rounds = conn.execute("SELECT round_number, record FROM rounds ORDER BY round_number").fetchall()
    assert [r[0] for r in rounds] == [1, 2]
    import json

    first = json.loads(rounds[0][1])
    assert len(first["x"]) > 5 and first["guesses"]  # answers signed before the kill were accepted after it
