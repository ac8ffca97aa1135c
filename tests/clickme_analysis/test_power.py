"""Power by simulation (clickme_analysis.power, `clickme experiment power`) against known answers.

1. No effect: the power is alpha, within the binomial 99% band (slow: 500 data sets).
2. All variance components 0: the mixed model is a logistic regression, whose Wald power is
   known in closed form (Fisher information at the truth, written here from the design).
3. The calibration benchmark's design (benchmarks/stat_calibration.py, docs/experiments.md):
   its measured power (0.825 group, 0.425 interaction, 200 sets) within Monte Carlo error.
Each has a fast smoke version in the default run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from scipy import stats
from scipy.special import expit

from clickme_analysis import power
from clickme_analysis.errors import InputError
from clickme_analysis.psychophysics.analysis import write_analysis
from clickme_analysis.psychophysics.descriptives import accuracy_by_level
from clickme_analysis.psychophysics.mixed_logistic import mixed_logit, simulate_glmm_trials
from clickme_app.cli import main

SMALL = power.Design(n_per_group=6, levels=(1.0, 10.0, 100.0), n_images=6, trials_per_level=6)


def _band(n, p=0.05, level=0.99):
    low, high = stats.binom.interval(level, n, p)
    return low / n, high / n


def analytic_wald_power(design, truth, weights, alpha=0.05):
    """Power of the t test (n_participants - 4 df) of ``weights @ beta`` in a logistic regression
    without random effects: Fisher information X' W X at the truth, noncentral t."""
    x = np.log10(np.asarray(design.levels))
    rows = []
    for b in (0.0, 1.0):
        for xl in x:
            rows.append(([1.0, b, xl, b * xl], design.n_per_group * design.trials_per_level))
    X = np.array([r for r, _ in rows])
    counts = np.array([c for _, c in rows], dtype=float)
    p = expit(X @ truth.beta)
    info = X.T @ (X * (counts * p * (1 - p))[:, None])
    weights = np.asarray(weights, dtype=float)
    se = np.sqrt(weights @ np.linalg.inv(info) @ weights)
    dof = 2 * design.n_per_group - 4
    crit = stats.t.ppf(1 - alpha / 2, dof)
    ncp = (weights @ truth.beta) / se
    return float(stats.nct.sf(crit, dof, ncp) + stats.nct.cdf(-crit, dof, ncp))


def _rate(sims, test, alpha=0.05):
    return float((sims.loc[sims["test"] == test, "p"] < alpha).mean())


# ------------------------------------------------------------------------------ 1. no effect
def test_null_power_smoke():
    # a few data sets: no test rejects beyond the binomial 99% band (the calibrated rate: the slow test below)
    sims = power.simulate_power(SMALL, power.Truth(), [6], n_sims=8, seed=11)
    assert len(sims) == 16 and set(sims["test"]) == {"group", "interaction"}
    assert sims["p"].between(0, 1).all()
    for test in ("group", "interaction"):
        assert _rate(sims, test) <= _band(8)[1]


@pytest.mark.slow
def test_null_power_is_alpha_within_the_binomial_99_band():
    # on the calibration design, whose false-positive rates the benchmark documents (on the
    # smaller NULL_DESIGN, 10 per group, the group test was conservative: 2 of 130 sets)
    sims = power.simulate_power(CALIBRATION, power.Truth(), [15], n_sims=500, seed=1, n_jobs=2)
    low, high = _band(500)  # [0.028, 0.074]
    print("null rejection rates (500 sets):", {t: _rate(sims, t) for t in ("group", "interaction")}, (low, high))
    for test in ("group", "interaction"):
        assert low <= _rate(sims, test) <= high, test


# ------------------------------------------------------------------- 2. no variance: analytic
ZERO = dict(participant_sd=0.0, slope_sd=0.0, image_sd=0.0)


def test_analytic_reference_matches_a_logistic_glm_se():
    # the test's own Fisher-information SE against statsmodels' GLM on one large data set
    import statsmodels.api as sm

    design = power.Design(n_per_group=200, levels=(1.0, 10.0), n_images=4, trials_per_level=20)
    truth = power.Truth(group=0.4, **ZERO)
    t = power.simulate_trials(design, truth, seed=0)
    x = np.log10(t["level"].to_numpy())
    b = (t["group"] == "b").to_numpy(float)
    glm = sm.GLM(
        t["correct"].to_numpy(float), np.column_stack([np.ones(len(t)), b, x, b * x]), family=sm.families.Binomial()
    ).fit()
    p = expit(glm.model.exog @ truth.beta)
    info = glm.model.exog.T @ (glm.model.exog * (p * (1 - p))[:, None])
    assert np.sqrt(np.linalg.inv(info)[1, 1]) == pytest.approx(glm.bse[1], rel=0.05)


