"""Time the authors' own TensorFlow Reptile (openai/supervised-reptile, MIT licence) on Omniglot-shaped data.

A standalone script, run by the TensorFlow environment (``make tf-env`` builds ``.venv-tf``), never imported by the
project: at module level it imports only the standard library, numpy and TensorFlow. The project side is
:mod:`reptile.bench.tf_harness` (``time_authors_code``, ``AuthorsTimer``, ``time_run_omniglot``), which runs it
and reads its output. By hand::

    OMP_NUM_THREADS=1 .venv-tf/bin/python src/reptile/bench/authors_tf.py \\
        --authors-code /tmp/supervised-reptile --setting 1shot-5way --seconds 20

``--authors-code`` is a checkout of the authors' repository (the folder holding ``supervised_reptile/``). Their
package is imported unchanged, and the timed calls are theirs, built as their ``run_omniglot.py`` and ``train.py``
build them: ``OmniglotModel(num_classes, learning_rate=...)`` (Adam with beta1 = 0, their ``DEFAULT_OPTIMIZER``),
``Reptile(sess, transductive=..., pre_step_op=weight_decay(1))`` (their ``train()`` passes the weight-decay op
with its default rate 1, which runs before every inner step, and their ``--transductive`` flag, which changes only
how ``evaluate`` predicts: all queries in one batch), ``Reptile.train_step`` and ``Reptile.evaluate``.
Hyper-parameters are those of the project's presets ``omniglot-<setting>`` (:data:`SETTINGS`;
``tests/test_bench_reference.py`` checks they equal ``reptile.config.FEWSHOT_PRESETS``, and that ``transductive``
is set exactly for the transductive preset); each can be overridden by a flag (the harness passes the presets'
values).

Three modes:

* default: time ``train_step`` for ``--seconds``, then ``evaluate`` for ``--eval-seconds``, print ONE JSON line.
* ``--serve``: build the model once (TensorFlow's start-up paid once), print a JSON line ``{"ready": true, ...}``,
  then answer each line of stdin with one JSON line: ``train S`` (time ``train_step`` for about S seconds),
  ``evaluate S [MIN_TASKS]`` (time ``evaluate``), ``time S`` (both: train S, evaluate S/2), ``quit``. A bad
  request is answered ``{"error": ...}``. Weights keep training across requests (a step's cost does not depend
  on them).
* ``--run-omniglot OMNIGLOT_DIR``: run the authors' own ``run_omniglot.py`` (unchanged, via ``runpy``) on the real
  Omniglot, from a temporary folder whose ``data/omniglot`` links to OMNIGLOT_DIR (their layout: the 50 alphabet
  folders of images_background and images_evaluation side by side), with the setting's hyper-parameters as their
  flags, ``--meta-iters`` = ``--warmup-iters`` + ``--iters`` + 1, ``--meta-step-final 0``, ``--eval-samples``
  small, checkpoints in the temporary folder. ``Reptile.train_step`` and ``Reptile.evaluate`` are wrapped (class
  attributes, nothing in their files edited) to record when each call starts and how long it takes; one JSON line
  reports seconds per ``train_step`` (median, mean, 10th percentile and each, after the warm-up: a burst of other
  work on the machine shows as a run of slow steps) and seconds per iteration of their whole
  training loop (``train_step`` plus their evaluation of a train and a test task every ``eval_interval`` = 10
  iterations and a checkpoint every 100). ``--warm-cache`` first reads every image into their ``Character``
  caches (a long run's steady state; without it the first iterations also decode PNGs).
  Their script makes its ``tf.Session()`` without a config: one thread comes from ``TF_NUM_INTRAOP_THREADS=1`` and
  ``TF_NUM_INTEROP_THREADS=1`` in the environment (TensorFlow reads them; the harness sets them), not from a flag.

What is patched for TensorFlow 2 (nothing in the authors' files is edited):

1. ``TF_USE_LEGACY_KERAS=1`` (set before TensorFlow is imported, needs the ``tf-keras`` package), so that
   ``tf.compat.v1.layers.conv2d``/``batch_normalization``/``dense`` exist (Keras 3 dropped them).
2. ``tf.compat.v1.disable_v2_behavior()``: graph mode, placeholders and sessions, as in TensorFlow 1.
3. While the authors' modules are imported (and while their ``run_omniglot.py`` runs), ``sys.modules["tensorflow"]``
   is ``tf.compat.v1``, so their ``import tensorflow as tf`` binds the TensorFlow 1 API (``tf.placeholder``,
   ``tf.layers``, ``tf.train.AdamOptimizer``, ``tf.assign``, ``tf.Session``, ...). It is restored right after.

The synthetic data: their ``train_step``/``evaluate`` take a sequence of character classes, each with a
``sample(n)`` method returning ``n`` distinct 28x28 float32 arrays. :class:`SyntheticCharacter` is that interface
in memory: random binary (0/1, as Omniglot's 1-bit PNGs read) images, 20 per class drawn from a shared pool of
4,000; 4800 training classes (1200 characters x 4 rotations) and 423 test classes, the sizes of the real split,
since their task sampler shuffles a copy of the whole class list for every task. Their ``Character.sample`` also
calls ``os.listdir`` on the character's folder each time (the images themselves are cached after the first read);
that file-system call is the only work of theirs left out (``--run-omniglot`` measures it).

Output: JSON lines on stdout: ``seconds_per_outer_iter``, ``run_steps_per_s`` (inner optimiser steps of one run
per second: outer iterations x meta-batch x inner iterations / seconds), ``seconds_per_eval_task``,
``eval_tasks_per_s``, ``tensorflow`` (its version) and the settings used; ``cpu_seconds_per_*`` (the process's CPU
time, ``time.process_time``) and ``cpu_share`` (CPU time over wall time: below 1 when other work on the machine
took part of the core; Linux's autogroups share the CPU between sessions whatever their nice values). Diagnostics go to stderr. Exit codes: 0
done; 2 bad arguments; 3 TensorFlow (or tf-keras) could not be imported; 4 the authors' code could not be found or
imported.
"""

