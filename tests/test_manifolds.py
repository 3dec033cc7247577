"""Section 4.2: projections, the two reference points, and where Reptile converges, against closed forms."""

import matplotlib
import pytest
import torch

from reptile import manifolds as M
from reptile.experiments import manifolds as ME
from reptile.artifacts import manifolds as MA
from reptile.core import MetaConfig, MetaLearner

matplotlib.use("Agg")

PROJ_TOL = 1e-12  # the projection lies on W* and its residual is normal to W*: float64 rounding only
OPT_TOL = 1e-10  # gradients of Equation 18 / of the expected loss at their minimisers (solve or L-BFGS)
CLOSED_FORM_TOL = 1e-12  # MetaLearner's k SGD steps against the closed form W* + T_k (phi - W*)
BATCH_TOL = 1e-7  # batched Reptile (Algorithm 2, deterministic; stops at a step < 1e-10) vs the point it targets
SERIAL_TOL = 0.25  # serial Reptile (one uniformly drawn task per step, 300 steps, eps_t ~ 1/t): stochastic error
GAP_MARGIN = 0.5  # Equation 18's minimiser and the expected loss's must be at least this far apart
K_LIMIT_TOL = 1e-6  # the fixed point of 1000-step Reptile vs Equation 18's minimiser

# A configuration small enough to run twice in a test: the lines only, 100 serial iterations, k = 1 and 5.
TINY = {"circles": [], "dim": 0, "outer_iters": 100, "k_values": [1, 5]}


@pytest.fixture(scope="module")
def families():
    cfg = ME.resolve("default")
    return {f: ME.build_family(cfg, f) for f in cfg.families()}


@pytest.fixture(scope="module")
def ci_runs(tmp_path_factory):
    store = tmp_path_factory.mktemp("manifolds")
    return ME.load_or_run("ci", seeds=[0], results_dir=store, device="cpu", progress=False), store


