"""Section 4.1 checked numerically: the chapter's problems, checks, and its stored record.

Two problems (:func:`sine_problem`, the sine MLP of Section 3; :func:`logistic_problem`, logistic regression) give
a loss and a point ``phi``; on their sampled tasks the checks compare the exact gradients of :mod:`reptile.taylor`
with their leading-order forms (one draw, over step sizes), Equations 15-17 in expectation, the AvgGradInner
identity, and the ``k``-step coefficients. Everything is float64; the Monte Carlo parts vectorise over sampled tasks
with ``torch.func.vmap``. ``run`` computes everything for one seed and stores one JSON; ``load_or_run`` is what the
chapter calls; :mod:`reptile.artifacts.taylor` draws the figures and tables from stored records. The command line
runs the same code path:

    python -m reptile.experiments.taylor --preset ci --seeds 0
    python -m reptile.experiments.taylor --preset default --seeds 0 1 --set mc_samples=5000

Monte Carlo with common random numbers: for each sampled task and minibatches we compute the exact gradient *and*
the per-sample estimates of AvgGrad and AvgGradInner, symmetrised over the orderings of the minibatches (rotations
and reversals), so that ``g - (c_grad AvgGrad - alpha c_inner AvgGradInner)`` is ``O(alpha^2)`` sample by sample and
its mean shrinks like ``alpha^2`` with a standard error that shrinks with it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, vmap

from .. import results as R
from .. import seeding
from ..cli import experiment_parser, run_experiment
from ..config import resolve_flat
from ..provenance import environment
from ..sine import SineTasks, init_mlp, mse_loss_fn
from ..taylor import (DTYPE, METHODS, LossFn, coefficient_limit, exact_gradients, expansion_coefficients,
                      expansion_terms, fit_coefficients, fitted_slope, leading_order, maml_by_autograd, norm_with_se,
                      orderings, sample_estimates)
from ..validate import check, is_int, is_number, resolve_device, validate_seed

EXPERIMENT = "taylor"
# each part's draws are a sub-stream of the run's "tasks" stream (reptile.seeding), so no two parts, and no two
# seeds, share one
DRAWS, MONTE_CARLO, K_STEPS = 0, 1, 2


# --------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TaylorConfig:
    """Section 4.1 checked numerically. Every computation is float64."""

    name: str = "default"
    hidden: tuple[int, ...] = (16, 16)  # sine MLP 1 -> 16 -> 16 -> 1, tanh (smooth, so L'' exists everywhere)
    grid_points: int = 50  # a sine task's samples: 50 equally spaced x in [-5, 5] (Section 3)
    batch: int = 10  # minibatch size; L_0, L_1, ... are disjoint minibatches of one task (no replacement)
    logistic_dim: int = 4  # the second model: logistic regression on this many Gaussian features (+ a bias)
    logistic_points: int = 50  # samples per logistic-regression task
    alpha_min: float = 1e-3  # step sizes alpha: n_alphas values, log-spaced over [alpha_min, alpha_max]
    alpha_max: float = 1e-1
    n_alphas: int = 9
    mc_samples: int = 2000  # (task, L0, L1) draws for Equations 15-17 and the AvgGradInner identity
    k_max: int = 5  # the k-step expansion for k = 1..k_max (k_max * batch <= grid_points: disjoint minibatches)
    k_samples: int = 400  # (task, L_0..L_{k_max-1}) draws for the fitted k-step coefficients
    k_alpha: float = 1e-4  # the k-step coefficients are fitted at k_alpha and 2 k_alpha, then taken to alpha -> 0
    k_alpha_min: float = 1e-4  # per-draw k-step check: n_alphas values over [k_alpha_min, k_alpha_max] (k steps
    k_alpha_max: float = 1e-2  # move phi about k times as far as one, so the asymptotic range starts lower)
    se_groups: int = 10  # standard errors of fitted coefficients: the spread of the fits on this many groups of draws

    def __post_init__(self) -> None:
        check(isinstance(self.name, str) and self.name != "", f"name must be a non-empty string, got {self.name!r}")
        hidden = tuple(self.hidden) if isinstance(self.hidden, (list, tuple)) else self.hidden
        check(isinstance(hidden, tuple) and len(hidden) >= 1 and all(is_int(h) and h >= 1 for h in hidden),
               f"hidden must be a non-empty list of integers >= 1, got {self.hidden!r}")
        object.__setattr__(self, "hidden", hidden)
        for name in ("grid_points", "batch", "logistic_dim", "logistic_points", "n_alphas", "mc_samples", "k_max",
                     "k_samples", "se_groups"):
            v = getattr(self, name)
            check(is_int(v) and v >= 1, f"{name} must be an integer >= 1, got {v!r}")
        for name in ("alpha_min", "alpha_max", "k_alpha", "k_alpha_min", "k_alpha_max"):
            v = getattr(self, name)
            check(is_number(v) and 0 < v <= 1, f"{name} must be a number in (0, 1], got {v!r}")
            object.__setattr__(self, name, float(v))
        check(self.alpha_min < self.alpha_max,
               f"alpha_min must be < alpha_max, got alpha_min={self.alpha_min!r}, alpha_max={self.alpha_max!r}")
        check(self.k_alpha_min < self.k_alpha_max, f"k_alpha_min must be < k_alpha_max, got "
               f"k_alpha_min={self.k_alpha_min!r}, k_alpha_max={self.k_alpha_max!r}")
        check(2 * self.k_alpha <= 1, f"k_alpha must be <= 0.5 (it is also used doubled), got {self.k_alpha!r}")
        check(self.n_alphas >= 3, f"n_alphas must be >= 3 (a slope needs points), got {self.n_alphas!r}")
        check(2 <= self.k_max <= self.grid_points // self.batch,
               f"k_max must be in [2, grid_points // batch = {self.grid_points // self.batch}] (disjoint "
               f"minibatches of {self.batch} from {self.grid_points} points), got {self.k_max!r}")
        check(2 * self.batch <= self.logistic_points,
               f"logistic_points must be >= 2 * batch = {2 * self.batch}, got {self.logistic_points!r}")
        check(self.se_groups >= 2, f"se_groups must be >= 2, got {self.se_groups!r}")
        for name in ("mc_samples", "k_samples"):
            v = getattr(self, name)
            check(v >= 2 * self.se_groups, f"{name} must be >= 2 * se_groups = {2 * self.se_groups}, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TaylorConfig":
        return cls(**{**d, "hidden": tuple(d["hidden"])})

    def digest(self) -> str:
        """A short hash of everything but the name: runs with equal digests are seeds of one experiment."""
        return R.config_digest(self.to_dict())

    def alphas(self) -> list[float]:
        """The step sizes of the exact-vs-leading-order and Equations 15-17 checks."""
        return np.geomspace(self.alpha_min, self.alpha_max, self.n_alphas).tolist()

    def k_alphas(self) -> list[float]:
        """The step sizes of the per-draw k-step check."""
        return np.geomspace(self.k_alpha_min, self.k_alpha_max, self.n_alphas).tolist()

TAYLOR_PRESETS: dict[str, TaylorConfig] = {
    # What the chapter shows: 9 step sizes over two decades, 2,000 Monte Carlo draws, k = 1..5 (seconds on a CPU).
    "default": TaylorConfig(name="default"),
    # Seconds: the test suite's run. A smaller network and fewer draws, the same checks.
    "ci": TaylorConfig(name="ci", hidden=(8, 8), n_alphas=5, mc_samples=200, k_max=3, k_samples=60, se_groups=5),
}

def resolve(preset: str = "default", overrides: Mapping[str, Any] | None = None) -> TaylorConfig:
    """The preset named ``preset`` with ``overrides`` (field name -> value) applied and validated. A customised
    config is renamed ``<preset>-custom-<digest>`` so its results never mix with the preset's."""
    return resolve_flat(TAYLOR_PRESETS, preset, overrides)


