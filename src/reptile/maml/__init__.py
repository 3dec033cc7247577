"""MAML and first-order MAML (Finn, Abbeel & Levine 2017): the algorithm (:mod:`reptile.maml.algorithm`), Finn et
al.'s Omniglot protocol and network (:mod:`reptile.maml.protocol`), the meta-gradient on the engine's network with
the second order by hand (:mod:`reptile.maml.population`), and the experiments that run MAML under their
protocol and under Reptile's (:mod:`reptile.maml.experiment`, ``python -m reptile.maml.experiment``).

``from reptile.maml import MAMLConfig, meta_gradient, ...`` gives the algorithm's public names, as when it was one
module."""

from .algorithm import (LOSS_SCALES, PATHS, MAMLConfig, MAMLLearner, TaskBatch, evaluate_task, inner_adapt, inner_mask,
                        meta_gradient, resolve_device, sample_tasks, task_loss)

__all__ = ["LOSS_SCALES", "MAMLConfig", "MAMLLearner", "PATHS", "TaskBatch", "evaluate_task", "inner_adapt", "inner_mask",
           "meta_gradient", "resolve_device", "sample_tasks", "task_loss"]
