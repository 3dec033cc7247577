"""Section 4.1 (reptile.taylor): the leading-order expansion, the expectation identities (Eqs 15-17), the
AvgGradInner identity, the k-step coefficients, the results store, and bad input."""

import json
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from torch.func import grad

from reptile import results as R
from reptile import taylor as T
from reptile.experiments import taylor as TE
from reptile.artifacts import taylor as TA

# Named tolerances
SLOPE_RANGE = (1.8, 2.2)  # log-log slope of an O(alpha^2) error
FD_REL_TOL = 1e-7  # exact MAML gradient vs. central finite differences (float64, h = 1e-5), relative to |g||v|
AUTOGRAD_REL_TOL = 1e-12  # Eq 11 by Hessian-vector products vs. autograd through the SGD steps
IDENTITY_REL_TOL = 1e-12  # per draw: grad(L0' . L1') = L0'' L1' + L1'' L0' (float64 round-off)
Z_MAX = 4.0  # a Monte Carlo difference that should be zero, in standard errors
MEAN_Z2_MAX = 3.0  # the mean squared z over coordinates (about 1 when the difference is zero)
COEF_REL_TOL = 1e-3  # fitted coefficients (taken to alpha -> 0) vs. the formula
RESIDUAL_RATIO_MAX = 0.1  # at the smallest alpha, ||E[g] - formula|| / ||c alpha AvgGradInner||

FAST = {"n_alphas": 3, "mc_samples": 40, "k_max": 3, "k_samples": 20, "se_groups": 2, "hidden": [4]}


@pytest.fixture(scope="module")
def ci_record(tmp_path_factory):
    """One run of the CI preset, stored in a temporary folder (never the repository's results/)."""
    return TE.run(TE.resolve("ci"), 0, device="cpu", results_dir=tmp_path_factory.mktemp("taylor"),
                 progress=False)


def _draw(cfg, k, seed=0, model="sine"):
    problem = (TE.sine_problem if model == "sine" else TE.logistic_problem)(cfg, seed)
    xs, ys = problem.sample(1, k, torch.Generator().manual_seed(123 + seed))
    return problem, xs[0], ys[0]


# ------------------------------------------------------------------------------ exact vs. leading order


def test_exact_minus_leading_order_shrinks_as_alpha_squared(ci_record):
    models = ci_record["exact_vs_leading"]["models"]
    assert set(models) == {"sine_mlp", "logistic"}
    for model, d in models.items():
        for m in T.METHODS:
            slope = d["slopes"][m]
            assert SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1], f"{model} {m}: slope {slope}"
            errs = d["errors"][m]
            assert all(b > a for a, b in zip(errs, errs[1:])), f"{model} {m}: errors must grow with alpha"
        # for k = 2, g_Reptile - approx = g_FOMAML - approx exactly (both differ by L0'(phi))
        assert np.allclose(d["errors"]["reptile"], d["errors"]["fomaml"], rtol=1e-6)


def test_a_wrong_expansion_is_caught():
    """Dropping MAML's -alpha L0'' L1' term (using the FOMAML form for MAML) leaves an O(alpha) error: slope ~1."""
    cfg = TE.resolve("ci")
    problem, xs, ys = _draw(cfg, 2)
    a, Ha = T.expansion_terms(problem.loss, problem.phi, xs, ys)
    alphas = np.geomspace(1e-3, 1e-1, 5)
    errs = [float(torch.linalg.vector_norm(T.exact_gradients(problem.loss, problem.phi, xs, ys, al)["maml"]
                                           - T.leading_order(a, Ha, al)["fomaml"])) for al in alphas]
    assert T.fitted_slope(alphas, errs) < 1.2


