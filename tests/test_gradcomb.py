"""Figure 3 (Section 5.2): each inner-loop gradient combination computed as defined, the chapter's artifacts on
synthetic records, and bad input refused before any work.

The reference for the combinations is a hand loop in float64 with autograd on the plain ``nn.Module`` network: the
inner gradients ``g_i`` at the successive iterates ``W_i = W_{i-1} - lr g_i`` of the summed loss, on the minibatches
the engine draws. Against it, one outer step of the population engine (:class:`Population`, float64) with each of
Figure 3's presets: Reptile's ``phi - W_k = lr (g1 + ... + gk)`` moved by the outer step, the average the same with the
outer step divided by k, first-order MAML (the authors' form) along the last step ``W_k - W_{k-1} = -lr g_k`` only.
"""

import dataclasses
import math
import types

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from reptile.experiments import gradcomb as GC  # noqa: E402
from reptile import results as R  # noqa: E402
from reptile import seeding  # noqa: E402
from reptile.artifacts import gradcomb as A  # noqa: E402
from reptile.config import FIGURE3_PRESETS  # noqa: E402
from reptile.engine.network import Conv4  # noqa: E402
from reptile.engine.population import AdamState, Population, adapt  # noqa: E402
from reptile.fewshot import FunctionalNet, TaskSampler, conv4  # noqa: E402
from reptile.tasks import minibatch_indices  # noqa: E402

UPDATE_TOL = 1e-12  # float64: an outer update (about eps * lr * g ~ 1e-3) from the engine vs the autograd loop


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def images(classes=12, per_class=21, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (classes, per_class, 1, 28, 28), generator=g, dtype=torch.uint8)


def inner_loop(params, x, y, batches, lr):
    """Plain SGD on the summed loss, by hand: the gradients g_1..g_k at the successive iterates, and the iterates
    W_0 = phi, ..., W_k."""
    net = FunctionalNet(conv4("omniglot", 5).double())
    w = tuple(p.double() for p in params)
    gs, ws = [], [w]
    for idx in batches:
        leaves = tuple(p.clone().requires_grad_() for p in w)
        g = torch.autograd.grad(net.loss(leaves, (x[idx], y[idx])), leaves)
        w = tuple(p - lr * gi for p, gi in zip(w, g))
        gs.append(g)
        ws.append(w)
    return gs, ws


def total(gs):
    return tuple(sum(parts) for parts in zip(*gs))


def assert_close(got, want, tol=UPDATE_TOL):
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert torch.allclose(a, b, rtol=0, atol=tol), (i, float((a - b).abs().max()))


@pytest.mark.parametrize("curve", GC.CURVES)
def test_outer_step_is_the_combination_of_the_inner_gradients(curve):
    cfg = FIGURE3_PRESETS[f"reduced-figure3-{curve}"]
    kind, k = A.kind_and_steps(curve)
    m = cfg.meta
    assert (m.inner_optimizer, m.outer_optimizer, m.meta_batch, m.inner_iters, m.inner_batch, m.inner_lr) == \
        ("sgd", "sgd", 1, k, 25, 3e-3) and cfg.train_shots == 5 * k
    imgs = images()
    pop = Population(cfg, [0], [imgs], dtype=torch.float64)
    phi = tuple(p.clone() for p in pop.member_params(0))
    # the task and minibatches the population draws, from the same streams
    task = TaskSampler(imgs).training_task(cfg.n_way, cfg.train_shots, seeding.generator(0, "tasks"))
    batches = list(minibatch_indices(len(task), m.inner_batch, k, seeding.generator(0, "inner")))
    # k non-overlapping minibatches of 25 that cover the task (5k shots of 5 classes)
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(25 * k))
    gs, ws = inner_loop(phi, task.x.double(), task.y, batches, m.inner_lr)
    eps = pop.meta_step()
    assert eps == m.outer_step  # the first update of the annealed schedule uses the initial step
    moved = tuple(a - b for a, b in zip(pop.member_params(0), phi))
    if kind == "last":  # first-order MAML (the authors' form): along the last step only, W_k - W_{k-1} = -lr g_k
        assert_close(tuple(a - b for a, b in zip(ws[-1], ws[-2])), tuple(-m.inner_lr * g for g in gs[-1]), 1e-15)
        want = tuple(-eps * m.inner_lr * g for g in gs[-1])
    else:  # Reptile: phi - W_k = lr (g1 + ... + gk), and phi <- phi + eps (W_k - phi)
        assert_close(tuple(a - b for a, b in zip(phi, ws[-1])), tuple(m.inner_lr * g for g in total(gs)), 1e-15)
        want = tuple(-eps * m.inner_lr * g for g in total(gs))
    assert_close(moved, want)
    if k > 1:  # the combinations differ: the check above can fail
        other = gs[-1] if kind != "last" else total(gs)
        assert max(float((a + eps * m.inner_lr * g).abs().max()) for a, g in zip(moved, other)) > 1e-6


