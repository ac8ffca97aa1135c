"""Psychophysics statistics (clickme_analysis.psychophysics) and the BIDS events loader."""

import inspect
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import clickme_analysis.psychophysics as psychophysics_package
from clickme_analysis.errors import InputError
from clickme_analysis.events import load_gonogo, read_events
from clickme_analysis.psychophysics import analysis
from clickme_analysis.psychophysics.analysis import analyze
from clickme_analysis.psychophysics.descriptives import accuracy_by_level, participant_summary
from clickme_analysis.psychophysics.exclusions import exclude_participants, exclude_trials
from clickme_analysis.psychophysics.group_tests import (
    ceiling_levels,
    effect_size,
    level_tests,
    permutation_test,
    sign_flip_test,
)
from clickme_analysis.psychophysics.mixed_logistic import mixed_logit, simulate_glmm_trials
from clickme_analysis.psychophysics.psychometric import psychometric_fit, psychometric_function
from clickme_analysis.psychophysics.trials import load_trials, validate_trials


def simulate(
    thresholds=None,
    n_per_group=10,
    levels=(1.0, 3.0, 10.0, 30.0, 100.0),
    trials_per_level=8,
    seed=0,
    beta=0.25,
    lapse=0.02,
):
    """A trial table from known psychometric functions (plus intact trials at ceiling)."""
    thresholds = thresholds or {"clickme": 3.0, "saliency": 20.0}
    rng = np.random.default_rng(seed)
    rows = []
    for group, th in thresholds.items():
        for j in range(n_per_group):
            for level in levels:
                p = psychometric_function(level, np.log10(th), beta, lapse)
                for _ in range(trials_per_level):
                    rows.append((f"{group}{j}", group, level, "revealed", rng.random() < p, 0.4, False))
            for _ in range(trials_per_level):
                rows.append((f"{group}{j}", group, 100.0, "intact", rng.random() < 1 - lapse, 0.4, False))
    return pd.DataFrame(rows, columns=["participant", "group", "level", "map_source", "correct", "rt", "timed_out"])


def table(**columns):
    n = max(len(v) for v in columns.values() if isinstance(v, list))
    base = {
        "participant": "a",
        "group": "g",
        "level": 10.0,
        "map_source": "clickme",
        "correct": 1,
        "rt": 0.4,
        "timed_out": 0,
    }
    base.update(columns)
    return pd.DataFrame({k: v if isinstance(v, list) else [v] * n for k, v in base.items()})


# ------------------------------------------------------------------------------------ loading
def test_load_trials_reads_runner_csvs(tmp_path):
    t = table(
        participant=["p1", "p1", "p1"],
        phase=["training", "test", "test"],
        correct=[0, 1, 0],
        rt=[0.3, 0.41, ""],
        timed_out=[0, 0, 1],
    )
    t.to_csv(tmp_path / "p1.csv", index=False)
    loaded = load_trials(tmp_path)
    assert len(loaded) == 2 and loaded["correct"].tolist() == [True, False]
    assert loaded["rt"].iloc[0] == 0.41 and np.isnan(loaded["rt"].iloc[1])
    assert len(load_trials(tmp_path / "p1.csv", phase=None)) == 3


@pytest.mark.parametrize(
    "columns, field, line",
    [
        ({"correct": [1, "yes"]}, "correct", 3),
        ({"level": [10, 0]}, "level", 3),
        ({"rt": [0.4, "fast"]}, "rt", 3),
        ({"rt": [0.4, ""], "timed_out": [0, 0]}, "rt", 3),
    ],
)
def test_bad_trial_values_are_located(tmp_path, columns, field, line):
    path = tmp_path / "p.csv"
    table(**columns).to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        load_trials(path)
    assert (err.value.field, err.value.line, err.value.path) == (field, line, str(path))


def test_missing_columns_and_paths(tmp_path):
    path = tmp_path / "p.csv"
    table(correct=[1]).drop(columns="group").to_csv(path, index=False)
    with pytest.raises(InputError, match="lacks columns"):
        load_trials(path)
    with pytest.raises(InputError, match="got no such path"):
        load_trials(tmp_path / "none.csv")
    with pytest.raises(InputError, match="expected trial CSV files"):
        load_trials([])