import argparse
import importlib
import json
import os
import random
import runpy
import statistics
import sys
import tempfile
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

# The project's presets (reptile.config.FEWSHOT_PRESETS) in the authors' flag names; "transductive" is their
# --transductive (evaluation only), set for the preset that is evaluated transductively.
SETTINGS = {
    "1shot-5way": {"preset": "omniglot-1shot-5way", "classes": 5, "shots": 1, "train_shots": 12,
                   "inner_batch": 5, "inner_iters": 12, "learning_rate": 4.4e-4, "meta_step": 1.0,
                   "meta_batch": 3, "eval_batch": 5, "eval_iters": 86, "transductive": False},
    "5shot-5way": {"preset": "omniglot-5shot-5way", "classes": 5, "shots": 5, "train_shots": 10,
                   "inner_batch": 10, "inner_iters": 5, "learning_rate": 1.5e-3, "meta_step": 0.7,
                   "meta_batch": 5, "eval_batch": 6, "eval_iters": 100, "transductive": False},
    "1shot-20way": {"preset": "omniglot-1shot-20way", "classes": 20, "shots": 1, "train_shots": 9,
                    "inner_batch": 15, "inner_iters": 12, "learning_rate": 4.4e-4, "meta_step": 1.0,
                    "meta_batch": 3, "eval_batch": 10, "eval_iters": 97, "transductive": False},
    "5shot-20way": {"preset": "omniglot-5shot-20way", "classes": 20, "shots": 5, "train_shots": 12,
                    "inner_batch": 20, "inner_iters": 12, "learning_rate": 4.6e-4, "meta_step": 1.0,
                    "meta_batch": 3, "eval_batch": 10, "eval_iters": 97, "transductive": False},
    "1shot-5way-transductive-eval25": {"preset": "omniglot-1shot-5way-transductive-eval25", "classes": 5,
                                       "shots": 1, "train_shots": 15, "inner_batch": 25, "inner_iters": 3,
                                       "learning_rate": 1e-3, "meta_step": 1.0, "meta_batch": 10,
                                       "eval_batch": 25, "eval_iters": 5, "transductive": True},
}
HYPER = ("classes", "shots", "train_shots", "inner_batch", "inner_iters", "learning_rate", "meta_step",
         "meta_batch", "eval_batch", "eval_iters", "transductive")

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


class _TF1:
    """``sys.modules["tensorflow"]`` is ``tf.compat.v1`` inside the ``with`` block (see the module's notes)."""

    def __enter__(self):
        self.saved = sys.modules["tensorflow"]
        sys.modules["tensorflow"] = tf.compat.v1

    def __exit__(self, *exc):
        sys.modules["tensorflow"] = self.saved


