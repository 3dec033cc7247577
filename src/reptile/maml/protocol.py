"""The two Omniglot protocols MAML runs under: Finn et al.'s (the rows the paper quotes) and Reptile's.

Finn et al.'s, read from their code (cbfinn/maml at a7f45f1) and paper (see the book's Protocol page,
section on Finn et al.'s protocol):

* **Split** (``data_generator.py``): the 1623 character folders of the merged ``omniglot_resized`` folder are listed
  with ``os.listdir`` (alphabets, then characters), shuffled after ``random.seed(1)``, and cut into 1100 training,
  100 validation and 423 test characters, ignoring alphabets. :func:`finn_split` does the same on the characters in
  the sorted order Reptile's loader uses. *Deviation:* ``os.listdir`` returns the file system's order, not a sorted
  one, so their exact character order (hence their exact split) cannot be rebuilt from the data; the split here is
  Python 3's ``random.Random(1).shuffle`` of the sorted list, which has their sizes, their seed and their procedure.
* **Images**: 28x28, ``/255``, inverted (strokes 1, background 0). Their ``resize_images.py`` asks PIL for LANCZOS,
  but PIL resizes a 1-bit (mode ``"1"``) image with nearest-neighbour sampling whatever filter is asked for, so their
  28x28 PNGs are the nearest-neighbour images Reptile's loader makes (:mod:`reptile.data.omniglot`), inverted here.
* **Rotations**: each class of each task (training AND test) is rotated by a random multiple of 90 degrees
  (``tf.multinomial`` over 4 equal logits per class, drawn afresh every time a task is used); rotations are not
  extra classes. :func:`draw_tasks` with ``rotate=True``.
* **Tasks**: ``N`` distinct characters, ``K`` support + ``K`` query distinct drawings of each (``random.sample``).
  Training tasks: 200,000 drawn once and cycled (``num_total_batches``); test tasks: 600, fixed (``random.seed(6)``
  before they are drawn, so every run meets the same ones). Here a run's training task ``j`` is the draw of the
  stream ``tasks`` keyed ``j mod pool`` (the same characters and drawings each time it comes round, fresh rotations),
  and the fixed test tasks come from the stream ``eval`` of the fixed seed (not theirs: their tasks cannot be rebuilt
  without their character order).
* **Network** (``maml.py``, ``utils.py``): :func:`finn_conv4`, 4 x [3x3 conv, 64 filters, stride 2, 'SAME', bias
  -> batch norm -> ReLU], the mean over the 2x2 spatial positions (64 features), a dense layer. Batch norm is
  ``tf.contrib.layers.batch_norm``'s defaults: an offset (beta) and no scale (gamma), epsilon 1e-3, always the
  statistics of the batch it is given. Initialisation (:class:`FinnNet`): conv kernels Glorot-uniform (
  ``xavier_initializer_conv2d``), conv biases 0, offsets 0, the dense kernel ``N(0, 1)`` (``tf.random_normal``),
  its bias 0.

Reptile's (the Protocol page, few-shot classification; :mod:`reptile.data.omniglot`): the split of the run's seed, 1200
training characters x 4 rotations as separate classes (4800), 423 unrotated test characters; images not inverted.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..fewshot import BN_EPS, FunctionalNet, SameConv2d, TaskSampler, conv4, to_float
from ..params import Params
from ..validate import check, is_int
from .algorithm import TaskBatch

FINN_SPLIT_SEED = 1  # random.seed(1) before the shuffle of the character folders
FINN_SIZES = (1100, 100, 423)  # training, validation, test characters (num_train 1200 - num_val 100; the rest)
FINN_TRAIN_TASKS = 200_000  # training tasks drawn once, then cycled (num_total_batches)
FINN_TEST_TASKS = 600  # NUM_TEST_POINTS
FINN_TEST_SEED = 6  # random.seed(6) before the test tasks are drawn: the same test tasks for every run
N_ROTATIONS = 4  # multiples of 90 degrees


# ---------------------------------------------------------------------------------------------- Finn's network


class OffsetBatchNorm2d(nn.BatchNorm2d):
    """``tf.contrib.layers.batch_norm`` with its defaults, as Finn's ``normalize`` calls it: ``center=True`` (a
    learned offset, ``bias`` here), ``scale=False`` (no gamma), epsilon 1e-3, always the batch's own statistics.
    A ``BatchNorm2d`` (so :func:`reptile.maml.inner_mask` knows its offset as batch norm's) whose ``weight`` is None."""

    def __init__(self, channels: int, eps: float = BN_EPS):
        super().__init__(channels, eps=eps, affine=True, track_running_stats=False)
        del self.weight
        self.register_parameter("weight", None)

    def forward(self, x: Tensor) -> Tensor:
        # a scale of ones, not None: autograd's double backward of batch norm with no scale fails (PyTorch 2.x), and
        # second-order MAML that adapts the offset (adapt_norm) differentiates it twice
        ones = torch.ones_like(self.bias)
        return F.batch_norm(x, None, None, ones, self.bias, True, 0.0, self.eps)


class SpatialMean(nn.Module):
    """``tf.reduce_mean(hidden4, [1, 2])``: the mean over the spatial positions, ``(B, C, H, W) -> (B, C)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(-2, -1))


def finn_conv4(n_way: int) -> nn.Sequential:
    """Finn et al.'s Omniglot network: 4 x [SameConv2d 3x3 stride 2 (bias) -> :class:`OffsetBatchNorm2d` -> ReLU]
    (28 -> 14 -> 7 -> 4 -> 2), :class:`SpatialMean` (64 features), ``Linear(64, n_way)``."""
    check(is_int(n_way) and n_way >= 2, f"n_way must be an integer >= 2, got {n_way!r}")
    layers: list[nn.Module] = []
    for i, o in zip((1, 64, 64, 64), (64, 64, 64, 64)):
        layers += [SameConv2d(i, o, 3, stride=2), OffsetBatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(*layers, SpatialMean(), nn.Linear(64, n_way))


class FinnNet(FunctionalNet):
    """A :class:`reptile.fewshot.FunctionalNet` with Finn's initialisation (:meth:`init_params`)."""

    def init_params(self, generator: torch.Generator | int, device=None) -> Params:
        """Conv kernels Glorot-uniform ``U(-l, l)``, ``l = sqrt(6 / ((in + out) * 9))``; conv biases 0; batch-norm
        offsets 0; the dense kernel ``N(0, 1)``, its bias 0. Drawn from ``generator`` in the module's order."""
        if is_int(generator):
            generator = torch.Generator().manual_seed(generator)
        check(isinstance(generator, torch.Generator),
              f"init_params needs a torch.Generator or an integer seed, got {generator!r}")
        with torch.no_grad():
            for m in self.module.modules():
                if isinstance(m, nn.Conv2d):
                    out_c, in_c, kh, kw = m.weight.shape
                    limit = math.sqrt(6.0 / ((in_c + out_c) * kh * kw))
                    u = torch.rand(m.weight.shape, generator=generator, dtype=torch.float64)
                    m.weight.copy_((2 * u - 1) * limit)
                    m.bias.zero_()
                elif isinstance(m, OffsetBatchNorm2d):
                    m.bias.zero_()
                elif isinstance(m, nn.Linear):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=generator, dtype=torch.float64))
                    m.bias.zero_()
        return tuple(p.detach().clone().to(device) for p in self.module.parameters())


