"""Record how fast the authors' TensorFlow code runs on this machine, beside ours: every setting's training and
evaluation, the real-data check of the harness against their ``run_omniglot.py``, and how the ratio moves with the
machine's load. The authors' code runs through :mod:`reptile.bench.tf_harness`; the measurements are
:mod:`reptile.bench.measure`'s.

    python -m reptile.bench.authors_record --authors-code PATH --out results/bench/authors

writes ``<out>/<cpu-slug>.json`` (:func:`record`); ``results/bench/authors/README.md`` gives the full command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from .. import results as R
from ..config import FEWSHOT_PRESETS
from .measure import cpu_features, cpu_shared, cpu_slug, interleaved, summary
from .tf_harness import (ONE_THREAD, REPO_ROOT, SETTINGS, AuthorsCodeUnavailable, AuthorsTimer, check_setting,
                         prepare_omniglot, time_run_omniglot)


def record(authors_code: str | os.PathLike, out: str | os.PathLike, python: str | os.PathLike | None = None,
           settings: Sequence[str] = SETTINGS, seconds: float = 10.0, eval_seconds: float = 5.0,
           repetitions: int = 3, omniglot_dir: str | os.PathLike | None = None, real_iters: int = 200,
           ours: Callable[[str, float], float] | None = None, ours_name: str = "",
           load_test: Sequence[int] | None = None,
           log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)) -> Path:
    """Time the authors' code on this machine and write ``<out>/<cpu-slug>.json``; returns its path.

    For each setting, one :class:`AuthorsTimer`: ``repetitions`` x (``train`` for ``seconds``, ``evaluate`` for
    ``eval_seconds``), alternating, each with the load average after it. With ``omniglot_dir`` (their layout),
    the real-data check for 1-shot 5-way: the synthetic harness's ``train`` (``seconds``), their
    ``run_omniglot.py`` with a cold image cache, the harness again, their script with the cache filled first, the
    harness a third time (all on one thread, in that order, so the load is comparable).

    ``ours(setting, seconds)``: the project's training rate (inner steps per second) for the setting, measured for
    about ``seconds``; with it, each setting's train measurements are :func:`interleaved` with ours (ours, theirs,
    ...), and the ratio ours / theirs of the rates is recorded per pair with its median and spread (``ours_name``
    says what ours is).

    ``load_test``: numbers of extra busy processes (e.g. ``(0, 1, 2)``), for :func:`measure_load` on 1-shot 5-way
    with half of ``seconds`` per measurement.
    """
    if not (isinstance(repetitions, int) and repetitions >= 1):
        raise ValueError(f"repetitions must be an integer >= 1, got {repetitions!r}")
    settings = [check_setting(s) for s in settings]
    cpu = cpu_features()
    doc = {"cpu": cpu, "cores": os.cpu_count(), "threads": 1,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "load_start": os.getloadavg(),
           "load_note": "os.getloadavg() (1, 5, 15 minutes); the project's training campaign ran at nice 19 on all "
                        "cores throughout, and other benchmarks may have run beside it",
           "seconds_per_measurement": {"train": seconds, "evaluate": eval_seconds}, "repetitions": repetitions,
           "settings": {}}
    for setting in settings:
        log(f"authors: {setting}: starting TensorFlow")
        with AuthorsTimer(python, authors_code, setting) as timer:
            doc["tensorflow"] = timer.info["tensorflow"]
            trains, evals = [], []

            def theirs() -> float:
                trains.append(timer.train(seconds))
                log(f"authors: {setting} rep {len(trains)}: {trains[-1]['seconds_per_outer_iter']:.4f} s/outer "
                    f"iter, CPU share {trains[-1]['cpu_share']:.2f}, load {trains[-1]['load']:.2f}")
                return trains[-1]["run_steps_per_s"]

            ratio, ours_share = None, []
            if ours is not None:
                def ours_rate() -> float:
                    rate, share = cpu_shared(ours, setting, seconds)
                    ours_share.append(share)
                    log(f"ours ({ours_name}): {setting}: {rate:.1f} steps/s, CPU share {share:.2f}, "
                        f"load {os.getloadavg()[0]:.2f}")
                    return rate

                ratio = interleaved(ours_rate, theirs, repetitions)
            else:
                for _ in range(repetitions):
                    theirs()
            for i in range(repetitions):
                evals.append(timer.evaluate(eval_seconds))
                log(f"authors: {setting} eval rep {i + 1}: {evals[-1]['seconds_per_eval_task']:.4f} s/task, "
                    f"load {evals[-1]['load']:.2f}")
        doc["settings"][setting] = {
            "hyper": timer.info["hyper"],
            "seconds_per_outer_iter": summary([t["seconds_per_outer_iter"] for t in trains]),
            "run_steps_per_s": summary([t["run_steps_per_s"] for t in trains]),
            "seconds_per_eval_task": summary([e["seconds_per_eval_task"] for e in evals]),
            "cpu_seconds_per_outer_iter": summary([t["cpu_seconds_per_outer_iter"] for t in trains]),
            "cpu_seconds_per_eval_task": summary([e["cpu_seconds_per_eval_task"] for e in evals]),
            "cpu_share_train": [t["cpu_share"] for t in trains], "cpu_share_eval": [e["cpu_share"] for e in evals],
            "outer_iters": [t["outer_iters"] for t in trains], "eval_tasks": [e["eval_tasks"] for e in evals],
            "load_1min_train": [t["load"] for t in trains], "load_1min_eval": [e["load"] for e in evals]}
        if ratio is not None:
            per_cpu = [r * t["cpu_share"] / o for r, t, o in zip(ratio["ratios"], trains, ours_share)]
            doc["settings"][setting]["ours_over_theirs_run_steps_per_s"] = {
                **ratio, "ours_name": ours_name, "ours_cpu_share": ours_share, "theirs_cpu_share": ratio_shares(trains),
                "ratios_per_cpu_second": per_cpu, "median_per_cpu_second": statistics.median(per_cpu)}
    if omniglot_dir is not None:
        log("authors: real-data check, 1shot-5way: harness / run_omniglot.py cold / harness / warm / harness")
        check: dict = {"setting": "1shot-5way", "synthetic_harness": [], "run_omniglot": []}
        with AuthorsTimer(python, authors_code, "1shot-5way") as timer:
            for warm in (False, True, None):
                check["synthetic_harness"].append(timer.train(seconds))
                log(f"authors: harness {check['synthetic_harness'][-1]['seconds_per_outer_iter']:.4f} s/outer iter")
                if warm is None:
                    break
                r = time_run_omniglot(python, authors_code, omniglot_dir, "1shot-5way", iters=real_iters,
                                      warm_cache=warm)
                check["run_omniglot"].append(r)
                log(f"authors: run_omniglot.py ({'warm' if warm else 'cold'} cache) "
                    f"{r['seconds_per_train_step_median']:.4f} s/train_step (median), "
                    f"{r['cpu_seconds_per_train_step_median']:.4f} CPU s, "
                    f"{r['seconds_per_loop_iter']:.4f} s/loop iteration")
        harness = check["synthetic_harness"]
        synth = {"cpu": summary([t["cpu_seconds_per_outer_iter"] for t in harness]),
                 "mean": summary([t["seconds_per_outer_iter"] for t in harness]),
                 "median": summary([t["seconds_per_outer_iter_median"] for t in harness]),
                 "p10": summary([t["seconds_per_outer_iter_p10"] for t in harness])}
        check["synthetic_seconds_per_outer_iter"] = synth
        for r in check["run_omniglot"]:
            check["real_over_synthetic_" + ("warm" if r["warm_cache"] else "cold")] = {
                "median_step": r["seconds_per_train_step_median"] / synth["median"]["median"],
                "p10_step": r["seconds_per_train_step_p10"] / synth["p10"]["median"],
                "mean_step": r["seconds_per_train_step_mean"] / synth["mean"]["median"],
                "cpu_median_step": r["cpu_seconds_per_train_step_median"] / synth["cpu"]["median"],
                "loop_iter": r["seconds_per_loop_iter"] / synth["mean"]["median"]}
        check["note"] = ("real_over_synthetic_*: their run_omniglot.py's seconds per train_step on real Omniglot over "
                         "the synthetic harness's (the median of its windows' medians, 10th percentiles, means; "
                         "cpu: CPU seconds per step, which other work on the machine changes least); "
                         "loop_iter: their whole training loop per iteration (evaluation every 10 and checkpoints "
                         "included) over the harness's train_step; cold: their image cache filling as the run goes "
                         "(PNG decoding in the first iterations), warm: filled before training")
        doc["run_omniglot_check"] = check
    if load_test is not None:
        doc["load_test"] = measure_load(python, authors_code, "1shot-5way", seconds / 2, repetitions, load_test,
                                        ours, ours_name, log)
    doc["load_end"] = os.getloadavg()
    path = Path(out) / f"{cpu_slug(cpu)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    R.atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode())
    return path


def ratio_shares(trains: Sequence[dict]) -> list[float]:
    """The share of a core the authors' process had in each train measurement."""
    return [t.get("cpu_share") for t in trains]

