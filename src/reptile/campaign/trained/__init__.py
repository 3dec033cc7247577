"""The meta-trained networks of finished paper-budget runs, kept beside their records.

A finished campaign population leaves ``results/<experiment>/<name>/trained-seeds<0-1-2>.pt`` beside its results
JSONs. With it a reader can take a seed's meta-learned initialisation as a ``torch.nn.Module`` (:func:`module`) and
evaluate it again on the final evaluation's own tasks (:func:`evaluate`), with the stored settings (the record's
accuracies again) or others::

    from reptile.campaign import trained
    net = trained.module("omniglot-5shot-5way", seed=0)
    acc = trained.evaluate("omniglot-5shot-5way", seed=0, n_tasks=500, eval_iters=100)

The subpackage, from the bottom: :mod:`.state` (the file, one seed's network, evaluating it again),
:mod:`.batch_check` (a recorded evaluation-batch check), :mod:`.cli` (``python -m reptile.campaign.trained``); this
module re-exports their public names. To replace one of them in a test, patch the module that defines it
(``reptile.campaign.trained.state.evaluate``).
"""

from .batch_check import CHECK_PREFIX, DIGITS, check_path, read_check, record_eval_batches  # noqa: F401
from .cli import PROG, experiments, from_git, known_names, main  # noqa: F401
from .state import (FORMAT, Trained, check_tasks, evaluate, final_tasks, find, kind_of, load, member,  # noqa: F401
                    module, save, trained_path)
