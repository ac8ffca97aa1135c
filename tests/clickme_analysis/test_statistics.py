"""Psychophysics statistics checked from outside: an independent quadrature ML fit, GLMs,
scipy / statsmodels references, counts tallied from raw BIDS files, and simulations with known
truth (``slow``: the calibration of docs/experiments.md)."""

import csv
import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from scipy.special import expit, log_expit

from clickme_analysis.errors import InputError
from clickme_analysis.events import load_gonogo
from clickme_analysis.psychophysics.analysis import analyze, write_analysis
from clickme_analysis.psychophysics.descriptives import rt_by_level
from clickme_analysis.psychophysics.detection import dprime_by_level, signal_detection
from clickme_analysis.psychophysics.exclusions import exclude_trials
from clickme_analysis.psychophysics.group_tests import ceiling_levels, effect_size, level_tests
from clickme_analysis.psychophysics.mixed_logistic import mixed_logit, simulate_glmm_trials
from clickme_analysis.psychophysics.psychometric import psychometric_fit, psychometric_function

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("stat_calibration", ROOT / "benchmarks" / "stat_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ an independent ML reference
def agq_fit(y, X, cluster, n_nodes=15):
    """ML logistic GLMM with one random intercept by adaptive Gauss-Hermite quadrature.

    Written here, independently of clickme_analysis.glmm: per cluster the integrand's mode and
    curvature (Newton steps, all clusters at once) centre and scale the Gauss-Hermite nodes
    (Pinheiro & Bates 1995). Returns the estimates (beta, log sigma) and the standard errors
    from the numerical Hessian of the negative log-likelihood.
    """
    from scipy import sparse

    nodes, weights = np.polynomial.hermite.hermgauss(n_nodes)
    codes = np.unique(cluster, return_inverse=True)[1]
    n_clusters = codes.max() + 1
    S = sparse.csr_matrix((np.ones(len(y)), (codes, np.arange(len(y)))), shape=(n_clusters, len(y)))

    def nll(params):
        beta, sigma = params[:-1], np.exp(params[-1])
        eta = X @ beta
        b = np.zeros(n_clusters)
        for _ in range(30):
            p = expit(eta + b[codes])
            grad = S @ (y - p) - b / sigma**2
            hess = S @ (p * (1 - p)) + 1 / sigma**2
            b = b + grad / hess
        scale = 1 / np.sqrt(hess)
        nodes_b = b[:, None] + np.sqrt(2) * scale[:, None] * nodes[None, :]  # clusters x nodes
        e = eta[:, None] + nodes_b[codes]
        loglik = S @ (y[:, None] * log_expit(e) + (1 - y[:, None]) * log_expit(-e))
        values = loglik + stats.norm.logpdf(nodes_b, 0, sigma) + nodes[None, :] ** 2
        top = values.max(1, keepdims=True)
        per_cluster = np.log(np.sqrt(2) * scale) + top[:, 0] + np.log(np.sum(weights * np.exp(values - top), 1))
        return -per_cluster.sum()

    start = np.r_[np.zeros(X.shape[1]), np.log(0.5)]
    fit = optimize.minimize(nll, start, method="BFGS", options={"gtol": 1e-7})
    hessian = _numerical_hessian(nll, fit.x)
    return fit.x, np.sqrt(np.diag(np.linalg.inv(hessian)))


def _numerical_hessian(f, x, h=1e-4):
    n = len(x)
    out = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            out[i, j] = out[j, i] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)) / (
                4 * h * h
            )
    return out