def import_authors(path):
    """The authors' modules (``models``, ``reptile``, ``variables``), imported with ``import tensorflow as tf``
    bound to ``tf.compat.v1``."""
    if not os.path.isfile(os.path.join(path, "supervised_reptile", "reptile.py")):
        raise FileNotFoundError(f"no supervised_reptile/reptile.py under {path!r}")
    sys.path.insert(0, os.path.abspath(path))
    with _TF1():
        return {name: importlib.import_module(f"supervised_reptile.{name}") for name in ("variables", "reptile",
                                                                                          "models")}


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
    p.add_argument("--serve", action="store_true", help="answer timing requests on stdin (see the module's notes)")
    p.add_argument("--run-omniglot", metavar="OMNIGLOT_DIR", default=None,
                   help="run the authors' run_omniglot.py on the real data in OMNIGLOT_DIR (their layout)")
    p.add_argument("--iters", type=int, default=200, help="--run-omniglot: timed outer iterations")
    p.add_argument("--warmup-iters", type=int, default=20, help="--run-omniglot: untimed outer iterations first")
    p.add_argument("--eval-samples", type=int, default=2, help="--run-omniglot: their final evaluation's tasks")
    p.add_argument("--warm-cache", action="store_true", help="--run-omniglot: read every image before training")
    for name in HYPER:
        kind = float if name in ("learning_rate", "meta_step") else int
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                       help=f"override the setting's {name}" + (" (0 or 1)" if name == "transductive" else ""))
    args = p.parse_args(argv)
    if args.seconds <= 0 or (args.eval_seconds is not None and args.eval_seconds <= 0):
        p.error("--seconds and --eval-seconds must be > 0")
    if args.min_eval_tasks < 1 or args.warmup < 0 or args.threads < 1:
        p.error("--min-eval-tasks and --threads must be >= 1, --warmup >= 0")
    if args.iters < 2 or args.warmup_iters < 0 or args.eval_samples < 1:
        p.error("--iters must be >= 2, --warmup-iters >= 0, --eval-samples >= 1")
    if args.transductive not in (None, 0, 1):
        p.error("--transductive must be 0 or 1")
    if args.run_omniglot is not None and not os.path.isdir(args.run_omniglot):
        p.error(f"--run-omniglot {args.run_omniglot!r}: not a folder")
    return args


def hyper(args):
    hp = dict(SETTINGS[args.setting])
    for name in HYPER:
        if getattr(args, name) is not None:
            hp[name] = bool(getattr(args, name)) if name == "transductive" else getattr(args, name)
    return hp


class Timing:
    """The authors' model, session and Reptile on synthetic data, with timed loops of their calls."""

    def __init__(self, authors, hp, threads, seed):
        tf1 = tf.compat.v1
        self.hp = hp
        random.seed(seed)
        np.random.seed(seed)
        tf1.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        self.train_set = synthetic_dataset(TRAIN_CLASSES, rng)
        self.test_set = synthetic_dataset(TEST_CLASSES, rng)
        self.model = authors["models"].OmniglotModel(hp["classes"], learning_rate=hp["learning_rate"])
        config = tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
        self.sess = tf1.Session(config=config)
        with self.sess.as_default():
            # as their train(): the Reptile session with the weight-decay op (rate 1), then the initialiser
            self.reptile = authors["reptile"].Reptile(self.sess, transductive=hp["transductive"],
                                                      pre_step_op=authors["variables"].weight_decay(1))
            self.sess.run(tf1.global_variables_initializer())

    def train_step(self):
        hp, m = self.hp, self.model
        self.reptile.train_step(self.train_set, m.input_ph, m.label_ph, m.minimize_op,
                                num_classes=hp["classes"], num_shots=hp["train_shots"],
                                inner_batch_size=hp["inner_batch"], inner_iters=hp["inner_iters"],
                                replacement=False, meta_step_size=hp["meta_step"], meta_batch_size=hp["meta_batch"])

    def evaluate(self):
        hp, m = self.hp, self.model
        return self.reptile.evaluate(self.test_set, m.input_ph, m.label_ph, m.minimize_op, m.predictions,
                                     num_classes=hp["classes"], num_shots=hp["shots"],
                                     inner_batch_size=hp["eval_batch"], inner_iters=hp["eval_iters"],
                                     replacement=False)

    def warm_up(self, outer):
        for _ in range(outer):
            self.train_step()
        self.evaluate()

    def time_train(self, seconds):
        outer, start, cpu0, each = 0, time.perf_counter(), time.process_time(), []
        while True:
            t0 = time.perf_counter()
            self.train_step()
            each.append(time.perf_counter() - t0)
            outer += 1
            train_s = time.perf_counter() - start
            if train_s >= seconds:
                break
        cpu = time.process_time() - cpu0
        steps = outer * self.hp["meta_batch"] * self.hp["inner_iters"]
        return {"seconds_per_outer_iter": train_s / outer, "run_steps_per_s": steps / train_s,
                "cpu_seconds_per_outer_iter": cpu / outer, "cpu_share": cpu / train_s,
                "seconds_per_outer_iter_median": statistics.median(each),
                "seconds_per_outer_iter_p10": quantile(each, 0.1),
                "outer_iters": outer, "train_seconds": train_s, "load": os.getloadavg()[0]}

    def time_eval(self, seconds, min_tasks):
        tasks, start, cpu0 = 0, time.perf_counter(), time.process_time()
        while True:
            self.evaluate()
            tasks += 1
            eval_s = time.perf_counter() - start
            if eval_s >= seconds and tasks >= min_tasks:
                break
        cpu = time.process_time() - cpu0
        return {"seconds_per_eval_task": eval_s / tasks, "eval_tasks_per_s": tasks / eval_s, "eval_tasks": tasks,
                "cpu_seconds_per_eval_task": cpu / tasks, "cpu_share": cpu / eval_s,
                "eval_seconds": eval_s, "load": os.getloadavg()[0]}


