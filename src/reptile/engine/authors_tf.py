"""Time the authors' own TensorFlow Reptile (openai/supervised-reptile, MIT licence) on Omniglot-shaped data.

A standalone script, run by the TensorFlow environment (``make tf-env`` builds ``.venv-tf``), never imported by the
project: at module level it imports only the standard library, numpy and TensorFlow. The project side is
:func:`reptile.engine.tf_harness.time_authors_code`, which runs it and reads its output. By hand::

    OMP_NUM_THREADS=1 .venv-tf/bin/python src/reptile/engine/authors_tf.py \\
        --authors-code /tmp/supervised-reptile --setting 1shot-5way --seconds 20

``--authors-code`` is a checkout of the authors' repository (the folder holding ``supervised_reptile/``). Their
package is imported unchanged, and the timed calls are theirs, built as their ``run_omniglot.py`` and ``train.py``
build them: ``OmniglotModel(num_classes, learning_rate=...)`` (Adam with beta1 = 0, their ``DEFAULT_OPTIMIZER``),
``Reptile(sess, transductive=False, pre_step_op=weight_decay(1))`` (their ``train()`` passes the weight-decay op
with its default rate 1, which runs before every inner step), ``Reptile.train_step`` and ``Reptile.evaluate``
(non-transductive, their default). Hyper-parameters are those of the project's presets ``omniglot-1shot-5way`` and
``omniglot-5shot-5way`` (:data:`SETTINGS`; ``tests/test_bench_reference.py`` checks they equal
``reptile.config.FEWSHOT_PRESETS``); each can be overridden by a flag (the harness passes the presets' values).

What is patched for TensorFlow 2 (nothing in the authors' files is edited):

1. ``TF_USE_LEGACY_KERAS=1`` (set before TensorFlow is imported, needs the ``tf-keras`` package), so that
   ``tf.compat.v1.layers.conv2d``/``batch_normalization``/``dense`` exist (Keras 3 dropped them).
2. ``tf.compat.v1.disable_v2_behavior()``: graph mode, placeholders and sessions, as in TensorFlow 1.
3. While the authors' modules are imported, ``sys.modules["tensorflow"]`` is ``tf.compat.v1``, so their
   ``import tensorflow as tf`` binds the TensorFlow 1 API (``tf.placeholder``, ``tf.layers``,
   ``tf.train.AdamOptimizer``, ``tf.assign``, ...). It is restored right after.

The data: their ``train_step``/``evaluate`` take a sequence of character classes, each with a ``sample(n)`` method
returning ``n`` distinct 28x28 float32 arrays. :class:`SyntheticCharacter` is that interface in memory: random
binary (0/1, as Omniglot's 1-bit PNGs read) images, 20 per class drawn from a shared pool of 4,000; 4800 training
classes (1200 characters x 4 rotations) and 423 test classes, the sizes of the real split, since their task sampler
shuffles a copy of the whole class list for every task. Their ``Character.sample`` also calls ``os.listdir`` on
the character's folder each time (the images themselves are cached after the first read); that file-system call is
the only work of theirs left out.

Output: ONE JSON line on stdout, with ``seconds_per_outer_iter``, ``run_steps_per_s`` (inner optimiser steps of
one run per second: outer iterations x meta-batch x inner iterations / seconds), ``seconds_per_eval_task``,
``eval_tasks_per_s``, ``tensorflow`` (its version) and the settings used. Diagnostics go to stderr. Exit codes: 0
done; 2 bad arguments; 3 TensorFlow (or tf-keras) could not be imported; 4 the authors' code could not be found or
imported.
"""

import argparse
import importlib
import json
import os
import random
import sys
import time

# Before TensorFlow is imported: its legacy Keras (tf.compat.v1.layers), quiet C++ logs, one thread unless told.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

EXIT_NO_TF, EXIT_NO_AUTHORS = 3, 4  # tf_harness.py reads these