def _points(fam, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [3 * torch.randn(fam.dim, generator=g, dtype=torch.float64) for _ in range(n)]


# ------------------------------------------------------------------------------------------------ projections


@pytest.mark.parametrize("family", ["lines", "subspaces"])
def test_affine_projection_lies_on_the_manifold_with_a_normal_residual(families, family):
    fam = families[family]
    for phi in _points(fam):
        for i in range(fam.n):
            on_manifold, along_manifold = M.normal_residual_check(fam, phi, i)
            assert on_manifold < PROJ_TOL * 10 and along_manifold < PROJ_TOL * 10
            # the nearest point: no other point of W*_tau (p_tau + a tangent vector) is closer
            w = fam.project(phi, i)
            eye = torch.eye(fam.dim, dtype=torch.float64)
            for z in _points(fam, 3, seed=i + 1):
                q = w + (eye - fam.P[i]) @ z
                assert torch.linalg.vector_norm(fam.A[i] @ q - fam.b[i]) < 1e-10
                assert torch.linalg.vector_norm(phi - w) <= torch.linalg.vector_norm(phi - q) + PROJ_TOL


def test_circle_projection_lies_on_the_circle_with_a_radial_residual(families):
    fam = families["circles"]
    for phi in _points(fam):
        for i in range(fam.n):
            w = fam.project(phi, i)
            assert abs(float(torch.linalg.vector_norm(w - fam.c[i]) - fam.radius[i])) < PROJ_TOL * 10
            r, t = phi - w, w - fam.c[i]  # the residual is parallel to the radius: orthogonal to the tangent
            assert abs(float(r[0] * t[1] - r[1] * t[0])) < PROJ_TOL * 10
            assert float(M.distance(fam, phi, i)) == pytest.approx(
                abs(float(torch.linalg.vector_norm(phi - fam.c[i]) - fam.radius[i])), abs=PROJ_TOL * 10)


# ------------------------------------------------------------------------------------ the two reference points


@pytest.mark.parametrize("family", ["lines", "circles", "subspaces"])
def test_distance_minimiser_satisfies_its_optimality_condition(families, family):
    """Equations 19-20: E_tau[phi - W*_tau(phi)] = 0 at the minimiser of Equation 18, and it is a minimum."""
    fam = families[family]
    phi_D = fam.distance_minimiser()
    assert torch.linalg.vector_norm(M.distance_gradient(fam, phi_D)) < OPT_TOL
    if isinstance(fam, M.AffineFamily):  # sum_tau P_tau (phi - p_tau) = 0, the linear system itself
        res = sum(P @ (phi_D - p) for P, p in zip(fam.P, fam.p))
        assert torch.linalg.vector_norm(res) < OPT_TOL
    f0 = M.mean_sq_distance(fam, phi_D)
    for z in _points(fam, 8, seed=3):
        assert M.mean_sq_distance(fam, phi_D + 1e-2 * z) > f0


def test_two_circle_distance_minimiser_is_the_middle_of_the_gap(families):
    """For two disjoint circles the minimiser of D1^2 + D2^2 is the midpoint of the gap on the line of centres."""
    fam = families["circles"]
    c1, c2 = fam.c
    u = (c2 - c1) / torch.linalg.vector_norm(c2 - c1)
    gap = torch.linalg.vector_norm(c2 - c1) - fam.radius.sum()
    expected = c1 + (fam.radius[0] + gap / 2) * u
    torch.testing.assert_close(fam.distance_minimiser(), expected, atol=1e-9, rtol=0)
    s2 = fam.s**2  # the expected loss weights the circles by s^2: s1^2 t = s2^2 (gap - t)
    expected_L = c1 + (fam.radius[0] + gap * s2[1] / s2.sum()) * u
    torch.testing.assert_close(fam.loss_minimiser(), expected_L, atol=1e-9, rtol=0)


@pytest.mark.parametrize("family", ["lines", "circles", "subspaces"])
def test_expected_loss_minimiser_differs_from_the_distance_minimiser(families, family):
    fam = families[family]
    phi_D, phi_L = fam.distance_minimiser(), fam.loss_minimiser()
    x = phi_L.clone().requires_grad_(True)
    loss = sum(fam.loss(x, i) for i in range(fam.n)) / fam.n
    (g,) = torch.autograd.grad(loss, x)
    assert torch.linalg.vector_norm(g) < OPT_TOL  # phi_L is the expected loss's stationary point
    assert torch.linalg.vector_norm(phi_D - phi_L) > GAP_MARGIN
    assert M.mean_sq_distance(fam, phi_D) < M.mean_sq_distance(fam, phi_L)
    assert M.expected_loss(fam, phi_L) < M.expected_loss(fam, phi_D)


# ------------------------------------------------------------------------------- Reptile: one step, fixed points


@pytest.mark.parametrize("family", ["lines", "circles", "subspaces"])
@pytest.mark.parametrize("k", [1, 7])
def test_metalearner_inner_loop_matches_the_closed_form(families, family, k):
    """k full-batch SGD steps from phi (MetaLearner, eps = 1: phi becomes W) equal W* + T_k (phi - W*)."""
    fam = families[family]
    tasks = fam.tasks()
    for phi in _points(fam, 3, seed=k):
        for i in range(fam.n):
            cfg = MetaConfig(inner_lr=0.25, inner_iters=k, inner_batch=len(tasks[i]), outer_step=1.0, anneal=False)
            learner = MetaLearner(fam.loss_fn, (phi,), cfg)
            learner.meta_step([tasks[i]])
            torch.testing.assert_close(learner.phi[0], fam.inner_map(phi, i, 0.25, k), atol=CLOSED_FORM_TOL, rtol=0)


@pytest.mark.parametrize("family", ["lines", "circles", "subspaces"])
def test_one_step_reptile_is_sgd_on_the_expected_loss(families, family):
    """Equation 1: with k = 1, phi + eps (W - phi) = phi - eps alpha L'_tau(phi); its fixed point is phi_L."""
    fam = families[family]
    alpha, eps = 0.25, 0.3
    tasks = fam.tasks()
    phi = _points(fam, 1, seed=11)[0]
    for i in range(fam.n):
        learner = MetaLearner(fam.loss_fn, (phi,), MetaConfig(inner_lr=alpha, inner_iters=1,
                                                              inner_batch=len(tasks[i]), outer_step=eps, anneal=False))
        learner.meta_step([tasks[i]])
        x = phi.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fam.loss(x, i), x)
        torch.testing.assert_close(learner.phi[0], phi - eps * alpha * g, atol=CLOSED_FORM_TOL, rtol=0)
    torch.testing.assert_close(fam.fixed_point(alpha, 1), fam.loss_minimiser(), atol=OPT_TOL, rtol=0)


