"""MAML's test-time steps (beyond the paper): whether accuracy falls after the first test step of adaptation in the
stored MAML runs (:func:`steps_summary`), whether Finn et al.'s network removes the fall under Reptile's protocol
(:func:`network_summary`), and the probes of the test step size (:func:`probe_table`, :func:`probe_summary`), each
judged by the book's one rule or read from the numbers it describes. Rebuilt from stored runs and probes."""

from __future__ import annotations

import pandas as pd

from ..stats import NOT_YET_RUN, compare, z_text
from .common import Aligned, Table
from .maml import MODE, PROTOCOL, _column, _estimate, _text
from .maml_curves import readable


def steps_summary(runs_by_name: dict[str, list[dict]], budget: str = "reduced") -> str:
    """Markdown: for every stored MAML (second-order) run at ``budget``, in each prediction mode, whether its accuracy
    after the test steps Finn et al. prescribe falls below its accuracy after one, by the book's rule (the claim
    "the last step is below step 1": holds / does not hold / not resolved, with z), grouped by protocol and network.
    The chapter's section on accuracy that falls after the first step reads these sentences, not typed ones."""
    if budget not in ("paper", "reduced"):
        raise ValueError(f"budget must be 'paper' or 'reduced', got {budget!r}")
    groups: dict[str, list[str]] = {}
    for name, runs in runs_by_name.items():
        cfg = runs[0]["config"]
        if cfg["budget"] != budget or cfg["algorithm"] != "maml":
            continue
        protocol = f"under {PROTOCOL[cfg['protocol']]} protocol"
        if cfg.get("network", cfg["protocol"]) != cfg["protocol"]:
            protocol += f" with {PROTOCOL[cfg['network']]} network"
        for mode in MODE:
            if mode not in runs[0]["eval"]:
                continue
            last = len(runs[0]["eval"][mode]["accuracy_per_step"]) - 1
            one, end = _estimate(runs, mode, 1), _estimate(runs, mode, last)
            c = _falls(runs, mode)  # "step 1 exceeds the last step": the accuracy falls
            groups.setdefault(protocol, []).append(
                f"{_column(cfg)} {MODE[mode]}, {_text(one, 1)} after 1 step and {_text(end, 1)} after {last} "
                f"(falls: {c.claim()}, z = {z_text(c.z)})")
    if not groups:
        return f"No MAML run is stored at the {budget} budget."
    return "\n".join(f"* {p[0].upper()}{p[1:]}: " + "; ".join(items) + "." for p, items in groups.items())


def probes(results_dir=None) -> list[dict]:
    """The stored probes (``python -m reptile.maml.probe``): a trained state adapted to the same test tasks with
    several test step sizes, with the accuracy and the support loss after each step."""
    import json

    from ..results import results_root

    return [json.loads(p.read_text()) for p in sorted((results_root(results_dir) / "maml").glob("*/probe-seed-*.json"))]


