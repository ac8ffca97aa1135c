import numpy as np
import pytest

from clickme_analysis.errors import InputError
from experiments.observer import SimulatedObserver, demo_observers


def test_p_correct_is_the_two_alternative_logistic():
    obs = SimulatedObserver(threshold=10.0, width=0.25, lapse=0.02)
    assert obs.p_correct(10.0) == pytest.approx(0.5 + 0.48 / 2)
    levels = np.logspace(0, 2, 11)
    p = obs.p_correct(levels)
    assert np.all(np.diff(p) > 0) and p[0] > 0.5 and p[-1] < 0.98
    assert demo_observers()["clickme"].p_correct(6.3) > demo_observers()["saliency"].p_correct(6.3) + 0.2


def test_respond_matches_p_correct_and_rt_median():
    obs = SimulatedObserver(threshold=10.0)
    rng = np.random.default_rng(0)
    answers = [obs.respond(True, 10.0, rng) for _ in range(4000)]
    said_target = np.array([a for a, _ in answers])
    assert said_target.mean() == pytest.approx(obs.p_correct(10.0), abs=0.03)
    assert np.median([rt for _, rt in answers]) == pytest.approx(obs.rt_median, rel=0.05)


@pytest.mark.parametrize("kwargs", [{"threshold": 0}, {"lapse": 0.5}, {"width": -1}, {"rt_median": 0}])
def test_bad_parameters(kwargs):
    with pytest.raises(InputError):
        SimulatedObserver(**kwargs)