def test_mixed_logit_matches_an_independent_quadrature_ml_fit():
    trials = simulate_glmm_trials(
        n_participants=16,
        n_images=10,
        levels=(1.0, 5.0, 25.0),
        slope_sd=0.0,
        image_sd=0.0,
        participant_sd=0.7,
        coefficients=(-0.3, 0.4, 1.2, -0.2),
        seed=3,
    )
    ours = mixed_logit(trials, random_slopes=False, image_effects=False, method="ml", df="normal")
    ours = ours.set_index("term")
    log_level = np.log10(trials["level"].to_numpy())
    b = (trials["group"] == "b").to_numpy(float)
    X = np.column_stack([np.ones(len(trials)), b, log_level, b * log_level])
    estimate, se = agq_fit(trials["correct"].to_numpy(float), X, trials["participant"].to_numpy())
    fixed = ours[ours["effect"] == "fixed"]
    assert ours["formula"].iloc[0] == "correct ~ group * log10_level + (1 | participant)"
    # Laplace vs 25-node adaptive quadrature with 30 trials per participant: same ML answer
    assert np.allclose(fixed["estimate"], estimate[:4], atol=0.05 * se[:4].min())
    assert np.allclose(fixed["se"], se[:4], rtol=0.03)
    assert ours.loc["participant sd(Intercept)", "estimate"] == pytest.approx(np.exp(estimate[-1]), rel=0.03)
    # Wald p and interval from the estimate and SE
    row = fixed.loc["group[T.b]"]
    assert row["p"] == pytest.approx(2 * stats.norm.sf(abs(row["estimate"] / row["se"])))
    assert row["ci_high"] - row["estimate"] == pytest.approx(1.959964 * row["se"], rel=1e-5)
    # the default: restricted likelihood (larger variance, so larger SEs) and t with 16 - 4 df
    default = mixed_logit(trials, random_slopes=False, image_effects=False).set_index("term")
    assert default.loc["participant sd(Intercept)", "estimate"] > ours.loc["participant sd(Intercept)", "estimate"]
    assert (default.loc[fixed.index, "se"] >= fixed["se"] - 1e-9).all()
    assert (default.loc[fixed.index, "df"] == 12).all()
    t_row = default.loc["group[T.b]"]
    assert t_row["p"] == pytest.approx(2 * stats.t(12).sf(abs(t_row["estimate"] / t_row["se"])))


def test_mixed_logit_without_variance_is_the_glm():
    import statsmodels.api as sm

    trials = simulate_glmm_trials(
        n_participants=20, n_images=10, participant_sd=0.0, slope_sd=0.0, image_sd=0.0, seed=5
    )
    log_level = np.log10(trials["level"].to_numpy())
    b = (trials["group"] == "b").to_numpy(float)
    X = np.column_stack([np.ones(len(trials)), b, log_level, b * log_level])
    glm = sm.GLM(trials["correct"].to_numpy(float), X, family=sm.families.Binomial()).fit()
    ours = mixed_logit(trials, random_slopes=False, image_effects=False, method="ml").set_index("term")
    sd = ours.loc["participant sd(Intercept)", "estimate"]
    fixed = ours[ours["effect"] == "fixed"]
    assert sd < 0.15
    # a near-zero variance moves the fixed effects by a fraction of their SE
    assert np.allclose(fixed["estimate"], glm.params, atol=0.1 * glm.bse.min())
    assert np.allclose(fixed["se"], glm.bse, rtol=0.05)
    if sd < 1e-4:
        assert "boundary fit" in ours["note"].iloc[0]


