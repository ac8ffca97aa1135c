"""Round logic of the ClickMe game, its images and its click log (no PsychoPy, no torch).

A round shows one image under its category name. From the player's first mouse press on, the
cursor is turned into points painted as 14x14 px bubbles on the player's screen; the partner
sees only 21x21 px bubbles at the same points. By default points follow the original ClickMe
game (:func:`next_points`): a point every 50 ms, each stepping at most 7 px from the last
point toward the cursor, stored only when new; ``rule="frame"`` takes the cursor every frame
it moved. The round ends when
the partner's top-5 holds the true label or after ``round_seconds``; the player earns the
fraction of the round left when the partner's correct answer came back, 0 otherwise.

The log (:class:`GameLog`) is JSON lines, one object per round, appended, flushed and fsync'ed
as the round ends (:class:`clickme_analysis.fileio.AppendLog`), in the per-round form
:func:`clickme_analysis.clicklog.read_clicks` reads.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import AppendLog, atomic_write_text, now_iso, read_jsonl
from clickme_analysis.imagefile import read_image
from clickme_analysis.labels import read_labels
from clickme_analysis.maps import paint_clicks

#: ImageNet mean RGB (0-255): the partner's neutral background
MEAN_RGB = (124, 116, 104)


@dataclass(frozen=True)
class GameImage:
    """One image of the game: id, true label, uint8 (S, S, 3) pixels."""

    image_id: str
    label: str
    image: np.ndarray


def load_images(images_dir, labels_path, size: int = 256) -> tuple[list[GameImage], list[str]]:
    """Read ``labels.csv`` (:func:`~clickme_analysis.labels.read_labels`, every label given) and
    ``<images_dir>/<image_id>.png``.

    Images of another size are resized to ``size`` x ``size`` (clicks are recorded on that grid).

    Returns
    -------
    images : list of GameImage
        In the labels file's order.
    labels : list of str
        The distinct labels, sorted (the label set partners guess from).
    """

    labels_path, images_dir = Path(labels_path), Path(images_dir)
    table = read_labels(labels_path, required=("label",))
    if not images_dir.is_dir():
        raise InputError("images folder not found", path=images_dir)
    images = []
    for line, (image_id, label) in enumerate(zip(table["image_id"], table["label"]), start=2):
        path = images_dir / f"{image_id}.png"
        if not path.is_file():
            raise InputError(f"image {str(path)!r} not found", path=labels_path, line=line, field="image_id")
        images.append(GameImage(image_id, label, read_image(path, size=(size, size))))
    if not images:
        raise InputError("no images listed", path=labels_path)
    return images, sorted(set(table["label"]))


def participant_rng(seed: int, participant: str, *stream: int) -> np.random.Generator:
    """A generator for one participant (stable across runs: CRC32 of the id, not ``hash``)."""
    return np.random.default_rng([seed, zlib.crc32(participant.encode()), *stream])


def play_order(images: list[GameImage], participant: str, seed: int, *, done=(), n_rounds: int = 0) -> list[GameImage]:
    """The participant's shuffled images, minus those in ``done``; at most ``n_rounds`` (0: all)."""
    order = participant_rng(seed, participant).permutation(len(images))
    todo = [images[i] for i in order if images[i].image_id not in set(done)]
    return todo[:n_rounds] if n_rounds else todo