# ------------------------------------------------------------------------------- descriptives
def test_exclusions_and_participant_summary():
    t = table(participant=["a"] * 5, correct=[1, 0, 1, 0, 1], rt=[0.3, 0.5, 0.01, None, 0.7], timed_out=[0, 0, 0, 1, 0])
    flagged = exclude_trials(validate_trials(t), min_rt=0.02, max_rt=0.6)
    assert flagged["exclusion"].tolist() == ["", "", "too_fast", "miss", "too_slow"]
    s = participant_summary(flagged).iloc[0]
    assert (s["n_trials"], s["n_included"], s["n_miss"], s["n_too_fast"]) == (5, 2, 1, 1)
    assert s["accuracy"] == 0.5 and s["median_rt"] == 0.3


def test_accuracy_by_level_hand_computed():
    t = table(
        participant=["a", "a", "b", "b", "a", "b", "a"],
        level=[1, 1, 1, 1, 100, 100, 100],
        map_source=["x", "x", "x", "x", "x", "x", "intact"],
        correct=[1, 0, 1, 1, 1, 1, 1],
    )
    acc = accuracy_by_level(t)
    assert acc[["level", "intact", "accuracy", "n_participants"]].values.tolist() == [
        [1.0, False, 0.75, 2],
        [100.0, False, 1.0, 2],
        [100.0, True, 1.0, 1],
    ]
    assert acc["sem"].iloc[0] == pytest.approx(np.std([0.5, 1.0], ddof=1) / math.sqrt(2))
    assert np.isnan(acc["sem"].iloc[2])


# -------------------------------------------------------------------------------------- tests
def test_permutation_test_matches_scipy_exact():
    a, b = [0.9, 0.8, 0.85, 0.95], [0.6, 0.7, 0.75, 0.9]
    stat, p, exact = permutation_test(a, b)
    ref = stats.permutation_test(
        (a, b),
        lambda x, y: np.mean(x) - np.mean(y),
        permutation_type="independent",
        alternative="two-sided",
        n_resamples=np.inf,
    )
    assert exact and stat == pytest.approx(0.1375) and p == pytest.approx(ref.pvalue)
    stat_mc, p_mc, exact_mc = permutation_test(a, b, n_permutations=20, seed=1)
    assert not exact_mc and stat_mc == stat and 0 < p_mc <= 1
    with pytest.raises(InputError):
        permutation_test([], [1.0])


def test_sign_flip_test_matches_scipy_exact():
    d = [0.1, -0.05, 0.2, 0.15, 0.05]
    ref = stats.permutation_test((d,), np.mean, permutation_type="samples", alternative="two-sided", n_resamples=np.inf)
    assert sign_flip_test(d)[1] == pytest.approx(ref.pvalue)


def test_holm_and_bh_hand_computed():
    # three levels with p = 0.01, 0.04, 0.03: Holm 3p, 2p, 1p made monotone; BH p m / rank from the top
    t = pd.DataFrame(
        {
            "participant": list("abcdefghijkl") * 3,
            "group": list("xxxxxxyyyyyy") * 3,
            "level": np.repeat([1.0, 10.0, 30.0], 12),
            "map_source": "m",
            "rt": 0.4,
            "timed_out": 0,
            "correct": 1,
        }
    )
    out = level_tests(t, n_permutations=10, n_boot=0)
    assert (out["p"] == 1).all() and (out["p_holm"] == 1).all() and (out["p_fdr_bh"] == 1).all()
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03])
    assert multipletests(p, method="holm")[1].round(2).tolist() == [0.03, 0.06, 0.06]
    assert multipletests(p, method="fdr_bh")[1].round(2).tolist() == [0.03, 0.04, 0.04]


def test_level_tests_find_the_simulated_effect():
    out = level_tests(simulate(), n_permutations=2000, n_boot=200, seed=0)
    assert list(out.columns[:9]) == [
        "level",
        "intact",
        "group_a",
        "group_b",
        "statistic",
        "p",
        "p_holm",
        "p_fdr_bh",
        "significant",
    ]
    assert len(out) == 6 and (out["p_holm"] >= out["p"]).all()
    by_level = out[~out["intact"]].set_index("level")
    assert by_level.loc[10.0, "significant"] and by_level.loc[10.0, "statistic"] > 0.2
    assert not by_level.loc[100.0, "significant"]
    with pytest.raises(InputError, match="two groups"):
        level_tests(simulate({"a": 3.0}))