def quantile(values, q):
    """The ``q`` quantile of ``values`` (linear interpolation between order statistics)."""
    v = sorted(values)
    x = q * (len(v) - 1)
    i = int(x)
    return v[i] if i + 1 >= len(v) else v[i] + (x - i) * (v[i + 1] - v[i])


def answer(timing, line, min_tasks):
    """The JSON answer to one ``--serve`` request line."""
    words = line.split()
    try:
        if not words:
            raise ValueError("empty request")
        cmd, nums = words[0], [float(w) for w in words[1:]]
        if not nums or nums[0] <= 0:
            raise ValueError("a number of seconds > 0 must follow the command")
        if cmd == "train" and len(nums) == 1:
            return timing.time_train(nums[0])
        if cmd == "evaluate" and len(nums) in (1, 2):
            return timing.time_eval(nums[0], int(nums[1]) if len(nums) == 2 else min_tasks)
        if cmd == "time" and len(nums) == 1:
            t = timing.time_train(nums[0])
            e = timing.time_eval(max(1.0, nums[0] / 2), min_tasks)
            return {**t, **e, "load": (t["load"] + e["load"]) / 2}
        raise ValueError(f"unknown request {line.strip()!r}")
    except ValueError as exc:
        return {"error": f"{exc}; allowed: 'train S', 'evaluate S [MIN_TASKS]', 'time S', 'quit'"}


def serve(timing, args, stdin=sys.stdin, stdout=sys.stdout):
    base = {"tensorflow": tf.__version__, "setting": args.setting, "threads": args.threads, "hyper": timing.hp}
    stdout.write(json.dumps({"ready": True, **base}) + "\n")
    stdout.flush()
    for line in stdin:
        if line.strip() == "quit":
            break
        stdout.write(json.dumps({**answer(timing, line, args.min_eval_tasks), "setting": args.setting}) + "\n")
        stdout.flush()
    return 0


