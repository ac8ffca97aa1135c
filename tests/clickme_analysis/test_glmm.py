"""The GLMM engine (clickme_analysis.glmm) pinned to its own estimates on two small seeded data sets.

The numbers were recorded with the engine as it was before its speed work (Hessian assembled
from the rows of Z Lambda, commit cb1c96d); a faster engine must be the same estimator:

- the objectives (REML and ML profiled deviance, Laplace deviance) and the inner modes at fixed
  theta: the same to 1e-8;
- the estimates: the same within the optimizer's own resolution. COBYQA stops at a trust-region
  radius of 1e-4 in theta, so rounding-level differences in the objective move theta by up to
  ~1e-4 (most on a boundary, where the objective is flat) and beta and its SEs by up to ~1e-5;
  the cold and the warm-started fits of one data set differ as much (2e-6 in beta, 5e-6 in the
  SEs in the regular case).

Independent checks of the estimator itself (quadrature ML fit, the GLM, statsmodels) are in
test_statistics.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from clickme_analysis import glmm, power
from clickme_analysis import psychophysics as pp
from clickme_analysis.mixed_model import _start_of, _terms, fit_prepared

DESIGN = power.Design(n_per_group=8, levels=(1.0, 5.0, 25.0), n_images=10, trials_per_level=10)
CASES = {  # a fit inside the parameter space, and one with the slope variance on the boundary (restart)
    "regular": (power.Truth(group=0.6, interaction=-0.3, slope_sd=0.8, participant_sd=0.7, correlation=0.3), 3),
    "boundary": (power.Truth(group=0.6, interaction=-0.3, slope_sd=0.4), 2),
}
PINNED = {
    ("regular", "reml"): {
        "beta": [-0.432212404, 0.84827989, 0.879561147, 0.522014617],
        "se": [0.297820028, 0.387769342, 0.300727535, 0.465267072],
        "theta": [0.4727068, 0.2636145, 0.3918023, 0.3835562],
        "deviance": 544.498943,
    },  # noqa: E501
    ("regular", "ml"): {
        "beta": [-0.440082, 0.863806375, 0.898034664, 0.574132319],
        "se": [0.279801169, 0.365554332, 0.276421278, 0.436281834],
        "theta": [0.3977264, 0.3420462, 1.8e-06, 0.3545998],
        "deviance": 544.0857089,
    },  # noqa: E501
    ("regular", "ml0"): {
        "beta": [-0.427492303, 0.841759037, 0.861985989, 0.525720669],
        "se": [0.279450871, 0.3652673, 0.275733007, 0.432554557],
        "theta": [0.3977264, 0.3420462, 1.8e-06, 0.3545998],
        "deviance": 544.1786162,
    },  # noqa: E501
    ("regular", "reml_warm"): {
        "beta": [-0.432211602, 0.848277984, 0.879560946, 0.522016259],
        "se": [0.297815493, 0.38776527, 0.300727123, 0.465266584],
        "theta": [0.4726943, 0.2636479, 0.3917775, 0.3835415],
        "deviance": 544.4988966,
    },  # noqa: E501
    ("boundary", "reml"): {
        "beta": [0.150132662, 0.239072927, 1.324265878, -0.331142661],
        "se": [0.276501896, 0.36044911, 0.290812525, 0.4050006],
        "theta": [0.3883575, 0.1595175, 7.1e-06, 0.3490692],
        "deviance": 525.9303845,
    },  # noqa: E501
    ("boundary", "ml"): {
        "beta": [0.152670554, 0.244350728, 1.364340245, -0.343666988],
        "se": [0.264560425, 0.348127477, 0.29123864, 0.40469113],
        "theta": [0.3431517, 0.1398022, 0.0, 0.3166032],
        "deviance": 525.705086,
    },  # noqa: E501
    ("boundary", "ml0"): {
        "beta": [0.149453249, 0.238040201, 1.315426358, -0.333877273],
        "se": [0.264456034, 0.348025562, 0.288595036, 0.401515279],
        "theta": [0.3431517, 0.1398022, 0.0, 0.3166032],
        "deviance": 525.7734416,
    },  # noqa: E501
    ("boundary", "reml_warm"): {
        "beta": [0.150132654, 0.239072914, 1.324265774, -0.331142691],
        "se": [0.276501739, 0.360448927, 0.290812501, 0.405000562],
        "theta": [0.3883569, 0.1595174, 0.0, 0.3490689],
        "deviance": 525.9303807,
    },  # noqa: E501
}
#: fit_prepared's p values of the four fixed effects (the slope is dropped in the boundary case)
PINNED_P = {
    "regular": [0.172345384, 0.049220118, 0.012726862, 0.283824942],
    "boundary": [0.612870949, 0.545134138, 0.000598672, 0.402105629],
}
OPTIONS = {"reml": {"reml": True}, "ml": {"nagq": 1}, "ml0": {"nagq": 0}, "reml_warm": {"reml": True}}


def _inputs(case):
    truth, seed = CASES[case]
    return truth, pp.mixed_inputs(power.simulate_trials(DESIGN, truth, seed=seed))


@pytest.mark.parametrize("case, fit", sorted(PINNED))
def test_estimates_are_pinned(case, fit):
    truth, inputs = _inputs(case)
    terms = _terms(inputs["participant"], inputs["log_level"], inputs["image"], True)
    options = dict(OPTIONS[fit])
    if fit == "reml_warm":
        start = {"beta": truth.beta, "participant": truth.participant_cov, "image_id": truth.image_sd**2}
        options["start"] = _start_of(start, True, inputs["image"])
    result = glmm.fit(inputs["y"], inputs["X"], terms, **options)
    expected = PINNED[case, fit]
    assert result.converged
    np.testing.assert_allclose(result.beta, expected["beta"], atol=5e-6)
    np.testing.assert_allclose(result.se, expected["se"], atol=2e-5)
    np.testing.assert_allclose(result.theta, expected["theta"], atol=3e-4)
    assert result.deviance == pytest.approx(expected["deviance"], abs=1e-4)


@pytest.mark.parametrize("case", sorted(PINNED_P))
def test_fit_prepared_p_values_are_pinned(case):
    _, inputs = _inputs(case)
    fit = fit_prepared(**inputs)
    slope = "1 + log10_level | participant" in fit.table["formula"].iloc[0]
    assert slope == (case == "regular")
    np.testing.assert_allclose(fit.table["p"].iloc[:4], PINNED_P[case], atol=2e-5)


#: at three theta: REML and ML profiled deviance, the Laplace deviance at the joint mode's beta
#: + 0.05, the joint mode's beta and the SEs of beta (the regular case's data set)
OBJECTIVES = {
    (0.5, 0.0, 0.3, 0.5): [
        556.0128023763,
        546.0516616788,
        546.1187149685,
        -0.4317136034,
        0.8571556817,
        0.8462423957,
        0.5091031235,
        0.320461612,
        0.39740832,
        0.2678839718,
        0.4218362036,
    ],  # noqa: E501
    (0.8, -0.4, 0.2, 0.1): [
        564.1094904634,
        553.7870640997,
        554.2881037502,
        -0.4288099211,
        0.8569868172,
        0.8083096085,
        0.4786560231,
        0.3578167155,
        0.5060312647,
        0.2891167413,
        0.4486704159,
    ],  # noqa: E501
    (1.5, 0.3, 0.0, 0.7): [
        567.3403178343,
        560.6530655898,
        560.5719025963,
        -0.4607594423,
        0.9061266259,
        0.9115196552,
        0.5301569914,
        0.6166668091,
        0.8151737044,
        0.2780851612,
        0.4363055489,
    ],  # noqa: E501
}


@pytest.mark.parametrize("theta", sorted(OBJECTIVES))
def test_objectives_at_fixed_theta_are_pinned(theta):
    _, inputs = _inputs("regular")
    model = glmm._Model(
        inputs["y"], inputs["X"], _terms(inputs["participant"], inputs["log_level"], inputs["image"], True)
    )
    theta = np.array(theta)
    reml, v, cov = model.profiled(theta, np.zeros(model.dim), True)
    ml, _, _ = model.profiled(theta, np.zeros(model.dim), False)
    laplace, _ = model.laplace(theta, v[:4] + 0.05, v[4:])
    got = [reml, ml, laplace, *v[:4], *np.sqrt(np.diag(cov))]
    np.testing.assert_allclose(got, OBJECTIVES[tuple(theta)], rtol=1e-8, atol=1e-9)