def test_mixed_logit_on_psychometric_data():
    trials = simulate()
    out = mixed_logit(trials).set_index("term")
    assert out.loc["log10_level", "p"] < 1e-4
    # at 10 % revealed the saliency group is predicted below the ClickMe group
    assert out.loc["group[T.saliency]", "estimate"] + out.loc["group[T.saliency]:log10_level", "estimate"] < 0
    assert "no image_id column" in out["note"].iloc[0]


def test_psychometric_fit_recovers_thresholds():
    trials = simulate(n_per_group=20, levels=tuple(np.logspace(0, 2, 9)), trials_per_level=20)
    params, curve = psychometric_fit(trials, n_boot=50, seed=0)
    params = params.set_index("group")
    assert params.loc["clickme", "threshold"] == pytest.approx(3.0, rel=0.15)
    assert params.loc["saliency", "threshold"] == pytest.approx(20.0, rel=0.15)
    assert (params["threshold_ci_low"] < params["threshold"]).all() and (
        params["threshold"] < params["threshold_ci_high"]
    ).all()
    assert list(curve.columns) == ["group", "level", "predicted", "ci_low", "ci_high"] and len(curve) == 100
    assert (curve["ci_low"] <= curve["predicted"] + 1e-9).all() and (
        curve["predicted"] <= curve["ci_high"] + 1e-9
    ).all()
    weibull = psychometric_fit(trials, model="weibull", n_boot=0)[0].set_index("group")
    assert weibull.loc["clickme", "threshold"] < weibull.loc["saliency", "threshold"]
    with pytest.raises(InputError):
        psychometric_fit(trials, model="probit")


def test_weibull_form():
    # Weibull in level: 1 - exp(-(L / lambda)^k), lambda = 10**alpha, k = 1 / (beta ln 10)
    level, lam, k = 7.0, 5.0, 2.0
    value = psychometric_function(level, np.log10(lam), 1 / (k * np.log(10)), 0.0, model="weibull", guess=0.0)
    assert value == pytest.approx(1 - np.exp(-((level / lam) ** k)))


def test_ceiling_levels():
    out, _ = ceiling_levels(simulate(n_per_group=12), n_permutations=2000, n_boot=20)
    ceiling = out.groupby("group")["ceiling_level"].first()
    assert ceiling["clickme"] < ceiling["saliency"]
    # at_ceiling: this level and every higher one are not different from the intact image
    for _, g in out.groupby("group"):
        flags = g.sort_values("level")["at_ceiling"].tolist()
        assert flags == sorted(flags)
        assert (g.loc[g["at_ceiling"], "p"] >= 0.05).all()


def test_participant_exclusion_on_the_intact_image():
    trials = simulate(n_per_group=3)
    bad = trials["participant"] == "clickme1"
    trials.loc[bad & (trials["map_source"] == "intact"), "correct"] = [True, False] * 4
    kept, dropped = exclude_participants(trials, 0.5)
    assert dropped["participant"].tolist() == ["clickme1"] and dropped["intact_accuracy"].iloc[0] == 0.5
    assert "clickme1" not in set(kept["participant"]) and len(kept) == (~bad).sum()
    results = analyze(trials, min_intact_accuracy=0.5, n_permutations=100, n_boot=0)
    assert results["participants"].set_index("participant")["dropped"].sum() == 1
    assert results["accuracy"]["n_participants"].max() == 3 and results["accuracy"]["n_participants"].min() == 2


def test_analyze_returns_every_table():
    results = analyze(simulate(n_per_group=6), n_permutations=200, n_boot=10)
    assert set(results) == {
        "participants",
        "accuracy",
        "rt",
        "signal_detection",
        "dprime",
        "level_tests",
        "mixed_model",
        "psychometric_params",
        "psychometric",
        "ceiling",
        "ceiling_bootstrap",
    }
    assert results["dprime"].empty  # no target / responded_target columns
    assert len(results["participants"]) == 12


