"""Run the timing of the authors' TensorFlow code (``authors_tf.py``, beside this file) from the project side.

TensorFlow is not a dependency of the project: the script runs under its own environment (``make tf-env`` builds
``.venv-tf``: TensorFlow 2.21 CPU and tf-keras), on a checkout of openai/supervised-reptile. This module imports
neither; it starts the script with one thread, reads its JSON line, and says what is missing when it cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..config import FEWSHOT_PRESETS

SCRIPT = Path(__file__).with_name("authors_tf.py")
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PYTHON = REPO_ROOT / ".venv-tf" / "bin" / "python"
SETTINGS = ("1shot-5way", "5shot-5way")
GET_CODE = ("get it with `git clone https://github.com/openai/supervised-reptile {path}` (the folder must hold "
            "supervised_reptile/reptile.py)")
GET_TF = "create it with `make tf-env` (TensorFlow 2.21 CPU and tf-keras in .venv-tf)"
EXIT_NO_TF, EXIT_NO_AUTHORS = 3, 4  # authors_tf.py's exit codes
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


class AuthorsCodeUnavailable(RuntimeError):
    """The authors' code cannot be timed here: its Python, TensorFlow or the code itself is missing."""


def preset_flags(setting: str) -> list[str]:
    """The preset ``omniglot-<setting>``'s hyper-parameters as the script's flags (the authors' names)."""
    cfg = FEWSHOT_PRESETS[f"omniglot-{setting}"]
    m = cfg.meta
    values = {"classes": cfg.n_way, "shots": cfg.shots, "train_shots": cfg.train_shots,
              "inner_batch": m.inner_batch, "inner_iters": m.inner_iters, "learning_rate": m.inner_lr,
              "meta_step": m.outer_step, "meta_batch": m.meta_batch, "eval_batch": cfg.eval_batch,
              "eval_iters": cfg.eval_iters}
    return [f"--{k.replace('_', '-')}={v!r}" for k, v in values.items()]


def time_authors_code(python: str | os.PathLike | None, authors_code: str | os.PathLike, setting: str,
                      seconds: float, eval_seconds: float | None = None, timeout: float | None = None) -> dict:
    """Seconds per outer iteration and per evaluation task of the authors' TensorFlow Reptile, on one thread.

    ``python``: the TensorFlow environment's interpreter (``None``: ``.venv-tf/bin/python`` of this checkout).
    ``authors_code``: a checkout of openai/supervised-reptile. ``setting``: ``"1shot-5way"`` or ``"5shot-5way"``
    (``"omniglot-"`` in front is accepted), run with the preset ``omniglot-<setting>``'s hyper-parameters.
    ``seconds``: how long ``train_step`` is timed (``evaluate``: ``eval_seconds``, default half of that).

    Returns the script's JSON: ``seconds_per_outer_iter``, ``run_steps_per_s``, ``seconds_per_eval_task``,
    ``eval_tasks_per_s``, ``tensorflow`` (version), and the settings used. Raises
    :class:`AuthorsCodeUnavailable` naming what is missing and how to get it, ``ValueError`` for a bad setting,
    ``RuntimeError`` if the script fails otherwise.
    """
    setting = setting.removeprefix("omniglot-")
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; allowed: {', '.join(SETTINGS)}")
    if not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"seconds must be a number > 0, got {seconds!r}")
    python = Path(python) if python is not None else DEFAULT_PYTHON
    exe = shutil.which(str(python))
    if exe is None:
        raise AuthorsCodeUnavailable(f"no Python for the authors' TensorFlow code at {str(python)!r}: {GET_TF}")
    code = Path(authors_code)
    if not (code / "supervised_reptile" / "reptile.py").is_file():
        raise AuthorsCodeUnavailable(f"the authors' code is not at {str(code)!r}: {GET_CODE.format(path=code)}")
    cmd = [exe, str(SCRIPT), "--authors-code", str(code), "--setting", setting, f"--seconds={seconds!r}",
           *preset_flags(setting)]
    if eval_seconds is not None:
        cmd.append(f"--eval-seconds={eval_seconds!r}")
    env = {**os.environ, **ONE_THREAD, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if timeout is None:
        timeout = 300 + 3 * seconds + 3 * (eval_seconds if eval_seconds is not None else seconds / 2)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"the authors' code did not finish within {timeout:.0f} s: {' '.join(cmd)}") from exc
    tail = "\n".join(done.stderr.strip().splitlines()[-8:])
    if done.returncode == EXIT_NO_TF:
        raise AuthorsCodeUnavailable(f"TensorFlow could not be imported by {exe}; {GET_TF}.\n{tail}")
    if done.returncode == EXIT_NO_AUTHORS:
        raise AuthorsCodeUnavailable(f"the authors' code at {str(code)!r} could not be imported; "
                                     f"{GET_CODE.format(path=code)}.\n{tail}")
    if done.returncode != 0:
        raise RuntimeError(f"the authors' code timing failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the authors' code timing printed no JSON line: {' '.join(cmd)}\n{tail}")
    return json.loads(lines[-1])


if __name__ == "__main__":  # python -m reptile.engine.tf_harness AUTHORS_CODE SETTING SECONDS [PYTHON]
    a = sys.argv[1:]
    print(json.dumps(time_authors_code(a[3] if len(a) > 3 else None, a[0], a[1], float(a[2]))))
