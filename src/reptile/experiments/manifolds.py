"""Section 4.2 and Figure 2, the experiment: its configuration, and one run per seed that computes every number
the chapter shows from the families and Reptile variants of :mod:`reptile.manifolds`.

For each family: the minimiser of the mean squared distance (Equation 18) and of the expected loss, the
partial-minimisation fixed points for a range of ``k``, the serial paths of both Reptile variants from one start
point on one task sequence (Figure 2), and batched Reptile for the table's ``k``. ``run(config, seed)`` computes
everything for one seed and writes one JSON; ``load_or_run`` is what the chapter calls.
:mod:`reptile.artifacts.manifolds` draws the chapter's figures and tables from the stored records. The command line
runs the same code path:

    python -m reptile.experiments.manifolds --preset ci --seeds 0
    python -m reptile.experiments.manifolds --preset default --seeds 0 1 2 --set inner_iters=20
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from .. import results as R
from .. import seeding
from ..cli import experiment_parser, run_experiment
from ..config import resolve_flat
from ..manifolds import (DTYPE, CircleFamily, Family, circles_family, distance_gradient, expected_loss, lines_family,
                         mean_sq_distance, reptile_exact_batched, reptile_exact_serial, reptile_partial_batched,
                         reptile_partial_serial, subspace_family)
from ..provenance import environment
from ..validate import check, is_int, is_number, resolve_device, validate_seed

EXPERIMENT = "manifolds"
FAMILIES = ("lines", "circles", "subspaces")
PATH_DENSE = 60  # the serial paths are stored at every iteration up to here, then at PATH_SPARSE log-spaced ones
PATH_SPARSE = 80
CURVE_KS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 1000)  # the dense fixed-point curve


# ---------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class ManifoldConfig:
    """One Section 4.2 experiment: three task families, Reptile's settings, the k values of the table."""

    name: str = "default"
    # -- family 'lines': rank-1 regression tasks in R^2. Each task is (angle of its unit normal n in degrees,
    #    offset c, scale s): L(w) = 1/2 s^2 (n.w - c)^2, W* the line n.w = c. Scales differ so that the expected loss
    #    (which weights a task by s^2) and the mean squared distance (which does not) have different minimisers.
    lines: tuple[tuple[float, float, float], ...] = ((90.0, 1.0, 0.5), (210.0, 0.6, 1.0), (330.0, 1.4, 2.0))
    lines_start: tuple[float, float] = (-2.5, 2.8)  # phi_0 of the runs on the lines
    # -- family 'circles': (centre x, centre y, radius R, scale s): L(w) = 1/2 s^2 (||w - c|| - R)^2, W* the circle.
    #    Two disjoint circles, as in Figure 2's two curved manifolds. () leaves the family out.
    circles: tuple[tuple[float, float, float, float], ...] = ((-2.0, 0.0, 0.8, 0.5), (1.9, 0.8, 1.4, 2.0))
    circles_start: tuple[float, float] = (-1.0, 2.6)  # phi_0 of the runs on the circles
    # -- family 'subspaces': under-determined regression in R^d, L(w) = 1/2 ||A w - b||^2 / m, rank(A) = r < d.
    dim: int = 10  # d; 0 leaves the family out
    rank: int = 5  # r, the rank of every A_tau: W*_tau is an affine subspace of dimension d - r
    subspaces: int = 6  # number of tasks (needs subspaces * rank >= dim for a unique minimiser)
    rows: int = 6  # m >= r, rows of A_tau (the task's samples; the inner loop is full-batch over them)
    scale_range: tuple[float, float] = (0.5, 2.0)  # s_tau, log-uniform: the eigenvalues of H_tau = A^T A / m are
    cond: float = 2.0  # s_tau^2 * [1/cond, ..., 1] (cond: H_tau's condition number on its row space)
    problem_seed: int = 1  # draws the subspace tasks: the same problem for every run seed
    # -- Reptile
    inner_lr: float = 0.25  # alpha, the inner SGD step; alpha * s^2 <= 1 for every task (monotone inner loop)
    inner_iters: int = 5  # k, inner SGD steps in the serial runs drawn in Figure 2
    outer_step: float = 0.5  # eps_0, the serial runs' first outer step
    outer_decay: float = 10.0  # t_0: the serial outer step decays as eps_t = eps_0 t_0 / (t_0 + t)
    outer_iters: int = 2000  # T, serial outer iterations (Algorithm 1), one task drawn uniformly each
    batch_outer_step: float = 1.0  # eps of the batched runs (Algorithm 2 over all tasks: deterministic)
    batch_max_iters: int = 4000  # cap on the batched runs' outer iterations
    batch_tol: float = 1e-10  # a batched run stops when ||phi_{t+1} - phi_t|| < batch_tol
    k_values: tuple[int, ...] = (1, 2, 5, 20, 100)  # the k of the table: fixed points and batched Reptile

    def __post_init__(self) -> None:
        validate_config(self)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.loads(json.dumps(d))  # tuples -> lists, all the way down

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ManifoldConfig":
        return cls(**{k: _coerce(v, getattr(cls, k, None)) for k, v in d.items()})

    def digest(self) -> str:
        """A short hash of everything but the name: runs with equal digests are seeds of one experiment."""
        return R.config_digest(self.to_dict())

    def families(self) -> tuple[str, ...]:
        return tuple(f for f, on in zip(FAMILIES, (len(self.lines) > 0, len(self.circles) > 0, self.dim > 0)) if on)

