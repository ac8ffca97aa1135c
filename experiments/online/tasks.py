"""What the server knows about the two tasks, loaded once per process from the lab versions' files.

:class:`ExperimentTask` builds each participant's trial design with the lab runner's own
functions (:func:`experiments.design.build_trials`: same Latin square, groups, key-map rotation
and seed) and turns a browser's trial post into a row of the runner's CSV
(:data:`experiments.session.DATA_COLUMNS`), scoring the response on the server.
:class:`GameTask` holds the game's images and partner and turns a round post into the PsychoPy
game's log record (:meth:`experiments.game.task.RoundState.record`). Nothing here changes after
loading: participants' state lives in the database only.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import math
import threading
import time
from pathlib import Path

from clickme_analysis.errors import InputError
from experiments.config import load_experiment_config
from experiments.design import build_trials, latin_square, load_assignment, load_manifest, score_response
from experiments.game.config import load_game_config
from experiments.game.partner import ModelPartner, PartnerView, StandInPartner, read_classes
from experiments.game.task import RoundState, load_images, participant_rng, partner_view, play_order

#: The browser timing method recorded in the ``timing`` column
BROWSER_TIMING = "browser-raf"


class ExperimentTask:
    """The rapid-categorization experiment of one ``ExperimentConfig`` TOML.

    Parameters
    ----------
    config_path : str or Path
        The lab experiment TOML (manifest, assignment, design and timing settings).
    """

    def __init__(self, config_path):
        self.config_path = Path(config_path)
        self.config = load_experiment_config(self.config_path)
        self.manifest = load_manifest(self.config.manifest)
        self.assignment = (
            load_assignment(self.config.assignment) if self.config.assignment else latin_square(self.manifest)
        )
        #: stimulus number -> file; browsers ask for stimuli by number, never by path
        self.stimuli = sorted(set(self.manifest["path"]))
        self._number = {path: k for k, path in enumerate(self.stimuli)}
        missing = [p for p in self.stimuli if not Path(p).is_file()]
        if missing:
            raise InputError(f"stimulus file not found: {missing[0]}", path=self.config.manifest, field="path")

    def design(self, index: int) -> dict:
        """Participant ``index``'s assignment and trial list (stored with the participant)."""
        info, trials = build_trials(self.manifest, self.assignment, index, self.config)
        rows = []
        for rec in trials.to_dict("records"):
            rows.append(
                {
                    "phase": rec["phase"],
                    "block": int(rec["block"]),
                    "trial": int(rec["trial"]),
                    "image_id": str(rec["image_id"]),
                    "category": str(rec["category"]),
                    "target": bool(rec["target"]),
                    "map_source": str(rec["map_source"]),
                    "level": float(rec["level"]),
                    "path": rec["path"],
                    "fixation_duration": float(rec["fixation_duration"]),
                    "stimulus": self._number[rec["path"]],
                }
            )
        return {
            "info": {k: (int(v) if k in ("participant_index", "participant_list") else v) for k, v in info.items()},
            "trials": rows,
            "config": self.config.to_dict(),
        }

    def client_view(self, design: dict) -> dict:
        """What the browser needs: timing, keys and trials (stimulus numbers, no file paths)."""
        cfg = self.config
        keep = ("phase", "block", "trial", "target", "fixation_duration", "stimulus")
        return {
            "info": design["info"],
            "timing": {
                "stimulus_duration": cfg.stimulus_duration,
                "response_window": cfg.response_window,
                "too_slow_duration": cfg.too_slow_duration,
                "training_feedback_duration": cfg.training_feedback_duration,
                "block_feedback_max": cfg.block_feedback_max,
                "image_size": cfg.image_size,
                "dropped_frame_factor": cfg.dropped_frame_factor,
                "background": _grey(cfg.background),
            },
            "continue_key": cfg.continue_key,
            # the right answer only where the page gives feedback: test trials are scored here
            "trials": [{k: t[k] for k in keep if k != "target" or t["phase"] == "training"} for t in design["trials"]],
        }

    def trial_row(self, participant_id: str, design: dict, post, *, places: dict) -> dict:
        """The runner-CSV row of one posted trial (plus the browser's timing fields).

        ``places`` is :func:`trial_places` of ``design`` (the server keeps one per
        participant). Raises InputError when the trial is not in the participant's
        design or the key is not one of the two response keys.
        """
        info = design["info"]
        found = places.get((post.phase, post.block, post.trial))
        if found is None:
            raise InputError(
                f"no trial ({post.phase}, block {post.block}, trial {post.trial}) in this participant's design",
                field="trial",
            )
        trial = found[0]
        if post.response is not None and post.response not in (info["target_key"], info["distractor_key"]):
            raise InputError(
                f"expected response {info['target_key']!r}, {info['distractor_key']!r} or null, got {post.response!r}",
                field="response",
            )
        if (post.response is None) != (post.rt_ms is None):
            raise InputError("a response needs an rt_ms and no response needs none", field="rt_ms")
        key = post.response if post.rt_ms is not None and post.rt_ms <= 1000 * self.config.response_window else None
        period_ms = 1000.0 / post.refresh_hz
        intervals = list(post.frame_intervals_ms)
        off_frames = post.stim_frames - post.stim_frames_requested
        row = {
            "participant": participant_id,
            **{
                k: info[k]
                for k in ("participant_index", "group", "participant_list", "key_map", "target_key", "distractor_key")
            },
        }
        row.update(
            {
                k: trial[k]
                for k in (
                    "phase",
                    "block",
                    "trial",
                    "image_id",
                    "category",
                    "target",
                    "map_source",
                    "level",
                    "path",
                    "fixation_duration",
                )
            }
        )
        row.update(score_response(key, trial["target"], info))
        row.update(
            {
                "rt": None if key is None else post.rt_ms / 1000,
                "rt_keyboard": None if key is None else post.rt_ms / 1000,
                "rt_frames": None if key is None else post.rt_frames,
                "fixation_frames": post.fixation_frames,
                "stim_frames": post.stim_frames,
                "stim_duration": post.stim_ms / 1000,
                "stim_duration_nominal": post.stim_frames_requested * period_ms / 1000,
                "dropped_frames": sum(1 for x in intervals if x > self.config.dropped_frame_factor * period_ms),
                "frame_intervals_ms": ";".join(f"{x:.3f}" for x in intervals),
                "onset_time": post.onset_ms / 1000,
                "timing": BROWSER_TIMING,
                "time": post.client_time or None,
                # browser timing (exported to browser_timing.csv beside the runner's CSVs)
                "refresh_hz": post.refresh_hz,
                "stim_frames_requested": post.stim_frames_requested,
                "stim_ms_requested": post.stim_frames_requested * period_ms,
                "stim_ms": post.stim_ms,
                "fixation_ms": post.fixation_ms,
                "off_frames": off_frames,
                "timing_flag": abs(off_frames) > 1,
            }
        )
        return row

    def min_trial_s(self, trial: dict) -> float:
        """The shortest time the page can take for ``trial``: fixation, stimulus, and training feedback."""
        cfg = self.config
        return (
            trial["fixation_duration"]
            + cfg.stimulus_duration
            + (cfg.training_feedback_duration if trial["phase"] == "training" else 0.0)
        )

    def pacing_flags(self, design: dict, stored: list, factor: float) -> list[str]:
        """Why a session's pacing is impossible for a person running the page (empty: plausible).

        ``stored`` are the session's trial rows (``phase, block, trial, received``, the server's
        clock). The page posts each trial as it ends and starts the next one only after the reply,
        so consecutive arrivals are at least the later trial's :meth:`min_trial_s` apart, and the
        whole session at least their sum; ``factor`` (0-1) is the share of that minimum required
        (frame rounding, clock jitter); 0 turns the check off.
        """
        if factor <= 0 or len(stored) < 2:
            return []
        trials = {(t["phase"], t["block"], t["trial"]): t for t in design["trials"]}
        rows = sorted(stored, key=lambda r: r["received"])
        times = [_seconds(r["received"]) for r in rows]
        need = [self.min_trial_s(trials[(r["phase"], r["block"], r["trial"])]) for r in rows[1:]]
        flags = []
        span, total = times[-1] - times[0], sum(need)
        if span < factor * total:
            flags.append(f"too fast: {len(rows)} trials in {span:.1f} s; the design needs at least {total:.1f} s")
        quick = sum(1 for a, b, n in zip(times, times[1:], need) if b - a < factor * n)
        if quick:
            flags.append(
                f"impossible pacing: {quick} trials arrived sooner after the previous one than the trial lasts"
            )
        return flags