# ------------------------------------------------------------------------------------------ models and tasks


@dataclass(frozen=True)
class Problem:
    """A model and a task distribution: the minibatch loss ``L(phi, x, y)`` of a flat float64 parameter vector, the
    point ``phi`` where the expansion is taken, and ``sample(n, k, generator)``, which draws ``n`` tasks and ``k``
    disjoint minibatches of each (without replacement), as ``xs, ys`` with leading shape ``(n, k, batch)``."""

    name: str
    label: str
    loss: LossFn
    phi: Tensor
    sample: Callable[[int, int, torch.Generator], tuple[Tensor, Tensor]]

def _disjoint_minibatches(n: int, points: int, k: int, batch: int, generator: torch.Generator) -> Tensor:
    """Indices ``(n, k, batch)``: for each task, ``k`` disjoint minibatches from a random permutation of its points."""
    perm = torch.argsort(torch.rand(n, points, generator=generator, dtype=DTYPE), dim=1)
    return perm[:, : k * batch].reshape(n, k, batch)

def sine_problem(cfg: TaylorConfig, seed: int, device=None) -> Problem:
    """The sine tasks of Section 3 (``a sin(x + b)`` on the 50-point grid) and a tanh MLP at its PyTorch default
    initialisation (``init_mlp``, seeded), with the MSE loss of ``reptile.sine``."""
    params = init_mlp(cfg.hidden, seeding.stream_seed(seed, "init"), dtype=DTYPE, device=device)
    shapes, sizes = [p.shape for p in params], [p.numel() for p in params]
    mse = mse_loss_fn("tanh")

    def loss(phi: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return mse(tuple(t.reshape(s) for t, s in zip(torch.split(phi, sizes), shapes)), (x, y))

    dist = SineTasks(grid_points=cfg.grid_points)
    grid = dist.grid(DTYPE)

    def sample(n: int, k: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        a, b = dist.sample(n, generator, dtype=DTYPE)
        x = grid[_disjoint_minibatches(n, cfg.grid_points, k, cfg.batch, generator)]
        y = a[:, None, None] * torch.sin(x + b[:, None, None])
        return x[..., None].to(device), y[..., None].to(device)

    label = f"sine MLP 1-{'-'.join(map(str, cfg.hidden))}-1 (tanh)"
    return Problem("sine_mlp", label, loss, torch.cat([p.reshape(-1) for p in params]), sample)

def logistic_problem(cfg: TaylorConfig, seed: int, device=None) -> Problem:
    """Logistic regression: a task is a weight vector ``w ~ N(0, 4 I)`` and ``logistic_points`` samples
    ``x ~ N(0, I)``, ``y ~ Bernoulli(sigmoid(w . x))``; the loss is the mean cross-entropy of ``sigmoid(theta . x + c)``
    with ``phi = (theta, c) ~ N(0, 0.25 I)`` (seeded)."""
    d = cfg.logistic_dim
    phi = 0.5 * torch.randn(d + 1, generator=seeding.generator(seed, "init", 1), dtype=DTYPE)

    def loss(phi: Tensor, x: Tensor, y: Tensor) -> Tensor:
        z = x @ phi[:-1] + phi[-1]
        return (torch.nn.functional.softplus(z) - y * z).mean()

    def sample(n: int, k: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        w = 2.0 * torch.randn(n, d, generator=generator, dtype=DTYPE)
        x = torch.randn(n, cfg.logistic_points, d, generator=generator, dtype=DTYPE)
        y = torch.bernoulli(torch.sigmoid(torch.einsum("npd,nd->np", x, w)), generator=generator)
        idx = _disjoint_minibatches(n, cfg.logistic_points, k, cfg.batch, generator)
        rows = torch.arange(n)[:, None, None]
        return x[rows, idx].to(device), y[rows, idx].to(device)

    return Problem("logistic", f"logistic regression, {d} features", loss, phi.to(device), sample)


# ------------------------------------------------------------------------------------ 1. exact vs. leading order


def exact_vs_leading(problem: Problem, xs: Tensor, ys: Tensor, alphas: Sequence[float]) -> dict[str, Any]:
    """For one task and minibatches ``xs, ys`` (``k`` of them): ``||exact - leading order||`` per method and alpha,
    the size of MAML's first-order term (``||alpha (L1'' L0' + L0'' L1')||`` for k = 2) for reference, and the
    log-log slopes of the errors."""
    a, Ha = expansion_terms(problem.loss, problem.phi, xs, ys)
    errors: dict[str, list[float]] = {m: [] for m in METHODS}
    correction = []
    for alpha in alphas:
        exact = exact_gradients(problem.loss, problem.phi, xs, ys, alpha)
        approx = leading_order(a, Ha, alpha)
        zeroth = leading_order(a, Ha, 0.0)
        for m in METHODS:
            errors[m].append(float(torch.linalg.vector_norm(exact[m] - approx[m])))
        correction.append(float(torch.linalg.vector_norm(approx["maml"] - zeroth["maml"])))
    return {"errors": errors, "first_order_term": correction,
            "slopes": {m: fitted_slope(alphas, errors[m]) for m in METHODS}}

def two_step_check(problem: Problem, generator: torch.Generator, alphas: Sequence[float]) -> dict[str, Any]:
    """Section 4.1 for one (task, L0, L1) of ``problem``: exact (Eqs 9, 11, 14) against leading order (Eqs 10, 13,
    14) over ``alphas``, and MAML's Eq 11 against automatic differentiation through the SGD step."""
    xs, ys = problem.sample(1, 2, generator)
    xs, ys = xs[0], ys[0]
    out = exact_vs_leading(problem, xs, ys, alphas)
    mid = alphas[len(alphas) // 2]
    m1 = exact_gradients(problem.loss, problem.phi, xs, ys, mid)["maml"]
    m2 = maml_by_autograd(problem.loss, problem.phi, xs, ys, mid)
    out.update(label=problem.label, n_params=problem.phi.numel(),
               maml_autograd_rel_diff=float(torch.linalg.vector_norm(m1 - m2) / torch.linalg.vector_norm(m2)))
    return out


# -------------------------------------------------------------------------------------- 2-3. Monte Carlo


def mc_terms(problem: Problem, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """``expansion_terms`` for every sampled task: ``a`` of shape ``(n, k, P)``, ``Ha`` of shape ``(n, k, k, P)``."""
    return vmap(lambda x, y: expansion_terms(problem.loss, problem.phi, x, y))(xs, ys)

def mc_exact(problem: Problem, xs: Tensor, ys: Tensor, alpha: float) -> dict[str, Tensor]:
    """The exact gradients of every sampled task, averaged over ``orderings(k)`` of its minibatches: ``(n, P)``."""
    n, k = xs.shape[:2]
    orders = torch.tensor(orderings(k), device=xs.device)
    xo = xs[:, orders].flatten(0, 1)  # (n * orderings, k, batch, ...)
    yo = ys[:, orders].flatten(0, 1)
    g = vmap(lambda x, y: exact_gradients(problem.loss, problem.phi, x, y, alpha))(xo, yo)
    return {m: v.reshape(n, len(orders), -1).mean(1) for m, v in g.items()}

def _coef_record(full: np.ndarray, parts: np.ndarray) -> dict[str, float | None]:
    se = np.std(parts, axis=0, ddof=1) / math.sqrt(len(parts))
    return {"c_grad": _f(full[0]), "c_grad_se": _f(se[0]), "c_inner": _f(full[1]), "c_inner_se": _f(se[1])}

def expectation_check(problem: Problem, xs: Tensor, ys: Tensor, alphas: Sequence[float], groups: int,
                      a: Tensor | None = None, Ha: Tensor | None = None) -> dict[str, Any]:
    """Equations 15-17 (``k = 2``) or their ``k``-step form (``k = xs.shape[1]``) by Monte Carlo with common random
    numbers. For each alpha and method: the residual ``||E[g] - (c_grad AvgGrad - alpha c_inner AvgGradInner)||``
    with its standard error, the size of the term it is compared with (``||alpha c_inner AvgGradInner||``), the
    standard error a plain Monte Carlo estimate of ``E[g]`` would have, and the coefficients fitted freely; and the
    fitted coefficients' limit alpha -> 0 from the two smallest alphas (``coefficient_limit``)."""
    k = xs.shape[1]
    if a is None:
        a, Ha = mc_terms(problem, xs, ys)
    G, I = sample_estimates(a, Ha)
    Gbar, Ibar = G.mean(0), I.mean(0)
    coef = expansion_coefficients(k)
    out: dict[str, Any] = {m: {"paper": list(coef[m]), "residual_norm": [], "residual_se": [], "inner_term_norm": [],
                               "naive_se": []} for m in METHODS}
    fits: dict[str, list] = {m: [] for m in METHODS}
    for alpha in alphas:
        g = mc_exact(problem, xs, ys, alpha)
        for m in METHODS:
            cg, ci = coef[m]
            res, se = norm_with_se(g[m] - (cg * G - alpha * ci * I))
            o = out[m]
            o["residual_norm"].append(_f(res))
            o["residual_se"].append(_f(se))
            o["inner_term_norm"].append(_f(alpha * ci * torch.linalg.vector_norm(Ibar)))
            o["naive_se"].append(_f(torch.sqrt((g[m].var(0) / len(g[m])).sum())))
            fits[m].append(fit_coefficients(g[m], G, I, alpha, groups))
    for m in METHODS:
        out[m]["fit"] = [_coef_record(full, parts) for full, parts in fits[m]]
        fulls, parts = np.stack([f for f, _ in fits[m]]), np.stack([p for _, p in fits[m]])
        out[m]["fit_limit"] = _coef_record(coefficient_limit(alphas, fulls), coefficient_limit(alphas, parts))
        out[m]["slope"] = fitted_slope(alphas, out[m]["residual_norm"]) if len(alphas) >= 3 else None
    return {"alphas": list(alphas), "k": k, "n_samples": len(xs), "avg_grad_norm": _f(torch.linalg.vector_norm(Gbar)),
            "avg_grad_inner_norm": _f(torch.linalg.vector_norm(Ibar)), "methods": out}

def identity_check(problem: Problem, xs: Tensor, ys: Tensor, Ha: Tensor) -> dict[str, Any]:
    """``AvgGradInner = E[L0'' L1'] = 1/2 E[d/dphi (L0' . L1')]``. Per draw, ``d/dphi (L0' . L1') = L0'' L1' +
    L1'' L0'`` exactly (here by reverse-over-reverse differentiation, against the forward-over-reverse products of
    ``Ha``). In expectation, ``E[L0'' L1'] = E[L1'' L0']`` since ``L0`` and ``L1`` are exchangeable: the Monte Carlo
    difference ``E[L0'' L1'] - 1/2 E[d/dphi (L0' . L1')]`` must be zero within its standard errors."""
    loss = problem.loss

    def grad_dot(x: Tensor, y: Tensor) -> Tensor:
        return grad(lambda p: grad(loss)(p, x[0], y[0]) @ grad(loss)(p, x[1], y[1]))(problem.phi)

    gd = vmap(grad_dot)(xs[:, :2], ys[:, :2])
    sym = Ha[:, 0, 1] + Ha[:, 1, 0]
    per_sample = torch.linalg.vector_norm(gd - sym, dim=1) / torch.linalg.vector_norm(gd, dim=1)
    d = Ha[:, 0, 1] - 0.5 * gd  # per draw: L0'' L1' - 1/2 d/dphi (L0' . L1')
    n = len(d)
    dbar, se = d.mean(0), d.std(0) / math.sqrt(n)
    inner = Ha[:, 0, 1].mean(0)
    u = inner / torch.linalg.vector_norm(inner)
    z_along = float((dbar @ u) / ((d @ u).std() / math.sqrt(n)))
    return {"n_samples": n,
            "per_sample_max_rel_error": _f(per_sample.max()),
            "avg_grad_inner_norm": _f(torch.linalg.vector_norm(inner)),
            "half_grad_dot_norm": _f(torch.linalg.vector_norm(0.5 * gd.mean(0))),
            "mc_difference_norm": _f(torch.linalg.vector_norm(dbar)),
            "mc_noise_floor": _f(torch.sqrt((se**2).sum())),
            "mc_mean_z2": _f(((dbar / se) ** 2).mean()),
            "mc_z_along_avg_grad_inner": _f(z_along)}

def k_step_check(problem: Problem, cfg: TaylorConfig, generator: torch.Generator,
                 alphas: Sequence[float]) -> dict[str, Any]:
    """Beyond the paper: the expansion for ``k = 1..k_max`` minibatches. Per draw, exact against leading order over
    ``alphas`` (one task, slopes); in expectation, the coefficients of AvgGrad and AvgGradInner fitted at ``k_alpha``
    and ``2 k_alpha`` and taken to alpha -> 0 (``coefficient_limit``), against ``expansion_coefficients(k)``; and
    the residual ``||E[g] - formula||`` at ``k_alpha`` beside the size of the ``alpha AvgGradInner`` term."""
    xs, ys = problem.sample(cfg.k_samples, cfg.k_max, generator)
    a, Ha = mc_terms(problem, xs, ys)
    ks = list(range(1, cfg.k_max + 1))
    per_sample = {m: {} for m in METHODS}
    for k in ks[1:]:
        e = exact_vs_leading(problem, xs[0, :k], ys[0, :k], alphas)
        for m in METHODS:
            per_sample[m][str(k)] = {"errors": [_f(v) for v in e["errors"][m]], "slope": e["slopes"][m]}
    keys = ("c_grad", "c_grad_se", "c_inner", "c_inner_se")
    fitted = {m: {key: [] for key in keys} for m in METHODS}
    limit = {m: {key: [] for key in keys} for m in METHODS}
    residual = {m: {key: [] for key in ("residual_norm", "residual_se", "inner_term_norm")} for m in METHODS}
    for k in ks:
        chk = expectation_check(problem, xs[:, :k], ys[:, :k], [cfg.k_alpha, 2 * cfg.k_alpha], cfg.se_groups,
                                a[:, :k], Ha[:, :k, :k])
        for m in METHODS:
            o = chk["methods"][m]
            for key in keys:
                fitted[m][key].append(o["fit"][0][key])
                limit[m][key].append(o["fit_limit"][key])
            for key in residual[m]:
                residual[m][key].append(o[key][0])
    formula = {m: {"c_grad": [expansion_coefficients(k)[m][0] for k in ks],
                   "c_inner": [expansion_coefficients(k)[m][1] for k in ks]} for m in METHODS}
    return {"k": ks, "alpha": cfg.k_alpha, "n_samples": cfg.k_samples, "orderings": [len(orderings(k)) for k in ks],
            "formula": formula, "fitted": fitted, "limit": limit, "residual": residual,
            "per_sample": {"alphas": list(alphas), "methods": per_sample}}


# ------------------------------------------------------------------------------------------ run and store


def _f(x: Any) -> float | None:
    """Ten significant digits (float64 results), ``None`` for NaN (JSON has no NaN)."""
    x = float(x)
    return None if math.isnan(x) else float(f"{x:.10g}")

def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return _f(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj

def run(cfg: TaylorConfig, seed: int, device: str = "auto", results_dir=None, progress: bool = True) -> dict[str, Any]:
    """Compute every check of the chapter for ``seed`` (the sine MLP's initialisation and all draws) and write the
    run's record to ``results/taylor/<config name>/seed-<seed>.json``; return the record."""
    seed = validate_seed(seed)
    dev = resolve_device(device)
    started = time.perf_counter()
    env = environment(dev)  # before computing: the commit and tree state of the code that runs
    alphas = cfg.alphas()
    sine, logistic = sine_problem(cfg, seed, dev), logistic_problem(cfg, seed, dev)

    def gen(part: int) -> torch.Generator:
        return seeding.generator(seed, "tasks", part)

    def say(msg: str) -> None:
        if progress:
            print(f"taylor/{cfg.name} seed {seed}: {msg} ({time.perf_counter() - started:.1f} s)", file=sys.stderr,
                  flush=True)

    with warnings.catch_warnings():  # PyTorch's own forward-mode AD set-up warns about its internal use of jit
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
        exact = {p.name: two_step_check(p, gen(DRAWS), alphas) for p in (sine, logistic)}
        say("exact vs. leading order done")
        xs, ys = sine.sample(cfg.mc_samples, 2, gen(MONTE_CARLO))
        a, Ha = mc_terms(sine, xs, ys)
        expectation = expectation_check(sine, xs, ys, alphas, cfg.se_groups, a, Ha)
        identity = identity_check(sine, xs, ys, Ha)
        say("Equations 15-17 done")
        k_steps = k_step_check(sine, cfg, gen(K_STEPS), cfg.k_alphas())
        say("k-step expansion done")
    record = R.make_record(EXPERIMENT, cfg, seed, env, started,
                           exact_vs_leading=_clean({"alphas": alphas, "models": exact}),
                           expectation=_clean(expectation), identity=_clean(identity), k_steps=_clean(k_steps))
    R.save_run(record, R.run_path(EXPERIMENT, cfg.name, seed, results_dir))
    return record

def load_or_run(preset: str = "default", seeds=(0,), recompute: bool = False,
                overrides: Mapping[str, Any] | None = None, results_dir=None, device: str = "auto",
                progress: bool = True) -> list[dict[str, Any]]:
    """Make sure ``seeds`` are stored for the (possibly overridden) preset, computing what is missing (or all of
    them with ``recompute``), then return every seed stored for that configuration. Everything is validated first."""
    cfg = resolve(preset, overrides)
    return R.compute_or_load(EXPERIMENT, cfg, seeds, recompute, lambda seed: run(cfg, seed, device, results_dir, progress),
                             results_dir, device, progress, checkpoints=False)


def main(argv: list[str] | None = None) -> None:
    parser = experiment_parser("python -m reptile.experiments.taylor", __doc__, TAYLOR_PRESETS,
                               "mc_samples=5000 or hidden=[32,32]")
    runs = run_experiment(parser, argv, load_or_run)
    for r in runs:
        slopes = "; ".join(f"{m['label'] if 'label' in m else name}: " + ", ".join(
            f"{k} {v:.2f}" for k, v in m["slopes"].items()) for name, m in r["exact_vs_leading"]["models"].items())
        print(f"taylor/{r['name']} seed {r['seed']}: slopes of |exact - leading order| against alpha (2 expected): "
              f"{slopes}")
    print(f"{len(runs)} seed(s) stored in {R.run_path(EXPERIMENT, runs[0]['name'], runs[0]['seed']).parent}; the "
          f"chapter (book/taylor.ipynb) draws them")


if __name__ == "__main__":
    main()