def _is_point(v: Any) -> bool:
    return isinstance(v, (tuple, list)) and len(v) == 2 and all(is_number(x) for x in v)

def validate_config(c: ManifoldConfig) -> None:
    """Every field checked, each error naming the value and what is allowed."""
    for name in ("inner_iters", "outer_iters", "batch_max_iters", "rows", "subspaces", "problem_seed"):
        v = getattr(c, name)
        low = 0 if name == "problem_seed" else 1
        check(is_int(v) and v >= low, f"{name} must be an integer >= {low}, got {v!r}")
    for name in ("inner_lr", "outer_step", "outer_decay", "batch_outer_step", "batch_tol"):
        v = getattr(c, name)
        check(is_number(v) and v > 0, f"{name} must be a number > 0, got {v!r}")
    for name in ("outer_step", "batch_outer_step"):
        v = getattr(c, name)
        check(v <= 1, f"{name} must be in (0, 1] (eps interpolates between phi and W), got {v!r}")
    ks = c.k_values
    check(isinstance(ks, (tuple, list)) and len(ks) >= 1 and all(is_int(k) and k >= 1 for k in ks)
           and len(set(ks)) == len(ks), f"k_values must be distinct integers >= 1, got {ks!r}")
    check(isinstance(c.lines, (tuple, list)) and all(isinstance(t, (tuple, list)) and len(t) == 3
                                                       and all(is_number(x) for x in t) and t[2] > 0 for t in c.lines),
           f"lines must be a list of (angle in degrees, offset, scale > 0), got {c.lines!r}")
    if c.lines:
        check(len(c.lines) >= 2 and len({round(t[0] % 180.0, 9) for t in c.lines}) >= 2,
               f"lines needs at least two non-parallel lines (a unique minimiser), got {c.lines!r}")
    check(_is_point(c.lines_start), f"lines_start must be a point (x, y), got {c.lines_start!r}")
    check(isinstance(c.circles, (tuple, list)) and all(isinstance(t, (tuple, list)) and len(t) == 4
                                                         and all(is_number(x) for x in t) and t[2] > 0 and t[3] > 0
                                                         for t in c.circles),
           f"circles must be a list of (centre x, centre y, radius > 0, scale > 0), got {c.circles!r}")
    check(len(c.circles) != 1, "circles needs 0 (family left out) or at least 2 circles, got 1")
    check(_is_point(c.circles_start), f"circles_start must be a point (x, y), got {c.circles_start!r}")
    for cx, cy, _, _ in c.circles:
        check(math.dist((cx, cy), tuple(c.circles_start)) > 1e-6,
               f"circles_start {c.circles_start!r} is a circle's centre, where W*(phi) is not defined")
    check(is_int(c.dim) and c.dim >= 0, f"dim must be an integer >= 0 (0 leaves the family out), got {c.dim!r}")
    if c.dim > 0:
        check(is_int(c.rank) and 1 <= c.rank < c.dim, f"rank must be an integer in [1, dim - 1 = {c.dim - 1}], "
                                                        f"got {c.rank!r}")
        check(c.rows >= c.rank, f"rows must be >= rank = {c.rank}, got {c.rows!r}")
        check(c.subspaces * c.rank >= c.dim, f"subspaces * rank must be >= dim = {c.dim} for a unique minimiser, "
                                              f"got {c.subspaces} * {c.rank}")
        sr = c.scale_range
        check(isinstance(sr, (tuple, list)) and len(sr) == 2 and all(is_number(x) for x in sr) and 0 < sr[0] <= sr[1],
               f"scale_range must be (low, high) with 0 < low <= high, got {sr!r}")
        check(is_number(c.cond) and c.cond >= 1, f"cond must be a number >= 1, got {c.cond!r}")
    if ks and c.families() == ():
        raise ValueError("every family is left out (lines = (), circles = (), dim = 0); keep at least one")
    scales = [t[2] for t in c.lines] + [t[3] for t in c.circles] + ([c.scale_range[1]] if c.dim > 0 else [])
    if scales and is_number(c.inner_lr):
        top = max(scales)
        check(c.inner_lr * top**2 <= 1 + 1e-12,
               f"inner_lr={c.inner_lr!r} is too large: alpha * s^2 must be <= 1 for every task so that the inner SGD "
               f"approaches W* without overshooting; allowed: inner_lr <= {1 / top**2:.6g} (largest scale {top})")