SPIN = "while True: pass"  # one busy thread, what an extra busy process on the machine is here


def measure_load(python: str | os.PathLike | None, authors_code: str | os.PathLike, setting: str, seconds: float,
                 repetitions: int, extra: Sequence[int], ours: Callable[[str, float], float] | None = None,
                 ours_name: str = "", log: Callable[[str], None] = lambda s: None) -> dict:
    """How the authors' time (and the ratio to ours) moves with the machine's load: for each ``n`` in ``extra``,
    ``n`` busy single-thread processes at normal priority (``python -c 'while True: pass'``, started here and ended
    by their process ids right after) run while ``repetitions`` train measurements of ``seconds`` are made
    (:func:`interleaved` with ``ours(setting, seconds)`` when given). Returns ``{"setting", "seconds",
    "phases": [{"extra_busy_processes": n, "authors_seconds_per_outer_iter": summary, "load_1min": [...],
    "ours_over_theirs_run_steps_per_s": interleaved's dict or None}, ...]}``."""
    if any(not isinstance(n, int) or n < 0 for n in extra):
        raise ValueError(f"extra must be integers >= 0, got {list(extra)!r}")
    phases = []
    with AuthorsTimer(python, authors_code, setting) as timer:
        for n in extra:
            spinners = [subprocess.Popen([sys.executable, "-c", SPIN], env={**os.environ, **ONE_THREAD})
                        for _ in range(n)]
            try:
                time.sleep(1.0 if n else 0.0)
                trains: list[dict] = []

                def theirs() -> float:
                    trains.append(timer.train(seconds))
                    return trains[-1]["run_steps_per_s"]

                ours_share: list[float] = []

                def ours_rate() -> float:
                    rate, share = cpu_shared(ours, setting, seconds)
                    ours_share.append(share)
                    return rate

                ratio = interleaved(ours_rate, theirs, repetitions) if ours else None
                if ours is None:
                    for _ in range(repetitions):
                        theirs()
            finally:
                for sp in spinners:
                    sp.kill()
                    sp.wait()
            phase = {"extra_busy_processes": n,
                     "authors_seconds_per_outer_iter": summary([t["seconds_per_outer_iter"] for t in trains]),
                     "authors_cpu_seconds_per_outer_iter": summary([t["cpu_seconds_per_outer_iter"] for t in trains]),
                     "authors_cpu_share": ratio_shares(trains), "ours_cpu_share": ours_share,
                     "load_1min": [t["load"] for t in trains],
                     "ours_over_theirs_run_steps_per_s": {**ratio, "ours_name": ours_name} if ratio else None}
            if ratio:
                phase["ratios_per_cpu_second"] = [r * t["cpu_share"] / o for r, t, o in
                                                  zip(ratio["ratios"], trains, ours_share)]
            phases.append(phase)
            log(f"load test: {n} extra busy processes: authors "
                f"{phase['authors_seconds_per_outer_iter']['median']:.4f} s/outer iter"
                + (f", ours/theirs {ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else ""))
    return {"setting": setting, "seconds": seconds, "cores": os.cpu_count(), "phases": phases}

def population_rate(setting: str, seconds: float) -> float:
    """Inner steps per second of the project's population engine with one run, one thread, on the CPU, for the
    preset ``omniglot-<setting>`` (what ``reptile.bench`` reports as 'population of 1')."""
    import torch

    from .paths import population_training

    torch.set_num_threads(1)
    return population_training(FEWSHOT_PRESETS[f"omniglot-{check_setting(setting)}"], 1, seconds,
                               torch.device("cpu"))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reptile.bench.authors_record",
                                description="Time the authors' TensorFlow code on this machine and record it.")
    p.add_argument("--authors-code", required=True, help="a checkout of openai/supervised-reptile")
    p.add_argument("--out", default=str(REPO_ROOT / "results" / "bench" / "authors"))
    p.add_argument("--tf-python", default=None, help="the TensorFlow interpreter (default .venv-tf/bin/python)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    p.add_argument("--seconds", type=float, default=10.0, help="per train_step measurement")
    p.add_argument("--eval-seconds", type=float, default=5.0, help="per evaluate measurement")
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--omniglot-dir", default=None,
                   help="real Omniglot in the authors' layout, for the run_omniglot.py check (see --omniglot-zips)")
    p.add_argument("--omniglot-zips", default=None,
                   help="with --omniglot-dir: unzip images_background/evaluation.zip from here into it first")
    p.add_argument("--real-iters", type=int, default=200, help="timed iterations of run_omniglot.py")
    p.add_argument("--load-test", type=int, nargs="+", default=None, metavar="N",
                   help="also time 1-shot 5-way with N extra busy processes beside it, for each N given (e.g. 0 1 2)")
    p.add_argument("--ours", choices=("none", "population-1"), default="none",
                   help="interleave the authors' train timings with ours: population-1 is the project's population "
                        "engine with one run (reptile.bench.paths.population_training), one thread, on the CPU")
    a = p.parse_args(argv)
    if not (a.seconds > 0 and a.eval_seconds > 0 and a.repetitions >= 1 and a.real_iters >= 2):
        p.error("--seconds and --eval-seconds must be > 0, --repetitions >= 1, --real-iters >= 2")
    if a.omniglot_zips and not a.omniglot_dir:
        p.error("--omniglot-zips needs --omniglot-dir (where to unzip)")
    try:
        if a.omniglot_zips:
            prepare_omniglot(a.omniglot_zips, a.omniglot_dir)
        ours = population_rate if a.ours == "population-1" else None
        path = record(a.authors_code, a.out, a.tf_python, a.settings, a.seconds, a.eval_seconds, a.repetitions,
                      a.omniglot_dir, a.real_iters, ours=ours, load_test=a.load_test,
                      ours_name="population of 1, one thread (reptile.bench.paths.population_training)" if ours else "")
    except (AuthorsCodeUnavailable, FileNotFoundError, ValueError) as exc:
        print(f"authors_record: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