try:
    import tensorflow as tf
except Exception as exc:  # ImportError, or a broken install raising something else
    sys.stderr.write(f"authors_tf: TensorFlow could not be imported under {sys.executable}: {exc!r}\n"
                     "Create the environment with `make tf-env` (TensorFlow 2.21 CPU and tf-keras in .venv-tf).\n")
    sys.exit(EXIT_NO_TF)

# The project's presets (reptile.config.FEWSHOT_PRESETS) in the authors' flag names.
SETTINGS = {
    "1shot-5way": {"preset": "omniglot-1shot-5way", "classes": 5, "shots": 1, "train_shots": 12,
                   "inner_batch": 5, "inner_iters": 12, "learning_rate": 4.4e-4, "meta_step": 1.0,
                   "meta_batch": 3, "eval_batch": 5, "eval_iters": 86},
    "5shot-5way": {"preset": "omniglot-5shot-5way", "classes": 5, "shots": 5, "train_shots": 10,
                   "inner_batch": 10, "inner_iters": 5, "learning_rate": 1.5e-3, "meta_step": 0.7,
                   "meta_batch": 5, "eval_batch": 6, "eval_iters": 100},
}
HYPER = ("classes", "shots", "train_shots", "inner_batch", "inner_iters", "learning_rate", "meta_step",
         "meta_batch", "eval_batch", "eval_iters")

TRAIN_CLASSES, TEST_CLASSES, PER_CLASS = 4800, 423, 20  # Omniglot: 1200 x 4 rotations, 423, 20 drawings each


class SyntheticCharacter:
    """One character class in memory, with the interface of the authors' ``omniglot.Character``: ``sample(n)``
    returns ``n`` of its images in a random order, drawn with Python's ``random`` as theirs are."""

    def __init__(self, images):
        self._names = list(range(len(images)))
        self._images = images

    def sample(self, num_images):
        names = list(self._names)
        random.shuffle(names)
        return [self._images[i] for i in names[:num_images]]


def synthetic_dataset(n_classes, rng, pool_size=4000, per_class=PER_CLASS):
    """``n_classes`` characters of ``per_class`` random binary 28x28 float32 images, each class drawing its images
    from a shared pool of ``pool_size`` (the content does not change the cost of a step; distinct arrays for all
    96,000 training images would take 300 MB)."""
    pool = rng.integers(0, 2, size=(pool_size, 28, 28), dtype=np.uint8).astype(np.float32)
    return [SyntheticCharacter([pool[i] for i in rng.choice(pool_size, per_class, replace=False)])
            for _ in range(n_classes)]