def test_crossed_model_against_statsmodels_map():
    """The crossed model (participants and images) against statsmodels' Laplace-at-the-mode fit."""
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    trials = simulate_glmm_trials(n_participants=16, n_images=20, levels=(1.0, 5.0, 25.0), slope_sd=0.0, seed=2)
    ours = mixed_logit(trials, random_slopes=False).set_index("term")
    assert ours["formula"].iloc[0].endswith("(1 | participant) + (1 | image_id)")
    data = trials.assign(correct=trials["correct"].astype(float), log10_level=np.log10(trials["level"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its optimizer's convergence warning
        ref = BinomialBayesMixedGLM.from_formula(
            "correct ~ C(group) * log10_level", {"p": "0 + C(participant)", "i": "0 + C(image_id)"}, data
        ).fit_map()
    fixed = ours[ours["effect"] == "fixed"]
    se_ref = np.sqrt(np.diag(ref.cov_params())[:4])
    # statsmodels maximizes a posterior (priors on the fixed effects and log-SDs), not the likelihood
    assert np.all(np.abs(fixed["estimate"].to_numpy() - ref.fe_mean) < 0.5 * fixed["se"].to_numpy())
    # its SEs are at most ours (a posterior mode shrinks the variances; its optimizer stops early
    # here): the calibration of the crossed model's SEs is the slow coverage test's job
    ratio = se_ref / fixed["se"].to_numpy()
    assert np.all((ratio > 0.7) & (ratio < 1.05)), ratio
    assert ours.loc["image_id sd(Intercept)", "estimate"] == pytest.approx(0.5, abs=0.3)


def test_random_slope_and_what_is_dropped():
    trials = simulate_glmm_trials(n_participants=20, n_images=8, slope_sd=0.6, participant_sd=0.6, seed=1)
    full = mixed_logit(trials).set_index("term")
    assert full["formula"].iloc[0] == (
        "correct ~ group * log10_level + (1 + log10_level | participant) + (1 | image_id)"
    )
    assert full.loc["participant sd(log10_level)", "estimate"] == pytest.approx(0.6, abs=0.35)
    assert -1 < full.loc["participant corr", "estimate"] < 1
    assert {"converged", "note", "n_trials", "n_participants", "n_images"} <= set(full.columns)
    assert (full["n_participants"].iloc[0], full["n_images"].iloc[0]) == (20, 8)
    no_images = mixed_logit(trials.drop(columns="image_id"))
    assert "no image_id column" in no_images["note"].iloc[0]
    one_level = trials[
        trials["level"].isin([1.0, 10.0]) & ((trials["participant"] != "p000") | (trials["level"] == 10))
    ]
    note = mixed_logit(one_level)["note"].iloc[0]
    assert "random slope of log10(level) by participant dropped: some participant has one level" in note
    with pytest.raises(InputError, match="cannot all be estimated"):
        mixed_logit(trials[(trials["group"] == "a") | (trials["level"] == 10.0)])


def test_singular_slope_is_dropped_with_a_note():
    # no slope variance: in this draw the slope term's fit is singular, and it is refitted without
    fit = mixed_logit(simulate_glmm_trials(n_participants=12, n_images=5, slope_sd=0.0, seed=3))
    assert fit["note"].iloc[0].startswith("random slope of log10(level) by participant dropped: singular fit")
    assert fit["formula"].iloc[0].endswith("(1 | participant) + (1 | image_id)")
    assert "participant sd(log10_level)" not in set(fit["term"]) and fit["converged"].all()


def test_mixed_logit_bad_input():
    trials = simulate_glmm_trials(n_participants=4, n_images=3, levels=(1, 10), seed=0)
    with pytest.raises(InputError, match="two or more groups"):
        mixed_logit(trials[trials["group"] == "a"])
    with pytest.raises(InputError, match="two or more groups"):
        mixed_logit(trials, groups=["a", "zzz"])
    with pytest.raises(InputError, match="two revealed levels"):
        mixed_logit(trials[trials["level"] == 1])
    with pytest.raises(InputError, match="alpha"):
        mixed_logit(trials, alpha=1.5)
    with pytest.raises(InputError, match="nagq"):
        mixed_logit(trials, nagq=3)
    with pytest.raises(InputError, match="method"):
        mixed_logit(trials, method="vb")
    with pytest.raises(InputError, match="'df'|df"):
        mixed_logit(trials, df="satterthwaite")
    with pytest.raises(InputError, match="design"):
        simulate_glmm_trials(n_participants=1)


def test_calibration_benchmark_smoke():
    """The benchmark's code path on two data sets (the real run is the slow test below)."""
    bench = _benchmark()
    fits = bench.glmm_fits(2, effect=0.0, seed=7, n_participants=10, n_images=6, levels=(1.0, 10.0, 50.0))
    summary = bench.glmm_summary(fits)
    assert set(summary["term"]) == set(bench.TRUTH) and (summary["n_sets"] == 2).all()
    assert summary["coverage"].between(0, 1).all()
    low, high = bench.binomial_interval(200)
    assert (low, high) == pytest.approx((3 / 200, 19 / 200))  # scipy.stats.binom.interval(0.99, 200, 0.05)


@pytest.mark.slow
def test_calibration_of_the_default_mixed_model():
    """200 null data sets (the benchmark's design): false-positive rate of group and interaction
    inside the binomial 99% interval around 0.05; 95% interval coverage of every coefficient."""
    bench = _benchmark()
    fits = bench.glmm_fits(200, effect=0.0, seed=11)
    summary = bench.glmm_summary(fits).set_index("term")
    low, high = bench.binomial_interval(200)
    for term in bench.NULL_TERMS:
        assert low <= summary.loc[term, "rejection_rate"] <= high, summary
    cover_low, cover_high = stats.binom.interval(0.99, 200, 0.95)
    assert (summary["coverage"] >= cover_low / 200).all() and (summary["coverage"] <= cover_high / 200).all()


@pytest.mark.slow
def test_psychometric_threshold_interval_coverage():
    """>= 93% coverage of the true threshold over 200 simulated data sets at the default settings."""
    result = _benchmark().psychometric_coverage(200, seed=5)
    assert result["coverage"] >= 0.93, result


# ------------------------------------------------------------------------- signal detection
def test_signal_detection_hand_computed_and_corrections():
    # 10 targets with 10 hits (rate 1), 10 distractors with 2 false alarms
    t = pd.DataFrame(
        {
            "participant": "a",
            "group": "g",
            "level": 5.0,
            "map_source": "m",
            "target": [1] * 10 + [0] * 10,
            "responded_target": [1] * 10 + [1, 1] + [0] * 8,
            "rt": 0.4,
            "timed_out": 0,
        }
    )
    t["correct"] = t["target"] == t["responded_target"]
    loglinear = signal_detection(t).iloc[0]
    zh, zf = stats.norm.ppf(10.5 / 11), stats.norm.ppf(2.5 / 11)
    assert (loglinear["hits"], loglinear["false_alarms"], loglinear["n_signal"], loglinear["n_noise"]) == (
        10,
        2,
        10,
        10,
    )
    assert (loglinear["hit_rate"], loglinear["fa_rate"]) == (1.0, 0.2)
    assert loglinear["d_prime"] == pytest.approx(zh - zf) and loglinear["criterion"] == pytest.approx(-(zh + zf) / 2)
    half = signal_detection(t, "1/2N").iloc[0]
    assert half["d_prime"] == pytest.approx(stats.norm.ppf(1 - 1 / 20) - stats.norm.ppf(0.2))
    assert math.isinf(signal_detection(t, "none").iloc[0]["d_prime"])
    with pytest.raises(InputError, match="correction"):
        signal_detection(t, "hautus")
    with pytest.raises(InputError) as err:
        signal_detection(t.drop(columns="responded_target"))
    assert err.value.field == "responded_target"
    bad = t.assign(target=["x"] + [1] * 19)
    with pytest.raises(InputError, match="expected 0/1"):
        signal_detection(bad)


def test_dprime_and_rt_by_level_average_participants():
    rows = []
    for participant, hits, rts in (("a", 4, [0.4, 0.5, 0.6, 0.7]), ("b", 2, [0.3, 0.9, 1.0, 1.1])):
        for k in range(4):
            rows.append((participant, 1, int(k < hits), rts[k]))
            rows.append((participant, 0, 0, 0.5))
    t = pd.DataFrame(rows, columns=["participant", "target", "responded_target", "rt"]).assign(
        group="g", level=10.0, map_source="m", timed_out=0
    )
    t["correct"] = t["target"] == t["responded_target"]
    d = dprime_by_level(t).iloc[0]
    per = [stats.norm.ppf((h + 0.5) / 5) - stats.norm.ppf(0.5 / 5) for h in (4, 2)]
    assert d["d_prime"] == pytest.approx(np.mean(per)) and d["n_participants"] == 2
    assert d["d_prime_sem"] == pytest.approx(np.std(per, ddof=1) / np.sqrt(2))
    rt = rt_by_level(t).iloc[0]
    # correct trials: a: targets 0.4-0.7 + 4 distractors at 0.5 -> median 0.5; b: 0.3, 0.9 + 4 x 0.5 -> 0.5
    assert rt["median_rt"] == pytest.approx(0.5) and rt["n_trials"] == 14


def test_gonogo_rates_against_raw_counts(realdata):
    """ds002680: hits and false alarms tallied here from the raw TSVs with the csv module."""
    folder = realdata / "delorme_gonogo_ds002680" / "events"
    if not folder.is_dir():
        pytest.skip(f"{folder} absent")
    counts = {}
    for path in sorted(folder.rglob("*_events.tsv")):
        subject = path.name.split("_")[0]
        c = counts.setdefault(subject, {"hit": 0, "signal": 0, "fa": 0, "noise": 0})
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["trial_type"] != "stimulus" or row["value"] not in ("animal_target", "animal_distractor"):
                    continue
                rt = row["response_time"]
                go = rt != "n/a" and float(rt) < 1000  # the documented rule (no anticipation exclusion)
                if row["value"] == "animal_target":
                    c["signal"] += 1
                    c["hit"] += go
                else:
                    c["noise"] += 1
                    c["fa"] += go
    sdt = signal_detection(exclude_trials(load_gonogo(folder), min_rt=0.0)).set_index("participant")
    assert len(sdt) == len(counts) == 14
    for subject, c in counts.items():
        row = sdt.loc[subject]
        assert (row["hits"], row["n_signal"], row["false_alarms"], row["n_noise"]) == (
            c["hit"],
            c["signal"],
            c["fa"],
            c["noise"],
        )
        expected = stats.norm.ppf((c["hit"] + 0.5) / (c["signal"] + 1)) - stats.norm.ppf(
            (c["fa"] + 0.5) / (c["noise"] + 1)
        )
        assert row["d_prime"] == pytest.approx(expected, abs=1e-12)
    assert sdt["hit_rate"].between(0.8, 1).all() and sdt["fa_rate"].between(0, 0.2).all()


# ----------------------------------------------------------------------------- effect sizes
def test_effect_size_against_formulas():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.8, 0.1, 200), rng.normal(0.7, 0.1, 150)
    out = effect_size(a, b, n_boot=2000, seed=1)
    pooled = np.sqrt(((199) * a.var(ddof=1) + 149 * b.var(ddof=1)) / 348)
    g = (a.mean() - b.mean()) / pooled * (1 - 3 / (4 * 348 - 1))
    assert out["hedges_g"] == pytest.approx(g)
    # large normal samples: the BCa interval of the difference is the Welch t interval
    welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert out["difference_ci_low"] == pytest.approx(welch.low, abs=0.004)
    assert out["difference_ci_high"] == pytest.approx(welch.high, abs=0.004)
    # and g's interval is close to the normal approximation of Hedges & Olkin (1985)
    se_g = np.sqrt(350 / (200 * 150) + g**2 / (2 * 350))
    assert out["g_ci_low"] == pytest.approx(g - 1.96 * se_g, abs=0.05)
    assert np.isnan(effect_size([1.0], [0.5, 0.6])["hedges_g"])
    assert np.isnan(effect_size([0.5, 0.5], [0.5, 0.5])["g_ci_low"])


def test_level_tests_corrections_effect_sizes_and_permutation_counts():
    from statsmodels.stats.multitest import multipletests

    out = level_tests(_psychometric_trials(), n_permutations=2000, n_boot=500, seed=0)
    assert np.allclose(out["p_holm"], multipletests(out["p"], method="holm")[1])
    assert np.allclose(out["p_fdr_bh"], multipletests(out["p"], method="fdr_bh")[1])
    # BH by hand: sorted p times m / rank, made monotone from the top
    p = out["p"].to_numpy()
    order = np.argsort(p)
    bh = np.minimum.accumulate((p[order] * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1]
    assert np.allclose(np.sort(out["p_fdr_bh"]), np.minimum(bh, 1))
    assert (out["p_fdr_bh"] <= out["p_holm"] + 1e-12).all()
    # 10 per group: C(20, 10) = 184756 > 2000 relabellings -> random ones, counted
    assert (out["n_permutations"] == 2000).all() and not out["exact"].any()
    assert ((out["difference_ci_low"] <= out["statistic"]) & (out["statistic"] <= out["difference_ci_high"])).all()
    strong = out.set_index("level").loc[10.0]
    assert strong["hedges_g"] > 1 and strong["g_ci_low"] > 0
    small = level_tests(_psychometric_trials(n_per_group=3), n_permutations=10000, n_boot=0)
    assert (small["n_permutations"] == math.comb(6, 3)).all() and small["exact"].all()
    with pytest.raises(InputError, match="n_permutations"):
        level_tests(_psychometric_trials(), n_permutations=0)


def _psychometric_trials(n_per_group=10, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for group, th in (("clickme", 3.0), ("saliency", 20.0)):
        for j in range(n_per_group):
            for level in (1.0, 3.0, 10.0, 30.0, 100.0):
                p = psychometric_function(level, np.log10(th), 0.25, 0.02)
                rows += [(f"{group}{j}", group, level, "revealed", rng.random() < p, 0.4, False) for _ in range(8)]
            rows += [(f"{group}{j}", group, 100.0, "intact", rng.random() < 0.98, 0.4, False) for _ in range(8)]
    return pd.DataFrame(rows, columns=["participant", "group", "level", "map_source", "correct", "rt", "timed_out"])


# ---------------------------------------------------------------------------------- ceiling
def test_ceiling_with_bootstrap_interval():
    ceiling, boot = ceiling_levels(_psychometric_trials(n_per_group=12), n_permutations=1000, n_boot=100, seed=0)
    per_group = ceiling.groupby("group").first()
    assert per_group.loc["clickme", "ceiling_level"] < per_group.loc["saliency", "ceiling_level"]
    assert (
        (per_group["ceiling_ci_low"] <= per_group["ceiling_level"])
        & (per_group["ceiling_level"] <= per_group["ceiling_ci_high"])
    ).all()
    assert (per_group["n_boot"] == 100).all() and (ceiling["n_permutations"] == 1000).all()
    assert boot.groupby("group")["fraction"].sum().to_numpy() == pytest.approx([1.0, 1.0])
    # the bootstrap's levels are levels of the design
    assert set(boot["ceiling_level"].dropna()) <= {1.0, 3.0, 10.0, 30.0, 100.0}
    with pytest.raises(InputError, match="n_boot"):
        ceiling_levels(_psychometric_trials(n_per_group=2), n_boot=-1)


# ---------------------------------------------------------------------------- psychometrics
def test_psychometric_output_states_the_threshold_and_bounds_the_lapse():
    params, _ = psychometric_fit(_psychometric_trials(), n_boot=20, seed=0)
    assert (params["lapse"] <= 0.06).all() and (params["lapse"] >= 0).all()
    assert params["threshold_definition"].str.contains("F = 0.5").all()
    assert params["threshold_p_correct"].to_numpy() == pytest.approx(0.5 + (0.5 - params["lapse"].to_numpy()) / 2)
    assert (params["ci_method"] == "parametric").all() and (params["n_boot"] == 20).all()
    participants, _ = psychometric_fit(_psychometric_trials(), n_boot=20, ci="participants")
    assert (participants["ci_method"] == "participants").all()
    for bad in ({"ci": "bca"}, {"n_boot": -1}, {"max_lapse": 0.6}):
        with pytest.raises(InputError):
            psychometric_fit(_psychometric_trials(), **bad)


def test_analyze_writes_every_new_table(tmp_path):
    trials = simulate_glmm_trials(n_participants=8, n_images=4, levels=(1.0, 10.0, 50.0), seed=0)
    trials["target"] = np.arange(len(trials)) % 2
    trials["responded_target"] = np.where(trials["correct"], trials["target"], 1 - trials["target"])
    results = analyze(trials, n_permutations=200, n_boot=20)
    for name in ("rt", "signal_detection", "dprime", "level_tests", "mixed_model", "ceiling", "ceiling_bootstrap"):
        assert len(results[name]), name
    paths = write_analysis(results, tmp_path)
    assert {p.name for p in paths} >= {"dprime.csv", "rt.csv", "ceiling_bootstrap.csv", "mixed_model.csv"}
    assert pd.read_csv(tmp_path / "mixed_model.csv")["term"].iloc[0] == "Intercept"
