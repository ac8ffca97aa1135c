"""Maximum-likelihood binomial (logit) GLMM by the Laplace approximation, as lme4's ``glmer``.

The engine behind :func:`clickme_analysis.psychophysics.mixed_logistic.mixed_logit`. statsmodels has no
maximum-likelihood GLMM (its ``BinomialBayesMixedGLM`` is a Bayesian approximation whose
mean-field ``fit_vb`` standard errors are 3-7x too narrow), R is not a dependency, so this module
fits the model the way lme4 does (Bates, Maechler, Bolker & Walker 2015, *J. Stat. Softw.* 67(1);
the Laplace approximation of Breslow & Clayton 1993):

- random effects ``b = Lambda(theta) u`` with ``u ~ N(0, I)``; one block per term, each a
  grouping factor with one or more columns (an intercept, or an intercept and a slope with a
  free 2x2 covariance: ``Lambda`` lower-triangular, ``theta`` its entries, diagonal >= 0, so a
  variance of exactly 0 is a reachable boundary);
- for given ``(theta, beta)`` the conditional mode of ``u`` by Newton steps (PIRLS), and the
  Laplace deviance ``-2 log p(y | beta, u) + |u|^2 + log det(Lambda' Z' W Z Lambda + I)``;
- stage 1 (lme4's ``nAGQ = 0``): ``beta`` joins ``u`` in the inner problem, the outer optimizer
  (derivative-free COBYQA, bounded, as lme4's bobyqa) moves ``theta`` only;
- stage 2 (``nagq = 1``, the default): the Laplace deviance is minimized over ``beta`` at stage
  1's ``theta`` (L-BFGS-B). lme4 moves ``theta`` again in this stage; here that moved it by
  less than 1e-3 while costing three times as many evaluations, so it is left out. The test
  suite checks the result against an independent adaptive Gauss-Hermite ML fit;
- fixed-effect covariance: the ``beta`` block of the inverse joint Hessian of ``(beta, u)`` at
  the optimum (conditional on ``theta``, as glmer's ``vcov``); Wald z tests and intervals.

The joint Hessian ``M' W M`` with ``M = [X, Z Lambda] = [X, Z] D(theta)`` is ``D' (A' W A) D``:
``A = [X, Z]`` does not depend on ``theta``, so the products of each trial's few non-zero pairs
are formed once and every Newton step is one sparse matrix-vector product with the weights,
then the block-diagonal ``D`` on both sides. It is factored densely (Cholesky): cost grows with
the number of random effects cubed, fine for lab designs (hundreds of participants and images).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize, sparse
from scipy.special import expit


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term: ``(columns | factor)``.

    Parameters
    ----------
    name : str
        The grouping factor's name (``participant``).
    codes : numpy.ndarray of int, shape (n,)
        Level index of each observation, 0 .. n_levels - 1.
    columns : numpy.ndarray, shape (n, k)
        The term's design columns (a column of ones for an intercept).
    column_names : tuple of str
        Names of the ``k`` columns (``Intercept``, ``log10_level``).
    """

    name: str
    codes: np.ndarray
    columns: np.ndarray
    column_names: tuple

    @property
    def n_levels(self) -> int:
        return int(self.codes.max()) + 1

    @property
    def k(self) -> int:
        return self.columns.shape[1]


@dataclass
class GLMMResult:
    """A fitted model: ``beta``, ``cov_beta``, random-effect ``covariances`` (one k x k per term),
    ``deviance`` (Laplace, -2 log L), ``converged`` and the optimizer's ``message``."""

    beta: np.ndarray
    cov_beta: np.ndarray
    theta: np.ndarray
    covariances: list
    deviance: float
    converged: bool
    message: str
    n_evaluations: int = 0
    u: np.ndarray = field(default=None, repr=False)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_beta))


