"""Named, typed presets for the experiments, and how to override them.

Every chapter has a ``ci`` preset (seconds, for the test suite), the paper's protocol (``paper``), and
reduced-budget presets whose names start with ``reduced-``. A preset is a frozen dataclass; ``resolve`` applies
overrides such as ``{"outer_iters": 1000, "reptile.outer_step": 0.2, "activation": "relu"}`` and validates the
result before any work starts.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from .core import MetaConfig
from .fewshot import DATASETS
from .results import config_digest
from .validate import check, is_int, is_positive, parse_overrides

SINE_METHODS = ("reptile", "maml", "fomaml", "fomaml_k1", "joint")


@dataclass(frozen=True)
class SineConfig:
    """The sine-wave case study (Section 3). Defaults are the paper's protocol (the book's Protocol page,
    book/protocol.md)."""

    name: str = "paper"
    activation: str = "tanh"  # 'tanh' (authors' demo, slightly better) or 'relu' (the demo's word on the paper)
    hidden: tuple[int, ...] = (64, 64)  # MLP 1 -> 64 -> 64 -> 1
    grid_points: int = 50  # the loss is the MSE on this many equally spaced x in [-5, 5]
    methods: Mapping[str, MetaConfig] = field(default_factory=dict)  # algorithm name -> its hyper-parameters
    eval_tasks: int = 200  # held-out tasks per seed
    eval_shots: int = 10  # p, points x ~ U[-5, 5] seen at test time
    eval_iters: int = 32  # full-batch SGD steps at test time
    eval_lr: float = 0.02  # SGD step at test time (the inner step size of the authors' demo)
    figure_tasks: int = 3  # held-out tasks whose predictions are stored for Figure 1
    curve_every: int = 1000  # evaluate the learning curve every this many outer iterations
    curve_tasks: int = 50  # held-out tasks per learning-curve point
    checkpoint_every: int = 2000  # outer iterations between checkpoints

    def __post_init__(self) -> None:
        check(self.activation in ("tanh", "relu"), f"unknown activation {self.activation!r}; allowed: tanh, relu")
        check(isinstance(self.hidden, (tuple, list)) and len(self.hidden) >= 1
              and all(is_int(h) and h >= 1 for h in self.hidden),
              f"hidden must be a non-empty list of integers >= 1, got {self.hidden!r}")
        check(len(self.methods) >= 1, "at least one method is needed")
        for m in self.methods:
            check(m in SINE_METHODS, f"unknown method {m!r}; allowed: {', '.join(SINE_METHODS)}")
        for name in ("grid_points", "eval_tasks", "eval_shots", "eval_iters", "curve_every", "curve_tasks",
                     "checkpoint_every"):
            v = getattr(self, name)
            check(is_int(v) and v >= 1, f"{name} must be an integer >= 1, got {v!r}")
        check(is_int(self.figure_tasks) and 0 <= self.figure_tasks <= self.eval_tasks,
               f"figure_tasks must be in [0, eval_tasks={self.eval_tasks}], got {self.figure_tasks!r}")
        check(is_positive(self.eval_lr), f"eval_lr must be a finite number > 0, got {self.eval_lr!r}")
        for m, c in self.methods.items():
            check(c.inner_batch <= self.grid_points,
                   f"{m}.inner_batch={c.inner_batch} does not fit the task's {self.grid_points} grid points; "
                   f"allowed: 1..{self.grid_points}")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["hidden"] = list(self.hidden)
        d["methods"] = {m: c.to_dict() for m, c in self.methods.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SineConfig":
        d = dict(d)
        d["hidden"] = tuple(d["hidden"])
        d["methods"] = {m: _meta_from_dict(c) for m, c in d["methods"].items()}
        return cls(**d)

    def digest(self) -> str:
        """A short hash of everything but the name: runs with equal digests are seeds of one experiment."""
        return config_digest(self.to_dict())


def _meta_from_dict(c: Mapping[str, Any]) -> MetaConfig:
    c = dict(c)
    c["inner_betas"] = tuple(c["inner_betas"])
    c["outer_betas"] = tuple(c["outer_betas"])
    return MetaConfig(**c)


# --------------------------------------------------------------------------------------------------- presets


def _sine_methods(outer_iters: int) -> dict[str, MetaConfig]:
    # Reptile: the authors' demo (book/protocol.md, "Sine wave"). One task per iteration, one inner epoch over the 50
    # grid points in minibatches of 10 (5 plain SGD steps of 0.02), outer step 0.1 annealed linearly to 0.
    inner = dict(inner_optimizer="sgd", inner_lr=0.02, inner_iters=5, inner_batch=10, meta_batch=1,
                 outer_iters=outer_iters)
    # MAML, first-order MAML and joint training are not specified by the paper for this figure: they share Reptile's
    # inner loop, and their meta-gradient (on the 50-point loss) goes to Adam with Finn et al.'s meta step 1e-3.
    meta = dict(outer_optimizer="adam", outer_step=1e-3)
    return {
        "reptile": MetaConfig(algorithm="reptile", outer_optimizer="sgd", outer_step=0.1, **inner),
        "maml": MetaConfig(algorithm="maml", **meta, **inner),
        "fomaml": MetaConfig(algorithm="fomaml", **meta, **inner),
        # first-order MAML with a single inner step: the case where it does not drift (the chapter explains why)
        "fomaml_k1": MetaConfig(algorithm="fomaml", **meta, **{**inner, "inner_iters": 1}),
        "joint": MetaConfig(algorithm="joint", **meta, **inner),
    }


SINE_PRESETS: dict[str, SineConfig] = {
    # The paper's protocol: 30,000 outer iterations (book/protocol.md, "Sine wave").
    "paper": SineConfig(name="paper", methods=_sine_methods(30_000)),
    # The same with ReLU, which the authors' demonstration says the paper uses (its text names no activation).
    "paper-relu": SineConfig(name="paper-relu", activation="relu", methods=_sine_methods(30_000)),
    # A tenth of the paper's budget, for quick exploration; not the paper's protocol.
    "reduced-3k": SineConfig(name="reduced-3k", methods=_sine_methods(3_000), curve_every=300,
                             checkpoint_every=500),
    # Seconds: the test suite's smoke run.
    "ci": SineConfig(name="ci", methods=_sine_methods(200), eval_tasks=20, figure_tasks=2, curve_every=100,
                     curve_tasks=10, checkpoint_every=100),
}


def resolve(presets: Mapping[str, Any], preset: str, overrides: Mapping[str, Any] | None = None,
            methods: list[str] | None = None):
    """The preset named ``preset`` with ``overrides`` applied, restricted to ``methods`` if given.

    An override key is a field of the experiment config (``"activation"``), a field of every method's
    :class:`MetaConfig` (``"outer_iters"``), or ``"<method>.<field>"`` for one method (``"reptile.outer_step"``).
    Each value is converted to the type of the field it replaces, or refused (:func:`coerce_override`). ``overrides`` may be
    given as the string of a dict (what ``papermill -p overrides "{...}"`` passes), ``methods`` as the string of a
    list or one method's name. A customised config is renamed ``<preset>-custom-<digest>`` so its results never mix
    with the preset's.
    """
    if not isinstance(preset, str) or preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(presets)}")
    overrides = parse_overrides(overrides)
    cfg = presets[preset]
    top = {f.name for f in dataclasses.fields(cfg)} - {"name", "methods", "meta"}
    meta_fields = {f.name for f in dataclasses.fields(MetaConfig)} - {"algorithm"}
    ms = dict(cfg.methods)
    if isinstance(methods, str):  # papermill -p methods "['reptile', 'joint']" passes the string
        text = methods.strip()
        try:
            methods = list(ast.literal_eval(text)) if text[:1] in "[(" else [text]
        except (ValueError, SyntaxError, TypeError):
            methods = [text]
    if methods is not None:
        unknown = [m for m in methods if m not in ms] if isinstance(methods, (list, tuple)) else [methods]
        check(not unknown and len(methods) > 0,
               f"unknown or empty methods {methods!r}; allowed: a non-empty subset of {', '.join(ms)}")
        ms = {m: ms[m] for m in methods}
    top_changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise ValueError(f"unknown parameter {key!r}: override keys are names (strings); allowed: "
                             f"{', '.join(sorted(top | meta_fields))}, or <method>.<field>")
        if "." in key:
            m, f = key.split(".", 1)
            check(m in ms and f in meta_fields,
                   f"unknown parameter {key!r}; allowed: <method>.<field> with method in {', '.join(ms)} "
                   f"and field in {', '.join(sorted(meta_fields))}")
            ms[m] = dataclasses.replace(ms[m], **{f: coerce_override(value, getattr(ms[m], f), key)})
        elif key in top:
            top_changes[key] = coerce_override(value, getattr(cfg, key), key)
        elif key in meta_fields:
            ms = {m: dataclasses.replace(c, **{key: coerce_override(value, getattr(c, key), key)}) for m, c in ms.items()}
        else:
            raise ValueError(f"unknown parameter {key!r}; allowed: {', '.join(sorted(top | meta_fields))}, "
                             f"or <method>.<field>")
    if "methods" in {f.name for f in dataclasses.fields(cfg)}:
        new = dataclasses.replace(cfg, methods=ms, **top_changes)
    else:  # a single-method config (few-shot): its MetaConfig is the field "meta"
        new = dataclasses.replace(cfg, meta=ms["meta"], **top_changes)
    if new.digest() != cfg.digest():
        new = dataclasses.replace(new, name=f"{preset}-custom-{new.digest()}")
    return new


def resolve_flat(presets: Mapping[str, Any], preset: str, overrides: Mapping[str, Any] | None = None):
    """:func:`resolve` for a config whose fields are all top-level (the Section 4 chapters): the preset named
    ``preset`` with ``overrides`` (field name -> value, or the string of such a dict) converted by
    :func:`coerce_override` and validated by the config itself; a customised config is renamed
    ``<preset>-custom-<digest>``."""
    if not isinstance(preset, str) or preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(presets)}")
    cfg = presets[preset]
    allowed = [f.name for f in dataclasses.fields(cfg) if f.name != "name"]
    changes = {}
    for key, value in parse_overrides(overrides).items():
        if key not in allowed:
            raise ValueError(f"unknown parameter {key!r}; allowed: {', '.join(allowed)}")
        changes[key] = coerce_override(value, getattr(cfg, key), key)
    new = dataclasses.replace(cfg, **changes)  # the config's __post_init__ validates the values
    if new.digest() != cfg.digest():
        new = dataclasses.replace(new, name=f"{preset}-custom-{new.digest()}")
    return new


def coerce_override(value: Any, like: Any, key: str = "value") -> Any:
    """The override ``value`` for the field ``key``, converted to the type of the field's current value ``like``,
    or a ValueError naming the key, the value and what is allowed.

    bool: ``True``/``False`` or the strings ``"true"``/``"false"`` (any case); nothing else (not 0/1, not "yes").
    int: an integer, an integral float (``1e3``) or the string of one (``"1000"``). float: any number (ints become
    floats, so ``1`` and ``1.0`` give one configuration) or the string of one (``"1e-3"``, as YAML passes it). str: a
    string. tuple: a list or tuple, each element converted like the field's elements. A field whose value is None
    takes the value as given (its validation decides).
    """
    def refuse(kind: str, allowed: str) -> ValueError:
        return ValueError(f"{key}={value!r} is not allowed: {key} is {kind}; allowed: {allowed}")

    if like is None:
        return value
    if isinstance(like, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise refuse("True or False", "True, False, or the strings 'true'/'false' (any case)")
    if isinstance(like, int):
        number = value
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                try:
                    number = float(value.strip())
                except ValueError:
                    raise refuse("an integer", f"an integer such as {like}") from None
        if is_int(number):
            return number
        if isinstance(number, float) and number.is_integer():
            return int(number)
        raise refuse("an integer", f"an integer such as {like}")
    if isinstance(like, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise refuse("a number", f"a number such as {like!r}")
    if isinstance(like, str):
        if isinstance(value, str):
            return value
        raise refuse("a string", f"a string such as {like!r}")
    if isinstance(like, tuple):
        if not isinstance(value, (list, tuple)):
            raise refuse("a list", f"a list such as {list(like)!r}")
        kinds = {type(x) for x in like}
        if len(kinds) == 1 and like:
            return tuple(coerce_override(v, like[min(i, len(like) - 1)], f"{key}[{i}]") for i, v in enumerate(value))
        return tuple(value)
    return value


# ------------------------------------------------------------------------------------------ few-shot (Section 5.1)


@dataclass(frozen=True)
class FewShotConfig:
    """One cell of Tables 1-2: dataset, N-way K-shot, Reptile's hyper-parameters and the evaluation protocol."""

    name: str = "ci"
    dataset: str = "omniglot"  # 'omniglot' or 'miniimagenet'
    n_way: int = 5  # N classes per task
    shots: int = 1  # K training images per class at evaluation
    train_shots: int = 5  # images per class in a meta-training task ("training shots")
    meta: MetaConfig = field(default_factory=MetaConfig)  # inner Adam (beta1 = 0), outer step annealed to 0
    eval_iters: int = 50  # inner steps when adapting to an evaluation task
    eval_batch: int = 5  # inner batch size when adapting to an evaluation task
    eval_tasks: int = 10_000  # evaluation tasks on the test split (the authors' protocol: 10,000)
    curve_every: int = 1000  # outer iterations between learning-curve points
    curve_tasks: int = 100  # test-split tasks per learning-curve point (non-transductive)
    checkpoint_every: int = 1000  # outer iterations between checkpoints
    split_seed: int | None = None  # Omniglot's 1200/423 character split: None draws it from the run's seed (the
    #                                authors' random.seed(seed) before split_dataset); an integer fixes it for all seeds
    budget: str = "paper"  # 'paper' (the protocol's budget) or 'reduced' (said in the preset's name too)

    def __post_init__(self) -> None:
        check(self.dataset in DATASETS,
              f"unknown dataset {self.dataset!r}; allowed: {', '.join(DATASETS)}")
        check(isinstance(self.meta, MetaConfig), f"meta must be a MetaConfig, got {self.meta!r}")
        check(is_int(self.n_way) and self.n_way >= 2,
              f"n_way must be an integer >= 2 (a task tells at least two classes apart), got {self.n_way!r}")
        for name in ("shots", "train_shots", "eval_iters", "eval_batch", "eval_tasks", "curve_every",
                     "curve_tasks", "checkpoint_every"):
            v = getattr(self, name)
            check(is_int(v) and v >= 1, f"{name} must be an integer >= 1, got {v!r}")
        check(self.meta.algorithm in ("reptile", "fomaml_last_step"),
              f"few-shot algorithm {self.meta.algorithm!r} not supported; allowed: reptile, fomaml_last_step")
        check(self.meta.inner_batch <= self.n_way * self.train_shots,
              f"inner_batch={self.meta.inner_batch} does not fit a training task's n_way * train_shots = "
              f"{self.n_way * self.train_shots} samples; allowed: 1..{self.n_way * self.train_shots}")
        # eval_batch may pass an evaluation task's n_way * shots samples: its batches then hold them more than once,
        # as the authors' code does (reptile.tasks.minibatch_indices; their Table 5 Omniglot command uses 25 on 5)
        check(self.budget in ("paper", "reduced"), f"budget must be 'paper' or 'reduced', got {self.budget!r}")
        check(self.split_seed is None or (is_int(self.split_seed) and self.split_seed >= 0),
              f"split_seed must be None (the run's seed) or an integer >= 0, got {self.split_seed!r}")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["meta"] = self.meta.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FewShotConfig":
        return cls(**{**d, "meta": _meta_from_dict(d["meta"])})

    def digest(self) -> str:
        return config_digest(self.to_dict())

    @property
    def methods(self) -> dict[str, MetaConfig]:  # the interface `resolve` uses for method-level overrides
        return {"meta": self.meta}