def import_authors(path):
    """The authors' modules (``models``, ``reptile``, ``variables``), imported with ``import tensorflow as tf``
    bound to ``tf.compat.v1``."""
    if not os.path.isfile(os.path.join(path, "supervised_reptile", "reptile.py")):
        raise FileNotFoundError(f"no supervised_reptile/reptile.py under {path!r}")
    sys.path.insert(0, os.path.abspath(path))
    saved = sys.modules["tensorflow"]
    sys.modules["tensorflow"] = tf.compat.v1
    try:
        return {name: importlib.import_module(f"supervised_reptile.{name}") for name in ("variables", "reptile",
                                                                                          "models")}
    finally:
        sys.modules["tensorflow"] = saved


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors-code", required=True, help="folder holding the authors' supervised_reptile/")
    p.add_argument("--setting", required=True, choices=sorted(SETTINGS))
    p.add_argument("--seconds", type=float, default=20.0, help="time train_step for about this long")
    p.add_argument("--eval-seconds", type=float, default=None,
                   help="time evaluate for about this long (default: half of --seconds, at least 1)")
    p.add_argument("--min-eval-tasks", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2, help="untimed outer iterations (and one evaluation) first")
    p.add_argument("--threads", type=int, default=1, help="TensorFlow intra- and inter-op threads")
    p.add_argument("--seed", type=int, default=0)
    for name in HYPER:
        kind = float if name in ("learning_rate", "meta_step") else int
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                       help=f"override the setting's {name}")
    args = p.parse_args(argv)
    if args.seconds <= 0 or (args.eval_seconds is not None and args.eval_seconds <= 0):
        p.error("--seconds and --eval-seconds must be > 0")
    if args.min_eval_tasks < 1 or args.warmup < 0 or args.threads < 1:
        p.error("--min-eval-tasks and --threads must be >= 1, --warmup >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    hp = dict(SETTINGS[args.setting])
    for name in HYPER:
        if getattr(args, name) is not None:
            hp[name] = getattr(args, name)
    try:
        authors = import_authors(args.authors_code)
    except Exception as exc:
        sys.stderr.write(f"authors_tf: the authors' code could not be imported from {args.authors_code!r}: "
                         f"{exc!r}\nGet it with: git clone https://github.com/openai/supervised-reptile "
                         f"{args.authors_code}\n")
        return EXIT_NO_AUTHORS

    tf1 = tf.compat.v1
    tf1.disable_v2_behavior()
    tf1.get_logger().setLevel("ERROR")
    random.seed(args.seed)
    np.random.seed(args.seed)
    tf1.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_set = synthetic_dataset(TRAIN_CLASSES, rng)
    test_set = synthetic_dataset(TEST_CLASSES, rng)

    model = authors["models"].OmniglotModel(hp["classes"], learning_rate=hp["learning_rate"])
    config = tf1.ConfigProto(intra_op_parallelism_threads=args.threads,
                             inter_op_parallelism_threads=args.threads)
    with tf1.Session(config=config) as sess:
        # as their train(): the Reptile session with the weight-decay op (rate 1), then the initialiser
        reptile = authors["reptile"].Reptile(sess, transductive=False,
                                             pre_step_op=authors["variables"].weight_decay(1))
        sess.run(tf1.global_variables_initializer())

        def train_step():
            reptile.train_step(train_set, model.input_ph, model.label_ph, model.minimize_op,
                               num_classes=hp["classes"], num_shots=hp["train_shots"],
                               inner_batch_size=hp["inner_batch"], inner_iters=hp["inner_iters"],
                               replacement=False, meta_step_size=hp["meta_step"],
                               meta_batch_size=hp["meta_batch"])

        def evaluate():
            return reptile.evaluate(test_set, model.input_ph, model.label_ph, model.minimize_op,
                                    model.predictions, num_classes=hp["classes"], num_shots=hp["shots"],
                                    inner_batch_size=hp["eval_batch"], inner_iters=hp["eval_iters"],
                                    replacement=False)

        for _ in range(args.warmup):
            train_step()
        evaluate()

        outer, start = 0, time.perf_counter()
        while True:
            train_step()
            outer += 1
            train_s = time.perf_counter() - start
            if train_s >= args.seconds:
                break

        eval_budget = args.eval_seconds if args.eval_seconds is not None else max(1.0, args.seconds / 2)
        tasks, start = 0, time.perf_counter()
        while True:
            evaluate()
            tasks += 1
            eval_s = time.perf_counter() - start
            if eval_s >= eval_budget and tasks >= args.min_eval_tasks:
                break

    steps = outer * hp["meta_batch"] * hp["inner_iters"]
    print(json.dumps({
        "seconds_per_outer_iter": train_s / outer,
        "run_steps_per_s": steps / train_s,
        "seconds_per_eval_task": eval_s / tasks,
        "eval_tasks_per_s": tasks / eval_s,
        "tensorflow": tf.__version__,
        "setting": args.setting,
        "outer_iters": outer,
        "train_seconds": train_s,
        "eval_tasks": tasks,
        "eval_seconds": eval_s,
        "threads": args.threads,
        "hyper": hp,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