class _Model:
    """The model's fixed structure. ``M = [X, Z Lambda] = A D(theta)``: ``A = [X, Z]`` is free of
    ``theta`` (each row has the same few non-zero columns, ``cols``, with values ``vals``) and
    ``D`` is block diagonal (identity on ``beta``, the term's ``Lambda`` block for each level), so
    ``M' W M = D' (A' W A) D``, where ``A' W A`` is one sparse product ``S w`` with a matrix ``S``
    of the products of each row's pairs of non-zero values, built once."""

    def __init__(self, y, X, terms):
        self.y = np.asarray(y, dtype=float)
        self.X = np.asarray(X, dtype=float)
        self.terms = list(terms)
        n, self.p = self.X.shape
        self.lower = [np.tril_indices(term.k) for term in self.terms]
        sizes = [len(li[0]) for li in self.lower]
        self.n_theta = sum(sizes)
        self.theta_slices = np.split(np.arange(self.n_theta), np.cumsum(sizes)[:-1]) if sizes else []
        # theta entries on a diagonal of Lambda are bounded below by 0 (lme4's convention)
        self.theta_lower = (
            np.concatenate([np.where(li[0] == li[1], 0.0, -np.inf) for li in self.lower]) if sizes else np.zeros(0)
        )
        cols, offset, self.spans = [np.broadcast_to(np.arange(self.p), (n, self.p))], self.p, []
        for term in self.terms:
            cols.append(offset + term.codes[:, None] * term.k + np.arange(term.k)[None, :])
            self.spans.append(slice(offset, offset + term.n_levels * term.k))
            offset += term.n_levels * term.k
        self.cols = np.ascontiguousarray(np.hstack(cols))  # (n, r): the non-zero columns of each row of A
        self.vals = np.hstack([self.X] + [np.asarray(term.columns, dtype=float) for term in self.terms])
        self.dim, self.q, r = offset, offset - self.p, self.cols.shape[1]
        self.A = sparse.csr_matrix(
            (self.vals.ravel(), self.cols.ravel(), np.arange(0, n * r + 1, r)), shape=(n, self.dim)
        )
        self.At = self.A.T.tocsr()
        # pairs of a row's non-zero columns, upper triangle; those of X (the same for every row) in
        # a dense block, the others in a sparse matrix over the distinct entries they add to
        a, b = np.triu_indices(r)
        keep = b >= self.p
        flat = (self.cols[:, a[keep]] * self.dim + self.cols[:, b[keep]]).ravel()
        self.targets, where = np.unique(flat, return_inverse=True)
        self.S = sparse.csr_matrix(
            (
                (self.vals[:, a[keep]] * self.vals[:, b[keep]]).ravel(),
                (where.ravel(), np.repeat(np.arange(n), keep.sum())),
            ),
            shape=(len(self.targets), n),
        )
        self.x_targets = a[~keep] * self.dim + b[~keep]
        self.x_products = np.ascontiguousarray((self.X[:, a[~keep]] * self.X[:, b[~keep]]).T)
        self.penalty = np.r_[np.zeros(self.p), np.ones(self.q)]

    def theta_start(self) -> np.ndarray:
        return np.concatenate([np.where(li[0] == li[1], 1.0, 0.0) for li in self.lower]) if self.lower else np.zeros(0)

    def blocks(self, theta):
        out = []
        for term, li, idx in zip(self.terms, self.lower, self.theta_slices):
            L = np.zeros((term.k, term.k))
            L[li] = theta[idx]
            out.append(L)
        return out

    def values(self, theta):
        """The ``Lambda`` blocks of D(theta), one per term."""
        return self.blocks(np.asarray(theta, dtype=float))

    def times_d(self, matrix, blocks, transpose=False):
        """``matrix @ D`` (``matrix @ D'`` with ``transpose``) for a vector or the rows of a matrix."""
        out = np.array(matrix, dtype=float)
        for span, L, term in zip(self.spans, blocks, self.terms):
            part = out[..., span].reshape(out.shape[:-1] + (term.n_levels, term.k))
            out[..., span] = (part @ (L.T if transpose else L)).reshape(out.shape[:-1] + (-1,))
        return out

    def eta(self, D, v):
        return self.A @ self.times_d(v, D, transpose=True)

    def hessian(self, D, w):
        """M' diag(w) M + P, dense (dim x dim)."""
        G = np.zeros(self.dim * self.dim)
        G[self.targets] = self.S @ w
        G[self.x_targets] = self.x_products @ w
        G = G.reshape(self.dim, self.dim)
        G = G + G.T
        G[np.diag_indices(self.dim)] /= 2
        H = self.times_d(self.times_d(G, D).T, D)  # (G D)' D = D' G D, G symmetric
        H[np.diag_indices(self.dim)] += self.penalty
        return H

    def gradient(self, D, residual, v):
        return self.times_d(self.At @ residual, D) - self.penalty * v

    # --------------------------------------------------------------------------- inner problems
    def newton(self, D, v, first, *, max_iter=50, tol=1e-10):
        """Maximize the penalized log-likelihood over the entries ``first:`` of v (the others fixed).

        Returns v, the penalized deviance, and the Cholesky factor of the Hessian over those entries.
        """
        eta = self.eta(D, v)
        dev_old = _deviance(self.y, eta) + (self.penalty * v) @ v
        for _ in range(max_iter):
            mu = expit(eta)
            factor = linalg.cho_factor(self.hessian(D, mu * (1 - mu))[first:, first:], lower=True, check_finite=False)
            step = np.zeros_like(v)
            step[first:] = linalg.cho_solve(factor, self.gradient(D, self.y - mu, v)[first:], check_finite=False)
            for _ in range(30):  # step halving keeps the penalized log-likelihood increasing
                v_new = v + step
                eta_new = self.eta(D, v_new)
                dev = _deviance(self.y, eta_new) + (self.penalty * v_new) @ v_new
                if dev <= dev_old + 1e-12:
                    break
                step = step / 2
            else:
                v_new, eta_new, dev = v, eta, dev_old
            converged = abs(dev_old - dev) < tol * (1 + abs(dev))
            v, eta, dev_old = v_new, eta_new, dev
            if converged:
                break
        mu = expit(eta)
        H = self.hessian(D, mu * (1 - mu))[first:, first:]
        return v, dev_old, linalg.cho_factor(H, lower=True, check_finite=False)

    def laplace(self, theta, beta, u):
        """Laplace deviance at (theta, beta), with u at its conditional mode; returns it and u."""
        v, pen_dev, factor = self.newton(self.values(theta), np.r_[beta, u], self.p)
        return pen_dev + _logdet(factor), v[self.p :]

    def profiled(self, theta, v, reml=False):
        """Stage-1 objective at the joint mode of (beta, u): the Laplace deviance (log det over u
        only), or with ``reml`` the Laplace restricted deviance (log det over beta and u: beta
        integrated out under a flat prior)."""
        v, pen_dev, factor = self.newton(self.values(theta), v, 0)
        cov = _cov_beta(factor, self.p)
        if reml:
            return pen_dev + _logdet(factor), v, cov
        # log det H_uu = log det H - log det S, with S = cov_beta^-1 the Schur complement
        return pen_dev + _logdet(factor) + np.linalg.slogdet(cov)[1], v, cov