def _seconds(iso: str) -> float:
    """Seconds since 1970 of an ISO 8601 time.

    Examples
    --------
    >>> _seconds("1970-01-01T00:01:00.500+00:00")
    60.5
    """
    return datetime.datetime.fromisoformat(iso).timestamp()


def trial_places(design: dict) -> dict:
    """``(phase, block, trial) -> (the design's trial, whether it is its block's last)``: where a
    posted trial is found without scanning the design.

    Examples
    --------
    >>> design = {"trials": [{"phase": "test", "block": 1, "trial": n} for n in (1, 2)]}
    >>> {place: last for place, (_, last) in trial_places(design).items()}
    {('test', 1, 1): False, ('test', 1, 2): True}
    """
    places = {(t["phase"], t["block"], t["trial"]): t for t in design["trials"]}
    last = {}
    for phase, block, trial in places:
        last[(phase, block)] = max(trial, last.get((phase, block), trial))
    return {place: (t, last[place[:2]] == place[2]) for place, t in places.items()}


def _grey(value: float) -> str:
    """PsychoPy grey in [-1, 1] -> CSS colour.

    Examples
    --------
    >>> _grey(0.0), _grey(1.0)
    ('rgb(128,128,128)', 'rgb(255,255,255)')
    """
    level = int(round((max(-1.0, min(1.0, float(value))) + 1) * 127.5))
    return f"rgb({level},{level},{level})"