def run_omniglot(args, hp):
    """Their run_omniglot.py on the real data, timed from inside (see the module's notes)."""
    code = os.path.abspath(args.authors_code)
    script = os.path.join(code, "run_omniglot.py")
    if not os.path.isfile(script):
        raise FileNotFoundError(f"no run_omniglot.py under {code!r}")
    meta_iters = args.warmup_iters + args.iters + 1
    argv = [script, "--seed", str(args.seed), "--classes", str(hp["classes"]), "--shots", str(hp["shots"]),
            "--train-shots", str(hp["train_shots"]), "--inner-batch", str(hp["inner_batch"]),
            "--inner-iters", str(hp["inner_iters"]), "--learning-rate", repr(hp["learning_rate"]),
            "--meta-step", repr(hp["meta_step"]), "--meta-step-final", "0", "--meta-batch", str(hp["meta_batch"]),
            "--meta-iters", str(meta_iters), "--eval-batch", str(hp["eval_batch"]),
            "--eval-iters", str(hp["eval_iters"]), "--eval-samples", str(args.eval_samples)]
    if hp["transductive"]:
        argv.append("--transductive")
    with _TF1():
        reptile_mod = importlib.import_module("supervised_reptile.reptile")
        train_mod = importlib.import_module("supervised_reptile.train")
    records = {"train_step": [], "evaluate": []}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                records[name].append((t0, time.perf_counter() - t0, time.process_time() - c0))
        return wrapper

    reptile_mod.Reptile.train_step = timed("train_step", reptile_mod.Reptile.train_step)
    reptile_mod.Reptile.evaluate = timed("evaluate", reptile_mod.Reptile.evaluate)
    original_train, cache = train_mod.train, {}

    def train(sess, model, train_set, test_set, *a, **kw):  # their train(), after filling the caches if asked
        t0 = time.perf_counter()
        if args.warm_cache:
            for character in list(train_set) + list(test_set):
                character.sample(PER_CLASS)
        cache["seconds"] = time.perf_counter() - t0
        cache["start"] = t0
        return original_train(sess, model, train_set, test_set, *a, **kw)

    train_mod.train = train
    process_start = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="run_omniglot-") as tmp:
        os.mkdir(os.path.join(tmp, "data"))
        os.symlink(os.path.abspath(args.run_omniglot), os.path.join(tmp, "data", "omniglot"))
        argv += ["--checkpoint", os.path.join(tmp, "ckpt")]
        saved_argv, saved_cwd, saved_stdout = sys.argv, os.getcwd(), sys.stdout
        sys.argv, sys.stdout = argv, sys.stderr  # their prints go to stderr: stdout is for the JSON line
        os.chdir(tmp)
        try:
            with _TF1():
                runpy.run_path(script, run_name="__main__")
        finally:
            sys.argv, sys.stdout = saved_argv, saved_stdout
            os.chdir(saved_cwd)
    total = time.perf_counter() - process_start
    steps = records["train_step"]
    if len(steps) != meta_iters:
        raise RuntimeError(f"expected {meta_iters} train_step calls, recorded {len(steps)}")
    w = args.warmup_iters
    timed_steps = [d for _, d, _ in steps[w:w + args.iters]]
    timed_cpu = [c for _, _, c in steps[w:w + args.iters]]
    loop = (steps[w + args.iters][0] - steps[w][0]) / args.iters  # starts of iterations w .. w + iters
    in_loop_eval = [d for t, d, _ in records["evaluate"] if t < steps[-1][0] + steps[-1][1]]
    final_eval = [d for t, d, _ in records["evaluate"] if t >= steps[-1][0] + steps[-1][1]]
    per_iter_steps = hp["meta_batch"] * hp["inner_iters"]
    return {
        "script": "run_omniglot.py", "data": os.path.abspath(args.run_omniglot), "argv": argv[1:],
        "warm_cache": args.warm_cache, "cache_fill_seconds": cache.get("seconds"),
        "warmup_iters": w, "timed_iters": args.iters,
        "seconds_per_train_step_median": statistics.median(timed_steps),
        "seconds_per_train_step_mean": statistics.fmean(timed_steps),
        "seconds_per_train_step_min": min(timed_steps), "seconds_per_train_step_max": max(timed_steps),
        "seconds_per_train_step_p10": quantile(timed_steps, 0.1),
        "train_step_seconds": [round(d, 5) for d in timed_steps],
        "cpu_seconds_per_train_step_median": statistics.median(timed_cpu),
        "cpu_share": sum(timed_cpu) / sum(timed_steps),
        "run_steps_per_s": per_iter_steps / statistics.fmean(timed_steps),
        "seconds_per_loop_iter": loop,
        "loop_note": "their training loop per iteration: train_step, plus evaluate on a train and a test task every "
                     "10 iterations (their eval_interval) and a checkpoint every 100",
        "seconds_per_in_loop_eval_task_median": statistics.median(in_loop_eval) if in_loop_eval else None,
        "seconds_per_final_eval_task_median": statistics.median(final_eval) if final_eval else None,
        "seconds_to_first_step": (cache.get("start", steps[0][0]) - process_start) if steps else None,
        "seconds_total_in_process": total,
        "load_before": load_before, "load_after": os.getloadavg(),
        "tensorflow": tf.__version__, "setting": args.setting, "hyper": hp,
        "threads": {k: os.environ.get(k) for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                                                    "OMP_NUM_THREADS")},
    }


def main(argv=None):
    args = parse_args(argv)
    hp = hyper(args)
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
    if args.run_omniglot is not None:
        print(json.dumps(run_omniglot(args, hp)), flush=True)
        return 0

    timing = Timing(authors, hp, args.threads, args.seed)
    timing.warm_up(args.warmup)
    if args.serve:
        return serve(timing, args)
    t = timing.time_train(args.seconds)
    eval_budget = args.eval_seconds if args.eval_seconds is not None else max(1.0, args.seconds / 2)
    e = timing.time_eval(eval_budget, args.min_eval_tasks)
    print(json.dumps({**t, **e, "load": os.getloadavg()[0], "tensorflow": tf.__version__, "setting": args.setting,
                      "threads": args.threads, "hyper": hp}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