@pytest.mark.parametrize("family", ["lines", "circles", "subspaces"])
def test_partial_minimisation_fixed_point_approaches_the_distance_minimiser_as_k_grows(families, family):
    fam = families[family]
    phi_D = fam.distance_minimiser()
    ks = (1, 2, 5, 20, 100, 1000)
    d = [float(torch.linalg.vector_norm(fam.fixed_point(0.25, k) - phi_D)) for k in ks]
    assert all(a > b for a, b in zip(d, d[1:])), d
    assert d[0] > GAP_MARGIN and d[-1] < K_LIMIT_TOL


# ---------------------------------------------------------------------------------------- the stored run


def test_ci_run_converges_where_section_4_2_says(ci_runs):
    runs, store = ci_runs
    (r,) = runs
    assert r["schema"] == ME.R.SCHEMA_VERSION and r["experiment"] == "manifolds" and r["name"] == "ci"
    assert r["digest"] == ME.resolve("ci").digest() and r["seed"] == 0 and r["config"]["outer_iters"] == 300
    assert {"python", "packages", "device", "commit", "date"} <= set(r["environment"])
    assert (store / "manifolds" / "ci" / "seed-0.json").exists()
    assert set(r["families"]) == {"lines", "circles", "subspaces"}
    for f, fam in r["families"].items():
        assert fam["gap"] > GAP_MARGIN, f
        # exact projection, batched: gradient descent on Equation 18 reaches phi_D
        assert fam["batched"]["exact"]["to_phi_D"] < BATCH_TOL, f
        # partial minimisation, batched through MetaLearner: the closed-form fixed point, and k = 1 -> phi_L
        for k, b in fam["batched"]["partial"].items():
            assert b["to_phi_k"] < BATCH_TOL, (f, k)
        assert fam["batched"]["partial"]["1"]["to_phi_L"] < BATCH_TOL, f
        rows = fam["k_table"]
        assert [row["k"] for row in rows] == [1, 5, 20]
        to_D = [row["fixed_to_phi_D"] for row in rows]
        assert all(a > b for a, b in zip(to_D, to_D[1:])), (f, to_D)
        # serial (Algorithm 1): within the stochastic error of its target, and nearer phi_D than phi_L
        ex, pa = fam["serial"]["final"]["exact"], fam["serial"]["final"]["partial"]
        assert ex["to_phi_D"] < SERIAL_TOL and ex["to_phi_D"] < ex["to_phi_L"] - GAP_MARGIN / 2, (f, ex)
        assert pa["to_phi_k"] < SERIAL_TOL, (f, pa)
        assert len(fam["serial"]["iterations"]) == len(fam["serial"]["exact"]) == len(fam["serial"]["partial"])
        assert fam["serial"]["iterations"][-1] == 300


def test_figures_and_tables_rebuild_from_the_record(ci_runs):
    import matplotlib.pyplot as plt

    runs, _ = ci_runs
    for fig in (MA.figure2(runs), MA.convergence_figure(runs), MA.fixed_point_figure(runs)):
        assert len(fig.axes) >= 1
        for ax in fig.axes:  # every panel draws the record's data (an empty figure would pass the count)
            drawn = [line for line in ax.get_lines() if len(line.get_xdata()) >= 2] + list(ax.collections)
            assert drawn, ax.get_title()
        plt.close(fig)
    kt = MA.k_table(runs)
    assert list(kt.loc["lines"].index) == ["1", "5", "20", "∞ (exact W*)"]
    assert kt.loc[("lines", "1"), "‖φ*_k − φ_L‖"] == "< 1e-06"
    dt = MA.distance_table(runs)
    assert dt.loc[("circles", "batched Reptile (Alg. 2), exact W*"), "‖φ − φ_D‖"] == "< 1e-06"
    nums = MA.key_numbers(runs)
    assert nums["batched_worst"] == "< 1e-06" and float(nums["lines_gap"]) > GAP_MARGIN
    assert "manifolds/ci: 1 seed(s) [0]" in MA.run_summary(runs)


