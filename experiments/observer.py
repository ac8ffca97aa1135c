"""A simulated observer for rapid categorization: accuracy rises with the % revealed.

P(correct) = 0.5 + (0.5 - lapse) / (1 + exp(-(log10(level) - log10(threshold)) / width)),
the usual two-alternative psychometric function in log level; the intact image counts as 100 %.
Reaction times are log-normal; a response later than the window is a miss.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from clickme_analysis.errors import InputError


@dataclasses.dataclass(frozen=True)
class SimulatedObserver:
    """Parameters of the simulated observer.

    Parameters
    ----------
    threshold : float
        Level (% revealed) at which accuracy is half-way between chance and the ceiling.
    width : float
        Spread of the psychometric function in log10 level.
    lapse : float
        Lapse rate (the ceiling is ``1 - lapse``).
    rt_median : float
        Median reaction time (s).
    rt_sigma : float
        SD of log reaction time.
    abort_at : int or None
        Press the abort key at this 1-based trial of the session (tests the clean abort).

    Examples
    --------
    >>> round(float(SimulatedObserver(threshold=10).p_correct(10.0)), 3)
    0.74
    """

    threshold: float = 10.0
    width: float = 0.25
    lapse: float = 0.02
    rt_median: float = 0.42
    rt_sigma: float = 0.15
    abort_at: int | None = None

    def __post_init__(self):
        if not (
            self.threshold > 0
            and self.width > 0
            and 0 <= self.lapse < 0.5
            and self.rt_median > 0
            and self.rt_sigma >= 0
        ):
            raise InputError(
                f"expected threshold, width, rt_median > 0, 0 <= lapse < 0.5, got {self}", field="observer"
            )

    def p_correct(self, level):
        """Probability of a correct answer at ``level`` % revealed (array or scalar)."""
        x = (np.log10(np.asarray(level, dtype=float)) - np.log10(self.threshold)) / self.width
        return 0.5 + (0.5 - self.lapse) / (1.0 + np.exp(-x))

    def respond(self, target: bool, level: float, rng: np.random.Generator) -> tuple[bool, float]:
        """One decision: (says target, reaction time in s)."""
        correct = rng.random() < self.p_correct(level)
        rt = float(self.rt_median * np.exp(self.rt_sigma * rng.standard_normal()))
        return bool(target) == correct, rt


def demo_observers() -> dict[str, SimulatedObserver]:
    """Observers of the demo: ClickMe-revealed images are recognized at lower levels."""
    return {"clickme": SimulatedObserver(threshold=3.0), "saliency": SimulatedObserver(threshold=20.0)}
