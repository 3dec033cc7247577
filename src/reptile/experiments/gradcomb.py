"""Inner-loop gradient combinations (Section 5.2, Figure 3): the ten curves, each one population of seeds.

    python -m reptile.experiments.gradcomb --preset-prefix reduced-figure3 --seeds 0 1 2
    python -m reptile.experiments.gradcomb --preset-prefix reduced-figure3 --seeds 0 --curves g1 sum2 --set eval_tasks=50

A curve is a preset of :data:`reptile.config.FIGURE3_PRESETS`, ``<prefix>-<curve>``: ``g1`` (one inner step: joint
training), ``sum<k>`` (k-step Reptile with plain SGD, ``phi - W = lr (g1 + ... + gk)``), ``avg<k>`` (the same with the
outer step divided by k) and ``last<k>`` (the authors' first-order MAML, the last step ``gk`` only), for k = 2, 3, 4.
The curves differ in their number of inner steps, so they cannot share one population; each curve's seeds are trained
together as one (:func:`reptile.experiments.fewshot.run_population`), curve after curve. Records go to
``results/gradcomb/<preset>/seed-<seed>.json``, where the campaign (``python -m reptile.campaign``) writes the
paper-budget curves (prefix ``figure3``) too.

Everything (prefix, curves, seeds, overrides, the stored files, the data's fit, the folders' permissions) is checked
before the first curve trains.
"""

from __future__ import annotations

import ast
from typing import Any, Mapping, Sequence

from .. import results as R
from ..cli import check_arguments, experiment_parser, fail
from ..config import FIGURE3_PRESETS, FewShotConfig, resolve
from ..threads import configure
from ..validate import DivergedError, check, parse_bool, resolve_device, validate_seeds

EXPERIMENT = "gradcomb"
CURVES = ("g1", "sum2", "avg2", "last2", "sum3", "avg3", "last3", "sum4", "avg4", "last4")
PREFIXES = ("figure3", "reduced-figure3")  # the paper's budget (40,000 outer iterations), and the reduced one


def check_prefix(preset_prefix: Any) -> str:
    check(isinstance(preset_prefix, str) and preset_prefix in PREFIXES,
          f"unknown preset_prefix {preset_prefix!r}; allowed: {', '.join(PREFIXES)}")
    return preset_prefix


def check_curves(curves: Any) -> list[str]:
    """``curves`` as a list of curve names (None: all ten, in Figure 3's order). A string is one curve's name or
    the string of a list (what ``papermill -p curves "['g1', 'sum2']"`` passes)."""
    if curves is None:
        return list(CURVES)
    if isinstance(curves, str):
        text = curves.strip()
        try:
            curves = list(ast.literal_eval(text)) if text[:1] in "[(" else [text]
        except (ValueError, SyntaxError, TypeError):
            curves = [text]
    ok = isinstance(curves, (list, tuple)) and len(curves) > 0
    unknown = [c for c in curves if c not in CURVES] if ok else []
    check(ok and not unknown,
          f"unknown or empty curves {unknown or curves!r}; allowed: a non-empty list of {', '.join(CURVES)}")
    check(len(set(curves)) == len(curves), f"curves {list(curves)} name a curve more than once; give each once")
    return [c for c in CURVES if c in curves]


def configs(preset_prefix: str = "reduced-figure3", curves=None,
            overrides: Mapping[str, Any] | None = None) -> dict[str, FewShotConfig]:
    """curve -> its configuration: the preset ``<preset_prefix>-<curve>`` with ``overrides`` applied (a customised
    configuration is renamed ``<preset>-custom-<digest>``, so its records never mix with the preset's)."""
    prefix = check_prefix(preset_prefix)
    return {c: resolve(FIGURE3_PRESETS, f"{prefix}-{c}", overrides) for c in check_curves(curves)}


def stored(preset_prefix: str = "reduced-figure3", curves=None, overrides: Mapping[str, Any] | None = None,
           results_dir=None) -> dict[str, list[dict[str, Any]]]:
    """curve -> every stored seed of it (sorted by seed; an empty list where none is stored), training nothing.
    A stored file written with another configuration than the preset now defines is refused, naming it."""
    out = {}
    for curve, cfg in configs(preset_prefix, curves, overrides).items():
        runs = R.load_runs(EXPERIMENT, cfg.name, results_dir)
        R.refuse_stale(EXPERIMENT, cfg, runs)
        out[curve] = runs
    return out