def test_no_variance_matches_analytic_wald_power_smoke():
    design = power.Design(n_per_group=8, levels=(1.0, 10.0, 100.0), n_images=6, trials_per_level=6)
    truth = power.with_effects(power.Truth(**ZERO), group_difference=1.2)
    expected = analytic_wald_power(design, truth, [0, 1, 0, 0])
    assert 0.7 < expected < 0.95
    # 10 data sets (each a boundary fit: slow): a broken test (never or always rejecting) fails; precision: the slow one
    sims = power.simulate_power(design, truth, [8], n_sims=10, seed=5, tests=("group",))
    assert abs(_rate(sims, "group") - expected) <= 3.3 * np.sqrt(expected * (1 - expected) / 10)


@pytest.mark.slow
def test_no_variance_matches_analytic_wald_power():
    design = power.Design(n_per_group=10, levels=(1.0, 10.0, 100.0), n_images=8, trials_per_level=8)
    truth = power.with_effects(power.Truth(**ZERO), group_difference=0.6, interaction=-0.4)
    n = 200
    sims = power.simulate_power(design, truth, [10], n_sims=n, seed=2, n_jobs=2)
    for test, weights in (("group", [0, 1, 0, 0]), ("interaction", [0, 0, 0, 1])):
        expected = analytic_wald_power(design, truth, weights)
        print(f"no variance, {test}: simulated {_rate(sims, test):.3f} vs analytic {expected:.3f} ({n} sets)")
        assert abs(_rate(sims, test) - expected) <= 2.58 * np.sqrt(expected * (1 - expected) / n), test


# ----------------------------------------------------------------- 3. the calibration design
CALIBRATION = power.Design()  # 15 per group, 6 levels, 40 images each seen at every level
CALIBRATION_TRUTH = power.Truth(group=0.6, interaction=-0.3)
BENCHMARK = {"group": (0.825, 200), "interaction": (0.425, 200)}  # docs/experiments.md, Calibration


def test_calibration_design_is_the_benchmarks():
    t = power.simulate_trials(CALIBRATION, CALIBRATION_TRUTH, seed=0)
    reference = simulate_glmm_trials(coefficients=tuple(CALIBRATION_TRUTH.beta), seed=0)
    assert len(t) == len(reference) == 7200
    counts = t.groupby(["participant", "level"])["image_id"].nunique()
    assert (counts == 40).all()  # every participant sees every image once at every level


def test_warm_start_gives_the_same_analysis():
    truth = power.with_effects(power.Truth(), group_difference=0.5)
    t = power.simulate_trials(SMALL, truth, seed=3)
    start = {"beta": truth.beta, "participant": truth.participant_cov, "image_id": truth.image_sd**2}
    cold = mixed_logit(t)
    warm = mixed_logit(t, start=start)
    assert cold["formula"].iloc[0] == warm["formula"].iloc[0]
    fixed = cold["effect"] == "fixed"
    assert np.allclose(cold.loc[fixed, "p"], warm.loc[fixed, "p"], atol=2e-3)
    assert np.allclose(cold.loc[fixed, "estimate"], warm.loc[fixed, "estimate"], atol=5e-3)


@pytest.mark.slow
def test_reproduces_the_calibration_benchmarks_power():
    n = 100
    sims = power.simulate_power(CALIBRATION, CALIBRATION_TRUTH, [15], n_sims=n, seed=3, n_jobs=2)
    for test, (reference, m) in BENCHMARK.items():
        ours = _rate(sims, test)
        pooled = (ours * n + reference * m) / (n + m)
        print(f"calibration design, {test}: {ours:.3f} ({n} sets) vs the benchmark's {reference} ({m} sets)")
        assert abs(ours - reference) <= 2.58 * np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m)), (test, ours)


# ------------------------------------------------------------------------------- the pieces
def test_effects_in_accuracy_and_thresholds():
    truth = power.Truth(intercept=0.0, slope=2.0, interaction=0.5)
    moved = power.with_effects(truth, group_difference=0.1, at_level=10.0, scale="accuracy")
    p_a = expit(0.0 + 2.0)
    p_b = expit(moved.intercept + moved.group + (moved.slope + moved.interaction) * 1.0)
    assert p_b - p_a == pytest.approx(0.1)
    shifted = power.with_effects(power.Truth(intercept=-1.0, slope=2.0), threshold_ratio=10**0.25)
    # group b's curve crosses 50 % at log10 level 0.5 + 0.25
    assert shifted.intercept + shifted.group + shifted.slope * 0.75 == pytest.approx(0.0)


def test_power_is_reproducible_and_independent_of_jobs():
    truth = power.with_effects(power.Truth(), group_difference=1.0)
    options = {"n_sims": 2, "seed": 7, "tests": ("group", "permutation"), "n_permutations": 500}
    one = power.simulate_power(SMALL, truth, [4, 6], **options)
    with parallel_config(backend="threading"):  # the seeding is what is checked: threads start faster than processes
        two = power.simulate_power(SMALL, truth, [4, 6], n_jobs=2, **options)
    pd.testing.assert_frame_equal(one.drop(columns="seconds"), two.drop(columns="seconds"))
    table = power.power_table(one)
    assert table[["n_per_group", "test"]].values.tolist() == [
        [4, "group"],
        [4, "permutation"],
        [6, "group"],
        [6, "permutation"],
    ]
    assert (table["ci_low"] <= table["power"]).all() and (table["power"] <= table["ci_high"]).all()