def test_analyze_writes_the_other_tables_when_the_mixed_model_cannot_be_fitted(monkeypatch):
    def fail(trials, groups=None):
        raise InputError("the mixed model could not be fitted: numerical failure (singular)", field="correct")

    monkeypatch.setattr(analysis, "mixed_logit", fail)
    results = analyze(simulate(n_per_group=3), n_permutations=50, n_boot=5)
    mixed = results["mixed_model"]
    assert mixed["term"].tolist() == ["(not fitted)"] and not mixed["converged"].iloc[0]
    assert "numerical failure" in mixed["note"].iloc[0] and mixed["estimate"].isna().all()
    assert mixed["n_participants"].iloc[0] == 6 and not results["accuracy"].empty

    def bad_input(trials, groups=None):
        raise InputError("expected two groups, got one", field="group")

    monkeypatch.setattr(analysis, "mixed_logit", bad_input)  # bad input is still an error
    with pytest.raises(InputError, match="two groups"):
        analyze(simulate(n_per_group=3), n_permutations=50, n_boot=5)


def test_the_package_api_is_the_submodules_functions():
    """Every name the package exports is the object of the submodule where it lives (no copies)."""
    for name in psychophysics_package.__all__:
        obj = getattr(psychophysics_package, name)
        if callable(obj):
            module = inspect.getmodule(obj).__name__
            assert module.startswith("clickme_analysis.psychophysics."), (name, module)
            assert getattr(inspect.getmodule(obj), name) is obj
    assert psychophysics_package.analyze is analyze and psychophysics_package.level_tests is level_tests


@pytest.mark.parametrize(
    "function, positional",
    [
        (effect_size, ["a", "b"]),
        (level_tests, ["trials"]),
        (mixed_logit, ["trials"]),
        (simulate_glmm_trials, []),
        (psychometric_function, ["level", "alpha", "beta", "lapse"]),
        (psychometric_fit, ["trials"]),
        (ceiling_levels, ["trials"]),
        (analyze, ["trials"]),
    ],
)
def test_options_are_keyword_only(function, positional):
    parameters = inspect.signature(function).parameters.values()
    assert [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD] == positional
    with pytest.raises(TypeError):
        function(*([None] * (len(positional) + 1)))


# ------------------------------------------------------------------------------ BIDS events
EVENTS = (
    "onset\tduration\tsample\ttrial_type\tresponse_time\tstim_file\tvalue\n"
    "1\tn/a\tn/a\tstimulus\t320\t1.jpg\tanimal_target\n"
    "1.3\tn/a\tn/a\tresponse\tn/a\tn/a\tcorrect\n"
    "3\tn/a\tn/a\tstimulus\tn/a\t2.jpg\tanimal_distractor\n"
    "5\tn/a\tn/a\tstimulus\t1000\t3.jpg\tanimal_target\n"
    "7\tn/a\tn/a\tstimulus\t0\t4.jpg\tanimal_target\n"
    "9\tn/a\tn/a\tstimulus\t450\t5.jpg\tanimal_distractor\n"
    "11\tn/a\tn/a\tstimulus\t500\t6.jpg\teasy_target\n"
)


def test_gonogo_scoring_rule(tmp_path):
    (tmp_path / "sub-07_ses-02_task-gonogo_run-3_events.tsv").write_text(EVENTS)
    t = load_gonogo(tmp_path)
    assert t["image_id"].tolist() == ["1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg"]  # easy_target skipped
    assert (t["participant"].iloc[0], t["session"].iloc[0], t["run"].iloc[0]) == ("sub-07", "02", 3)
    assert t["response"].tolist() == ["go", "nogo", "nogo", "go", "go"]  # RT 1000 is a no-go
    assert t["correct"].tolist() == [True, True, False, True, False]
    flagged = exclude_trials(t, min_rt=0.1)
    assert flagged["exclusion"].tolist() == ["", "", "", "too_fast", ""]
    s = participant_summary(flagged).iloc[0]
    assert s["accuracy"] == 0.5 and s["median_rt"] == 0.32
    plain = load_gonogo(tmp_path, late_ms=math.inf)  # every RT a go: the README's sanity rule
    assert plain["response"].tolist() == ["go", "nogo", "go", "go", "go"]