def partner_view(
    image: np.ndarray, x, y, *, bubble: int = 21, background: str = "mean", rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """What the partner sees: the image inside ``bubble`` x ``bubble`` squares at the points.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W, 3)
    x, y : array_like of float
        Painted points (image pixels).
    bubble : int
        Bubble side (21 px in the paper's game).
    background : {"mean", "noise"}
        ImageNet mean gray, or uniform noise drawn from ``rng``.

    Returns
    -------
    view : ndarray, uint8, shape (H, W, 3)
    mask : ndarray, bool, shape (H, W)
        Revealed pixels.

    Examples
    --------
    >>> view, mask = partner_view(np.full((8, 8, 3), 255, np.uint8), [4], [4], bubble=3)
    >>> int(mask.sum()), view[4, 4].tolist(), view[0, 0].tolist()
    (9, [255, 255, 255], [124, 116, 104])
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected a uint8 (H, W, 3) image, got {image.dtype} {image.shape}", field="image")
    mask = paint_clicks(x, y, image.shape[:2], bubble, bubble="square")[0] > 0
    if background == "mean":
        fill = np.broadcast_to(np.array(MEAN_RGB, dtype=np.uint8), image.shape)
    elif background == "noise":
        fill = (rng or np.random.default_rng()).integers(0, 256, image.shape, dtype=np.uint8)
    else:
        raise InputError(f"expected background 'mean' or 'noise', got {background!r}", field="background")
    return np.where(mask[..., None], image, fill), mask


def overlay(image: np.ndarray, painted: np.ndarray, color=(255, 40, 40), alpha: float = 0.5) -> np.ndarray:
    """The player's screen: ``color`` blended at ``alpha`` over painted pixels; float RGB in [-1, 1].

    Examples
    --------
    >>> out = overlay(np.zeros((2, 2, 3), np.uint8), np.array([[True, False], [False, False]]), (255, 0, 0), 1.0)
    >>> out[0, 0].tolist(), out[1, 1].tolist()
    ([1.0, -1.0, -1.0], [-1.0, -1.0, -1.0])
    """
    rgb = image.astype(np.float32) / 255.0
    tint = np.asarray(color, dtype=np.float32) / 255.0
    rgb = np.where(painted[..., None], (1 - alpha) * rgb + alpha * tint, rgb)
    return rgb * 2.0 - 1.0


def image_coordinates(pos, center, size: int) -> tuple[float, float]:
    """Window pixels (origin at the window center, y up) -> image pixels (origin top-left, y down).

    Examples
    --------
    >>> image_coordinates((0, 0), (0, 0), 256)
    (128.0, 128.0)
    >>> image_coordinates((-128, 128), (0, 0), 256)
    (0.0, 0.0)
    """
    return float(pos[0] - center[0] + size / 2), float(center[1] + size / 2 - pos[1])


def window_coordinates(point, center, size: int) -> tuple[float, float]:
    """Inverse of :func:`image_coordinates`."""
    return float(point[0] + center[0] - size / 2), float(center[1] + size / 2 - point[1])


def round_points(success_time: float | None, round_seconds: float) -> float:
    """Points of a round: the fraction of the round left when the partner succeeded, else 0.

    Examples
    --------
    >>> round_points(1.75, 7.0), round_points(None, 7.0)
    (0.75, 0.0)
    """
    if success_time is None:
        return 0.0
    return float(min(1.0, max(0.0, (round_seconds - success_time) / round_seconds)))


def next_points(
    last, cursor, first_tick: int, t: float, start: float, *, interval: float = 0.05, step: float = 7.0
) -> tuple[list[tuple[float, float, float]], int]:
    """Points of the original ClickMe game due by time ``t``: the 50 ms / 7 px rule.

    Tick ``k`` fires at ``start + k * interval`` (``start``: the first press). At each tick due
    (``first_tick`` on, up to ``t``), the new point steps from the last point toward the cursor
    by at most ``step`` px (onto the cursor when it is closer; the step is cut to 0.1 px toward
    zero, so it never exceeds ``step``); it is kept
    only when it differs from the last point. The first tick (``k = 0``) puts a point on the
    cursor. Every tick due at one frame sees that frame's cursor.

    Parameters
    ----------
    last : tuple of float or None
        The last stored point (None before the first).
    cursor : tuple of float
        The cursor now (image pixels).
    first_tick : int
        The first tick not yet processed.
    t, start, interval, step : float
        Now, the first press (s), the tick interval (s) and the longest step (px).

    Returns
    -------
    points : list of (x, y, t)
        New points with their tick times (s).
    next_tick : int
        The first tick still to come.

    Examples
    --------
    >>> next_points((0.0, 0.0), (30.0, 40.0), 1, 0.1, 0.0)[0]  # ticks 1 and 2, 7 px each along (3, 4)/5
    [(4.2, 5.6, 0.05), (8.4, 11.2, 0.1)]
    """
    n_due = math.floor((t - start) / interval + 1e-9) + 1  # ticks 0 .. n_due - 1 have fired
    points = []
    for k in range(first_tick, n_due):
        if last is None:
            point = (round(float(cursor[0]), 1), round(float(cursor[1]), 1))
        else:
            dx, dy = cursor[0] - last[0], cursor[1] - last[1]
            distance = math.hypot(dx, dy)
            scale = 1.0 if distance <= step else step / distance
            point = (round(last[0] + _toward_zero(scale * dx), 1), round(last[1] + _toward_zero(scale * dy), 1))
        if point != last:
            points.append((*point, start + k * interval))
            last = point
    return points, max(first_tick, n_due)


def _toward_zero(value: float) -> float:
    """``value`` cut to a multiple of 0.1 toward zero (1e-6 absorbs float noise such as 41.99999)."""
    return math.copysign(math.floor(abs(value) * 10 + 1e-6) / 10, value)


@dataclass
class RoundState:
    """Points painted and partner answers of one round (times in seconds from image onset).

    ``rule``, ``interval`` and ``step``: how the cursor becomes points
    (:class:`~experiments.game.config.GameConfig` ``point_rule``, ``point_interval``,
    ``point_step``); the default is the original game's 50 ms / 7 px rule (:func:`next_points`).
    """

    image: GameImage
    size: int
    bubble: int
    rule: str = "interval"
    interval: float = 0.05
    step: float = 7.0
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    t: list = field(default_factory=list)
    guesses: list = field(default_factory=list)
    first_press: float | None = None
    success_time: float | None = None
    skipped: bool = False
    painted: np.ndarray | None = None
    _next_tick: int = field(default=0, repr=False)

    def __post_init__(self):
        if self.rule not in ("interval", "frame"):
            raise InputError(f"expected point rule 'interval' or 'frame', got {self.rule!r}", field="point_rule")
        self.painted = np.zeros((self.size, self.size), dtype=bool)

    def update(self, t: float, x: float, y: float, pressed: bool) -> bool:
        """One frame's cursor; returns True when a new point was painted."""
        if self.first_press is None:
            if not pressed:
                return False
            self.first_press = t
        if self.rule == "frame":
            point = (round(float(x), 1), round(float(y), 1))
            new = [] if self.x and point == (self.x[-1], self.y[-1]) else [(*point, t)]
        else:
            last = (self.x[-1], self.y[-1]) if self.x else None
            new, self._next_tick = next_points(
                last, (float(x), float(y)), self._next_tick, t, self.first_press, interval=self.interval, step=self.step
            )
        for px, py, pt in new:
            self.x.append(px)
            self.y.append(py)
            self.t.append(round(1000.0 * pt, 1))
        if new:
            xs, ys = [p[0] for p in new], [p[1] for p in new]
            self.painted |= paint_clicks(xs, ys, self.painted.shape, self.bubble, bubble="square")[0] > 0
        return bool(new)

    def answer(self, sent: float, received: float, *, top: list[str], compute: float, n_points: int) -> None:
        """Record one partner answer; the first correct one sets the success time."""
        correct = self.image.label in top
        self.guesses.append(
            {
                "t_sent": round(1000 * sent, 1),
                "t": round(1000 * received, 1),
                "latency_ms": round(1000 * (received - sent), 1),
                "compute_ms": round(1000 * compute, 1),
                "n_points": n_points,
                "top": list(top),
                "correct": correct,
            }
        )
        if correct and self.success_time is None:
            self.success_time = received

    def record(self, participant: str, number: int, round_seconds: float, duration: float, **extra) -> dict:
        """The round's log object (skipped rounds keep no points: they must not enter maps)."""
        keep = not self.skipped
        return {
            "image_id": self.image.image_id,
            "participant_id": participant,
            "round": number,
            "label": self.image.label,
            "x": self.x if keep else [],
            "y": self.y if keep else [],
            "t": self.t if keep else [],
            "guesses": self.guesses,
            "success": self.success_time is not None,
            "success_t": None if self.success_time is None else round(1000 * self.success_time, 1),
            "points": round_points(self.success_time, round_seconds),
            "skipped": self.skipped,
            "n_points_painted": len(self.x),
            "first_press_t": None if self.first_press is None else round(1000 * self.first_press, 1),
            "duration_ms": round(1000 * duration, 1),
            "round_seconds": round_seconds,
            "ended": now_iso(),
            **extra,
        }


class GameLog(AppendLog):
    """Append-only JSON-lines log, one round per line (a :class:`clickme_analysis.fileio.AppendLog`),
    flushed and fsync'ed as each round ends.

    Opening it again drops a partial last line (a process killed mid-write), so at most the
    round in flight is lost.
    """

    def __init__(self, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path)

    def rounds(self, participant: str | None = None) -> list[dict]:
        """Rounds already in the log (of one participant, when given); a bad line raises a located error."""
        return [
            record
            for _, record in read_jsonl(self.path)
            if participant is None or record.get("participant_id") == participant
        ]

    def append(self, record: dict) -> None:
        """Write one round's record as a JSON line and make it durable."""
        super().append(json.dumps(record))


def save_session(path, session: dict) -> None:
    """Add or update (by ``session_id``) one session record in ``path`` (written atomically)."""
    path = Path(path)
    sessions = []
    if path.exists():
        try:
            sessions = list(json.loads(path.read_text(encoding="utf-8"))["sessions"])
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(
                f'expected a session file {{"sessions": [...]}}, got unreadable content ({err})', path=path
            ) from None
    sessions = [s for s in sessions if s.get("session_id") != session["session_id"]] + [session]
    atomic_write_text(path, json.dumps({"sessions": sessions}, indent=2))
