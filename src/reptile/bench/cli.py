"""``python -m reptile.bench``: the benchmark's command line (what it measures is the package's docstring,
:mod:`reptile.bench`). Every value is checked before any timing (:func:`check_arguments`); ``--versus``, ``--maml``,
``--profile`` and ``--population-run`` replace the report with a measurement of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .. import results as R
from ..cli import check_device_argument, fail
from ..provenance import environment
from .paths import SETTINGS, device_name, gpu_matmul_rate, matmul_rate, setting, slug


def print_profile(name: str, got: dict[str, Any], rate: float | None) -> None:
    """One setting's profile (:func:`reptile.bench.paths.kernel_profile`) as text: on a CPU, first where an inner
    step's time goes and its useful rate as a fraction of the matrix-multiply ``rate``, then its operations."""
    what = "kernels" if "kernels" in got else "operations"
    print(f"\n{name}, population of {got['population']} on {got['device']}: {got[what]:.1f} {what} per inner step "
          f"(over {got['inner_steps']} inner steps, no CUDA graph)")
    if "split_us_per_step" in got:
        wall, useful = got["wall_us_per_step"], got["useful_gflop_per_step"]
        print(f"  {wall:9.1f} us per inner step without the profiler: {useful * 1e6 / wall:.1f} useful GFLOP/s, "
              f"{100 * useful * 1e6 / wall / rate:.0f}% of the matrix-multiply rate; at that rate the step's "
              f"multiply-adds alone take {useful * 1e6 / rate:.1f} us")
        for part, us in got["split_us_per_step"].items():
            print(f"  {us:9.1f} us  {100 * us / wall:4.0f}%  {part}")
    for r in got["rows"][:25]:
        print(f"  {r['us_per_step']:9.2f} us  {r['per_step']:6.2f} x  {r['name'][:110]}")


# the campaign's 20-way and eval-25 entries (reptile.campaign.PLAN): what --versus times by default
CAMPAIGN_PRESETS = ("omniglot-1shot-20way", "omniglot-5shot-20way", "omniglot-1shot-5way-transductive-eval25")
MAX_SECONDS = 600.0  # per measurement: a report makes a few dozen measurements (more on a GPU), so 600 s is hours
MEMBER_BYTES = 64 << 20  # a population member in the benchmark: its synthetic images (3 MB), weights, optimiser
#                          state, and its share of a step's activations, with room to spare


def check_arguments(parser: argparse.ArgumentParser, a: argparse.Namespace):
    """Every value of the command line, before any timing: stops with one line and exit code 2
    (:func:`reptile.cli.fail`) on a bad one. Returns the device."""
    import math

    from . import tf_harness
    from ..validate import check_size

    if not (math.isfinite(a.seconds) and 0 < a.seconds <= MAX_SECONDS):
        fail(parser, f"--seconds {a.seconds}: allowed: a finite number of seconds per measurement in (0, "
                     f"{MAX_SECONDS:g}] (the report makes a few dozen measurements; the default is 6)")
    if a.population is not None:
        bad = [n for n in a.population if n < 1]
        if bad:
            fail(parser, f"--population {' '.join(map(str, bad))}: allowed: population sizes >= 1")
        try:
            check_size("--population", max(a.population), MEMBER_BYTES, "the benchmark's population members")
        except ValueError as e:
            fail(parser, e)
    modes = [flag for flag, on in (("--population-run", a.population_run is not None), ("--profile", a.profile),
                                   ("--versus", a.versus is not None), ("--maml", a.maml)) if on]
    if len(modes) > 1:
        fail(parser, f"{' and '.join(modes)}: each replaces the report with a measurement of its own; allowed: one "
                     f"of --population-run, --profile, --versus and --maml at a time")
    dev = check_device_argument(parser, a.device)
    if (a.authors_code or a.tf_python) and not a.tf:
        fail(parser, f"{'--authors-code' if a.authors_code else '--tf-python'} is used only with --tf (time the "
                     f"authors' TensorFlow code); add --tf, or leave it out")
    if a.tf:
        if not a.authors_code:
            fail(parser, "--tf needs --authors-code PATH, a checkout of openai/supervised-reptile")
        code = Path(a.authors_code)
        if not (code / "supervised_reptile" / "reptile.py").is_file():
            fail(parser, f"--authors-code {a.authors_code}: not a checkout of openai/supervised-reptile (no "
                         f"supervised_reptile/reptile.py there); {tf_harness.GET_CODE.format(path=code)}")
        python = Path(a.tf_python) if a.tf_python else tf_harness.DEFAULT_PYTHON
        exe = shutil.which(str(python))
        if exe is None:
            fail(parser, f"--tf-python {str(python)!r}: no Python there for the authors' TensorFlow code; "
                         f"{tf_harness.GET_TF}, or pass --tf-python PATH")
        import subprocess

        try:  # a few seconds now rather than a traceback after the project's timings
            found = subprocess.run([exe, "-c", "import tensorflow"], capture_output=True, timeout=300,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).returncode == 0
        except (OSError, subprocess.SubprocessError):
            found = False
        if not found:
            fail(parser, f"--tf-python {str(python)!r}: TensorFlow cannot be imported by it; {tf_harness.GET_TF}")
    if a.versus is not None:
        from ..config import FEWSHOT_PRESETS, FIGURE3_PRESETS

        bad = [p for p in a.versus_presets if p not in {**FEWSHOT_PRESETS, **FIGURE3_PRESETS}]
        if bad:
            fail(parser, f"--versus-presets {' '.join(bad)}: allowed: few-shot or Figure 3 presets "
                         f"({', '.join({**FEWSHOT_PRESETS, **FIGURE3_PRESETS})})")
        if a.repetitions < 1:
            fail(parser, f"--repetitions {a.repetitions}: allowed: an integer >= 1")
        if a.device not in ("auto", "cpu"):
            fail(parser, f"--device {a.device}: --versus times the CPU engine, one thread per measurement; allowed "
                         f"with it: auto or cpu")
    if a.population_run is not None and not Path(a.population_run).is_dir():
        fail(parser, f"--population-run {a.population_run}: not a folder; allowed: the folder of one timed "
                     f"population run's results files (seed-*.json)")
    # the folder of what is written at the end
    sub = ("population" if a.population_run else "profile" if a.profile else "versus" if a.versus else
           "maml" if a.maml else "")
    try:
        R.check_writable(Path(a.out) if a.out else R.results_root() / "bench" / sub, "report",
                         "Pass --out DIR, a folder you can write.")
    except ValueError as e:
        fail(parser, e)
    return dev