def theta_of_covariances(covariances) -> np.ndarray:
    """``theta`` (lower Cholesky factors, term by term, in :class:`RandomTerm` order) of k x k
    random-effect covariance matrices: the inverse of ``GLMMResult.covariances``.

    Examples
    --------
    >>> theta_of_covariances([np.array([[0.25, 0.0], [0.0, 0.09]]), np.array([[0.25]])]).round(3).tolist()
    [0.5, 0.0, 0.3, 0.5]
    """
    out = []
    for cov in covariances:
        cov = np.atleast_2d(np.asarray(cov, dtype=float))
        sd = np.sqrt(np.diag(cov))
        if (sd == 0).any():  # a zero variance: no Cholesky; keep the correlation out
            L = np.diag(sd)
        else:
            L = np.linalg.cholesky(cov)
        out.append(L[np.tril_indices(len(cov))])
    return np.concatenate(out) if out else np.zeros(0)


#: Objective value returned where the linear algebra fails, so that the optimizer steps back.
_FAILED = 1e12
#: Bound on the entries of the relative covariance factor.
THETA_MAX = 10.0


def _deviance(y, eta):
    """-2 sum log p(y | eta) for Bernoulli y: log(1 + e^eta) as -log(expit(-eta)), exact in both
    tails and faster than ``logaddexp``, which takes over where that overflows (eta > ~700)."""
    dev = 2 * (-np.sum(np.log(expit(-eta))) - y @ eta)
    return dev if np.isfinite(dev) else 2 * (np.sum(np.logaddexp(0, eta)) - y @ eta)