@pytest.mark.parametrize("k", [2, 3, 4])
def test_average_is_the_sum_with_the_outer_step_divided_by_k(k):
    s, a, last = (FIGURE3_PRESETS[f"figure3-{kind}{k}"] for kind in ("sum", "avg", "last"))
    assert a.meta.outer_step == pytest.approx(s.meta.outer_step / k, rel=1e-3)  # the authors' 0.08325 for 0.25 / 3
    same = lambda c: dataclasses.replace(c, name="-", meta=dataclasses.replace(c.meta, outer_step=1.0))  # noqa: E731
    assert same(a) == same(s)
    assert dataclasses.replace(last, name="-", meta=dataclasses.replace(last.meta, algorithm="reptile")) == \
        dataclasses.replace(s, name="-")
    assert s.meta.outer_iters == 40_000 and s.eval_tasks == 10_000 and (s.eval_iters, s.eval_batch) == (5, 25)


def test_engine_inner_loop_gives_the_sum_and_the_last_step():
    """``adapt`` with plain SGD: ``phi - W = lr (g1 + ... + g4)`` and, with ``last_step``, ``W_4 - W_3 = -lr g_4``,
    on the loss summed over the minibatch (the authors' 3e-3 is a step on the sum, 25 times the mean's)."""
    torch.manual_seed(0)
    eng = Conv4(5)
    phi_params = tuple(p.double() for p in FunctionalNet(conv4("omniglot", 5)).init_params(3))
    x, y = torch.rand(100, 1, 28, 28, dtype=torch.float64), torch.arange(5).repeat(20)
    batches = list(torch.randperm(100).view(4, 25))
    lr = 3e-3
    phi = eng.population([phi_params])
    w = phi.clone()
    step = adapt(eng, w, AdamState.zeros(w), Conv4.images(x[None]), y[None], torch.stack(batches)[None], lr,
                 (0.0, 0.999), last_step=True, optimizer="sgd")
    gs, ws = inner_loop(phi_params, x, y, batches, lr)
    assert_close(eng.members(phi - w)[0], tuple(lr * g for g in total(gs)), 1e-13)
    assert_close(eng.members(step)[0], tuple(-lr * g for g in gs[-1]), 1e-13)
    net = FunctionalNet(conv4("omniglot", 5).double())
    summed = net.loss(phi_params, (x[batches[0]], y[batches[0]]))
    mean = torch.nn.functional.cross_entropy(net(phi_params, x[batches[0]]), y[batches[0]])
    assert float(summed) == pytest.approx(25 * float(mean), rel=1e-12)


# --------------------------------------------------------------------------------------- the chapter's artifacts

MEANS = {"g1": 30, "sum2": 60, "avg2": 55, "last2": 65, "sum3": 75, "avg3": 62, "last3": 68, "sum4": 85, "avg4": 70,
         "last4": 70}  # shaped like the paper's claims: each holds