def load_or_run(preset_prefix: str = "reduced-figure3", seeds=(0, 1, 2), recompute: bool = False,
                overrides: Mapping[str, Any] | None = None, device: str = "auto", curves=None, data_root=None,
                cache_dir=None, results_dir=None, checkpoint_dir=None,
                progress: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Make sure ``seeds`` of every curve in ``curves`` (None: all ten) are stored, training what is missing (each
    curve's missing seeds together as one population), then return curve -> every stored seed of it."""
    from .fewshot import check_fits, check_memory, load_splits, run_population

    cfgs = configs(preset_prefix, curves, overrides)
    seeds = validate_seeds(seeds)
    recompute = parse_bool(recompute, "recompute")
    resolve_device(device)
    for cfg in cfgs.values():  # each curve's seeds are one population
        check_memory(cfg, len(seeds), device)
    todo = {c: [s for s in seeds if recompute or not R.run_path(EXPERIMENT, cfg.name, s, results_dir).exists()]
            for c, cfg in cfgs.items()}
    for c, cfg in cfgs.items():  # a stale stored file of the last curve stops here, not after nine curves
        folder = R.results_root(results_dir) / EXPERIMENT / cfg.name
        keep = [R.read_run(p, ("seed",)) for p in sorted(folder.glob("seed-*.json"))
                if p.name not in {f"seed-{s}.json" for s in todo[c]}]
        R.refuse_stale(EXPERIMENT, cfg, keep)
    first = next((t[0] for t in todo.values() if t), None)
    if first is not None:  # every seed's split has the same shape; the curves differ in train_shots
        R.check_writable(R.results_root(results_dir) / EXPERIMENT, "results",
                         "Set $REPTILE_RESULTS (or pass results_dir=...) to a folder you can write.")
        R.check_writable(R.checkpoint_root(checkpoint_dir), "checkpoint",
                         "Set $REPTILE_CHECKPOINTS (or pass checkpoint_dir=...) to a folder you can write.")
        splits = load_splits(next(iter(cfgs.values())), first, data_root, cache_dir)
        for c, cfg in cfgs.items():
            if todo[c]:
                check_fits(cfg, *splits)
    out = {}
    for c, cfg in cfgs.items():
        def together(missing: list[int], cfg=cfg) -> None:
            run_population(cfg, missing, device, data_root, cache_dir, results_dir, checkpoint_dir, progress,
                           experiment=EXPERIMENT)

        out[c] = R.compute_or_load(EXPERIMENT, cfg, seeds, recompute, None, results_dir, device, progress,
                                   checkpoint_dir=checkpoint_dir, compute_all=together)  # all seeds together
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = experiment_parser("python -m reptile.experiments.gradcomb", __doc__, None,
                               "outer_iters=100 or eval_tasks=50", seeds=(0, 1, 2), data_root=True,
                               field="a field of every curve")
    parser.add_argument("--preset-prefix", default="reduced-figure3", help=f"one of: {', '.join(PREFIXES)}")
    parser.add_argument("--curves", nargs="+", default=None, help=f"some of: {' '.join(CURVES)} (default: all)")
    a = parser.parse_args(argv)
    # every value of the command line is checked here or in load_or_run before any data is loaded
    overrides, seeds = check_arguments(parser, a)
    try:
        configure(a.threads)
        runs = load_or_run(a.preset_prefix, seeds, a.recompute, overrides, a.device, a.curves, a.data_root)
    except (ValueError, FileNotFoundError, DivergedError) as e:
        fail(parser, e)
    for curve, rs in runs.items():
        accs = ", ".join(f"seed {r['seed']} {100 * r['eval']['non_transductive']['accuracy']:.2f}%" for r in rs)
        print(f"{rs[0]['name'] if rs else curve}: {accs}")


if __name__ == "__main__":
    main()