def probe_table(results_dir=None) -> Table:
    """One row per probed run and test step size: the transductive test accuracy and the support loss after each
    test step."""
    rows = []
    found = probes(results_dir)
    for d in found:
        from ..maml.presets import resolve

        cfg = resolve(d["preset"].split("-custom-")[0])  # a customised preset's protocol and network are its base's
        for alpha, v in d["by_step_size"].items():
            row = {"protocol and network": f"{'Finn et al.' if cfg.protocol == 'finn' else 'Reptile'}'s"
                                           + ("" if cfg.network == cfg.protocol else f", {cfg.network}'s network"),
                   "test step": f"{float(alpha):g} / {v['mean_loss_step']:g}"
                                + (" (training's)" if float(alpha) == d["train_inner_step"] else "")}
            for s, (a, loss) in enumerate(zip(v["transductive"], v["support_loss_mean_ce"])):
                if s:
                    row[f"after step {s}"] = f"{100 * a:.1f} ({loss:.2f})"
            rows.append(row)
    if not rows:
        return Table(pd.DataFrame({"probe": [NOT_YET_RUN]}), "Probes of the test step size: not yet run "
                                                            "(python -m reptile.maml.probe).", index=False)
    runs = "; ".join(f"{readable(d['preset'])}, seed {d['seed']}: {d['tasks']:,} test tasks" for d in found)
    widest = max(found, key=lambda d: -d["tasks"])
    return Aligned(pd.DataFrame(rows).set_index(["protocol and network", "test step"]),
                 f"The trained state of a reduced-budget 1-shot 5-way run (not the protocol's budget) under each "
                 f"protocol ({runs}; the first tasks of the run's final evaluation, the same for every step size, "
                 "so the runs' table, over all of them, differs a little) adapted with several test step sizes: "
                 "transductive test accuracy (%) after each inner SGD step, and in brackets the mean cross-entropy "
                 "on the support set after it; the test step on Finn et al.'s loss / on the mean loss. Training used "
                 "one step of the size marked. An accuracy p over n tasks has a standard error of at most "
                 f"sqrt(p (1 - p) / n): up to {100 * bound_se(0.5, widest['tasks']):.1f} points over "
                 f"{widest['tasks']:,} tasks.", nowrap=[c for c in rows[0] if c.startswith("after")])


def bound_se(p: float, tasks: int) -> float:
    """The largest standard error of an accuracy ``p`` (a fraction) that is the mean of ``tasks`` per-task
    accuracies in [0, 1]: each has a variance of at most p (1 - p)."""
    return (p * (1 - p) / tasks) ** 0.5


def _change(a: float, b: float, tasks: int) -> str:
    """How the probe's change from accuracy ``a`` to ``b`` (fractions, the same ``tasks``) stands by the book's rule
    when each side's standard error is taken at its bound (:func:`bound_se`): the z that gives is the smallest it
    can be, so a change with z >= 3 there is resolved, and one below is not shown by the probe."""
    from ..stats import THRESHOLD

    z = (b - a) / (bound_se(a, tasks) ** 2 + bound_se(b, tasks) ** 2) ** 0.5
    if abs(z) >= THRESHOLD:
        return f"resolved: |z| is at least {abs(z):.1f} with each standard error at its bound"
    return f"not resolved by this probe: |z| is at least {abs(z):.1f} with each standard error at its bound, short of 3"


def probe_summary(results_dir=None) -> str:
    """What the probes show, in one paragraph generated from them (empty when none is stored or they do not reach
    three test steps): each qualifier ('rises', 'falls at every step', ...) is read from the numbers it describes."""
    found = {d["preset"]: d for d in probes(results_dir)}
    reptile, finn = found.get("reduced-maml-omniglot-1shot-5way"), found.get("reduced-finn-maml-omniglot-1shot-5way")

    def at_training_step(d):
        return next((v for a, v in d["by_step_size"].items() if float(a) == d["train_inner_step"]), None)

    def monotone(xs, up):
        return all((b > a) if up else (b < a) for a, b in zip(xs, xs[1:]))

    if reptile is None or at_training_step(reptile) is None or len(at_training_step(reptile)["transductive"]) < 4:
        return ""
    train = at_training_step(reptile)
    loss = train["support_loss_mean_ce"]
    text = (f"Under Reptile's protocol and network, with the step the run was trained with "
            f"({reptile['train_inner_step']:g} on Finn et al.'s loss, {train['mean_loss_step']:g} on the mean loss), "
            f"accuracy is {100 * train['transductive'][1]:.1f}% after one step and {100 * train['transductive'][3]:.1f}% "
            f"after three ({_change(train['transductive'][1], train['transductive'][3], reptile['tasks'])}), while "
            f"the support loss goes from {loss[1]:.2f} to {loss[3]:.2f}")
    text += (": the inner SGD itself diverges on the support set from the second step on." if monotone(loss[1:], True)
             else ".")
    small_key = min(reptile["by_step_size"], key=float)
    small = reptile["by_step_size"][small_key]
    if float(small_key) < reptile["train_inner_step"]:
        falls = monotone(small["support_loss_mean_ce"], False)
        rises = monotone(small["transductive"][1:4], True)
        text += (f" With a step of {float(small_key):g} ({small['mean_loss_step']:g} on the mean loss) the support "
                 f"loss {'falls at every step' if falls else 'does not fall at every step'} and accuracy "
                 f"{'rises' if rises else 'moves'} to {100 * small['transductive'][3]:.1f}% after three steps.")
    f = None if finn is None else at_training_step(finn)
    if f is not None and len(f["transductive"]) >= 4:
        text += (f" Under Finn et al.'s protocol and network, the same step leaves a support loss of "
                 f"{f['support_loss_mean_ce'][3]:.2f} after three steps, and accuracy "
                 f"{'rises' if monotone(f['transductive'][1:4], True) else 'goes'} from "
                 f"{100 * f['transductive'][1]:.1f}% after one step to {100 * f['transductive'][3]:.1f}% after three "
                 f"({_change(f['transductive'][1], f['transductive'][3], finn['tasks'])}).")
    return text