def _coerce(value: Any, like: Any) -> Any:
    """Lists from JSON/YAML become tuples (nested: tuples of tuples) where the field holds a tuple."""
    if isinstance(like, tuple) and isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value

PRESETS: dict[str, ManifoldConfig] = {
    # What the book shows: three families, 2,000 serial iterations, k in (1, 2, 5, 20, 100). Seconds on one core.
    "default": ManifoldConfig(name="default"),
    # The test suite's smoke run: fewer serial iterations and k values, a smaller subspace problem.
    "ci": ManifoldConfig(name="ci", outer_iters=300, dim=5, rank=3, subspaces=3, rows=3, problem_seed=1,
                         k_values=(1, 5, 20)),
}

def resolve(preset: str = "default", overrides: Mapping[str, Any] | None = None) -> ManifoldConfig:
    """The preset named ``preset`` with ``overrides`` (field name -> value) applied and validated. A customised
    config is renamed ``<preset>-custom-<digest>`` so that its results never mix with the preset's."""
    return resolve_flat(PRESETS, preset, overrides)


# ---------------------------------------------------------------------------------------------------- run


def build_family(cfg: ManifoldConfig, family: str) -> Family:
    if family == "lines":
        return lines_family(cfg.lines)
    if family == "circles":
        return circles_family(cfg.circles)
    if family == "subspaces":
        return subspace_family(cfg.dim, cfg.rank, cfg.subspaces, cfg.rows, cfg.scale_range, cfg.cond,
                               cfg.problem_seed)
    raise ValueError(f"unknown family {family!r}; allowed: {', '.join(FAMILIES)}")

def start_point(cfg: ManifoldConfig, family: str) -> Tensor:
    """phi_0: the configured point in the plane, the origin in R^d."""
    if family == "lines":
        return torch.tensor(cfg.lines_start, dtype=DTYPE)
    if family == "circles":
        return torch.tensor(cfg.circles_start, dtype=DTYPE)
    return torch.zeros(cfg.dim, dtype=DTYPE)

