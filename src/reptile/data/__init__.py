"""The data: where it lives and is cached (:mod:`.datasets`: the data root ``$REPTILE_DATA``, the cache root, the
few-shot split container and the errors a missing or damaged file raises), and the loaders of the two few-shot
benchmarks, :mod:`.omniglot` and :mod:`.miniimagenet` (whose class lists are ``splits/miniimagenet/*.csv``). It imports
only the bottom floor (:mod:`reptile.results`, :mod:`reptile.validate`).
"""