def main(argv: list[str] | None = None) -> None:
    import reptile.bench as package  # its docstring says what the benchmark measures

    parser = argparse.ArgumentParser(prog="python -m reptile.bench", description=package.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="time per measurement (default 6)")
    parser.add_argument("--population", type=int, nargs="+", default=None,
                        help="population sizes to time (default: 1 3 8 on a CPU, 8 64 on a GPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS, metavar="SETTING",
                        help=f"default: all of {', '.join(SETTINGS)}")
    parser.add_argument("--tf", action="store_true", help="also time the authors' TensorFlow code")
    parser.add_argument("--authors-code", default=None, help="a checkout of openai/supervised-reptile (with --tf)")
    parser.add_argument("--tf-python", default=None, help="the Python of the TensorFlow environment "
                                                          "(default .venv-tf/bin/python, `make tf-env`)")
    parser.add_argument("--out", default=None, help="folder of the report (default results/bench)")
    parser.add_argument("--population-run", default=None, metavar="DIR",
                        help="instead: summarise the timed population run whose results files are in DIR (rates, "
                             "the full protocol's time at them) into results/bench/population/")
    parser.add_argument("--profile", action="store_true",
                        help="instead: what one inner step of a population (the first --population size, default 3, "
                             "the campaign's) is made of, for each of --settings: its kernels on a GPU; on a CPU the "
                             "split between matrix multiplies, fused kernels and the rest, the fraction of the "
                             "matrix-multiply rate, and its operations, with counts and times per inner step; "
                             "written to results/bench/profile/<device>.json, which the status page shows")
    parser.add_argument("--versus", default=None, metavar="REV",
                        help="instead: the campaign's outer iterations per second (populations of 3, 1 thread) at "
                             "commit REV and at this checkout, in turns, --repetitions times --seconds each, into "
                             "results/bench/versus/ (reptile.bench.versus)")
    parser.add_argument("--versus-presets", nargs="+", default=list(CAMPAIGN_PRESETS), metavar="PRESET",
                        help=f"with --versus: the presets timed (default: {' '.join(CAMPAIGN_PRESETS)})")
    parser.add_argument("--repetitions", type=int, default=3, help="with --versus: pairs of measurements (default 3)")
    parser.add_argument("--maml", action="store_true",
                        help="instead: one outer iteration of Reptile, MAML and first-order MAML on each of --settings "
                             "(the 5-way and 20-way Omniglot cells; MAML with Finn et al.'s hyper-parameters, its "
                             "meta-batch vectorised and one task at a time; on a CPU the engine's path also with "
                             "oneDNN's convolutions where they pay) on one thread, with the fraction of the "
                             "matrix-multiply rate and the hours of a full-budget seed; written to "
                             "results/bench/maml/<device>.json (reptile.bench.maml)")
    a = parser.parse_args(argv)
    dev = check_arguments(parser, a)  # every value, before any timing
    # the package's measurements, looked up now (so that a test can replace them on reptile.bench)
    from . import kernel_profile, onednn_timed, population_run, run, with_environ

    if a.versus:
        from .versus import versus

        try:
            got = versus(a.versus, a.versus_presets, a.repetitions, a.seconds)
        except ValueError as e:
            fail(parser, e)
        folder = Path(a.out) if a.out else R.results_root() / "bench" / "versus"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{slug(device_name(torch.device('cpu')))}-{got['versus'][:7]}.json"
        R.atomic_write_bytes(path, (json.dumps(got, indent=1) + "\n").encode())
        for key, unit in (("settings", "outer it/s"), ("evaluation", "test tasks/s")):
            for preset, t in got.get(key, {}).items():
                print(f"{preset:45s} {got['versus'][:7]} {statistics.median(t['theirs']):6.3f}  this "
                      f"{statistics.median(t['ours']):6.3f} {unit:12s}   ratio {t['median']:.3f} "
                      f"({t['min']:.3f}-{t['max']:.3f})")
        print(f"wrote {path}")
        return
    if a.maml:
        from . import maml

        names = tuple(n for n in a.settings if n in maml.MAML_SETTINGS)
        if not names:
            fail(parser, f"--maml --settings {' '.join(a.settings)}: allowed: one or more of the cells "
                         f"{', '.join(maml.MAML_SETTINGS)}")
        torch.set_num_threads(1)
        rate = gpu_matmul_rate(dev) if dev.type == "cuda" else matmul_rate(1)  # what the fractions are of
        report = maml.report(names, a.seconds, dev, rate,
                             say=lambda *x: print(*x, file=sys.stderr, flush=True))
        folder = Path(a.out) if a.out else R.results_root() / "bench" / "maml"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{report['device']}.json"
        R.atomic_write_bytes(path, (json.dumps(report, indent=1) + "\n").encode())
        for r in report["rows"]:
            print(f"{r['setting']:14s} {r['algorithm']:17s} {r['path']:50s} {1e3 * r['seconds_per_iteration']:9.1f} "
                  f"ms/iteration  {r['gflops']:6.1f} GFLOP/s  {r['hours_per_run']:7.1f} h per seed")
        print(f"wrote {path}")
        return
    if a.profile:
        size = a.population[0] if a.population else 3
        torch.set_num_threads(1)
        rate = None if dev.type == "cuda" else matmul_rate(1)
        if rate:
            print(f"matrix multiply: {rate:.0f} GFLOP/s on 1 thread")
        with with_environ(REPTILE_ONEDNN="0"):  # the default path
            got = {name: kernel_profile(setting(name), size, dev) for name in a.settings}
        for name, profile in got.items():
            print_profile(name, profile, rate)
        dnn = {}
        if onednn_timed(dev):  # and oneDNN's convolutions where they pay
            with with_environ(REPTILE_ONEDNN="1"):
                dnn = {name: kernel_profile(setting(name), size, dev) for name in a.settings}
            for name, profile in dnn.items():
                print_profile(f"{name}, oneDNN where it pays", profile, rate)
        folder = Path(a.out) if a.out else R.results_root() / "bench" / "profile"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{device_name(dev)}.json"
        report = {"device": device_name(dev), "population": size, "matmul_gflops_1_thread": rate, "profiles": got,
                  "profiles_onednn": dnn,
                  "environment": environment(dev), "load_average": os.getloadavg(),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        R.atomic_write_bytes(path, (json.dumps(report, indent=1) + "\n").encode())
        print(f"wrote {path}")
        return
    if a.population_run:
        try:
            summary = population_run(a.population_run)
        except (ValueError, FileNotFoundError) as e:
            fail(parser, e)
        folder = Path(a.out) if a.out else R.results_root() / "bench" / "population"
        folder.mkdir(parents=True, exist_ok=True)
        name = slug(f"{summary['device']} {summary['preset']}")
        R.atomic_write_bytes(folder / f"{name}.json", (json.dumps(summary, indent=1) + "\n").encode())
        print(json.dumps(summary, indent=1))
        return
    report = run(a.seconds, tuple(a.population) if a.population else None, a.device, a.tf, a.authors_code,
                 a.tf_python, tuple(a.settings))
    folder = Path(a.out) if a.out else R.results_root() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report['device']}.json"
    R.atomic_write_bytes(path, (json.dumps(report, indent=1) + "\n").encode())
    from ..cli import show
    from .report import bench_table

    print(f"matrix multiply: {', '.join(f'{v:.0f} GFLOP/s on {k} thread(s)' for k, v in report['matmul_gflops'].items())}")
    show(bench_table(report), index=False)
    print(f"wrote {path}")

