"""Few-shot classification (Section 5.1): the Conv4 networks, N-way K-shot tasks, and the evaluation protocol.

Everything follows the book's Protocol page, book/protocol.md (the paper plus the authors' code):

* Networks (Finn et al.'s): Omniglot 4 x [conv 3x3, 64 filters, stride 2, 'same' -> batch norm -> ReLU] -> linear;
  Mini-ImageNet 4 x [conv 3x3, 32 filters, 'same' -> batch norm -> max-pool 2x2 ('same') -> ReLU] -> linear.
  Batch norm always normalises with the statistics of the current batch (``track_running_stats=False``); its scale
  and shift are meta-learned like every other parameter. What the authors' TensorFlow layers inherit is kept:
  'SAME' padding (extra row/column at the bottom/right), batch-norm epsilon 1e-3, Glorot-uniform kernels and zero
  biases, and the loss summed (not averaged) over the minibatch.
* A meta-training task picks ``n_way`` classes and ``train_shots`` images of each, labelled 0..N-1 in a random order.
* An evaluation task picks ``n_way`` classes and ``shots + 1`` images of each: ``shots`` to adapt on, one query.
* Prediction is non-transductive (each query classified in a batch of all training samples plus that query alone,
  so batch-norm statistics never mix queries) or transductive (all queries in one batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .core import MetaLearner
from .params import Params
from .tasks import Task
from .validate import DivergedError, check, is_int

DATASETS = ("omniglot", "miniimagenet")


# ---------------------------------------------------------------------------------------------------- networks


BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the authors' layers inherit (PyTorch's default is 1e-5)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding of one spatial dimension: the output has ``ceil(size / stride)`` entries and the
    padding needed for it is split with the extra entry at the end (bottom/right). For a 3x3 kernel with stride 2:
    28 -> 14, 14 -> 7 and 4 -> 2 pad (0, 1); 7 -> 4 pads (1, 1)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``tf.layers.conv2d(..., padding='same')``: pads as :func:`same_padding` says, then convolves unpadded.
    PyTorch's ``padding=1`` pads both sides always, which for stride 2 shifts the sampling grid by one pixel."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)

    def forward(self, x: Tensor) -> Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = same_padding(x.shape[-2], kh, sh)
        left, right = same_padding(x.shape[-1], kw, sw)
        return super().forward(F.pad(x, (left, right, top, bottom)))


def conv4(dataset: str, n_way: int) -> nn.Sequential:
    """The 4-layer convolutional network of Finn et al. for ``dataset``, with ``n_way`` outputs, built as the
    authors' TensorFlow layers are: 'same' padding, batch-norm epsilon 1e-3 (initialisation: :func:`glorot_init`)."""
    check(dataset in DATASETS, f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    check(isinstance(n_way, int) and not isinstance(n_way, bool) and n_way >= 2,
          f"n_way must be an integer >= 2, got {n_way!r}")
    layers: list[nn.Module] = []
    if dataset == "omniglot":  # 28x28x1 -> 14 -> 7 -> 4 -> 2: 2x2x64 = 256 features
        channels, width = (1, 64, 64, 64, 64), 2 * 2 * 64
        for i, o in zip(channels[:-1], channels[1:]):
            layers += [SameConv2d(i, o, 3, stride=2), nn.BatchNorm2d(o, eps=BN_EPS, track_running_stats=False),
                       nn.ReLU()]
    else:  # 84x84x3 -> 42 -> 21 -> 11 -> 6 ('same' pooling pads bottom/right, as ceil_mode does): 6x6x32 = 1152
        channels, width = (3, 32, 32, 32, 32), 6 * 6 * 32
        for i, o in zip(channels[:-1], channels[1:]):
            layers += [SameConv2d(i, o, 3), nn.BatchNorm2d(o, eps=BN_EPS, track_running_stats=False),
                       nn.MaxPool2d(2, ceil_mode=True), nn.ReLU()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width, n_way))