def _logdet(factor) -> float:
    return float(2 * np.sum(np.log(np.diag(factor[0]))))


def _cov_beta(factor, p):
    rhs = np.zeros((len(factor[0]), p))
    rhs[np.arange(p), np.arange(p)] = 1.0
    return linalg.cho_solve(factor, rhs, check_finite=False)[:p]


def fit(y, X, terms, *, nagq: int = 1, reml: bool = False, max_iter: int = 500, start=None) -> GLMMResult:
    """Fit ``logit P(y = 1) = X beta + sum_terms Z_j b_j`` by maximum likelihood (Laplace).

    Parameters
    ----------
    y : array of 0/1, shape (n,)
    X : array, shape (n, p)
        Fixed-effect design (full column rank).
    terms : list of RandomTerm
    nagq : {0, 1}, keyword-only
        0: lme4's fast ``nAGQ = 0`` (fixed effects at the joint conditional mode); 1: the
        fixed effects then maximize the Laplace likelihood (stage 2 above).
    reml : bool
        Estimate the variance parameters by the Laplace approximation of the restricted
        likelihood (fixed effects integrated out under a flat prior, as glmmTMB's
        ``REML = TRUE``): less biased variances with few participants; the fixed effects are
        then the joint conditional mode (no stage 2).
    max_iter : int
        Objective evaluations allowed to each run of the optimizer.
    start : (theta, beta), optional
        Warm start (a power simulation starts from the generating values): the optimizer
        begins at ``theta`` (entries of the lower-triangular ``Lambda`` blocks, term by term,
        :func:`theta_of_covariances`) with a trust region of 0.25 instead of 1, and the inner
        problem at ``beta`` (``u`` = 0). Default: lme4's start (identity ``Lambda``, zeros).

    Returns
    -------
    GLMMResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> codes = np.repeat(np.arange(20), 50)
    >>> x = rng.normal(size=1000)
    >>> eta = 0.5 * x + rng.normal(0, 0.8, 20)[codes]
    >>> y = (rng.random(1000) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> term = RandomTerm("g", codes, np.ones((1000, 1)), ("Intercept",))
    >>> result = fit(y, np.column_stack([np.ones(1000), x]), [term])
    >>> bool(result.converged), bool(0.3 < result.beta[1] < 0.7)
    (True, True)
    """
    if nagq not in (0, 1):
        raise ValueError(f"nagq must be 0 or 1, got {nagq}")
    model = _Model(y, X, terms)
    if start is not None and (np.shape(start[0]) != (model.n_theta,) or np.shape(start[1]) != (model.p,)):
        raise ValueError(f"start: expected theta of {model.n_theta} and beta of {model.p} values")
    state = {"v": np.zeros(model.dim), "n": 0}
    if start is not None:
        state["v"][: model.p] = start[1]
    if model.n_theta:
        theta, converged, message = _stage1(model, state, start, reml=reml, max_iter=max_iter)
    else:
        theta, converged, message = model.theta_start(), True, "no random effects"
    _, v, _ = model.profiled(theta, state["v"])
    if nagq == 1 and model.n_theta and not reml:
        v, steps_ok = _stage2(model, theta, v, state)
        converged = converged and steps_ok
        message = message if steps_ok else f"{message}; stage 2 stopped after 10 Newton steps"
    return _result(model, theta, v, converged=converged, message=message, n_evaluations=state["n"])


