"""Run the timing of the authors' TensorFlow code (``authors_tf.py``, beside this file) from the project side.

TensorFlow is not a dependency of the project: the script runs under its own environment (``make tf-env`` builds
``.venv-tf``: TensorFlow 2.21 CPU, tf-keras and Pillow), on a checkout of openai/supervised-reptile. This module
imports neither; it starts the script with one thread, reads its JSON lines, and says what is missing when it
cannot.

* :func:`time_authors_code`: one subprocess, one timing (TensorFlow's start-up, some seconds, paid each time).
* :class:`AuthorsTimer`: one long-lived subprocess (``authors_tf.py --serve``) answering timing requests, for
  repeated measurements interleaved with the project's own (:func:`interleaved`).
* :func:`time_run_omniglot`: the authors' own ``run_omniglot.py`` on the real Omniglot, timed from inside (the
  check that the synthetic-data harness times what their script spends).
* :func:`cpu_features`: the CPU's model and vector extensions, which the ratio to the authors' code depends on.
* ``python -m reptile.bench.tf_harness --record --authors-code PATH --out results/bench/authors`` writes all of it
  for this machine to ``<out>/<cpu-slug>.json`` (:func:`record`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Callable, Sequence

from ..config import FEWSHOT_PRESETS

SCRIPT = Path(__file__).with_name("authors_tf.py")
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PYTHON = REPO_ROOT / ".venv-tf" / "bin" / "python"
SETTINGS = ("1shot-5way", "5shot-5way", "1shot-20way", "5shot-20way", "1shot-5way-transductive-eval25")
GET_CODE = ("get it with `git clone https://github.com/openai/supervised-reptile {path}` (the folder must hold "
            "supervised_reptile/reptile.py)")
GET_TF = "create it with `make tf-env` (TensorFlow 2.21 CPU and tf-keras in .venv-tf)"
EXIT_NO_TF, EXIT_NO_AUTHORS = 3, 4  # authors_tf.py's exit codes
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
# The x86 and Arm vector extensions that matter for float32 convolutions, in /proc/cpuinfo's spelling.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2")


class AuthorsCodeUnavailable(RuntimeError):
    """The authors' code cannot be timed here: its Python, TensorFlow or the code itself is missing."""


# ------------------------------------------------------------------------------------------------ settings


def check_setting(setting: str) -> str:
    """``setting`` without a leading ``"omniglot-"``; ``ValueError`` naming the allowed ones if it is unknown."""
    setting = setting.removeprefix("omniglot-")
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; allowed: {', '.join(SETTINGS)}")
    return setting


def preset_values(setting: str) -> dict:
    """The preset ``omniglot-<setting>``'s hyper-parameters in the authors' flag names; ``transductive`` (their
    evaluation flag) is set for the preset evaluated transductively (its name says so)."""
    cfg = FEWSHOT_PRESETS[f"omniglot-{setting}"]
    m = cfg.meta
    return {"classes": cfg.n_way, "shots": cfg.shots, "train_shots": cfg.train_shots,
            "inner_batch": m.inner_batch, "inner_iters": m.inner_iters, "learning_rate": m.inner_lr,
            "meta_step": m.outer_step, "meta_batch": m.meta_batch, "eval_batch": cfg.eval_batch,
            "eval_iters": cfg.eval_iters, "transductive": "transductive" in cfg.name}


def preset_flags(setting: str) -> list[str]:
    """The preset ``omniglot-<setting>``'s hyper-parameters as the script's flags (the authors' names;
    ``--transductive`` as 0 or 1)."""
    return [f"--{k.replace('_', '-')}={int(v) if isinstance(v, bool) else v!r}"
            for k, v in preset_values(setting).items()]


def _python(python: str | os.PathLike | None) -> str:
    python = Path(python) if python is not None else DEFAULT_PYTHON
    exe = shutil.which(str(python))
    if exe is None:
        raise AuthorsCodeUnavailable(f"no Python for the authors' TensorFlow code at {str(python)!r}: {GET_TF}")
    return exe


