"""The engine: what makes the paper's budget affordable, kept apart from :mod:`reptile.core`, which reads like the
paper.

* :mod:`.network`     the Omniglot Conv4 for a population of weight vectors, with a hand-written backward pass;
* :mod:`.population`  S independent runs of one few-shot cell trained in lockstep, each giving its solo numbers;
* :mod:`.graphs`      on a GPU, the population's outer iteration recorded once as a CUDA graph and replayed;
* :mod:`.evaluation`  many test tasks adapted at once, with the predictions of one at a time;
* :mod:`.trainer`     the population's outer loop: curves, progress bar, checkpoints, resume;
* :mod:`.memory`      keeping freed memory in the process (no page faults every step);
* :mod:`.fused`       the fused C kernels (``fused.c``, compiled on first use) the network calls on a CPU;
* :mod:`.distributed` ``torchrun`` ranks: a population's seeds split across processes, gathered on rank 0.

The engine imports the bottom floor (:mod:`reptile.fewshot`, :mod:`reptile.config`, :mod:`reptile.train`'s checkpoint
format, ...) and :mod:`reptile.data`'s cache root, nothing above it. Thread counts are :mod:`reptile.threads`. The
benchmark, with its baselines (the plain-PyTorch reference, the authors' TensorFlow code), is :mod:`reptile.bench`
(``python -m reptile.bench``).
"""