def _stage1(model, state, start, *, reml, max_iter):
    """theta minimizing the profiled (restricted) Laplace deviance: (theta, converged, message).
    ``state["v"]`` carries the joint mode of (beta, u) from one evaluation to the next."""
    # |theta| <= THETA_MAX: a random-effect SD beyond 10 logits is no longer estimable from 0/1 data
    low, high = np.maximum(model.theta_lower, -THETA_MAX), np.full(model.n_theta, THETA_MAX)
    bounds = list(zip(low, high))
    theta0, radius = model.theta_start(), 1.0
    if start is not None:
        theta0, radius = np.clip(np.asarray(start[0], dtype=float), low, high), 0.25

    def objective(theta):
        state["n"] += 1
        try:
            dev, state["v"], _ = model.profiled(theta, state["v"], reml)
        except (RuntimeError, np.linalg.LinAlgError):  # a numerically singular step: steer away
            return _FAILED
        return dev if np.isfinite(dev) else _FAILED

    # derivative-free (as lme4's bobyqa): at a variance of 0 the deviance's gradient in theta
    # vanishes by symmetry, which stops gradient methods on the boundary
    first = optimize.minimize(
        objective,
        theta0,
        method="COBYQA",
        bounds=bounds,
        options={"maxfev": max_iter, "final_tr_radius": 1e-4, "initial_tr_radius": radius},
    )
    # a variance on the boundary can be a symmetric stationary point, not the optimum:
    # restart once from that variance set back to 0.5 and keep the better answer
    at_zero = np.isfinite(model.theta_lower) & (first.x < 1e-4)
    if at_zero.any():
        second = optimize.minimize(
            objective,
            np.where(at_zero, 0.5, first.x),
            method="COBYQA",
            bounds=bounds,
            options={"maxfev": max_iter, "final_tr_radius": 1e-4},
        )
        if second.fun < first.fun:
            first = second
    return first.x, bool(first.success), str(first.message)


def _stage2(model, theta, v, state):
    """beta maximizing the Laplace likelihood at ``theta``, from the joint mode ``v``: Newton steps
    with a central-difference gradient and the curvature 2 cov_beta^-1 of the deviance (the
    correction is small: two or three steps). Returns (v, whether the steps converged)."""
    p = model.p
    state["u"] = v[p:].copy()

    def deviance(beta):
        state["n"] += 1
        try:
            dev, state["u"] = model.laplace(theta, beta, state["u"])
        except (RuntimeError, np.linalg.LinAlgError):
            return _FAILED
        return dev if np.isfinite(dev) else _FAILED

    _, _, cov1 = model.profiled(theta, v)
    beta, best = v[:p].copy(), deviance(v[:p])
    h, steps_ok = 1e-4, False
    for _ in range(10):
        grad = np.array([(deviance(beta + h * e) - deviance(beta - h * e)) / (2 * h) for e in np.eye(p)])
        step = -cov1 @ grad / 2
        if abs(grad @ step) < 1e-8:
            steps_ok = True
            break
        for _ in range(20):
            value = deviance(beta + step)
            if value <= best:
                beta, best = beta + step, value
                break
            step = step / 2
        else:
            steps_ok = True  # no further decrease along the Newton direction: at the optimum
            break
    _, u = model.laplace(theta, beta, state["u"])
    return np.r_[beta, u], steps_ok


def _result(model, theta, v, *, converged, message, n_evaluations) -> GLMMResult:
    """The fit at (theta, v): the covariance of beta is the beta block of the inverse joint
    (beta, u) Hessian at the optimum."""
    p = model.p
    D = model.values(theta)
    mu = expit(model.eta(D, v))
    factor = linalg.cho_factor(model.hessian(D, mu * (1 - mu)), lower=True, check_finite=False)
    cov = _cov_beta(factor, p)
    cov = (cov + cov.T) / 2
    deviance = model.laplace(theta, v[:p], v[p:])[0] if model.n_theta else _deviance(model.y, model.X @ v[:p])
    covariances = [L @ L.T for L in model.blocks(theta)]
    return GLMMResult(
        beta=v[:p],
        cov_beta=cov,
        theta=theta,
        covariances=covariances,
        deviance=float(deviance),
        converged=converged,
        message=message,
        n_evaluations=n_evaluations,
        u=v[p:],
    )