def _code(authors_code: str | os.PathLike) -> Path:
    code = Path(authors_code)
    if not (code / "supervised_reptile" / "reptile.py").is_file():
        raise AuthorsCodeUnavailable(f"the authors' code is not at {str(code)!r}: {GET_CODE.format(path=code)}")
    return code


def _env() -> dict:
    return {**os.environ, **ONE_THREAD, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _failure(returncode: int, exe: str, code: Path, cmd: Sequence[str], stderr: str) -> Exception:
    tail = "\n".join(stderr.strip().splitlines()[-8:])
    if returncode == EXIT_NO_TF:
        return AuthorsCodeUnavailable(f"TensorFlow could not be imported by {exe}; {GET_TF}.\n{tail}")
    if returncode == EXIT_NO_AUTHORS:
        return AuthorsCodeUnavailable(f"the authors' code at {str(code)!r} could not be imported; "
                                      f"{GET_CODE.format(path=code)}.\n{tail}")
    return RuntimeError(f"the authors' code failed (exit {returncode}): {' '.join(map(str, cmd))}\n{tail}")


def _run_json(cmd: list[str], exe: str, code: Path, timeout: float) -> dict:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"the authors' code did not finish within {timeout:.0f} s: {' '.join(cmd)}") from exc
    if done.returncode != 0:
        raise _failure(done.returncode, exe, code, cmd, done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"the authors' code printed no JSON line: {' '.join(cmd)}\n{tail}")
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------------------ timing


def time_authors_code(python: str | os.PathLike | None, authors_code: str | os.PathLike, setting: str,
                      seconds: float, eval_seconds: float | None = None, timeout: float | None = None) -> dict:
    """Seconds per outer iteration and per evaluation task of the authors' TensorFlow Reptile, on one thread.

    ``python``: the TensorFlow environment's interpreter (``None``: ``.venv-tf/bin/python`` of this checkout).
    ``authors_code``: a checkout of openai/supervised-reptile. ``setting``: one of :data:`SETTINGS`
    (``"omniglot-"`` in front is accepted), run with the preset ``omniglot-<setting>``'s hyper-parameters.
    ``seconds``: how long ``train_step`` is timed (``evaluate``: ``eval_seconds``, default half of that).

    Returns the script's JSON: ``seconds_per_outer_iter``, ``run_steps_per_s``, ``seconds_per_eval_task``,
    ``eval_tasks_per_s``, ``tensorflow`` (version), and the settings used. Raises
    :class:`AuthorsCodeUnavailable` naming what is missing and how to get it, ``ValueError`` for a bad setting,
    ``RuntimeError`` if the script fails otherwise.
    """
    setting = check_setting(setting)
    if not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"seconds must be a number > 0, got {seconds!r}")
    exe, code = _python(python), _code(authors_code)
    cmd = [exe, str(SCRIPT), "--authors-code", str(code), "--setting", setting, f"--seconds={seconds!r}",
           *preset_flags(setting)]
    if eval_seconds is not None:
        cmd.append(f"--eval-seconds={eval_seconds!r}")
    if timeout is None:
        timeout = 300 + 3 * seconds + 3 * (eval_seconds if eval_seconds is not None else seconds / 2)
    return _run_json(cmd, exe, code, timeout)