def test_leading_order_forms_are_the_papers_equations():
    """For k = 2, leading_order is Eq 10, Eq 13 and Eq 14 written out with L0', L1', L1''L0', L0''L1'."""
    cfg = TE.resolve("ci")
    problem, xs, ys = _draw(cfg, 2)
    a, Ha = T.expansion_terms(problem.loss, problem.phi, xs, ys)
    g0, g1 = (grad(problem.loss)(problem.phi, xs[i], ys[i]) for i in (0, 1))
    H1g0 = T.hvp(problem.loss, problem.phi, g0, xs[1], ys[1])
    H0g1 = T.hvp(problem.loss, problem.phi, g1, xs[0], ys[0])
    alpha = 0.03
    lo = T.leading_order(a, Ha, alpha)
    torch.testing.assert_close(lo["reptile"], g0 + g1 - alpha * H1g0, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(lo["maml"], g1 - alpha * H1g0 - alpha * H0g1, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(lo["fomaml"], g1 - alpha * H1g0, rtol=1e-13, atol=1e-13)


def test_reptile_gradient_is_the_weight_change_over_alpha():
    """Eq 9: (phi - phi_k) / alpha from plain SGD steps."""
    cfg = TE.resolve("ci")
    problem, xs, ys = _draw(cfg, 3)
    alpha, w = 0.05, problem.phi.clone()
    for i in range(3):
        w = w - alpha * grad(problem.loss)(w, xs[i], ys[i])
    g = T.exact_gradients(problem.loss, problem.phi, xs, ys, alpha)["reptile"]
    torch.testing.assert_close(g, (problem.phi - w) / alpha, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("model", ["sine", "logistic"])
def test_exact_maml_gradient_matches_finite_differences(model, k):
    cfg = TE.resolve("ci")
    problem, xs, ys = _draw(cfg, k, model=model)
    alpha, h = 0.05, 1e-5

    def meta_loss(p):  # L_{k-1} after k-1 SGD steps
        for i in range(k - 1):
            p = p - alpha * grad(problem.loss)(p, xs[i], ys[i])
        return float(problem.loss(p, xs[-1], ys[-1]))

    g = T.exact_gradients(problem.loss, problem.phi, xs, ys, alpha)["maml"]
    torch.testing.assert_close(g, T.maml_by_autograd(problem.loss, problem.phi, xs, ys, alpha),
                               rtol=AUTOGRAD_REL_TOL, atol=AUTOGRAD_REL_TOL * float(g.norm()))
    gen = torch.Generator().manual_seed(7)
    for _ in range(3):
        v = torch.randn(problem.phi.shape, generator=gen, dtype=torch.float64)
        fd = (meta_loss(problem.phi + h * v) - meta_loss(problem.phi - h * v)) / (2 * h)
        assert abs(fd - float(g @ v)) <= FD_REL_TOL * float(g.norm() * v.norm()), (fd, float(g @ v))


# ------------------------------------------------------------------------------ Eqs 15-17 and the identity


def test_avg_grad_inner_identity_per_draw_is_exact():
    """For fixed L0, L1: 1/2 d/dphi (L0' . L1') = 1/2 (L0'' L1' + L1'' L0'), in float64 round-off."""
    cfg = TE.resolve("ci")
    for seed in range(3):
        problem, xs, ys = _draw(cfg, 2, seed=seed)
        _, Ha = T.expansion_terms(problem.loss, problem.phi, xs, ys)
        gd = grad(lambda p: grad(problem.loss)(p, xs[0], ys[0]) @ grad(problem.loss)(p, xs[1], ys[1]))(problem.phi)
        torch.testing.assert_close(0.5 * gd, 0.5 * (Ha[0, 1] + Ha[1, 0]), rtol=IDENTITY_REL_TOL,
                                   atol=IDENTITY_REL_TOL * float(gd.norm()))


def test_avg_grad_inner_identity_in_expectation(ci_record):
    d = ci_record["identity"]
    assert d["per_sample_max_rel_error"] < IDENTITY_REL_TOL
    assert abs(d["mc_z_along_avg_grad_inner"]) < Z_MAX
    assert d["mc_mean_z2"] < MEAN_Z2_MAX
    assert d["mc_difference_norm"] < Z_MAX * d["mc_noise_floor"]


def test_expected_gradients_match_equations_15_to_17(ci_record):
    e = ci_record["expectation"]
    paper = {"reptile": [2, 1], "maml": [1, 2], "fomaml": [1, 1]}
    for m in T.METHODS:
        o = e["methods"][m]
        assert o["paper"] == paper[m]
        assert SLOPE_RANGE[0] <= o["slope"] <= SLOPE_RANGE[1], f"{m}: residual slope {o['slope']}"
        assert o["residual_norm"][0] < RESIDUAL_RATIO_MAX * o["inner_term_norm"][0]
        assert all(se < r for r, se in zip(o["residual_norm"], o["residual_se"])), "the residual is resolved"
        lim = o["fit_limit"]
        assert abs(lim["c_grad"] - paper[m][0]) < COEF_REL_TOL * paper[m][0], (m, lim)
        assert abs(lim["c_inner"] - paper[m][1]) < COEF_REL_TOL * paper[m][1], (m, lim)


# ------------------------------------------------------------------------------ k steps


def test_k_step_coefficients():
    assert T.expansion_coefficients(2) == {"reptile": (2, 1), "maml": (1, 2), "fomaml": (1, 1)}  # Eqs 15-17
    for k in range(1, 7):
        c = T.expansion_coefficients(k)
        assert c["reptile"] == (k, k * (k - 1) // 2) and c["fomaml"] == (1, k - 1) and c["maml"] == (1, 2 * (k - 1))


def test_k_step_fits_match_the_formula(ci_record):
    ks = ci_record["k_steps"]
    assert ks["k"] == list(range(1, ci_record["config"]["k_max"] + 1))
    for m in T.METHODS:
        for i, k in enumerate(ks["k"]):
            for c in ("c_grad", "c_inner"):
                want, got = ks["formula"][m][c][i], ks["limit"][m][c][i]
                if k == 1 and c == "c_inner":
                    assert want == 0 and got is None
                    continue
                assert abs(got - want) < COEF_REL_TOL * want, (m, k, c, got, want)
        for k, v in ks["per_sample"]["methods"][m].items():
            assert SLOPE_RANGE[0] <= v["slope"] <= SLOPE_RANGE[1], (m, k, v["slope"])


@pytest.mark.parametrize("k", range(1, 7))
def test_orderings_balance_last_position_and_pair_order(k):
    orders = T.orderings(k)
    assert all(sorted(o) == list(range(k)) for o in orders)
    last = [o[-1] for o in orders]
    assert len({last.count(i) for i in range(k)}) == 1
    for i in range(k):
        for j in range(i + 1, k):
            before = sum(o.index(i) < o.index(j) for o in orders)
            assert 2 * before == len(orders)


# ------------------------------------------------------------------------------ store, determinism, input


def _metrics(record):
    return {k: record[k] for k in ("exact_vs_leading", "expectation", "identity", "k_steps")}


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_store):
    cfg = TE.resolve("ci", FAST)
    a = TE.run(cfg, 0, device="cpu", results_dir=tmp_store / "a", progress=False)
    b = TE.run(cfg, 0, device="cpu", results_dir=tmp_store / "b", progress=False)
    c = TE.run(cfg, 1, device="cpu", results_dir=tmp_store / "c", progress=False)
    assert _metrics(a) == _metrics(b)
    assert _metrics(a) != _metrics(c)


def test_load_or_run_stores_one_json_per_seed_and_loads_it(tmp_store):
    runs = TE.load_or_run("ci", seeds=[0, 1], overrides=FAST, device="cpu", progress=False)
    name = TE.resolve("ci", FAST).name
    assert name.startswith("ci-custom-") and [r["seed"] for r in runs] == [0, 1]
    path = tmp_store / "results" / "taylor" / name / "seed-0.json"
    assert path.exists() and not list((tmp_store / "results").rglob("*.tmp"))
    r = json.loads(path.read_text())
    assert r["schema"] == R.SCHEMA_VERSION and r["experiment"] == "taylor" and r["name"] == name
    assert r["digest"] == TE.resolve("ci", FAST).digest() and r["config"]["hidden"] == [4]
    assert r["environment"]["device"] == "cpu" and r["wall_seconds"] > 0
    mtime = path.stat().st_mtime_ns
    again = TE.load_or_run("ci", seeds=0, overrides=FAST, device="cpu", progress=False)
    assert path.stat().st_mtime_ns == mtime and len(again) == 2
    # a stored run whose configuration differs from what the name now means is refused
    r["digest"] = "0000000000"
    path.write_text(json.dumps(r))
    with pytest.raises(ValueError, match="another configuration"):
        TE.load_or_run("ci", seeds=[0], overrides=FAST, device="cpu", progress=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"preset": "paper"}, r"unknown preset 'paper'; allowed: default, ci"),
    ({"overrides": {"alpha": 0.1}}, r"unknown parameter 'alpha'; allowed: hidden, .*alpha_min"),
    ({"overrides": {"n_alphas": 2}}, r"n_alphas must be >= 3.*got 2"),
    ({"overrides": {"alpha_min": -1e-3}}, r"alpha_min must be a number in \(0, 1\], got -0.001"),
    ({"overrides": {"alpha_min": 0.5, "alpha_max": 0.1}}, r"alpha_min must be < alpha_max"),
    ({"overrides": {"k_max": 9}}, r"k_max must be in \[2, grid_points // batch = 5\].*got 9"),
    ({"overrides": {"hidden": [0]}}, r"hidden must be a non-empty list of integers >= 1, got \(0,\)"),
    ({"overrides": {"mc_samples": True}}, r"mc_samples=True is not allowed: mc_samples is an integer"),
    ({"overrides": {"mc_samples": 9}}, r"mc_samples must be >= 2 \* se_groups = 10, got 9"),
    ({"overrides": "n_alphas=3"}, r"overrides must be a dict"),
    ({"seeds": [-1]}, r"seed must be an integer >= 0, got -1"),
    ({"seeds": []}, r"seeds must be a non-empty list"),
    ({"recompute": "yes"}, r"recompute must be True or False, got 'yes'"),
    ({"device": "tpu"}, r"unknown device 'tpu'; allowed"),
])
def test_bad_input_raises_before_any_work(tmp_store, kwargs, message):
    args = {"preset": "ci", "seeds": [0], "device": "cpu", "progress": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        TE.load_or_run(**args)
    assert not (tmp_store / "results").exists()


def test_figures_tables_and_key_numbers(ci_record):
    runs = [ci_record]
    for fig_fn in (TA.figure_errors, TA.figure_expectation, TA.figure_k_steps):
        fig = fig_fn(runs)
        assert isinstance(fig, Figure) and fig.axes
        for ax in fig.axes:  # every panel draws the record's data: lines of several finite points
            ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines() if len(line.get_ydata()) >= 2]
            assert ys and all(np.isfinite(y).any() for y in ys), (fig_fn.__name__, ax.get_title())
    for table_fn in (TA.slopes_table, TA.identity_table, TA.k_step_table, TA.k_step_slopes):
        df = table_fn(runs)
        assert isinstance(df, pd.DataFrame) and not df.empty
    assert list(TA.slopes_table(runs).columns[:3]) == ["Reptile", "MAML", "First-order MAML"]
    numbers = TA.key_numbers(runs)
    assert all(isinstance(v, str) for v in numbers.values())
    assert 1.8 <= float(numbers["slope_min"]) <= float(numbers["slope_max"]) <= 2.2
    with pytest.raises(ValueError, match="not among the stored seeds"):
        TA.key_numbers(runs, seed=5)
    with pytest.raises(ValueError, match="no runs"):
        TA.slopes_table([])
    matplotlib.pyplot.close("all")


def test_expectation_table_says_its_plus_minus_is_a_standard_error(ci_record):
    t = TA.table_expectation([ci_record])
    assert "± is a Monte Carlo standard error" in t.caption
    assert any("±" in v for row in t.frame.index for v in t.frame.loc[row])  # the fitted coefficients carry one
    assert "± is a Monte Carlo standard error" in repr(t)  # a notebook's text repr, the one nbval compares


def test_committed_default_result_shows_section_4_1():
    """The run the chapter shows (results/taylor/default/seed-0.json) is committed and shows the paper's claims."""
    runs = R.load_runs("taylor", "default", R.REPO_ROOT / "results")
    assert runs, "results/taylor/default/seed-0.json must be committed"
    r = runs[0]
    assert r["digest"] == TE.resolve("default").digest(), "the committed default run is stale"
    for d in r["exact_vs_leading"]["models"].values():
        assert all(SLOPE_RANGE[0] <= s <= SLOPE_RANGE[1] for s in d["slopes"].values())
    for m, o in r["expectation"]["methods"].items():
        assert math.isclose(o["fit_limit"]["c_inner"], o["paper"][1], rel_tol=COEF_REL_TOL)
