"""Few-shot classification (Section 5.1): the Conv4 networks, N-way K-shot tasks, and the evaluation protocol.

Everything follows PROTOCOL.md (the paper plus the authors' code):

* Networks (Finn et al.'s): Omniglot 4 x [conv 3x3, 64 filters, stride 2, 'same' -> batch norm -> ReLU] -> linear;
  Mini-ImageNet 4 x [conv 3x3, 32 filters, 'same' -> batch norm -> max-pool 2x2 ('same') -> ReLU] -> linear.
  Batch norm always normalises with the statistics of the current batch (``track_running_stats=False``); its scale
  and shift are meta-learned like every other parameter.
* A meta-training task picks ``n_way`` classes and ``train_shots`` images of each, labelled 0..N-1 in a random order.
* An evaluation task picks ``n_way`` classes and ``shots + 1`` images of each: ``shots`` to adapt on, one query.
* Prediction is non-transductive (each query classified in a batch of all training samples plus that query alone,
  so batch-norm statistics never mix queries) or transductive (all queries in one batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .core import MetaLearner
from .params import Params
from .tasks import Task
from .validate import check

DATASETS = ("omniglot", "miniimagenet")


# ---------------------------------------------------------------------------------------------------- networks


def conv4(dataset: str, n_way: int) -> nn.Sequential:
    """The 4-layer convolutional network of Finn et al. for ``dataset``, with ``n_way`` outputs."""
    check(dataset in DATASETS, f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    check(isinstance(n_way, int) and n_way >= 2, f"n_way must be an integer >= 2, got {n_way!r}")
    layers: list[nn.Module] = []
    if dataset == "omniglot":  # 28x28x1 -> 14 -> 7 -> 4 -> 2: 2x2x64 = 256 features
        channels, width = (1, 64, 64, 64, 64), 2 * 2 * 64
        for i, o in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(i, o, 3, stride=2, padding=1), nn.BatchNorm2d(o, track_running_stats=False),
                       nn.ReLU()]
    else:  # 84x84x3 -> 42 -> 21 -> 11 -> 6 ('same' pooling rounds up): 6x6x32 = 1152 features
        channels, width = (3, 32, 32, 32, 32), 6 * 6 * 32
        for i, o in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o, track_running_stats=False),
                       nn.MaxPool2d(2, ceil_mode=True), nn.ReLU()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width, n_way))


@dataclass
class FunctionalNet:
    """An ``nn.Module`` used as a pure function of a parameter vector (a tuple in ``named_parameters`` order)."""

    module: nn.Module

    def __post_init__(self) -> None:
        self.names = [n for n, _ in self.module.named_parameters()]
        check(not list(self.module.buffers()), "the network must hold no buffers (batch norm on batch statistics)")

    def init_params(self, seed: int, device=None) -> Params:
        """PyTorch's default initialisation, drawn from a private generator seeded with ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for m in self.module.modules():
                if hasattr(m, "reset_parameters") and m is not self.module:
                    m.reset_parameters()
        return tuple(p.detach().clone().to(device) for p in self.module.parameters())

    def __call__(self, params: Params, x: Tensor) -> Tensor:
        return functional_call(self.module, dict(zip(self.names, params)), (x,))

    def loss(self, params: Params, batch: tuple[Tensor, Tensor]) -> Tensor:
        """Cross-entropy of the logits on the batch: the inner-loop loss ``L_tau``."""
        x, y = batch
        return F.cross_entropy(self(params, x), y)


# ------------------------------------------------------------------------------------------------------ tasks


