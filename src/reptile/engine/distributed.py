"""Several processes: the seeds of a population and the tasks of its evaluation split across the ranks of
``torchrun``.

    torchrun --nproc_per_node 2 -m reptile.experiments.fewshot --preset ci --seeds 0 1 2

Under ``torchrun`` (which sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous address), :func:`init`
joins the ranks in one process group: NCCL when the run is on CUDA, gloo on the CPU. Without it, everything here is
the identity of one process, and nothing is initialised.

How :func:`reptile.experiments.fewshot.run_population` uses the ranks:

* training: rank ``r`` of ``world`` trains the seeds ``seeds[r::world]`` (:func:`members_of`) as a population of its
  own, with its own checkpoint; the members are independent, so the ranks do not talk while they train;
* then every rank receives every member's meta-parameters and inner Adam state (:func:`all_gather_objects`);
* the final evaluation shares its chunks of test tasks among the ranks
  (:func:`reptile.engine.evaluation.evaluate`'s ``share``), and every rank ends with every accuracy;
* rank 0 writes the results.

On CUDA, rank ``r`` runs on ``cuda:LOCAL_RANK`` (:func:`device_of`). A rank that finishes its seeds early waits
for the others at the gather, so the process group is given a long :data:`TIMEOUT`; if a rank fails, ``torchrun``
stops the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")
TIMEOUT = timedelta(days=7)  # how long a rank waits for the others at a collective (the slowest rank's training)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: ``rank`` of ``world`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def share(self) -> tuple[int, int]:
        """``(rank, world)``, as :func:`reptile.engine.evaluation.evaluate` takes it."""
        return self.rank, self.world


def launched() -> bool:
    """Whether this process is one of several started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def ranks() -> Ranks:
    """This process's :class:`Ranks`: those of the process group if one is initialised, else ``Ranks(0, 1, 0)``."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def backend(device: str | torch.device = "auto") -> str:
    """``"nccl"`` when the run is on CUDA (``device`` ``"auto"`` with CUDA present, or a ``cuda`` device), else
    ``"gloo"``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "nccl" if torch.device(device).type == "cuda" and torch.cuda.is_available() else "gloo"


def init(device: str | torch.device = "auto") -> Ranks:
    """Join the process group of ``torchrun`` (once; later calls return the same :class:`Ranks`) and return this
    process's ranks. In one process (no ``torchrun``, or ``--nproc_per_node 1``): ``Ranks(0, 1, 0)``, and no
    process group. The backend is :func:`backend` of ``device``; with NCCL, this process's GPU is set to
    ``cuda:LOCAL_RANK``."""
    if dist.is_available() and dist.is_initialized():
        return ranks()
    if not launched():
        return Ranks()
    if not dist.is_available():
        raise RuntimeError("this PyTorch was built without torch.distributed; run one process (no torchrun)")
    name = backend(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(name, timeout=TIMEOUT)
    return ranks()


def close() -> None:
    """Leave the process group, if one was initialised (the end of a ``torchrun`` program)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device_of(device: torch.device, r: Ranks | None = None) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` for a CUDA run of several processes, else ``device``."""
    r = r or ranks()
    if r.world > 1 and torch.device(device).type == "cuda":
        return torch.device("cuda", r.local_rank)
    return torch.device(device)


def members_of(rank: int, world: int, seeds: Sequence[T]) -> list[T]:
    """The seeds rank ``rank`` of ``world`` trains: ``seeds[rank::world]``, every ``world``-th seed from the
    ``rank``-th, so the ranks' shares differ by at most one seed (seeds 0 1 2 on 2 ranks: 0 2 and 1). A rank has
    none when there are fewer seeds than ranks."""
    if not (0 <= rank < world):
        raise ValueError(f"rank must be in 0..{world - 1}, got {rank!r}")
    return list(seeds[rank::world])


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (any picklable object), a list in rank order, on every rank; ``[obj]`` in one
    process. Tensors travel pickled: pass CPU tensors (a CUDA tensor would arrive on the sender's device)."""
    r = ranks()
    if r.world == 1:
        return [obj]
    out: list[Any] = [None] * r.world
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait until every rank is here (nothing in one process)."""
    if ranks().world > 1:
        dist.barrier()


def split_text(seeds: Sequence[Any], world: int) -> str:
    """How ``seeds`` are split among ``world`` ranks (:func:`members_of`), for messages:
    ``"rank 0: seeds 0 2; rank 1: seed 1"`` (a rank without seeds: ``"rank 2: none"``)."""
    parts = []
    for r in range(world):
        mine = members_of(r, world, seeds)
        parts.append(f"rank {r}: " + (f"seed{'s' if len(mine) > 1 else ''} {' '.join(map(str, mine))}" if mine
                                      else "none"))
    return "; ".join(parts)