class AuthorsTimer:
    """The authors' TensorFlow Reptile for one setting in a long-lived subprocess (``authors_tf.py --serve``):
    TensorFlow's start-up and the graph are paid once, then each :meth:`train` / :meth:`evaluate` times their
    calls for about ``seconds`` and returns the script's JSON (``seconds_per_outer_iter`` and ``run_steps_per_s``;
    ``seconds_per_eval_task`` and ``eval_tasks_per_s``; ``load``: the 1-minute load average after).

    ``python``: the TensorFlow interpreter (``None``: ``.venv-tf/bin/python``); ``authors_code``: a checkout of
    openai/supervised-reptile; ``setting``: one of :data:`SETTINGS`. Use as a context manager or call
    :meth:`close`. ``info``: the script's ready line (TensorFlow version, hyper-parameters). Raises as
    :func:`time_authors_code` does.
    """

    def __init__(self, python: str | os.PathLike | None, authors_code: str | os.PathLike, setting: str, *,
                 warmup: int = 2, startup_timeout: float = 600.0):
        self.setting = check_setting(setting)
        exe = _python(python)
        code = _code(authors_code)
        self.cmd = [exe, str(SCRIPT), "--authors-code", str(code), "--setting", self.setting, "--serve",
                    f"--warmup={warmup}", *preset_flags(self.setting)]
        self._exe, self._code = exe, code
        self._stderr = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: TensorFlow's warnings never block
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, bufsize=1, env=_env())
        self._lines: queue.Queue = queue.Queue()  # stdout's lines, read by a thread (a timeout on each answer)
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            self.info = self._read(startup_timeout)
        except BaseException:
            self.close()
            raise

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the authors' code answered nothing within {timeout:.0f} s: "
                                   f"{' '.join(self.cmd)}")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if not line:  # the process ended
                code = self.proc.wait(timeout=30)
                raise _failure(code, self._exe, self._code, self.cmd, self._stderr_text())
            if line.startswith("{"):
                answer = json.loads(line)
                if "error" in answer:
                    raise RuntimeError(f"the authors' timing server refused a request: {answer['error']}")
                return answer

    def _ask(self, request: str, seconds: float) -> dict:
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a finite number > 0, got {seconds!r}")
        if self.proc.poll() is not None:
            raise RuntimeError("the authors' timing server has ended (closed, or failed)")
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self._read(300 + 5 * seconds)

    def train(self, seconds: float) -> dict:
        """Time their ``train_step`` for about ``seconds``."""
        return self._ask(f"train {seconds!r}", seconds)

    def evaluate(self, seconds: float, min_tasks: int = 3) -> dict:
        """Time their ``evaluate`` for about ``seconds`` and at least ``min_tasks`` tasks."""
        if not (isinstance(min_tasks, int) and min_tasks >= 1):
            raise ValueError(f"min_tasks must be an integer >= 1, got {min_tasks!r}")
        return self._ask(f"evaluate {seconds!r} {min_tasks}", seconds)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def __enter__(self) -> "AuthorsTimer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def time_run_omniglot(python: str | os.PathLike | None, authors_code: str | os.PathLike,
                      omniglot_dir: str | os.PathLike, setting: str = "1shot-5way", iters: int = 200,
                      warmup_iters: int = 20, warm_cache: bool = False, timeout: float = 1800.0) -> dict:
    """The authors' own ``run_omniglot.py`` on the real Omniglot (``omniglot_dir``: their layout, the 50 alphabet
    folders together; :func:`prepare_omniglot` makes it), with the preset's hyper-parameters as their flags, on
    one thread (``TF_NUM_*_THREADS=1``): ``warmup_iters`` + ``iters`` + 1 outer iterations, timed from inside
    (``authors_tf.py --run-omniglot``). Returns its JSON: ``seconds_per_train_step_median``/``_mean`` (their
    ``Reptile.train_step`` after the warm-up), ``seconds_per_loop_iter`` (their training loop, evaluations every
    10 iterations and checkpoints included), load averages before and after."""
    setting = check_setting(setting)
    exe, code = _python(python), _code(authors_code)
    if not (code / "run_omniglot.py").is_file():
        raise AuthorsCodeUnavailable(f"no run_omniglot.py at {str(code)!r}: {GET_CODE.format(path=code)}")
    if not Path(omniglot_dir).is_dir():
        raise ValueError(f"omniglot_dir {str(omniglot_dir)!r} is not a folder; make it with prepare_omniglot")
    cmd = [exe, str(SCRIPT), "--authors-code", str(code), "--setting", setting, "--run-omniglot",
           str(omniglot_dir), f"--iters={iters}", f"--warmup-iters={warmup_iters}", *preset_flags(setting)]
    if warm_cache:
        cmd.append("--warm-cache")
    return _run_json(cmd, exe, code, timeout)


