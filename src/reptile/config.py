"""Named, typed presets for the experiments, and how to override them.

Every chapter has a ``ci`` preset (seconds, for the test suite), the paper's protocol (``paper``), and
reduced-budget presets whose names start with ``reduced-``. A preset is a frozen dataclass; ``resolve`` applies
overrides such as ``{"outer_iters": 1000, "reptile.outer_step": 0.2, "activation": "relu"}`` and validates the
result before any work starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .core import MetaConfig
from .validate import check

SINE_METHODS = ("reptile", "maml", "fomaml", "joint")


@dataclass(frozen=True)
class SineConfig:
    """The sine-wave case study (Section 3). Defaults are the paper's protocol (PROTOCOL.md)."""

    name: str = "paper"
    activation: str = "tanh"  # 'tanh' (authors' demo, slightly better) or 'relu' (the paper's text)
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
        check(len(self.hidden) >= 1 and all(isinstance(h, int) and h >= 1 for h in self.hidden),
               f"hidden must be a non-empty list of integers >= 1, got {self.hidden!r}")
        check(len(self.methods) >= 1, "at least one method is needed")
        for m in self.methods:
            check(m in SINE_METHODS, f"unknown method {m!r}; allowed: {', '.join(SINE_METHODS)}")
        for name in ("grid_points", "eval_tasks", "eval_shots", "eval_iters", "curve_every", "curve_tasks",
                     "checkpoint_every"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                   f"{name} must be an integer >= 1, got {v!r}")
        check(0 <= self.figure_tasks <= self.eval_tasks,
               f"figure_tasks must be in [0, eval_tasks={self.eval_tasks}], got {self.figure_tasks!r}")
        check(isinstance(self.eval_lr, (int, float)) and self.eval_lr > 0, f"eval_lr must be > 0, got {self.eval_lr!r}")
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
        d = self.to_dict()
        d.pop("name")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def _meta_from_dict(c: Mapping[str, Any]) -> MetaConfig:
    c = dict(c)
    c["inner_betas"] = tuple(c["inner_betas"])
    c["outer_betas"] = tuple(c["outer_betas"])
    return MetaConfig(**c)


# --------------------------------------------------------------------------------------------------- presets


def _sine_methods(outer_iters: int) -> dict[str, MetaConfig]:
    # Reptile: the authors' demo (PROTOCOL.md). One task per iteration, one inner epoch over the 50 grid points in
    # minibatches of 10 (5 plain SGD steps of 0.02), outer step 0.1 annealed linearly to 0.
    inner = dict(inner_optimizer="sgd", inner_lr=0.02, inner_iters=5, inner_batch=10, meta_batch=1,
                 outer_iters=outer_iters)
    # MAML, first-order MAML and joint training are not specified by the paper for this figure: they share Reptile's
    # inner loop, and their meta-gradient (on the 50-point loss) goes to Adam with Finn et al.'s meta step 1e-3.
    meta = dict(outer_optimizer="adam", outer_step=1e-3)
    return {
        "reptile": MetaConfig(algorithm="reptile", outer_optimizer="sgd", outer_step=0.1, **inner),
        "maml": MetaConfig(algorithm="maml", **meta, **inner),
        "fomaml": MetaConfig(algorithm="fomaml", **meta, **inner),
        "joint": MetaConfig(algorithm="joint", **meta, **inner),
    }


SINE_PRESETS: dict[str, SineConfig] = {
    # The paper's protocol: 30,000 outer iterations (PROTOCOL.md, "Sine wave").
    "paper": SineConfig(name="paper", methods=_sine_methods(30_000)),
    # The same with ReLU, as the paper's text describes the network.
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
    A customised config is renamed ``<preset>-custom-<digest>`` so its results never mix with the preset's.
    """
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(presets)}")
    cfg = presets[preset]
    top = {f.name for f in dataclasses.fields(cfg)} - {"name", "methods"}
    meta_fields = {f.name for f in dataclasses.fields(MetaConfig)} - {"algorithm"}
    ms = dict(cfg.methods)
    if methods is not None:
        unknown = [m for m in methods if m not in ms]
        check(not unknown and len(methods) > 0,
               f"unknown or empty methods {methods!r}; allowed: a non-empty subset of {', '.join(ms)}")
        ms = {m: ms[m] for m in methods}
    top_changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if "." in key:
            m, f = key.split(".", 1)
            check(m in ms and f in meta_fields,
                   f"unknown parameter {key!r}; allowed: <method>.<field> with method in {', '.join(ms)} "
                   f"and field in {', '.join(sorted(meta_fields))}")
            ms[m] = dataclasses.replace(ms[m], **{f: _coerce(value, getattr(ms[m], f))})
        elif key in top:
            top_changes[key] = _coerce(value, getattr(cfg, key))
        elif key in meta_fields:
            ms = {m: dataclasses.replace(c, **{key: _coerce(value, getattr(c, key))}) for m, c in ms.items()}
        else:
            raise ValueError(f"unknown parameter {key!r}; allowed: {', '.join(sorted(top | meta_fields))}, "
                             f"or <method>.<field>")
    new = dataclasses.replace(cfg, methods=ms, **top_changes)
    if new.digest() != cfg.digest():
        new = dataclasses.replace(new, name=f"{preset}-custom-{new.digest()}")
    return new


def _coerce(value: Any, like: Any) -> Any:
    """Lists from JSON/YAML become tuples where the field holds a tuple."""
    if isinstance(like, tuple) and isinstance(value, list):
        return tuple(value)
    return value