def test_smallest_n():
    table = pd.DataFrame(
        {"n_per_group": [5, 10, 20], "test": "group", "power": [0.5, 0.85, 0.97], "ci_low": [0.4, 0.78, 0.9]}
    )
    row = power.smallest_n(table, 0.8).iloc[0]
    assert (row["n_for_target"], row["n_for_target_ci"]) == (10, 20)


def test_threshold_test_detects_a_large_shift():
    design = power.Design(n_per_group=8, levels=(1.0, 3.0, 10.0, 30.0, 100.0), n_images=20, trials_per_level=20)
    truth = power.with_effects(
        power.Truth(intercept=0.0, slope=2.0, participant_sd=0.2, slope_sd=0.0, image_sd=0.2), threshold_ratio=4.0
    )
    rows = power.analyze_one(power.simulate_trials(design, truth, seed=0), ("threshold",), n_boot=40)
    assert rows[0]["test"] == "threshold" and rows[0]["p"] < 0.01
    assert rows[0]["estimate"] == pytest.approx(np.log10(4.0), abs=0.2)


def test_pilot_round_trip(tmp_path):
    truth = power.Truth(intercept=-0.3, slope=1.2, group=0.4, interaction=-0.2)
    t = power.simulate_trials(power.Design(n_per_group=10, n_images=12, trials_per_level=12), truth, seed=1)
    results = {"mixed_model": mixed_logit(t), "accuracy": accuracy_by_level(t)}
    write_analysis(results, tmp_path)
    read, info = power.truth_from_pilot(tmp_path)
    fixed = results["mixed_model"].set_index("term")["estimate"]
    assert read.group == pytest.approx(fixed["group[T.b]"]) and read.slope == pytest.approx(fixed["log10_level"])
    assert read.image_sd == pytest.approx(fixed["image_id sd(Intercept)"])
    assert info["levels"] == (1.0, 2.0, 5.0, 10.0, 20.0, 50.0) and info["groups"] == ("a", "b")
    assert info["trials_per_level"] == 12


# ------------------------------------------------------------------------------- bad input
def test_bad_plans_are_located_errors(tmp_path):
    with pytest.raises(InputError, match="two or more distinct revealed levels") as err:
        power.Design(levels=(10.0,))
    assert err.value.field == "levels"
    with pytest.raises(InputError, match="variance component >= 0") as err:
        power.Truth(slope_sd=-0.1)
    assert err.value.field == "slope_sd"
    with pytest.raises(InputError, match="leaves") as err:
        power.with_effects(power.Truth(intercept=2.0), group_difference=0.2, scale="accuracy")
    assert err.value.field == "group_difference"
    with pytest.raises(InputError, match="no mixed_model.csv") as err:
        power.truth_from_pilot(tmp_path)
    assert err.value.path == str(tmp_path / "mixed_model.csv")
    (tmp_path / "mixed_model.csv").write_text("term,effect,estimate,note\n(not fitted),fixed,,too small\n")
    with pytest.raises(InputError, match="four fixed effects"):
        power.truth_from_pilot(tmp_path)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--levels", "5"], "field 'levels': expected two or more distinct revealed levels"),
        (["--group-difference", "0.9", "--scale", "accuracy"], "field 'group_difference': accuracy"),
        (["--pilot", "."], "mixed_model.csv: expected the mixed-model table"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "power", "--participants", "4", "--sims", "1", "--out", "out", *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_writes_tables_and_figure(tmp_path, capsys):
    out = tmp_path / "plan"
    assert (
        main(
            [
                "experiment",
                "power",
                "--participants",
                "4,6",
                "--levels",
                "1,10,100",
                "--images",
                "6",
                "--trials-per-level",
                "6",
                "--group-difference",
                "0.2",
                "--scale",
                "accuracy",
                "--sims",
                "2",
                "--test",
                "group",
                "--test",
                "permutation",
                "--at-level",
                "10",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "power.csv")
    assert table[["n_per_group", "test"]].values.tolist() == [
        [4, "group"],
        [4, "permutation"],
        [6, "group"],
        [6, "permutation"],
    ]
    assert (table["design_levels"] == "1 10 100").all() and (table["at_level"] == 10).all()
    assert set(pd.read_csv(out / "power_summary.csv")["test"]) == {"group", "permutation"}
    assert (out / "power.png").stat().st_size > 1000
    assert "power >= 0.8 from N" in capsys.readouterr().out


def test_unfitted_data_sets_count_as_not_rejected():
    sims = pd.DataFrame({"n_per_group": 4, "test": "group", "p": [0.01, np.nan, 0.5, 0.02]})
    row = power.power_table(sims).iloc[0]
    assert (row["n_rejected"], row["power"], row["n_not_fitted"]) == (2, 0.5, 1)
