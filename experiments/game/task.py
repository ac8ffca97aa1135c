"""Round logic of the ClickMe game, its images and its click log (no PsychoPy, no torch).

A round shows one image under its category name. From the player's first mouse press on, every
cursor position (one per frame when it moved) becomes a point painted as a 14x14 px bubble on the
player's screen; the partner sees only 21x21 px bubbles at the same points. The round ends when
the partner's top-5 holds the true label or after ``round_seconds``; the player earns the
fraction of the round left when the partner's correct answer came back, 0 otherwise.

The log (:class:`GameLog`) is JSON lines, one object per round, appended, flushed and fsync'ed
as the round ends, in the per-round form :func:`clickme_analysis.io.read_clicks` reads.
"""

from __future__ import annotations

import datetime
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.maps import paint_clicks

#: ImageNet mean RGB (0-255): the partner's neutral background
MEAN_RGB = (124, 116, 104)


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class GameImage:
    """One image of the game: id, true label, uint8 (S, S, 3) pixels."""

    image_id: str
    label: str
    image: np.ndarray


def load_images(images_dir, labels_path, size: int = 256) -> tuple[list[GameImage], list[str]]:
    """Read ``labels.csv`` (``image_id, label[, category]``) and ``<images_dir>/<image_id>.png``.

    Images of another size are resized to ``size`` x ``size`` (clicks are recorded on that grid).

    Returns
    -------
    images : list of GameImage
        In the labels file's order.
    labels : list of str
        The distinct labels, sorted (the label set partners guess from).
    """
    from PIL import Image

    labels_path, images_dir = Path(labels_path), Path(images_dir)
    if not labels_path.is_file():
        raise InputError("labels file not found", path=labels_path)
    if not images_dir.is_dir():
        raise InputError("images folder not found", path=images_dir)
    table = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    missing = {"image_id", "label"} - set(table.columns)
    if missing:
        raise InputError(f"missing columns {sorted(missing)}; expected image_id, label[, category]",
                         path=labels_path, line=1)
    images = []
    for line, (image_id, label) in enumerate(zip(table["image_id"], table["label"]), start=2):
        if not image_id.strip() or not label.strip():
            raise InputError("expected a non-empty image_id and label", path=labels_path, line=line)
        path = images_dir / f"{image_id}.png"
        if not path.is_file():
            raise InputError(f"image {str(path)!r} not found", path=labels_path, line=line, field="image_id")
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                if img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                pixels = np.asarray(img, dtype=np.uint8)
        except OSError as err:
            raise InputError(f"cannot read image: {err}", path=path) from None
        images.append(GameImage(image_id, label, pixels))
    if not images:
        raise InputError("no images listed", path=labels_path)
    return images, sorted(set(table["label"]))


def participant_rng(seed: int, participant: str, *stream: int) -> np.random.Generator:
    """A generator for one participant (stable across runs: CRC32 of the id, not ``hash``)."""
    return np.random.default_rng([seed, zlib.crc32(participant.encode()), *stream])


def play_order(images: list[GameImage], participant: str, seed: int, done=(), n_rounds: int = 0) -> list[GameImage]:
    """The participant's shuffled images, minus those in ``done``; at most ``n_rounds`` (0: all)."""
    order = participant_rng(seed, participant).permutation(len(images))
    todo = [images[i] for i in order if images[i].image_id not in set(done)]
    return todo[:n_rounds] if n_rounds else todo


