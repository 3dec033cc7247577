"""Run chapter notebooks through papermill, once per seed, or refresh their stored outputs.

    python -m reptile.runner run book/sine.ipynb --seeds 0 1 2 -p preset paper -p recompute True --jobs 2
    python -m reptile.runner refresh book/*.ipynb

``run`` executes the notebook with its ``parameters`` cell overridden (``seed`` set to each seed in turn); every
execution writes its result JSON under ``results/`` and its executed copy under ``runs/``. The chapter then
aggregates every seed it finds. ``refresh`` re-executes notebooks in place with their committed defaults, so that the
outputs stored in them (which ``pytest --nbval`` compares) match the committed results.
"""

from __future__ import annotations

import argparse
import ast
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from .results import REPO_ROOT


def parse_value(text: str) -> Any:
    """``-p name value``: a Python literal (``True``, ``3``, ``{'outer_iters': 100}``), else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _execute(notebook: Path, output: Path, parameters: dict[str, Any], threads: int | None) -> Path:
    import papermill as pm

    env_threads = {"OMP_NUM_THREADS": str(threads)} if threads else {}
    os.environ.update(env_threads)
    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
                        progress_bar=False, log_output=True)
    return output


def run(notebook: Path, seeds: list[int], parameters: dict[str, Any], jobs: int, out_dir: Path) -> list[Path]:
    if not notebook.exists():
        raise SystemExit(f"notebook {notebook} not found")
    bad = [s for s in seeds if s < 0]
    if bad:
        raise SystemExit(f"seeds must be integers >= 0, got {bad}")
    if "seed" in parameters:
        raise SystemExit("give seeds with --seeds, not -p seed")
    stem = notebook.stem
    tag = str(parameters.get("preset", "default"))
    outputs = [out_dir / stem / f"{tag}-seed{s}.ipynb" for s in seeds]
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    args = [(notebook, out, {**parameters, "seed": s}, threads) for s, out in zip(seeds, outputs)]
    if jobs == 1:
        done = [_execute(*a) for a in args]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_execute, *zip(*args)))
    for path in done:
        print(f"executed {path}")
    return done


def refresh(notebooks: list[Path]) -> None:
    import nbformat
    from nbclient import NotebookClient

    for nb_path in notebooks:
        nb = nbformat.read(nb_path, as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(nb_path.parent)}}
                       ).execute()
        for cell in nb.cells:  # keep diffs small: no execution timestamps
            cell.get("metadata", {}).pop("execution", None)
        nbformat.write(nb, nb_path)
        print(f"refreshed {nb_path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reptile.runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute a notebook once per seed with papermill")
    p_run.add_argument("notebook", type=Path)
    p_run.add_argument("--seeds", type=int, nargs="+", required=True)
    p_run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    p_run.add_argument("--jobs", type=int, default=1, help="seeds run in parallel (threads are split among them)")
    p_run.add_argument("--out", type=Path, default=REPO_ROOT / "runs", help="where executed notebooks go")
    p_ref = sub.add_parser("refresh", help="re-execute notebooks in place with their committed defaults")
    p_ref.add_argument("notebooks", type=Path, nargs="+")
    a = parser.parse_args(argv)
    if a.command == "run":
        if a.jobs < 1:
            raise SystemExit(f"--jobs must be >= 1, got {a.jobs}")
        run(a.notebook, a.seeds, {k: parse_value(v) for k, v in a.parameter}, a.jobs, a.out)
    else:
        refresh(a.notebooks)


if __name__ == "__main__":
    main()