def _falls(runs: list[dict], mode: str):
    """The claim "step 1 exceeds the last test step" for ``runs`` in ``mode``, by the book's rule (a Comparison)."""
    last = len(runs[0]["eval"][mode]["accuracy_per_step"]) - 1
    return compare(_estimate(runs, mode, 1), _estimate(runs, mode, last))


def network_summary(runs_by_name: dict[str, list[dict]], budget: str = "reduced") -> str:
    """Markdown: for each stored MAML run at ``budget`` that swaps the network of its protocol (a customised preset,
    ``--set network=finn``), whether its accuracy falls after the first test step, beside the run of the same preset
    on the protocol's own network, and what the pair says: the network, or not, is what makes the step overshoot.
    Empty when no such pair is stored."""
    from ..stats import HOLDS

    out = []
    for name, runs in sorted(runs_by_name.items()):
        cfg = runs[0]["config"]
        base = runs_by_name.get(name.split("-custom-")[0])
        if (cfg["budget"] != budget or cfg["algorithm"] != "maml" or "-custom-" not in name or not base
                or cfg.get("network", cfg["protocol"]) == cfg["protocol"]):
            continue
        modes = [m for m in MODE if m in runs[0]["eval"] and m in base[0]["eval"]]
        swap, own = {m: _falls(runs, m) for m in modes}, {m: _falls(base, m) for m in modes}

        def said(cmps):
            return "; ".join(f"{MODE[m]}, {c.claim()} (z = {z_text(c.z)})" for m, c in cmps.items())

        text = (f"With {PROTOCOL[cfg['network']]} network under {PROTOCOL[cfg['protocol']]} protocol, everything else "
                f"as in `{name.split('-custom-')[0]}`, the claim that accuracy falls from the first test step to the "
                f"last: {said(swap)}. With the protocol's own network: {said(own)}.")
        if all(c.claim() == HOLDS for c in own.values()) and not any(c.claim() == HOLDS for c in swap.values()):
            n = min(len(runs), len(base))
            text += (f" So in this pair of runs ({n} seed{'s' if n > 1 else ''} each, {cfg['outer_iters']:,} outer "
                     f"iterations) the fall goes with the network, not with the rest of the protocol; why the step "
                     f"overshoots on {PROTOCOL[cfg['protocol']]} network, they do not show.")
        elif all(c.claim() == HOLDS for c in swap.values()):
            text += " The accuracy falls on both networks, so the network alone does not explain the fall."
        else:
            text += " The two networks do not separate in every prediction mode, so the runs do not single it out."
        out.append(text)
    return "\n\n".join(out)