def partner_view(image: np.ndarray, x, y, bubble: int = 21, background: str = "mean",
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What the partner sees: the image inside ``bubble`` x ``bubble`` squares at the points.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W, 3)
    x, y : array_like of float
        Painted points (image pixels).
    bubble : int
        Bubble side (21 px in the paper's game).
    background : {"mean", "noise"}
        ImageNet mean grey, or uniform noise drawn from ``rng``.

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
    mask = paint_clicks(x, y, image.shape[:2], bubble, "square")[0] > 0
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


def image_coordinates(pos, centre, size: int) -> tuple[float, float]:
    """Window pixels (origin at the window centre, y up) -> image pixels (origin top-left, y down).

    Examples
    --------
    >>> image_coordinates((0, 0), (0, 0), 256)
    (128.0, 128.0)
    >>> image_coordinates((-128, 128), (0, 0), 256)
    (0.0, 0.0)
    """
    return float(pos[0] - centre[0] + size / 2), float(centre[1] + size / 2 - pos[1])


def window_coordinates(point, centre, size: int) -> tuple[float, float]:
    """Inverse of :func:`image_coordinates`."""
    return float(point[0] + centre[0] - size / 2), float(centre[1] + size / 2 - point[1])


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


@dataclass
class RoundState:
    """Points painted and partner answers of one round (times in seconds from image onset)."""

    image: GameImage
    size: int
    bubble: int
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    t: list = field(default_factory=list)
    guesses: list = field(default_factory=list)
    first_press: float | None = None
    success_time: float | None = None
    skipped: bool = False
    painted: np.ndarray | None = None

    def __post_init__(self):
        self.painted = np.zeros((self.size, self.size), dtype=bool)

    def update(self, t: float, x: float, y: float, pressed: bool) -> bool:
        """One frame's cursor; returns True when a new point was painted."""
        if self.first_press is None:
            if not pressed:
                return False
            self.first_press = t
        x, y = round(float(x), 1), round(float(y), 1)
        if self.x and (x, y) == (self.x[-1], self.y[-1]):
            return False
        self.x.append(x)
        self.y.append(y)
        self.t.append(round(1000.0 * t, 1))
        self.painted |= paint_clicks([x], [y], self.painted.shape, self.bubble, "square")[0] > 0
        return True

    def answer(self, sent: float, received: float, top: list[str], compute: float, n_points: int) -> None:
        """Record one partner answer; the first correct one sets the success time."""
        correct = self.image.label in top
        self.guesses.append({"t_sent": round(1000 * sent, 1), "t": round(1000 * received, 1),
                             "latency_ms": round(1000 * (received - sent), 1), "compute_ms": round(1000 * compute, 1),
                             "n_points": n_points, "top": list(top), "correct": correct})
        if correct and self.success_time is None:
            self.success_time = received

    def record(self, participant: str, number: int, round_seconds: float, duration: float, **extra) -> dict:
        """The round's log object (skipped rounds keep no points: they must not enter maps)."""
        keep = not self.skipped
        return {"image_id": self.image.image_id, "participant_id": participant, "round": number,
                "label": self.image.label, "x": self.x if keep else [], "y": self.y if keep else [],
                "t": self.t if keep else [], "guesses": self.guesses, "success": self.success_time is not None,
                "success_t": None if self.success_time is None else round(1000 * self.success_time, 1),
                "points": round_points(self.success_time, round_seconds), "skipped": self.skipped,
                "n_points_painted": len(self.x), "first_press_t": None if self.first_press is None
                else round(1000 * self.first_press, 1), "duration_ms": round(1000 * duration, 1),
                "round_seconds": round_seconds, "ended": now_iso(), **extra}


class GameLog:
    """Append-only JSON-lines log, one round per line, flushed and fsync'ed as each round ends.

    Opening it again drops a partial last line (a process killed mid-write), so at most the
    round in flight is lost.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                self.path.write_bytes(data[: data.rfind(b"\n") + 1])
        self._file = open(self.path, "a", encoding="utf-8")

    def rounds(self, participant: str | None = None) -> list[dict]:
        """Rounds already in the log (of one participant, when given)."""
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    record = json.loads(line)
                    if participant is None or record.get("participant_id") == participant:
                        out.append(record)
        return out

    def append(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def save_session(path, session: dict) -> None:
    """Add or update (by ``session_id``) one session record in ``path`` (written atomically)."""
    path = Path(path)
    sessions = json.loads(path.read_text(encoding="utf-8"))["sessions"] if path.exists() else []
    sessions = [s for s in sessions if s.get("session_id") != session["session_id"]] + [session]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"sessions": sessions}, indent=2), encoding="utf-8")
    os.replace(tmp, path)