NETWORKS = ("finn", "reptile")


def build_net(network: str, n_way: int) -> FunctionalNet:
    """``"finn"``: :func:`finn_conv4` with :class:`FinnNet`'s initialisation; ``"reptile"``: the Conv4 of Reptile's
    presets (:func:`reptile.fewshot.conv4`: flatten to 256 features, batch norm with scale and shift, Glorot dense)."""
    check(network in NETWORKS, f"unknown network {network!r}; allowed: {', '.join(NETWORKS)}")
    if network == "finn":
        return FinnNet(finn_conv4(n_way))
    return FunctionalNet(conv4("omniglot", n_way))


# --------------------------------------------------------------------------------------------------- the data


def finn_split(n_characters: int, seed: int = FINN_SPLIT_SEED,
               sizes: tuple[int, int, int] = FINN_SIZES) -> tuple[list[int], list[int], list[int]]:
    """Indices of Finn's training, validation and test characters among ``n_characters`` listed in a fixed order:
    ``random.seed(seed); random.shuffle(folders)`` (Python 3's shuffle), then the first ``sizes[0]`` train, the next
    ``sizes[1]`` validation, the rest test (``sizes[2]`` of them)."""
    check(is_int(seed) and seed >= 0, f"seed must be an integer >= 0, got {seed!r}")
    check(is_int(n_characters) and n_characters == sum(sizes),
          f"Finn's split needs {sum(sizes)} characters ({' + '.join(map(str, sizes))}), got {n_characters!r}")
    order = list(range(n_characters))
    random.Random(seed).shuffle(order)
    a, b = sizes[0], sizes[0] + sizes[1]
    return order[:a], order[a:b], order[b:]


