"""Run the authors' TensorFlow code (``authors_tf.py``, beside this file) from the project side.

TensorFlow is not a dependency of the project: the script runs under its own environment (``make tf-env`` builds
``.venv-tf``: TensorFlow 2.21 CPU, tf-keras and Pillow), on a checkout of openai/supervised-reptile. This module
imports neither; it starts the script with one thread, reads its JSON lines, and says what is missing when it
cannot.

* :func:`time_authors_code`: one subprocess, one timing (TensorFlow's start-up, some seconds, paid each time).
* :class:`AuthorsTimer`: one long-lived subprocess (``authors_tf.py --serve``) answering timing requests, for
  repeated measurements interleaved with the project's own (:func:`reptile.bench.measure.interleaved`).
* :func:`time_run_omniglot`: the authors' own ``run_omniglot.py`` on the real Omniglot, timed from inside (the
  check that the synthetic-data harness times what their script spends); :func:`prepare_omniglot` unpacks the data
  for it.

:mod:`reptile.bench.authors_record` records all of it for this machine (``python -m reptile.bench.authors_record``).
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Sequence

from ..config import FEWSHOT_PRESETS
from ..results import REPO_ROOT

SCRIPT = Path(__file__).with_name("authors_tf.py")
DEFAULT_PYTHON = REPO_ROOT / ".venv-tf" / "bin" / "python"
SETTINGS = ("1shot-5way", "5shot-5way", "1shot-20way", "5shot-20way", "1shot-5way-transductive-eval25")
GET_CODE = ("get it with `git clone https://github.com/openai/supervised-reptile {path}` (the folder must hold "
            "supervised_reptile/reptile.py)")
GET_TF = "create it with `make tf-env` (TensorFlow 2.21 CPU and tf-keras in .venv-tf)"
EXIT_NO_TF, EXIT_NO_AUTHORS = 3, 4  # authors_tf.py's exit codes
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


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