def to_float(images: Tensor) -> Tensor:
    """uint8 images in [0, 255] to float32 in [0, 1]; float images pass through."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images.float()


@dataclass
class TaskSampler:
    """Samples N-way tasks from ``images`` of shape ``(classes, images per class, C, H, W)``."""

    images: Tensor

    @property
    def n_classes(self) -> int:
        return self.images.shape[0]

    @property
    def n_per_class(self) -> int:
        return self.images.shape[1]

    def check(self, n_way: int, per_class: int, what: str) -> None:
        check(isinstance(n_way, int) and 2 <= n_way <= self.n_classes,
              f"n_way={n_way!r} does not fit: the split has {self.n_classes} classes; allowed: 2..{self.n_classes}")
        check(isinstance(per_class, int) and 1 <= per_class <= self.n_per_class,
              f"{what} needs {per_class!r} images per class, but a class holds {self.n_per_class}; "
              f"allowed: 1..{self.n_per_class}")

    def _draw(self, n_way: int, per_class: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``(n_way, per_class, C, H, W)`` images of ``n_way`` distinct classes, distinct images within a class;
        class ``i`` of the result gets label ``i`` (the classes come in random order, so labels are remapped)."""
        classes = torch.randperm(self.n_classes, generator=generator)[:n_way]
        picks = torch.stack([torch.randperm(self.n_per_class, generator=generator)[:per_class] for _ in classes])
        x = self.images[classes[:, None], picks]
        y = torch.arange(n_way)[:, None].expand(n_way, per_class)
        return x, y

    def training_task(self, n_way: int, train_shots: int, generator: torch.Generator, device=None) -> Task:
        """A meta-training task: ``train_shots`` images of each of ``n_way`` classes."""
        x, y = self._draw(n_way, train_shots, generator)
        return Task(to_float(x.flatten(0, 1)).to(device), y.flatten().to(device))

    def eval_task(self, n_way: int, shots: int, generator: torch.Generator, device=None) -> Task:
        """An evaluation task: ``shots`` training images per class (``x``/``y``) and one query per class."""
        x, y = self._draw(n_way, shots + 1, generator)
        x, y = to_float(x).to(device), y.to(device)
        return Task(x[:, :shots].flatten(0, 1), y[:, :shots].flatten(), query_x=x[:, shots], query_y=y[:, shots])


# ------------------------------------------------------------------------------------------------- prediction


def predict(net: FunctionalNet, params: Params, train_x: Tensor, query_x: Tensor, transductive: bool) -> Tensor:
    """Logits of the queries after adaptation.

    Transductive: all queries in one batch, so they share batch-norm statistics. Non-transductive: each query in a
    batch made of all training samples plus that query alone (the authors' protocol), so its prediction depends on
    no other query.
    """
    if transductive:
        return net(params, query_x)
    n = len(train_x)
    batches = torch.cat([train_x.expand(len(query_x), *train_x.shape), query_x[:, None]], dim=1)
    return vmap(lambda b: net(params, b)[n])(batches)


def evaluate(learner: MetaLearner, net: FunctionalNet, sampler: TaskSampler, n_way: int, shots: int,
             eval_iters: int, eval_batch: int, n_tasks: int, generator: torch.Generator,
             device=None) -> dict[str, list[float]]:
    """Accuracy on ``n_tasks`` sampled tasks, non-transductive and transductive from the same adapted weights.

    Each task adapts a copy of ``phi`` with ``eval_iters`` steps of the inner optimiser (starting from a copy of its
    state: the learner's weights and optimiser state are untouched, the protocol's backup-and-restore).
    """
    sampler.check(n_way, shots + 1, f"a {shots}-shot evaluation task (shots + 1 query)")
    check(1 <= eval_batch <= n_way * shots,
          f"eval_batch={eval_batch} does not fit a task's {n_way * shots} training samples; allowed: 1..{n_way * shots}")
    accs: dict[str, list[float]] = {"non_transductive": [], "transductive": []}
    for _ in range(n_tasks):
        task = sampler.eval_task(n_way, shots, generator, device)
        w = learner.adapt(task, eval_iters, eval_batch, generator)
        with torch.no_grad():
            for mode, trans in (("non_transductive", False), ("transductive", True)):
                logits = predict(net, w, task.x, task.query_x, trans)
                accs[mode].append(float((logits.argmax(1) == task.query_y).float().mean()))
    return accs


def param_count(params: Params) -> int:
    return sum(p.numel() for p in params)