@dataclass(frozen=True, eq=False)
class ProtocolData:
    """The classes a protocol's tasks are drawn from, ``uint8`` ``(classes, 20, 1, 28, 28)`` each; ``val`` is None
    where the protocol has no validation split. ``rotate``: whether every task rotates each class by a random
    multiple of 90 degrees (Finn's); ``info``: what the split is, for the record."""

    protocol: str
    train: Tensor
    val: Tensor | None
    test: Tensor
    rotate: bool
    info: dict[str, Any] = field(default_factory=dict)


def load_finn_omniglot(root=None, cache_dir=None, split_seed: int = FINN_SPLIT_SEED) -> ProtocolData:
    """Finn's Omniglot: 1100 / 100 / 423 characters (:func:`finn_split`), unrotated, inverted (ink 255)."""
    from ..data.omniglot import load_characters

    images, ids, _, _, _ = load_characters(root, cache_dir)
    images = 255 - images  # their `image = 1.0 - image  # invert`: strokes 1, background 0
    tr, va, te = finn_split(len(ids), split_seed)
    info = {"split": "finn", "split_seed": split_seed, "characters": [len(tr), len(va), len(te)],
            "order": "sorted (alphabet, character) before the shuffle; Finn's os.listdir order is not reproducible",
            "first_test_characters": [ids[i] for i in te[:5]], "inverted": True,
            "rotations": "a random multiple of 90 degrees per class per task, training and test"}
    return ProtocolData("finn", images[tr].contiguous(), images[va].contiguous(), images[te].contiguous(), True, info)


def load_reptile_omniglot(split_seed: int, root=None, cache_dir=None) -> ProtocolData:
    """Reptile's Omniglot (:func:`reptile.data.omniglot.load_omniglot`): the split of ``split_seed``, 1200 training
    characters x 4 rotations as classes, 423 unrotated test characters, not inverted."""
    from ..data.omniglot import load_omniglot

    d = load_omniglot(root, split_seed=split_seed, cache_dir=cache_dir)
    info = {"split": "reptile", "split_seed": split_seed, "classes": [d.train.images.shape[0], 0,
                                                                      d.test.images.shape[0]],
            "first_test_characters": list(d.test.class_ids[:5]), "inverted": False,
            "rotations": "training characters x 0/90/180/270 as separate classes; test unrotated"}
    return ProtocolData("reptile", d.train.images, None, d.test.images, False, info)


# -------------------------------------------------------------------------------------------------- the tasks


def draw_tasks(images: Tensor, n_way: int, shots: int, queries: int, pickers: list[torch.Generator],
               rotations: torch.Generator | None, device=None) -> TaskBatch:
    """One task per generator of ``pickers`` from the classes ``images`` ``(classes, drawings, 1, H, W)``: ``n_way``
    distinct classes, ``shots + queries`` distinct drawings of each (:meth:`TaskSampler.pick`), labels ``0..N-1``
    in the random class order; the first ``shots`` drawings of a class are its support, the rest its queries.
    ``rotations`` (a generator, or None for none): each class of each task is rotated counter-clockwise by
    ``90 * r`` degrees, ``r`` uniform in 0..3, support and queries alike (Finn's protocol)."""
    sampler = TaskSampler(images)
    sampler.check(n_way, shots, "shots", queries=queries)
    x = torch.stack([sampler.gather(sampler.pick(n_way, shots + queries, g)) for g in pickers])  # (n, N, S, 1, H, W)
    if rotations is not None:
        r = torch.randint(0, N_ROTATIONS, (len(pickers), n_way), generator=rotations)
        for k in range(1, N_ROTATIONS):
            sel = r == k
            if bool(sel.any()):
                x[sel] = torch.rot90(x[sel], k, dims=(-2, -1))
    y = TaskSampler.labels(n_way, shots + queries).expand(len(pickers), -1, -1)
    x, y = to_float(x).to(device), y.to(device)
    return TaskBatch(x[:, :, :shots].flatten(1, 2), y[:, :, :shots].flatten(1),
                     x[:, :, shots:].flatten(1, 2), y[:, :, shots:].flatten(1))


__all__ = ["FINN_SIZES", "FINN_SPLIT_SEED", "FINN_TEST_SEED", "FINN_TEST_TASKS", "FINN_TRAIN_TASKS", "FinnNet",
           "NETWORKS", "OffsetBatchNorm2d", "ProtocolData", "SpatialMean", "build_net", "draw_tasks", "finn_conv4",
           "finn_split", "load_finn_omniglot", "load_reptile_omniglot"]