def test_bad_events_files(tmp_path):
    good = tmp_path / "sub-1_task-x_events.tsv"
    good.write_text(EVENTS.replace("\t320\t", "\tfast\t"))
    with pytest.raises(InputError) as err:
        read_events(good)
    assert (err.value.field, err.value.line) == ("response_time", 2)
    bad_name = tmp_path / "other" / "events.tsv"
    bad_name.parent.mkdir()
    bad_name.write_text(EVENTS)
    with pytest.raises(InputError, match="BIDS name"):
        load_gonogo(bad_name)
    no_value = tmp_path / "sub-2_task-x_events.tsv"
    no_value.write_text("onset\ttrial_type\tresponse_time\n1\tstimulus\t300\n")
    with pytest.raises(InputError, match="lacks columns"):
        load_gonogo(no_value)
    with pytest.raises(InputError, match="no stimulus rows"):
        load_gonogo(_only_easy(tmp_path))


def _only_easy(tmp_path):
    path = tmp_path / "easy" / "sub-3_task-x_events.tsv"
    path.parent.mkdir()
    path.write_text(EVENTS.split("1\tn/a")[0] + "11\tn/a\tn/a\tstimulus\t500\t6.jpg\teasy_target\n")
    return path


# --------------------------------------------------------------------------------- real data
def test_delorme_gonogo_per_participant(realdata):
    """ds002680 animal categorization: accuracy and median RT per participant.

    The README's sanity rule (every RT a go, nothing excluded) must reproduce its numbers
    exactly (mean 0.928, S.E.M. 0.0087, N = 14, median go RT 338-534 ms). Our documented rule
    (go = RT in [100, 1000) ms; RT 1000 a no-go, RT < 100 excluded) moves the mean by +0.006 and
    is checked within 0.01: its S.E.M. is lower (0.0048) because all 108 releases at the 1000 ms
    limit come from sub-003 (0.832 -> 0.916 once they count as no-go, as the task defines them).
    """
    folder = realdata / "delorme_gonogo_ds002680" / "events"
    if not folder.is_dir():
        pytest.skip(f"{folder} absent")
    plain = participant_summary(exclude_trials(load_gonogo(folder, late_ms=math.inf), min_rt=0.0))
    assert len(plain) == 14
    assert plain["accuracy"].mean() == pytest.approx(0.928, abs=5e-4)
    assert plain["accuracy"].sem() == pytest.approx(0.0087, abs=1e-4)
    assert (plain["accuracy"].min(), plain["accuracy"].max()) == pytest.approx((0.832, 0.962), abs=5e-4)
    assert (plain["median_rt"].min(), plain["median_rt"].max()) == pytest.approx((0.338, 0.534), abs=1e-3)
    ours = participant_summary(exclude_trials(load_gonogo(folder), min_rt=0.1))
    assert len(ours) == 14 and ours["n_too_fast"].sum() == (plain["n_included"] - ours["n_included"]).sum()
    assert ours["accuracy"].mean() == pytest.approx(0.928, abs=0.01)
    assert ours["accuracy"].sem() == pytest.approx(0.0048, abs=5e-4)
    assert ours["median_rt"].between(0.3, 0.6).all()


def test_level_tests_and_ceiling_levels_keep_their_values():
    """Values computed before the two were split into helpers (issue 21)."""
    trials = simulate(n_per_group=6)
    sums = level_tests(trials, n_permutations=300, n_boot=30, seed=1)[["p", "p_holm", "hedges_g", "g_ci_low"]].sum()
    expected = {"p": 2.491694352159, "p_holm": 3.332225913621, "hedges_g": 7.803784414686, "g_ci_low": 6.23507883319}
    assert sums.to_dict() == pytest.approx(expected, abs=1e-10)
    ceiling, distribution = ceiling_levels(trials, n_permutations=300, n_boot=30, seed=1)
    assert ceiling["p"].tolist() == [0.03125, 0.125, 1.0, 0.75, 1.0, 0.03125, 0.03125, 0.03125, 0.03125, 1.0]
    assert ceiling.groupby("group")[["ceiling_level", "ceiling_ci_low", "ceiling_ci_high"]].first().values.tolist() == [
        [3.0, 1.0, 10.0],
        [100.0, 1.0, 100.0],
    ]
    assert distribution["ceiling_level"].tolist() == [1.0, 3.0, 10.0, 1.0, 100.0]
    assert distribution["fraction"].tolist() == pytest.approx([0.1, 0.8, 0.1, 0.1, 0.9])