def _fewshot(name, dataset, n_way, shots, lr, inner_batch, inner_iters, train_shots, outer_step, outer_iters,
             meta_batch, eval_batch, eval_iters, **extra) -> FewShotConfig:
    meta = MetaConfig(algorithm="reptile", inner_optimizer="adam", inner_lr=lr, inner_betas=(0.0, 0.999),
                      inner_iters=inner_iters, inner_batch=inner_batch, meta_batch=meta_batch,
                      outer_optimizer="sgd", outer_step=outer_step, outer_iters=outer_iters)
    return FewShotConfig(name=name, dataset=dataset, n_way=n_way, shots=shots, train_shots=train_shots, meta=meta,
                         eval_batch=eval_batch, eval_iters=eval_iters, **extra)


def _fewshot_presets() -> dict[str, FewShotConfig]:
    O, M = "omniglot", "miniimagenet"
    p = {}
    # The paper's Tables 3 and 4 (its first arXiv version):
    #   name, dataset, N, K, Adam lr, inner batch, inner iters, train shots, outer step, outer iters, meta-batch,
    #   eval batch, eval iters
    for row in [
        ("omniglot-1shot-5way", O, 5, 1, 4.4e-4, 5, 12, 12, 1.0, 200_000, 3, 5, 86),
        ("omniglot-1shot-20way", O, 20, 1, 4.4e-4, 15, 12, 9, 1.0, 200_000, 3, 10, 97),
        ("omniglot-5shot-5way", O, 5, 5, 1.5e-3, 10, 5, 10, 0.7, 100_000, 5, 6, 100),
        ("omniglot-5shot-20way", O, 20, 5, 4.6e-4, 20, 12, 12, 1.0, 200_000, 3, 10, 97),
        ("miniimagenet-1shot-5way", M, 5, 1, 1.2e-3, 3, 19, 12, 0.235, 200_000, 2, 3, 55),
        ("miniimagenet-5shot-5way", M, 5, 5, 2.2e-4, 10, 8, 15, 1.0, 200_000, 5, 15, 88),
        # Table 5: transductive 1-shot 5-way, tuned for transduction
        ("omniglot-1shot-5way-transductive", O, 5, 1, 1e-3, 25, 3, 15, 1.0, 100_000, 10, 5, 5),
        ("miniimagenet-1shot-5way-transductive", M, 5, 1, 1e-3, 5, 15, 15, 1.0, 100_000, 10, 5, 10),
        # Table 5's Omniglot cell as the authors' command for it ran (their README, February to June 2018): the
        # same training, evaluation batches of 25 where the table says 5 (each of a task's 5 images five times)
        ("omniglot-1shot-5way-transductive-eval25", O, 5, 1, 1e-3, 25, 3, 15, 1.0, 100_000, 10, 25, 5),
        # The later revision (authors' README): outer step 1, meta-batch 5, 50 evaluation iterations
        ("omniglot-1shot-5way-v2", O, 5, 1, 1e-3, 10, 5, 10, 1.0, 100_000, 5, 5, 50),
        ("omniglot-5shot-5way-v2", O, 5, 5, 1e-3, 10, 5, 10, 1.0, 100_000, 5, 5, 50),
        ("omniglot-1shot-20way-v2", O, 20, 1, 5e-4, 20, 10, 10, 1.0, 200_000, 5, 10, 50),
        ("omniglot-5shot-20way-v2", O, 20, 5, 5e-4, 20, 10, 10, 1.0, 200_000, 5, 10, 50),
        ("miniimagenet-1shot-5way-v2", M, 5, 1, 1e-3, 10, 8, 15, 1.0, 100_000, 5, 5, 50),
        ("miniimagenet-5shot-5way-v2", M, 5, 5, 1e-3, 10, 8, 15, 1.0, 100_000, 5, 15, 50),
    ]:
        p[row[0]] = _fewshot(*row)
    # Reduced budgets that fit a 2-core CPU in minutes per seed: the paper's settings with 1-2% of the outer
    # iterations (2,000 of 200,000 or 100,000; 1,000 of Table 5's 100,000), annealed over that shorter horizon, and
    # 500 evaluation tasks instead of 10,000.
    # Not the paper's protocol; the name says so.
    for cell, iters in (("omniglot-1shot-5way", 2000), ("omniglot-5shot-5way", 2000),
                        ("omniglot-1shot-5way-transductive", 1000)):
        base = p[cell]
        p[f"reduced-{cell}"] = dataclasses.replace(
            base, name=f"reduced-{cell}", budget="reduced", eval_tasks=500, curve_every=500, curve_tasks=20,
            checkpoint_every=250, meta=dataclasses.replace(base.meta, outer_iters=iters))
    # Seconds: the test suite's smoke run on real Omniglot.
    p["ci"] = dataclasses.replace(p["omniglot-5shot-5way"], name="ci", budget="reduced", eval_tasks=20,
                                  curve_every=20, curve_tasks=5, checkpoint_every=20,
                                  meta=dataclasses.replace(p["omniglot-5shot-5way"].meta, outer_iters=40))
    return p