def task_order(n_tasks: int, iters: int, seed: int) -> list[int]:
    """The serial runs' task sequence: ``iters`` draws, uniform over the ``n_tasks`` tasks; both variants share it."""
    return torch.randint(n_tasks, (iters,), generator=torch.Generator().manual_seed(seed)).tolist()

def path_indices(iters: int) -> list[int]:
    """Iterations at which the serial paths are stored: every one up to PATH_DENSE, then log-spaced to the end."""
    dense = set(range(min(iters, PATH_DENSE) + 1))
    sparse = np.unique(np.geomspace(max(PATH_DENSE, 1), iters, PATH_SPARSE).round().astype(int)) if iters > PATH_DENSE \
        else []
    return sorted(dense | {int(i) for i in sparse} | {iters})

def _vec(x: Tensor) -> list[float]:
    return [float(v) for v in x]

def _r(x: Tensor) -> list[float]:
    return [float(f"{float(v):.6g}") for v in x]

def _dist(a: Tensor, b: Tensor) -> float:
    return float(torch.linalg.vector_norm(a - b))

def describe(fam: Family, family: str) -> dict[str, Any]:
    """What the figure needs to draw the manifolds (2-D), and the task scales."""
    if isinstance(fam, CircleFamily):
        return {"centres": [_vec(c) for c in fam.c], "radii": _vec(fam.radius), "scales": _vec(fam.s)}
    out: dict[str, Any] = {"dim": fam.dim, "rank": [int(torch.linalg.matrix_rank(a)) for a in fam.A],
                           "scales": [math.sqrt(float(torch.linalg.eigvalsh(h)[-1])) for h in fam.H]}
    if family == "lines":
        out["normals"] = [_vec(a[0] / torch.linalg.vector_norm(a[0])) for a in fam.A]
        out["offsets"] = [float(b[0] / torch.linalg.vector_norm(a[0])) for a, b in zip(fam.A, fam.b)]
    return out

def run_family(cfg: ManifoldConfig, family: str, seed: int) -> dict[str, Any]:
    """Every number for one family and seed: the two reference points, the partial-minimisation fixed points, the
    serial paths of both variants (Figure 2) and the batched runs (table)."""
    fam = build_family(cfg, family)
    phi0 = start_point(cfg, family)
    phi_D, phi_L = fam.distance_minimiser(), fam.loss_minimiser()
    k = cfg.inner_iters
    fixed = {kk: fam.fixed_point(cfg.inner_lr, kk) for kk in sorted(set(cfg.k_values) | set(CURVE_KS) | {k})}
    fi = FAMILIES.index(family)  # each family its own sub-stream of the run's streams (reptile.seeding)
    order = task_order(fam.n, cfg.outer_iters, seeding.stream_seed(seed, "tasks", fi))
    exact = reptile_exact_serial(fam, phi0, order, cfg.outer_step, cfg.outer_decay)
    partial = reptile_partial_serial(fam, phi0, order, cfg.inner_lr, k, cfg.outer_step, cfg.outer_decay,
                                     seeding.stream_seed(seed, "inner", fi))
    idx = path_indices(cfg.outer_iters)

    def dists(phi: Tensor, with_k: bool = False) -> dict[str, float]:
        d = {"to_phi_D": _dist(phi, phi_D), "to_phi_L": _dist(phi, phi_L)}
        if with_k:
            d["to_phi_k"] = _dist(phi, fixed[k])
        return d

    b_exact, n_exact = reptile_exact_batched(fam, phi0, cfg.batch_outer_step, cfg.batch_max_iters, cfg.batch_tol)
    batched = {"exact": {"phi": _vec(b_exact), "iterations": n_exact, **dists(b_exact)}, "partial": {}}
    k_rows = []
    for kk in sorted(set(cfg.k_values) | {k}):
        phi_b, n_b = reptile_partial_batched(fam, phi0, cfg.inner_lr, kk, cfg.batch_outer_step, cfg.batch_max_iters,
                                             cfg.batch_tol)
        batched["partial"][str(kk)] = {"phi": _vec(phi_b), "iterations": n_b, **dists(phi_b),
                                       "to_phi_k": _dist(phi_b, fixed[kk])}
        if kk in cfg.k_values:
            k_rows.append({"k": kk, "fixed_to_phi_D": _dist(fixed[kk], phi_D),
                           "fixed_to_phi_L": _dist(fixed[kk], phi_L), "batched_to_phi_k": _dist(phi_b, fixed[kk]),
                           "batched_iterations": n_b})
    return {
        "dim": fam.dim,
        "n_tasks": fam.n,
        "tasks": describe(fam, family),
        "start": _vec(phi0),
        "phi_D": _vec(phi_D),
        "phi_L": _vec(phi_L),
        "objective": {"mean_sq_distance_at_phi_D": mean_sq_distance(fam, phi_D),
                      "mean_sq_distance_at_phi_L": mean_sq_distance(fam, phi_L),
                      "expected_loss_at_phi_D": expected_loss(fam, phi_D),
                      "expected_loss_at_phi_L": expected_loss(fam, phi_L),
                      "gradient_norm_at_phi_D": float(torch.linalg.vector_norm(distance_gradient(fam, phi_D)))},
        "gap": _dist(phi_D, phi_L),
        "fixed_points": {str(kk): _vec(v) for kk, v in fixed.items()},
        "serial": {"k": k, "iterations": idx, "exact": [_r(exact[i]) for i in idx],
                   "partial": [_r(partial[i]) for i in idx],
                   "final": {"exact": {"phi": _vec(exact[-1]), **dists(exact[-1])},
                             "partial": {"phi": _vec(partial[-1]), **dists(partial[-1], with_k=True)}}},
        "batched": batched,
        "k_table": k_rows,
    }