def glorot_init(module: nn.Module, generator: torch.Generator) -> None:
    """TensorFlow's defaults for ``tf.layers.conv2d``/``dense``/``batch_normalization``, in place: kernels
    Glorot-uniform, ``U(-l, l)`` with ``l = sqrt(6 / (fan_in + fan_out))`` (a conv's fans count its kernel area),
    biases 0, batch-norm scale 1 and shift 0. Draws come from ``generator`` in the module's parameter order."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = m.weight
                area = w[0, 0].numel()  # kernel height x width (1 for a dense layer)
                limit = math.sqrt(6.0 / ((w.shape[1] + w.shape[0]) * area))
                u = torch.rand(w.shape, generator=generator, dtype=torch.float64)
                w.copy_((2 * u - 1) * limit)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()


@dataclass
class FunctionalNet:
    """An ``nn.Module`` used as a pure function of a parameter vector (a tuple in ``named_parameters`` order)."""

    module: nn.Module

    def __post_init__(self) -> None:
        self.names = [n for n, _ in self.module.named_parameters()]
        check(not list(self.module.buffers()), "the network must hold no buffers (batch norm on batch statistics)")

    def init_params(self, generator: torch.Generator | int, device=None) -> Params:
        """TensorFlow's default initialisation (:func:`glorot_init`), drawn from ``generator`` (in the experiments,
        the run's ``init`` stream, :mod:`reptile.seeding`); an integer seeds a fresh generator."""
        if is_int(generator):
            generator = torch.Generator().manual_seed(generator)
        check(isinstance(generator, torch.Generator),
              f"init_params needs a torch.Generator or an integer seed, got {generator!r}")
        glorot_init(self.module, generator)
        return tuple(p.detach().clone().to(device) for p in self.module.parameters())

    def __call__(self, params: Params, x: Tensor) -> Tensor:
        return functional_call(self.module, dict(zip(self.names, params)), (x,))

    def loss(self, params: Params, batch: tuple[Tensor, Tensor]) -> Tensor:
        """The inner-loop loss ``L_tau``: cross-entropy **summed** over the minibatch, as the authors' ``minimize``
        of TensorFlow's per-example loss vector differentiates it (with Adam only epsilon's relative size depends
        on this; with plain SGD the step does)."""
        x, y = batch
        return F.cross_entropy(self(params, x), y, reduction="sum")


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

    def check(self, n_way: int, shots: int, name: str = "train_shots", queries: int = 0) -> None:
        """That ``n_way``-way tasks with ``shots`` images per class (setting ``name``), plus ``queries`` held-out
        images per class, fit this split; the error names the setting and its true allowed range."""
        check(is_int(n_way) and 2 <= n_way <= self.n_classes,
              f"n_way={n_way!r} does not fit: the split has {self.n_classes} classes; allowed: 2..{self.n_classes}")
        most = self.n_per_class - queries
        held = f" + {queries} query" if queries == 1 else (f" + {queries} queries" if queries else "")
        check(is_int(shots) and 1 <= shots <= most,
              f"{name}={shots!r} does not fit: a task takes {name}{held} images of each class, and a class of "
              f"this split holds {self.n_per_class}; allowed: {name} in 1..{most}")

    def pick(self, n_way: int, per_class: int, generator: torch.Generator) -> Tensor:
        """The random draw of a task: ``n_way`` distinct classes and, for each, ``per_class`` distinct images, as
        indices ``(n_way, per_class)`` into the flattened images (``class * images per class + image``), made on
        the host whatever the images' device (:meth:`gather` fetches them)."""
        classes = torch.randperm(self.n_classes, generator=generator)[:n_way]
        picks = torch.stack([torch.randperm(self.n_per_class, generator=generator)[:per_class] for _ in classes])
        return classes[:, None] * self.n_per_class + picks

    def gather(self, index: Tensor) -> Tensor:
        """The images at flat indices ``index`` (any shape, as :meth:`pick` gives them), ``(*index.shape, C, H, W)``."""
        if self.images.is_contiguous():
            return self.images.flatten(0, 1)[index]
        return self.images[index // self.n_per_class, index % self.n_per_class]

    @staticmethod
    def labels(n_way: int, per_class: int, device=None) -> Tensor:
        """The labels of a task drawn with ``per_class`` images of each class, ``(n_way, per_class)``: class ``i``
        is label ``i`` (the classes come in random order, so labels are remapped)."""
        return torch.arange(n_way, device=device)[:, None].expand(n_way, per_class)

    def _draw(self, n_way: int, per_class: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``(n_way, per_class, C, H, W)`` images of ``n_way`` distinct classes, distinct images within a class;
        class ``i`` of the result gets label ``i`` (the classes come in random order, so labels are remapped)."""
        x = self.gather(self.pick(n_way, per_class, generator))
        y = self.labels(n_way, per_class)
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
    sampler.check(n_way, shots, "shots", queries=1)
    check(is_int(eval_batch) and eval_batch >= 1, f"eval_batch must be an integer >= 1, got {eval_batch!r} (a batch "
          f"larger than a task's {n_way * shots} training samples holds them more than once, as the authors' code "
          f"does)")
    accs: dict[str, list[float]] = {"non_transductive": [], "transductive": []}
    for _ in range(n_tasks):
        task = sampler.eval_task(n_way, shots, generator, device)
        w = learner.adapt(task, eval_iters, eval_batch, generator)
        with torch.no_grad():
            for mode, trans in (("non_transductive", False), ("transductive", True)):
                logits = predict(net, w, task.x, task.query_x, trans)
                if not bool(torch.isfinite(logits).all()):
                    raise DivergedError(f"evaluation task {len(accs[mode]) + 1}: the adapted network's outputs are "
                                        f"not finite (NaN or inf); lower the inner step size (inner_lr)")
                accs[mode].append(float((logits.argmax(1) == task.query_y).float().mean()))
    return accs


def param_count(params: Params) -> int:
    return sum(p.numel() for p in params)