class GameTask:
    """The ClickMe game of one game TOML, its images and its partner.

    Parameters
    ----------
    config_path : str or Path or None
        Game TOML (``clickme game --config``); None: the defaults.
    images, labels : str or Path
        Folder of ``<image_id>.png`` and ``labels.csv``.
    partner, classes : str or Path or None
        Checkpoint of ``clickme train`` and its class names; no partner: the stand-in.
    device : str
    standin_threshold : float
    secret : bytes
        Key that signs partner answers, so a round post can only claim answers the server gave.
    """

    def __init__(
        self,
        config_path,
        images,
        labels,
        partner=None,
        classes=None,
        device="cpu",
        standin_threshold=0.3,
        secret: bytes = b"",
    ):
        self.config = load_game_config(config_path or None)
        image_list, self.labels = load_images(images, labels, self.config.image_size)
        self.images = {im.image_id: im for im in image_list}
        self.image_list = image_list
        self.images_dir = Path(images)
        self.partner = self._partner(image_list, partner, classes, device, standin_threshold)
        self.description = getattr(self.partner, "description", type(self.partner).__name__)
        self.secret = secret
        self._lock = threading.Lock()

    def _partner(self, images, checkpoint, classes, device, threshold):
        if not checkpoint:
            return StandInPartner.from_images(
                images, self.labels, threshold=threshold, top_k=self.config.top_k, seed=self.config.seed
            )
        names = read_classes(classes) if classes else self.labels
        return ModelPartner(checkpoint, names, self.config.top_k, device)

    def design(self, participant_id: str) -> dict:
        """The participant's image order (:func:`experiments.game.task.play_order`)."""
        order = play_order(self.image_list, participant_id, self.config.seed, n_rounds=self.config.n_rounds)
        return {
            "order": [im.image_id for im in order],
            "config": self.config.to_dict(),
            "point_rule": self.config.point_rule_record(),
            "partner": self.description,
        }

    def client_view(self, design: dict) -> dict:
        cfg = self.config
        return {
            "order": [{"image_id": i, "label": self.images[i].label} for i in design["order"]],
            "round_seconds": cfg.round_seconds,
            "image_size": cfg.image_size,
            "player_bubble": cfg.player_bubble,
            "overlay_alpha": cfg.overlay_alpha,
            "overlay_color": list(cfg.overlay_color),
            "query_min": cfg.query_min,
            "query_max": cfg.query_max,
            "point_rule": cfg.point_rule,
            "point_interval_ms": 1000 * cfg.point_interval,
            "point_step_px": cfg.point_step,
            "background": _grey(cfg.background),
        }

    def image_for_round(self, design: dict, number: int):
        if not 1 <= number <= len(design["order"]):
            raise InputError(f"expected a round number in 1..{len(design['order'])}, got {number}", field="round")
        return self.images[design["order"][number - 1]]

    def query(self, participant_id: str, design: dict, number: int, *, x, y) -> dict:
        """The partner's answer to the round's points, seen as ``partner_bubble`` px reveals."""
        cfg = self.config
        image = self.image_for_round(design, number)
        rng = participant_rng(cfg.seed, participant_id, 3, number, len(x))
        start = time.perf_counter()
        view, mask = partner_view(
            image.image, x, y, bubble=cfg.partner_bubble, background=cfg.partner_background, rng=rng
        )
        with self._lock:  # one network forward at a time per process
            top = [str(label) for label in self.partner(PartnerView(image.image_id, view, mask))][: cfg.top_k]
        compute_ms = 1000 * (time.perf_counter() - start)
        answer = {
            "round": number,
            "n_points": len(x),
            "top": top,
            "correct": image.label in top,
            "compute_ms": round(compute_ms, 1),
            "asked": int(time.time() * 1000),
        }
        answer["signature"] = self.sign(participant_id, answer, points_digest(x, y))
        return answer

    def sign(self, participant_id: str, answer: dict, digest: str) -> str:
        """HMAC of an answer: who asked, the round, the points it saw (their number and digest),
        when the server answered, and what it answered."""
        message = json.dumps(
            [
                participant_id,
                answer["round"],
                answer["n_points"],
                digest,
                answer["asked"],
                answer["top"],
                answer["compute_ms"],
            ],
            separators=(",", ":"),
        )
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()

    def round_record(self, participant_id: str, session_id: str, design: dict, post) -> dict:
        """The PsychoPy game's log record of one posted round (success and points from the
        partner answers the server signed; a forged or altered answer is refused)."""
        cfg = self.config
        image = self.image_for_round(design, post.round)
        if post.image_id != image.image_id:
            raise InputError(
                f"round {post.round} shows image {image.image_id!r}, got {post.image_id!r}", field="image_id"
            )
        if not (len(post.x) == len(post.y) == len(post.t)):
            raise InputError(
                f"expected x, y and t of equal length, got {len(post.x)}, {len(post.y)}, {len(post.t)}", field="x"
            )
        check_points(post.x, post.y, post.t, cfg)
        state = RoundState(image, cfg.image_size, cfg.player_bubble)
        state.x, state.y, state.t = [round(v, 1) for v in post.x], [round(v, 1) for v in post.y], list(post.t)
        state.first_press = None if post.first_press_t is None else post.first_press_t / 1000
        state.skipped = post.skipped
        check_answers(self, participant_id, post)
        for g in post.guesses:
            if g.t > post.duration_ms + 1e-6:
                continue  # arrived after the round ended: not part of it
            state.answer(g.t_sent / 1000, g.t / 1000, top=g.top, compute=g.compute_ms / 1000, n_points=g.n_points)
        duration = post.duration_ms / 1000
        if state.success_time is not None and not post.skipped:
            duration = min(duration, state.success_time)
        return state.record(
            participant_id,
            post.round,
            cfg.round_seconds,
            duration,
            n_frames=post.n_frames,
            max_frame_ms=post.max_frame_ms,
            session_id=session_id,
        )