def test_config_round_trips_through_its_dict():
    cfg = ME.resolve("default", {"lines": [[0, 1, 1], [90, 2, 0.5]], "k_values": [3, 1]})
    back = ME.ManifoldConfig.from_dict(cfg.to_dict())
    assert back == cfg and back.digest() == cfg.digest() and back.name.startswith("default-custom-")
    assert ME.resolve("default").name == "default" and ME.resolve("default", {"outer_iters": 2000}).name == "default"


def test_a_stored_run_is_loaded_not_recomputed(tmp_store):
    first = ME.load_or_run("ci", seeds=[0], overrides=TINY, device="cpu", progress=False)
    (path,) = (tmp_store / "results" / "manifolds").glob("*/seed-0.json")
    assert path.parent.name.startswith("ci-custom-")
    mtime = path.stat().st_mtime_ns
    again = ME.load_or_run("ci", seeds=[0], overrides=TINY, device="cpu", progress=False)
    assert path.stat().st_mtime_ns == mtime and again == first
    assert not list((tmp_store / "results").rglob("*.tmp"))


def test_same_seed_same_numbers_other_seed_other_path(tmp_store):
    cfg = ME.resolve("ci", TINY)
    a = ME.run(cfg, 0, device="cpu", results_dir=tmp_store / "a", progress=False)
    b = ME.run(cfg, 0, device="cpu", results_dir=tmp_store / "b", progress=False)
    c = ME.run(cfg, 1, device="cpu", results_dir=tmp_store / "c", progress=False)
    assert a["families"] == b["families"]
    assert a["families"]["lines"]["serial"] != c["families"]["lines"]["serial"]
    assert a["families"]["lines"]["phi_D"] == c["families"]["lines"]["phi_D"]  # the problem does not depend on it


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs,match", [
    (dict(preset="paper"), r"unknown preset 'paper'; allowed: default, ci"),
    (dict(overrides={"outer_itters": 10}), r"unknown parameter 'outer_itters'; allowed: lines, .*outer_iters"),
    (dict(overrides={"inner_iters": 0}), r"inner_iters must be an integer >= 1, got 0"),
    (dict(overrides={"outer_iters": -5}), r"outer_iters must be an integer >= 1, got -5"),
    (dict(overrides={"outer_iters": 2.5}), r"outer_iters=2.5 is not allowed: outer_iters is an integer"),
    (dict(overrides={"k_values": [0, 5]}), r"k_values must be distinct integers >= 1, got \(0, 5\)"),
    (dict(overrides={"k_values": []}), r"k_values must be distinct integers >= 1"),
    (dict(overrides={"inner_lr": 0.5}), r"inner_lr=0.5 is too large: .* allowed: inner_lr <= 0.25"),
    (dict(overrides={"outer_step": 1.5}), r"outer_step must be in \(0, 1\]"),
    (dict(overrides={"outer_step": -0.1}), r"outer_step must be a number > 0, got -0.1"),
    (dict(overrides={"rank": 10}), r"rank must be an integer in \[1, dim - 1 = 4\], got 10"),
    (dict(overrides={"lines": [[0, 1, 1], [180, 2, 1]]}), r"at least two non-parallel lines"),
    (dict(overrides={"circles": [[0, 0, 1, 1]]}), r"circles needs 0 .* or at least 2 circles, got 1"),
    (dict(overrides={"circles_start": [-2.0, 0.0]}), r"is a circle's centre"),
    (dict(overrides={"lines": [], "circles": [], "dim": 0}), r"every family is left out"),
    (dict(seeds=[-1]), r"seed must be an integer >= 0, got -1"),
    (dict(seeds=["0"]), r"seed must be an integer >= 0, got '0'"),
    (dict(device="tpu"), r"unknown device 'tpu'"),
])
def test_bad_input_is_rejected_before_any_work(tmp_store, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ME.load_or_run(**{"preset": "ci", **kwargs}, progress=False)
    assert not (tmp_store / "results").exists()
