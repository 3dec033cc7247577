"""Every random stream of a run, derived in one place from the run's seed.

A run of seed ``s`` draws its randomness from named, independent streams:

==========  ===================================================================================
``init``    the network's initial weights
``tasks``   the meta-training tasks (which classes, which images; which sine waves)
``inner``   the inner loop's minibatch shuffles during meta-training
``curve``   the tasks of the learning curve (one sub-stream per curve point, see ``key``)
``eval``    the final evaluation: its tasks and the shuffles of their fine-tuning
==========  ===================================================================================

Each stream's generator is seeded from ``numpy.random.SeedSequence(s, spawn_key=(stream id, *key))``, the standard
way of deriving statistically independent streams from one seed: no two streams share a state (as the task sampler
and the minibatch shuffler did when both were seeded with ``s``), and adding a stream never changes another.

The Omniglot character split is the one exception: it is drawn with Python's ``random.Random(s)``, exactly as the
authors' ``random.seed(args.seed)`` before ``split_dataset`` does (see :func:`reptile.data.omniglot.split_characters`).
"""

from __future__ import annotations

import numpy as np
import torch

from .validate import is_int

STREAMS = ("init", "tasks", "inner", "curve", "eval")


def stream_seed(seed: int, stream: str, *key: int) -> int:
    """The 64-bit seed of ``stream`` (one of :data:`STREAMS`) for the run of ``seed``; ``key`` picks a sub-stream
    (for example the iteration of a learning-curve point)."""
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; allowed: {', '.join(STREAMS)}")
    if not all(is_int(k) and k >= 0 for k in key):
        raise ValueError(f"a sub-stream key must be integers >= 0, got {key!r}")
    seq = np.random.SeedSequence(seed, spawn_key=(STREAMS.index(stream), *key))
    return int(seq.generate_state(1, np.uint64)[0])


def generator(seed: int, stream: str, *key: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` for ``stream`` of the run of ``seed`` (see :func:`stream_seed`)."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, stream, *key))


def deterministic(device: torch.device) -> None:
    """Make a run on ``device`` repeatable and float32 what it says: on CUDA, cuDNN picks deterministic convolution
    algorithms (and no benchmarking, which may pick different ones from run to run), and convolutions and matrix
    multiplies keep float32's precision (PyTorch lets cuDNN's convolutions use TF32, a 10-bit mantissa, on GPUs
    since Ampere unless told otherwise; the engine's batched products never did). The CPU needs nothing."""
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