def run(cfg: ManifoldConfig, seed: int, device: str = "auto", results_dir=None, progress: bool = True
        ) -> dict[str, Any]:
    """Compute every family of ``cfg`` for ``seed``; write and return the run's record. Everything runs on the CPU
    in float64 (the problems are tiny); ``device`` is resolved and recorded."""
    seed = validate_seed(seed)
    dev = resolve_device(device)
    started = time.perf_counter()
    env = environment(dev)
    families = {}
    for family in cfg.families():
        t = time.perf_counter()
        families[family] = run_family(cfg, family, seed)
        if progress:
            print(f"[manifolds/{cfg.name} seed {seed}] {family}: {time.perf_counter() - t:.1f}s", file=sys.stderr,
                  flush=True)
    record = R.make_record(EXPERIMENT, cfg, seed, env, started, families=families)
    R.save_run(record, R.run_path(EXPERIMENT, cfg.name, seed, results_dir))
    return record

def load_or_run(preset: str = "default", seeds=(0,), recompute: bool = False,
                overrides: Mapping[str, Any] | None = None, results_dir=None, device: str = "auto",
                progress: bool = True) -> list[dict[str, Any]]:
    """Make sure ``seeds`` exist for the (possibly overridden) preset, computing what is missing, then return every
    seed stored for that configuration. Everything is validated before any work starts."""
    cfg = resolve(preset, overrides)
    return R.compute_or_load(EXPERIMENT, cfg, seeds, recompute, lambda seed: run(cfg, seed, device, results_dir, progress),
                             results_dir, device, progress, checkpoints=False)


def main(argv: list[str] | None = None) -> None:
    parser = experiment_parser("python -m reptile.experiments.manifolds", __doc__, PRESETS,
                               "inner_iters=20 or outer_iters=5000")
    runs = run_experiment(parser, argv, load_or_run)
    for r in runs:
        print(f"manifolds/{r['name']} seed {r['seed']}: " + "; ".join(
            f"{f} ({v['n_tasks']} tasks in R^{v['dim']}, |phi_D - phi_L| = {v['gap']:.4g})"
            for f, v in r["families"].items()))
    print(f"{len(runs)} seed(s) stored in {R.run_path(EXPERIMENT, runs[0]['name'], runs[0]['seed']).parent}; the "
          f"chapter (book/manifolds.ipynb) draws them")


if __name__ == "__main__":
    main()
