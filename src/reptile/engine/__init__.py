"""The engine: what makes the paper's budget affordable, kept apart from :mod:`reptile.core`, which reads like the
paper.

* :mod:`.network`     the Omniglot Conv4 for a population of weight vectors, with a hand-written backward pass;
* :mod:`.population`  S independent runs of one few-shot cell trained in lockstep, each giving its solo numbers;
* :mod:`.graphs`      on a GPU, the population's outer iteration recorded once as a CUDA graph and replayed;
* :mod:`.evaluation`  many test tasks adapted at once, with the predictions of one at a time;
* :mod:`.trainer`     the population's outer loop: curves, progress bar, checkpoints, resume;
* :mod:`.threads`     thread counts that never oversubscribe the cores;
* :mod:`.memory`      keeping freed memory in the process (no page faults every step);
* :mod:`.reference`   a plain ``nn.Module`` + ``torch.optim.Adam`` Reptile, the benchmark's baseline;
* :mod:`.tf_harness`  timing the authors' TensorFlow code (:mod:`.authors_tf`, run in its own environment).

The benchmark is ``python -m reptile.bench``.
"""