def prepare_omniglot(zips: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """The authors' data layout (their ``fetch_data.sh``): the alphabet folders of ``images_background.zip`` and
    ``images_evaluation.zip`` (in the folder ``zips``) side by side in ``dest``. Done once: an existing ``dest``
    holding alphabet folders is returned as it is."""
    dest = Path(dest)
    if dest.is_dir() and any(p.is_dir() for p in dest.iterdir()):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("images_background", "images_evaluation"):
        path = Path(zips) / f"{name}.zip"
        if not path.is_file():
            raise FileNotFoundError(f"no {path.name} in {str(zips)!r}")
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                parts = Path(info.filename).parts
                if info.is_dir() or len(parts) < 2 or parts[0] != name or ".." in parts:
                    continue
                target = dest.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(info))
    return dest


# ------------------------------------------------------------------------------------------- interleaving


def interleaved(ours: Callable[[], float], theirs: Callable[[], float], repetitions: int,
                order: str = "ABAB") -> dict:
    """Measure ``ours`` and ``theirs`` alternately, ``repetitions`` times each, and the ratio ``ours / theirs``
    of each adjacent pair.

    Both callables return the same quantity (a rate such as inner steps per second, where a ratio above 1 means
    ours is faster; or seconds per iteration, where it means ours is slower). ``order``: ``"ABAB"`` calls ours
    then theirs in every pair; ``"ABBA"`` swaps the order every other pair (ours, theirs, theirs, ours, ...), so
    that a load drifting steadily is shared between the two.

    Returns ``{"ours": [...], "theirs": [...], "ratios": [...], "median": m, "min": lo, "max": hi,
    "spread": (hi - lo) / m, "repetitions": n, "order": order, "sequence": ["ours", "theirs", ...]}``: the values
    per repetition in the order measured, the ratio per pair, the median ratio, its range, and the range relative
    to the median. Raises ``ValueError`` for ``repetitions < 1``, an unknown ``order``, or a measurement that is
    not a finite number > 0.
    """
    if not (isinstance(repetitions, int) and not isinstance(repetitions, bool) and repetitions >= 1):
        raise ValueError(f"repetitions must be an integer >= 1, got {repetitions!r}")
    if order not in ("ABAB", "ABBA"):
        raise ValueError(f"order must be 'ABAB' or 'ABBA', got {order!r}")
    values: dict[str, list[float]] = {"ours": [], "theirs": []}
    calls = {"ours": ours, "theirs": theirs}
    sequence = []
    for i in range(repetitions):
        pair = ("theirs", "ours") if order == "ABBA" and i % 2 else ("ours", "theirs")
        for name in pair:
            v = calls[name]()
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"measurement {len(sequence) + 1} ({name}) must be a finite number > 0, got {v!r}")
            values[name].append(float(v))
            sequence.append(name)
    ratios = [a / b for a, b in zip(values["ours"], values["theirs"])]
    med = statistics.median(ratios)
    return {"ours": values["ours"], "theirs": values["theirs"], "ratios": ratios, "median": med,
            "min": min(ratios), "max": max(ratios), "spread": (max(ratios) - min(ratios)) / med,
            "repetitions": repetitions, "order": order, "sequence": sequence}


def summary(values: Sequence[float]) -> dict:
    """Median, minimum, maximum and relative spread ((max - min) / median) of repeated measurements."""
    med = statistics.median(values)
    return {"values": list(values), "median": med, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / med}


# ----------------------------------------------------------------------------------------------- the CPU


