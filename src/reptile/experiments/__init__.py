"""The paper's experiments, one module per chapter: each configures its runs from :mod:`reptile.config`'s presets,
computes them with the bottom floor (and, for the few-shot ones, :mod:`reptile.engine` and :mod:`reptile.data`),
stores one record per seed under ``results/`` and has a command line (``python -m reptile.experiments.<name>``).

* :mod:`.sine`       Section 3, Figure 1: every method on the sine-wave tasks
* :mod:`.taylor`     Section 4.1: the leading-order meta-gradients checked on sampled tasks
* :mod:`.manifolds`  Section 4.2, Figure 2: Reptile on tasks with known solution manifolds
* :mod:`.fewshot`    Section 5.1, Tables 1 and 2: Omniglot and Mini-ImageNet runs (solo or as a population)
* :mod:`.gradcomb`   Section 5.2, Figure 3: the ten inner-gradient combinations

The notebooks in ``book/`` call their ``load_or_run``; the figures and tables are :mod:`reptile.artifacts`'.
"""
