"""A simulated ClickMe player: mouse paths toward labelled image parts.

The player hovers, presses the mouse after a reaction delay, then follows a path from
:func:`clickme_analysis.synthetic.simulate_player` (strokes toward parts, heavier parts more
often, random strokes with probability ``1 - skill``). It can skip chosen images or a share of
rounds. In a window the path is fed through PsychoPy's own mouse (``Mouse.setPos`` and the
emulated press hook), so the task reads it by the same code as a real mouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.feature import peak_local_max

from clickme_analysis.errors import InputError
from clickme_analysis.synthetic import saliency_standin, simulate_player


@dataclass(frozen=True)
class RoundPlan:
    """One simulated round: press time (s), the path (N, 3: x, y, t in s from image onset), skip time."""

    press_time: float
    path: np.ndarray
    skip_time: float | None = None

    def position(self, t: float) -> tuple[float, float]:
        """Cursor position at round time ``t`` (the path's first point until it starts)."""
        k = max(0, int(np.searchsorted(self.path[:, 2], t, side="right")) - 1)
        return float(self.path[k, 0]), float(self.path[k, 1])


@dataclass(frozen=True)
class SimulatedPlayer:
    """Behavior of a simulated player.

    Parameters
    ----------
    skill : float
        Probability that a stroke targets a part (else a random spot).
    point_interval : float
        Seconds between path points (the mouse speed; the paper's game logged a point every
        ~50 ms).
    press_delay : tuple of float
        Range (s) of the delay from image onset to the first press.
    skip_rate : float
        Probability of skipping a round (the skip key, shortly after the press).
    skip : frozenset of str
        Image ids always skipped.
    """

    skill: float = 0.8
    point_interval: float = 0.05
    press_delay: tuple[float, float] = (0.2, 0.5)
    skip_rate: float = 0.0
    skip: frozenset = frozenset()

    def __post_init__(self):
        if not (
            0 <= self.skill <= 1
            and 0 <= self.skip_rate <= 1
            and self.point_interval > 0
            and 0 <= self.press_delay[0] <= self.press_delay[1]
        ):
            raise InputError(
                f"expected 0 <= skill, skip_rate <= 1, point_interval > 0 and an ordered press_delay, got {self}",
                field="player",
            )

    def plan(
        self, image_id: str, parts: np.ndarray, round_seconds: float, rng: np.random.Generator, *, size: int
    ) -> RoundPlan:
        """Plan one round on a ``size`` x ``size`` image with (K, 3) ``parts`` (x, y, weight)."""
        parts = np.asarray(parts, dtype=float)
        if parts.ndim != 2 or parts.shape[1] != 3 or not len(parts):
            raise InputError(f"expected a (K, 3) part table (x, y, weight), got shape {parts.shape}", field="parts")
        press = float(rng.uniform(*self.press_delay))
        n_points = int(np.ceil(max(round_seconds - press, 0) / self.point_interval)) + 2
        path = simulate_player(parts, rng, n_points, self.skill, interval_ms=1000 * self.point_interval, size=size)
        path[:, 2] = press + path[:, 2] / 1000 - path[0, 2] / 1000
        skipped = image_id in self.skip or rng.random() < self.skip_rate
        return RoundPlan(press, path, press + 0.2 if skipped else None)


def saliency_parts(image: np.ndarray, n_parts: int = 4, min_distance: int = 24) -> np.ndarray:
    """Targets for the simulated player on an image without labelled parts: the strongest peaks
    of the saliency stand-in, weighted by their value.

    Returns
    -------
    ndarray, shape (K, 3)
        x, y, weight (K <= ``n_parts``; the map's maximum when it has no separate peak).
    """
    saliency = saliency_standin(image)
    peaks = peak_local_max(saliency, min_distance=min_distance, num_peaks=n_parts, exclude_border=False)
    if not len(peaks):
        peaks = np.array([np.unravel_index(np.argmax(saliency), saliency.shape)])
    weights = saliency[peaks[:, 0], peaks[:, 1]].astype(float)
    return np.column_stack([peaks[:, 1], peaks[:, 0], np.maximum(weights, 1e-6)]).astype(float)
