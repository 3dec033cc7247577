"""Tasks and inner-loop minibatches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor


@dataclass
class Task:
    """One task: its training samples, and optionally a held-out query set.

    ``x``/``y`` are what the inner loop trains on. ``query_x``/``query_y`` are where MAML and first-order MAML
    evaluate the adapted weights; when absent, those algorithms use the training samples.
    """

    x: Tensor
    y: Tensor
    query_x: Tensor | None = None
    query_y: Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"task has {len(self.x)} inputs but {len(self.y)} targets")

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        return self.x[idx], self.y[idx]

    def query(self) -> tuple[Tensor, Tensor]:
        if self.query_x is None:
            return self.x, self.y
        return self.query_x, self.query_y


def minibatch_indices(n: int, batch_size: int, num_batches: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Indices of ``num_batches`` minibatches of ``batch_size`` samples drawn from ``n`` without replacement.

    The samples are shuffled, cut into consecutive batches, and shuffled again when an epoch runs out; a batch may
    straddle two epochs (the authors' ``_mini_batches``). No sample repeats within an epoch. A batch larger than
    ``n`` spans several epochs, so it holds samples more than once, as the authors' code does (their command for
    Table 5's transductive Omniglot cell evaluates 1-shot 5-way tasks with batches of 25: each image five times);
    the configurations bound the training batch by a task's samples themselves.
    """
    if batch_size < 1:
        raise ValueError(f"inner batch size {batch_size} must be >= 1 (the task holds {n} samples)")
    if num_batches < 0:
        raise ValueError(f"number of minibatches must be >= 0, got {num_batches}")
    stream: list[Tensor] = []
    have = 0
    for _ in range(num_batches):
        while have < batch_size:
            perm = torch.randperm(n, generator=generator)
            stream.append(perm)
            have += n
        flat = torch.cat(stream)
        yield flat[:batch_size]
        rest = flat[batch_size:]
        stream, have = [rest], len(rest)