def points_digest(x, y) -> str:
    """SHA-256 of points as the game stores them (0.1 px): what a partner answer was given for.

    Examples
    --------
    >>> points_digest([1.04], [2.0]) == points_digest([1.0], [2.0])
    True
    """
    text = ";".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y))
    return hashlib.sha256(text.encode()).hexdigest()


#: Slack (ms) between the page's and the server's clocks over one round (network jitter)
CLOCK_SLACK_MS = 1500.0


def check_answers(game: GameTask, participant_id: str, post) -> None:
    """Refuse a round whose partner answers the server did not give for *these* points at
    *these* times: each answer's signature must cover the round's first ``n_points`` points and
    the server time it was given; it must have been asked after its last point was painted and
    answered after it was asked; and the gaps between answers on the page's clock must match the
    gaps on the server's (within :data:`CLOCK_SLACK_MS` + 10 %)."""
    for k, g in enumerate(post.guesses, start=1):
        if g.n_points > len(post.x):
            raise InputError(
                f"answer {k} was given for {g.n_points} points; the round has {len(post.x)}", field="guesses"
            )
        answer = {
            "round": post.round,
            "n_points": g.n_points,
            "top": g.top,
            "compute_ms": g.compute_ms,
            "asked": g.asked,
        }
        digest = points_digest(post.x[: g.n_points], post.y[: g.n_points])
        if not hmac.compare_digest(game.sign(participant_id, answer, digest), g.signature):
            raise InputError(
                f"answer {k} was not given by this server for these points (bad signature)", field="guesses"
            )
        if g.t < g.t_sent or (g.n_points and g.t_sent + 0.5 < post.t[g.n_points - 1]):
            raise InputError(
                f"answer {k}'s times contradict the round (asked at {g.t_sent:g} ms, received at "
                f"{g.t:g} ms, its last point at {post.t[g.n_points - 1] if g.n_points else 0:g} ms)",
                field="guesses",
            )
    for k, (a, b) in enumerate(zip(post.guesses, post.guesses[1:]), start=2):
        page, server = b.t_sent - a.t_sent, b.asked - a.asked
        if abs(page - server) > CLOCK_SLACK_MS + 0.1 * abs(server):
            raise InputError(
                f"answer {k} came {server:g} ms after the previous one on the server's clock but "
                f"{page:g} ms on the page's",
                field="guesses",
            )