def _figure3_presets() -> dict[str, FewShotConfig]:
    """Figure 3's ten curves (Section 5.2; the authors' commands, on the book's Protocol page book/protocol.md):
    5-shot 5-way Omniglot, plain SGD of 3e-3 on the summed loss in both loops, meta-batch 1, k inner minibatches of 25
    (k x 5 training shots), outer step 0.25 annealed to 0 over 40,000 iterations; evaluation 5 SGD steps of 25.

    * ``g1``: one step (joint training); ``sum<k>``: Reptile with k steps (``phi - W`` is the learning rate times
      g1 + ... + gk); ``avg<k>``: the same with the outer step divided by k (the authors' 0.125, 0.08325, 0.0625);
      ``last<k>``: the authors' first-order MAML, the last step's change (gk) only.
    * ``reduced-figure3-*``: 2,000 outer iterations annealed over that horizon, curves every 250 on 50 tasks, 500
      final tasks. Not the paper's protocol; the name says so."""
    base = FewShotConfig(
        name="figure3", dataset="omniglot", n_way=5, shots=5, train_shots=5, eval_batch=25, eval_iters=5,
        eval_tasks=10_000, curve_every=1000, curve_tasks=200, checkpoint_every=1000,
        meta=MetaConfig(algorithm="reptile", inner_optimizer="sgd", inner_lr=3e-3, inner_iters=1, inner_batch=25,
                        meta_batch=1, outer_optimizer="sgd", outer_step=0.25, outer_iters=40_000))
    average_step = {2: 0.125, 3: 0.08325, 4: 0.0625}
    curves = {"g1": (1, "reptile", 0.25)}
    for k in (2, 3, 4):
        curves[f"sum{k}"] = (k, "reptile", 0.25)
        curves[f"avg{k}"] = (k, "reptile", average_step[k])
        curves[f"last{k}"] = (k, "fomaml_last_step", 0.25)
    p = {}
    for curve, (k, algorithm, step) in curves.items():
        meta = dataclasses.replace(base.meta, algorithm=algorithm, inner_iters=k, outer_step=step)
        cfg = dataclasses.replace(base, name=f"figure3-{curve}", train_shots=5 * k, meta=meta)
        p[cfg.name] = cfg
        p[f"reduced-{cfg.name}"] = dataclasses.replace(
            cfg, name=f"reduced-{cfg.name}", budget="reduced", eval_tasks=500, curve_every=250, curve_tasks=50,
            checkpoint_every=250, meta=dataclasses.replace(meta, outer_iters=2000))
    return p


FEWSHOT_PRESETS: dict[str, FewShotConfig] = _fewshot_presets()


def table_cell_preset(dataset: str, column: str, row: str, budget: str = "paper") -> str:
    """The preset whose runs fill ``row`` x ``column`` of paper Table 1 or 2 (``column`` like '1-shot 5-way').
    Transduction is an evaluation mode: 'Reptile + Transduction' reads the transductive accuracy of the same runs,
    except 1-shot 5-way, which the paper trained with the Table 5 settings (the ``-transductive`` presets)."""
    shots, way = column.split("-shot ")
    name = f"{dataset}-{shots}shot-{way.replace('-way', 'way')}"
    if row == "Reptile + Transduction" and column == "1-shot 5-way":
        name += "-transductive"
    return f"reduced-{name}" if budget == "reduced" else name
FIGURE3_PRESETS: dict[str, FewShotConfig] = _figure3_presets()