def cpu_features(cpuinfo: str | None = None) -> dict:
    """The CPU's model and vector extensions, from ``cpuinfo`` (the text of ``/proc/cpuinfo``; ``None``: read it).

    Returns ``{"model": str, "features": [...], "avx2": bool, "avx512": bool, "amx": bool, "level": str}``:
    ``features`` are those of :data:`VECTOR_FLAGS` the first processor lists (in that order), ``level`` the widest
    of ``"amx"``, ``"avx512"``, ``"avx2"``, ``"avx"``, ``"sve"``, ``"asimd"`` present (``""`` if none). Where
    ``/proc/cpuinfo`` cannot be read, the model is ``platform.processor()`` and the features are empty.
    ``family_model_stepping`` (x86's numbers, ``"?"`` where absent) and ``mhz`` are as the kernel reports them: under
    a hypervisor (KVM's generic "Intel Xeon Processor") they need not be the host's.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            import platform

            return {"model": platform.processor(), "features": [], "avx2": False, "avx512": False, "amx": False,
                    "level": "", "family_model_stepping": "?/?/?", "mhz": None}
    model, flags, ident = "", None, {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and flags is None:  # x86 'flags', Arm 'Features'
            flags = set(value.split())
        elif key in ("cpu family", "model", "stepping", "cpu mhz") and key not in ident:
            ident[key] = value.strip()
    flags = flags or set()
    if not model:  # Arm: no model name; the implementer and part numbers say which core
        ids = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in cpuinfo.splitlines())}
        if "cpu implementer" in ids:
            model = f"arm implementer {ids['cpu implementer']} part {ids.get('cpu part', '?')}"
    features = [f for f in VECTOR_FLAGS if f in flags]
    avx512, amx = "avx512f" in flags, "amx_tile" in flags
    level = next((name for name, present in (("amx", amx), ("avx512", avx512), ("avx2", "avx2" in flags),
                                             ("avx", "avx" in flags), ("sve", "sve" in flags),
                                             ("asimd", "asimd" in flags)) if present), "")
    return {"model": model, "features": features, "avx2": "avx2" in flags, "avx512": avx512, "amx": amx,
            "level": level, "family_model_stepping": "/".join(ident.get(k, "?") for k in ("cpu family", "model",
                                                                                          "stepping")),
            "mhz": ident.get("cpu mhz")}


def cpu_slug(cpu: dict) -> str:
    """A file name for a CPU (:func:`cpu_features`'s dict): its model without trademarks, frequency and the word
    'CPU', then its widest vector extension (two machines may give the same generic model name)."""
    text = re.sub(r"\((r|tm)\)|\bcpu\b|@.*$", " ", cpu["model"].lower())
    parts = [re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "cpu", cpu.get("level", "")]
    return "-".join(p for p in parts if p)


# --------------------------------------------------------------------------------------------- recording


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
                "ours": ours_name, **ratio, "ours_cpu_share": ours_share, "theirs_cpu_share": ratio_shares(trains),
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
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def cpu_shared(fn: Callable[[str, float], float], setting: str, seconds: float) -> tuple[float, float]:
    """``fn(setting, seconds)`` and the share of a core this process had meanwhile (CPU time / wall time)."""
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn(setting, seconds)
    return value, (time.process_time() - c0) / (time.perf_counter() - t0)


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
                     "ours_over_theirs_run_steps_per_s": {"ours": ours_name, **ratio} if ratio else None}
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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):  # the earlier form: AUTHORS_CODE SETTING SECONDS [PYTHON]
        a = argv
        print(json.dumps(time_authors_code(a[3] if len(a) > 3 else None, a[0], a[1], float(a[2]))))
        return 0
    p = argparse.ArgumentParser(prog="python -m reptile.bench.tf_harness",
                                description="Time the authors' TensorFlow code on this machine and record it.")
    p.add_argument("--record", action="store_true", required=True, help="time every setting and write the JSON")
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
        print(f"tf_harness: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