def check_points(x, y, t, config) -> None:
    """Refuse a round's points that the game's point rule cannot make: times that go back, and
    under the ``interval`` rule points closer than ``point_interval`` in time or further than
    ``point_step`` apart (the page makes them with the PsychoPy game's rule).

    Examples
    --------
    >>> from experiments.game.config import GameConfig
    >>> check_points([0, 7, 14], [0, 0, 0], [100.0, 150.0, 200.0], GameConfig())
    >>> check_points([0, 9], [0, 0], [100.0, 150.0], GameConfig())
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'x': point 2 is 9.0 px from the last; the point rule allows 7 px
    """
    for k in range(1, len(t)):
        gap = t[k] - t[k - 1]
        if gap < 0:
            raise InputError(f"point {k + 1} is earlier than point {k}", field="t")
        if config.point_rule != "interval":
            continue
        if gap < 1000 * config.point_interval - 0.5:
            raise InputError(
                f"point {k + 1} is {gap:.1f} ms after the last; the point rule makes one every "
                f"{1000 * config.point_interval:g} ms",
                field="t",
            )
        step = math.hypot(x[k] - x[k - 1], y[k] - y[k - 1])
        if step > config.point_step + 1e-6:
            raise InputError(
                f"point {k + 1} is {step:.1f} px from the last; the point rule allows {config.point_step:g} px",
                field="x",
            )