def record(curve, seed, acc, iters=2000, budget="reduced", tasks=500):
    name = f"{'reduced-' if budget == 'reduced' else ''}figure3-{curve}"
    return {"experiment": "gradcomb", "name": name, "seed": seed,
            "config": {"budget": budget, "meta": {"outer_iters": iters}, "curve_tasks": 100},
            "curve": {"iteration": [0, iters // 2, iters], "test_accuracy": [0.2, acc / 100 - 0.1, acc / 100]},
            "eval": {"non_transductive": {"accuracy": acc / 100, "ci95": 0.01, "tasks": tasks}}}


def runs(means=MEANS, seeds=(0, 1, 2), **kw):
    offset = {0: -0.5, 1: 0.0, 2: 0.5}  # the standard deviation over the three seeds is 0.5 points
    return {c: [record(c, s, v + offset[s], **kw) for s in seeds] for c, v in means.items()}


def test_claims_hold_on_records_shaped_like_the_paper():
    got = A.claims(runs())
    assert [c["verdict"] for c in got] == ["holds"] * 4
    # the seeds' standard deviation is 0.5, so a difference's standard error is sqrt(2 * 0.25 / 3) = 0.408
    se = (2 * 0.25 / 3) ** 0.5
    assert got[1]["z"] == pytest.approx(5 / se, rel=1e-9)
    # with equal spreads the weakest comparison is the lowest curve's; the text names both, and the claim's z is it
    assert "g1 reaches 30.00% ± 0.50; the lowest of the other nine, (g1+g2)/2, reaches 55.00% ± 0.50; the comparison with " \
           f"the smallest z is (g1+g2)/2 (55.00% ± 0.50) over g1, +25.00 points, z = +{25 / se:.1f}." \
        in got[0]["text"]
    assert got[0]["z"] == pytest.approx(25 / se)
    assert f"g1+g2 reaches 60.00% ± 0.50 and g2 65.00% ± 0.50; g2 minus g1+g2 is +5.00 points, z = +{5 / se:.1f}" \
        in got[1]["text"]
    assert "sum (Reptile) 30.00 → 60.00 → 75.00 → 85.00%" in got[2]["text"]
    assert "sum minus last +15.00 points" in got[3]["text"] and "(-5.00 points" in got[3]["text"]
    assert "The lead grows by +20.00 points, z = +34.6" in got[3]["text"]  # se of the four curves: sqrt(4/12)
    md = A.claims_markdown(runs())
    assert "reduced budget: 2,000 of 40,000 outer iterations, 500 evaluation tasks per seed" in md
    assert md.count("At the end of training: **holds.** ") == 4 and md.count("Over the learning curve: **holds.**") == 4
    assert "1. **g1 alone is the worst.** The paper: \"using only" in md
    assert "(the book's rule, linked above)" in md and "{" not in md  # output Markdown is not parsed as MyST
    assert md.endswith("The two readings give the same verdict on every claim judged.")


def test_g1_is_read_against_the_untrained_initialisation():
    """The first curve point (iteration 0) is fine-tuning from the untrained weights: 20 ± 0 % in these records,
    g1's final 30 ± 0.5 %; training on g1 raises the accuracy here, so the claim that it lowers it does not hold."""
    text = A.g1_summary(runs())
    assert "reaches 20.0 ± 0.0%" in text and "30.0 ± 0.5% (the final evaluation" in text
    assert f"**does not hold** (z = {-10 / (0.25 / 3) ** 0.5:+.1f})" in text and "{" not in text and "$" not in text
    lowered = runs()
    for r in lowered["g1"]:  # fine-tuning from the untrained weights at 60%: g1 ends below it
        r["curve"]["test_accuracy"][0] = 0.6 + 0.01 * r["seed"]
    assert "**holds**" in A.g1_summary(lowered)
    assert A.g1_summary(runs(seeds=(0,))) == ""  # one seed: no spread to judge by


def test_the_curve_reading_judges_the_mean_over_the_learning_curve():
    """Over the learning curve a curve's accuracy is the mean of its points: here (0.2, acc - 0.1, acc) / 3, in %,
    so every difference is two thirds of the final one and the standard errors are those of the seeds' means."""
    got = A.claims(runs(), "curve")
    assert [c["verdict"] for c in got] == ["holds"] * 4 and all(c["reading"] == "curve" for c in got)
    se = (2 * (0.5 * 2 / 3) ** 2 / 3) ** 0.5  # each seed's offset is two thirds of its final one
    assert got[1]["z"] == pytest.approx(5 * 2 / 3 / se, rel=1e-9)
    assert got[1]["checked"] == "g2 lies, on average over its learning curve, above g1+g2"
    assert f"g1+g2 averages {(20 + 50 + 60) / 3:.2f}% ± {0.5 * 2 / 3:.2f}" in got[1]["text"]
    assert A.curve_accuracy(runs()["g1"])["points"] == 3
    # the readings can disagree: g2 ahead of g1+g2 during training, behind at the end
    rec = runs()
    for r in rec["last2"]:
        r["curve"]["test_accuracy"][1] += 0.2
    end, curve = A.claims(rec, "end")[1], A.claims(rec, "curve")[1]
    assert (end["verdict"], curve["verdict"]) == ("holds", "holds")
    for r in rec["last2"]:
        r["eval"]["non_transductive"]["accuracy"] -= 0.1
        r["curve"]["test_accuracy"][-1] -= 0.1
    assert (A.claims(rec, "end")[1]["verdict"], A.claims(rec, "curve")[1]["verdict"]) == ("does not hold", "holds")
    assert ("The two readings differ on claim 2, which does not hold at the end of training and holds over the "
            "learning curve; claim 3, which") in A.claims_markdown(rec)  # the changed g2 moves claim 3 too
    # one seed: a 95% interval over the curve's tasks, from the bound p (1 - p) on each point's per-task variance
    one = A.curve_accuracy(runs(seeds=(1,))["g1"])
    ps = [0.2, 0.2, 0.3]  # g1's curve for seed 1: (0.2, acc - 0.1, acc) with acc 0.3
    want = 1.96 * math.sqrt(sum(p * (1 - p) / 100 for p in ps)) / 3
    assert one["spread"] == pytest.approx(100 * want) and one["tasks"] == 300
    with pytest.raises(ValueError, match="unknown reading 'middle'; allowed: end, curve"):
        A.claims(runs(), "middle")


def test_claims_that_do_not_hold_or_are_not_resolved_say_so_with_the_numbers():
    means = {**MEANS, "g1": 66, "avg4": 60, "last4": 90, "sum2": 65.2}
    got = A.claims(runs(means))
    assert [c["verdict"] for c in got] == ["does not hold", "not resolved", "does not hold", "does not hold"]
    assert "(g1+g2)/2 over g1 (-11.00 points, z = -26.9, does not hold)" in got[0]["text"]
    assert "g2 minus g1+g2 is -0.20 points, z = -0.5" in got[1]["text"]  # 0.2 / 0.408: within the noise
    assert "average from 3 to 4 (-2.00 points, z = -4.9, does not hold)" in got[2]["text"]
    # one step within the noise and the rest resolved upwards: the claim is not resolved
    nr = A.claims(runs({**MEANS, "last4": 68.5}))[2]
    assert nr["verdict"] == "not resolved" and nr["z"] == pytest.approx(0.5 / (2 * 0.25 / 3) ** 0.5)
    assert "last gradient (first-order MAML) from 3 to 4 (+0.50 points, z = +1.2, not resolved)" in nr["text"]
    # the sum beats the last gradient at four, but by less than at two
    got = A.claims(runs({**MEANS, "sum2": 95, "sum3": 92, "sum4": 94}))  # leads: 30 at two, 24 at four
    assert got[3]["verdict"] == "does not hold" and "the lead at four over the lead at two (-6.00 points, z = -10.4, does not hold)" in got[3]["text"]
    assert "the lead at four over the lead at two (-1.00 points, z = -1.7, not resolved)" in A.claims(
        runs({**MEANS, "sum2": 80, "sum3": 82, "sum4": 84}))[3]["text"]


def test_missing_curves_and_single_seeds():
    partial = {c: v for c, v in runs().items() if c in ("g1", "sum2", "last2")}
    got = A.claims(partial)
    assert [c["verdict"] for c in got] == ["not yet run", "holds", "not yet run", "not yet run"]
    assert got[2]["text"] == ("Not yet run: no stored runs of avg2, sum3, avg3, last3, sum4, avg4, last4.")
    assert [c["verdict"] for c in A.claims({})] == ["not yet run"] * 4
    # one seed: the standard error is the seed's own, over its evaluation tasks (its 95% interval / 1.96)
    one = A.claims(runs(seeds=(1,)))
    assert "g1+g2 reaches 60.00% and g2 65.00%" in one[1]["text"]
    assert one[1]["z"] == pytest.approx(5 / (2 * (1 / 1.96) ** 2) ** 0.5)
    table = A.final_table(partial)
    assert list(table.frame.index) == list(GC.CURVES)
    assert table.frame.loc["sum3", "final accuracy (%)"] == "not yet run"
    assert table.frame.loc["sum2", "final accuracy (%)"] == "60.00 ± 0.50"
    assert table.frame.loc["avg3", "combination"] == "(g1+g2+g3)/3" and table.frame.loc["last3", "combination"] == "g3"
    full = A.final_table(runs())
    assert "± is" not in full.frame.columns and "± is the standard deviation over 3 seeds" in full.caption
    assert "seeds 0 1 2" in full.caption and "500 test tasks per seed" in full.caption
    assert A.final_table(runs(seeds=(0,))).caption.count("95% interval over tasks, 1 seed") == 1


def test_paper_checks_are_the_claims():
    both = A.paper_checks(runs({**MEANS, "last4": 68.5}))
    assert [r.item for r in both[1::2]] == [f"paper Figure 3, claim {i}, over the learning curve (a second reading, "
                                            f"added later)" for i in (1, 2, 3, 4)]
    assert [r.verdict for r in both[1::2]] == [c["verdict"] for c in A.claims(runs({**MEANS, "last4": 68.5}), "curve")]
    rows = both[::2]  # at the end of training
    assert [r.claim for r in rows] == [c[0] for c in A.CLAIMS] == [r.claim for r in both[1::2]]
    assert [r.verdict for r in rows] == [c["verdict"] for c in A.claims(runs({**MEANS, "last4": 68.5}))]
    assert [r.item for r in rows] == [f"paper Figure 3, claim {i}, at the end of training" for i in (1, 2, 3, 4)]
    # each row shows the curves of the comparison that sets its z: for a claim of several, the weakest
    assert rows[0].ours == "smallest z of 9 comparisons: g1 30.00% ± 0.50, (g1+g2)/2 55.00% ± 0.50 (3 seeds)"
    assert rows[1].ours == "g1+g2 60.00% ± 0.50, g2 65.00% ± 0.50 (3 seeds)"
    assert rows[2].ours == "smallest z of 9 comparisons: g3 68.00% ± 0.50, g4 68.50% ± 0.50 (3 seeds)"
    assert rows[2].z == pytest.approx(0.5 / (2 * 0.25 / 3) ** 0.5)
    assert rows[3].ours.startswith("smallest z of 2 comparisons: g1+g2 60.00% ± 0.50, g2 65.00% ± 0.50, g1+g2+g3+g4 ")
    assert all(r.where == "gradient_combinations.ipynb#gradcomb-claims" for r in rows)
    assert [r.ours for r in A.paper_checks({})] == ["-"] * 8


def test_budget_labels_and_figures():
    full = runs(iters=40_000, budget="paper", tasks=10_000)
    assert A.overall_budget(full) == "paper budget: 40,000 outer iterations, 10,000 evaluation tasks per seed"
    assert "seeds 0 1 2" in A.final_table(full).caption
    custom = runs(iters=40_000, budget="reduced")
    assert A.overall_budget(custom).startswith("reduced budget: 40,000 of 40,000")
    assert A.overall_budget({**full, "g1": runs()["g1"]}).startswith("mixed budgets: ")
    fig = A.figure3(runs())
    ax, zoom = fig.axes
    assert len(ax.get_lines()) == 11 and len(ax.collections) == 10  # ten means, ten bands, and chance
    assert ax.get_lines()[-1].get_label() == "chance (1 in 5)" and ax.get_lines()[-1].get_ydata()[0] == 20
    assert len(zoom.get_lines()) == 9 and len(zoom.collections) == 9  # the zoom: two to four minibatches
    assert zoom.get_xlim() == (1000.0, 2000.0)  # the second half of training
    styles = {line.get_label(): (line.get_linestyle(), line.get_color()) for line in ax.get_lines()}
    assert styles["$g_1+g_2$"][0] == "-" and styles["$(g_1+g_2)/2$"][0] == "--" and styles["$g_2$"][0] == ":"
    assert styles["$g_2$"][1] == styles["$g_1+g_2$"][1] != styles["$g_3$"][1]
    assert "not yet run" in [t.get_text() for t in A.figure3({}).axes[0].texts]
    assert len(A.accuracy_by_minibatches(runs()).axes[0].containers) == 3
    with pytest.raises(ValueError, match="unknown curve 'sum5'; allowed: g1, sum2"):
        A.kind_and_steps("sum5")
    matplotlib.pyplot.close("all")


# ------------------------------------------------------------------------------------------------- experiment

TINY = {"outer_iters": 2, "curve_every": 1, "curve_tasks": 2, "eval_tasks": 3, "checkpoint_every": 1}


@pytest.fixture
def synthetic_data(monkeypatch):
    """Omniglot replaced by small random splits (one per seed, as the character split depends on it)."""
    from reptile.experiments import fewshot as FS

    def load(cfg, seed=0, data_root=None, cache_dir=None):
        split = lambda s: types.SimpleNamespace(images=images(seed=s))  # noqa: E731
        return split(10 + seed), split(20 + seed)

    monkeypatch.setattr(FS, "load_splits", load)


def test_curves_run_as_populations_into_results_gradcomb(tmp_store, synthetic_data):
    out = GC.load_or_run("reduced-figure3", [0, 1], overrides=TINY, curves=["last2", "g1"], progress=False)
    assert list(out) == ["g1", "last2"]  # Figure 3's order
    for curve, rs in out.items():
        cfg = GC.configs("reduced-figure3", [curve], TINY)[curve]
        assert cfg.name.startswith(f"reduced-figure3-{curve}-custom-")
        assert [r["seed"] for r in rs] == [0, 1] and all(r["experiment"] == "gradcomb" for r in rs)
        assert rs[0]["engine"]["seeds"] == [0, 1] and rs[0]["curve"]["iteration"] == [0, 1, 2]
        assert (tmp_store / "results" / "gradcomb" / cfg.name / "seed-1.json").exists()
    assert GC.stored("reduced-figure3", ["g1", "sum2"], TINY) == {"g1": out["g1"], "sum2": []}
    again = GC.load_or_run("reduced-figure3", [0, 1], overrides=TINY, curves=["g1"], progress=False)
    assert again["g1"] == out["g1"]  # loaded, not trained again
    assert "reduced budget: 2 of 40,000 outer iterations" in A.final_table(out).caption


def test_bad_input_is_refused_before_any_work(tmp_store, monkeypatch):
    from reptile.experiments import fewshot as FS

    def no_work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(FS, "load_splits", no_work)
    monkeypatch.setattr(FS, "run_population", no_work)
    with pytest.raises(ValueError, match=r"unknown preset_prefix 'figure4'; allowed: figure3, reduced-figure3"):
        GC.load_or_run("figure4")
    with pytest.raises(ValueError, match=r"unknown or empty curves \['g5'\]; allowed: a non-empty list of g1, sum2"):
        GC.load_or_run(curves=["g1", "g5"])
    with pytest.raises(ValueError, match=r"unknown or empty curves \[\]"):
        GC.load_or_run(curves=[])
    with pytest.raises(ValueError, match="name a curve more than once"):
        GC.load_or_run(curves="['g1', 'g1']")
    assert GC.check_curves("['sum2', 'g1']") == ["g1", "sum2"] and GC.check_curves("avg3") == ["avg3"]
    with pytest.raises(ValueError, match="seeds must be a non-empty list"):
        GC.load_or_run(seeds=[])
    with pytest.raises(ValueError, match="unknown parameter 'bogus'"):
        GC.load_or_run(overrides={"bogus": 1})
    with pytest.raises(ValueError, match="recompute must be True or False"):
        GC.load_or_run(recompute="maybe")
    # a stored file of the last curve made with another configuration stops the call before the first curve trains
    cfg = FIGURE3_PRESETS["reduced-figure3-last4"]
    R.save_run({**record("last4", 0, 50), "digest": "0000000000"}, R.run_path("gradcomb", cfg.name, 0))
    with pytest.raises(ValueError, match=r"gradcomb/reduced-figure3-last4 seeds \[0\] were made with another"):
        GC.load_or_run(seeds=[0, 1])
    with pytest.raises(ValueError, match="were made with another"):
        GC.stored(curves=["last4"])


def test_command_line_refuses_bad_input(capsys):
    with pytest.raises(SystemExit) as e:
        GC.main(["--preset-prefix", "figure9", "--seeds", "0"])
    assert e.value.code == 2 and "unknown preset_prefix 'figure9'" in capsys.readouterr().err


def test_claim_2_window_by_window_and_where_the_curves_cross():
    """reptile.artifacts.gradcomb_windows on two hand-made curves of nine points (every 1,000 iterations): the
    quarters hold 3, 2, 2 and 2 points; g2 ends below g1+g2 and stays below from iteration 5,000."""
    from reptile.artifacts import gradcomb_windows as W

    last2 = [0.20, 0.60, 0.70, 0.80, 0.81, 0.85, 0.85, 0.86, 0.86]
    sum2 = [0.22, 0.40, 0.50, 0.70, 0.80, 0.86, 0.88, 0.90, 0.91]

    def recs(curve, values, step):  # seed offsets -step, 0, +step: a standard deviation of 100 * step points
        return [{"seed": s, "curve": {"iteration": list(range(0, 9000, 1000)),
                                      "test_accuracy": [v + (s - 1) * step for v in values]}} for s in range(3)]

    runs_by_curve = {"last2": recs("last2", last2, 0.005), "sum2": recs("sum2", sum2, 0.01)}
    df = W.window_table(runs_by_curve).frame
    assert list(df.index) == ["0 to 2,000", "3,000 to 4,000", "5,000 to 6,000", "7,000 to 8,000"]
    assert df["points"].tolist() == [3, 2, 2, 2]
    # first quarter: g2 (0.20 + 0.60 + 0.70) / 3 = 50.00%, g1+g2 (0.22 + 0.40 + 0.50) / 3 = 37.33%; the standard
    # error of the difference is sqrt(0.5² / 3 + 1.0² / 3) = 0.6455, so z = 12.667 / 0.6455 = 19.6
    assert df.iloc[0].tolist() == [3, "50.00 ± 0.50", "37.33 ± 1.00", "+12.67", "+19.6"]
    # last quarter: 86.00% against (0.90 + 0.91) / 2 = 90.50%: -4.50 points, z = -4.5 / 0.6455 = -7.0
    assert df.iloc[3].tolist() == [2, "86.00 ± 0.50", "90.50 ± 1.00", "-4.50", "-7.0"]
    assert W.crossing_text(runs_by_curve) == (
        "Over seeds, g2's mean curve lies below g1+g2's at every point from iteration 5,000 to the end (4 of 9 "
        "points); before it, above at 4 of the 5 points from iteration 0 to 4,000.")
    missing = W.window_table({"sum2": runs_by_curve["sum2"]})
    assert "not yet run (last2 not stored)" in missing.caption and W.crossing_text({}) == ""
