"""Run chapter notebooks through papermill for some seeds, or refresh their stored outputs.

    python -m reptile.runner run book/sine.ipynb --seeds 0 1 2 -p preset paper -p recompute True --jobs 2
    python -m reptile.runner run book/fewshot.ipynb --seeds 0 1 2 -p preset reduced-omniglot-1shot-5way
    python -m reptile.runner refresh book/*.ipynb

``run`` reads the parameters the notebook declares (its cell tagged ``parameters``) and injects what it declares:
a notebook with ``seed`` is executed once per seed (``--jobs`` at a time); a notebook with ``seeds`` (a list) is
executed once with the whole list. Every ``-p`` name must be one of the notebook's parameters, checked before
anything runs; so is every value a chapter's own code would refuse (its preset, overrides, seeds, device...), before
the first kernel starts. Every execution writes its result JSON under ``results/`` and its executed copy under
``runs/``; the chapter then aggregates every seed it finds. ``refresh`` re-executes notebooks in place with their
committed defaults, so that the outputs stored in them (which ``pytest --nbval`` compares) match the committed results.
"""

from __future__ import annotations

import argparse
import ast
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from .cli import parse_value
from .results import REPO_ROOT
from .validate import SEED_MAX, parse_bool, resolve_device, validate_seed, validate_seeds

SEED_NAMES = ("seed", "seeds")


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The parameters ``notebook`` declares in its cell tagged ``parameters`` (papermill's ``inspect_notebook``):
    name -> ``{"default": source text, "help": comment, ...}``."""
    import papermill as pm

    try:
        params = pm.inspect_notebook(str(notebook))
    except Exception as e:
        raise SystemExit(f"cannot read the parameters of {notebook} ({type(e).__name__}: {e})") from e
    if not params:
        raise SystemExit(f"{notebook} has no code cell tagged 'parameters', so it takes no parameters and no seeds")
    return params


def _default(declared: dict[str, dict[str, Any]], name: str) -> Any:
    try:
        return ast.literal_eval(declared[name]["default"])
    except (KeyError, ValueError, SyntaxError, TypeError):
        return None


def check_parameters(notebook: Path, parameters: dict[str, Any], declared: dict[str, dict[str, Any]]
                     ) -> dict[str, Any]:
    """``parameters`` checked against what ``notebook`` declares, before anything runs: an unknown name is an
    error listing the allowed ones; a parameter whose default is True/False takes a bool or "true"/"false"."""
    allowed = [n for n in declared if n not in SEED_NAMES]
    given_seed = [n for n in parameters if n in SEED_NAMES]
    if given_seed:
        raise SystemExit(f"give seeds with --seeds, not -p {given_seed[0]}")
    unknown = [n for n in parameters if n not in declared]
    if unknown:
        raise SystemExit(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for "
                         f"{notebook}; allowed: {', '.join(allowed)} (and the seeds, with --seeds)")
    out = dict(parameters)
    for name, value in parameters.items():
        if isinstance(_default(declared, name), bool) and not isinstance(value, bool):
            word = value.strip().lower() if isinstance(value, str) else None
            if word not in ("true", "false"):
                raise SystemExit(f"-p {name} {value!r}: {name} is True or False; allowed: True, False, true, false")
            out[name] = word == "true"
    if "preset" in declared and "preset" not in parameters and _default(declared, "preset") is None:
        raise SystemExit(f"{notebook} trains only when given a preset (its default, None, only shows what is "
                         f"stored): add -p preset <name>")
    return out


def _check_sine(p: dict[str, Any]) -> None:
    from .config import SINE_PRESETS, resolve
    from .experiments.sine import check_memory

    check_memory(resolve(SINE_PRESETS, p.get("preset"), p.get("overrides"), p.get("methods")))
    validate_seed(p.get("seed"))
    parse_bool(p.get("recompute", False), "recompute")
    resolve_device(p.get("device", "auto"))


def _check_flat(module: str):
    def checker(p: dict[str, Any]) -> None:
        import importlib

        importlib.import_module(f"reptile.{module}").resolve(p.get("preset"), p.get("overrides"))
        validate_seed(p.get("seed"))
        parse_bool(p.get("recompute", False), "recompute")
        resolve_device(p.get("device", "auto"))

    return checker


def _check_data_root(p: dict[str, Any]) -> None:
    root = p.get("data_root")
    if root is not None and not Path(str(root)).expanduser().is_dir():
        raise ValueError(f"data_root {root!r} is not a folder; allowed: None ($REPTILE_DATA) or the folder that holds "
                         f"omniglot/ and miniimagenet/")


def _check_fewshot(p: dict[str, Any]) -> None:
    from .config import FEWSHOT_PRESETS, resolve
    from .experiments.fewshot import check_memory, pick_engine

    if p.get("preset") is None:
        return
    cfg = resolve(FEWSHOT_PRESETS, p["preset"], p.get("overrides"))
    seeds = validate_seeds(p.get("seeds"))
    parse_bool(p.get("recompute", False), "recompute")
    resolve_device(p.get("device", "auto"))
    check_memory(cfg, len(seeds) if pick_engine(cfg) == "population" else 1, p.get("device", "auto"))
    _check_data_root(p)


def _check_gradcomb(p: dict[str, Any]) -> None:
    from .experiments.fewshot import check_memory
    from .experiments.gradcomb import configs

    cfgs = configs(p.get("preset_prefix"), p.get("curves"), p.get("overrides"))
    seeds = validate_seeds(p.get("seeds"))
    train = parse_bool(p.get("recompute", False), "recompute") | parse_bool(p.get("run_missing", False), "run_missing")
    resolve_device(p.get("device", "auto"))
    if train:
        for cfg in cfgs.values():
            check_memory(cfg, len(seeds), p.get("device", "auto"))
        _check_data_root(p)


# what each chapter's own code checks before its work, run on the parameters of each execution before the first
# kernel starts (a chapter not named here is checked by its parameters cell only)
CHAPTER_CHECKS = {"sine": _check_sine, "taylor": _check_flat("experiments.taylor"),
                  "manifolds": _check_flat("experiments.manifolds"), "fewshot": _check_fewshot,
                  "gradient_combinations": _check_gradcomb}


def check_values(notebook: Path, declared: dict[str, dict[str, Any]],
                 executions: list[tuple[dict[str, Any], Path]]) -> None:
    """The values of each execution (the notebook's defaults, then what is given) checked as the chapter's code
    will check them, so that a bad one stops the runner with its message, not a papermill traceback seconds later."""
    checker = CHAPTER_CHECKS.get(notebook.stem)
    if checker is None:
        return
    defaults = {n: _default(declared, n) for n in declared}
    for parameters, _ in executions:
        try:
            checker({**defaults, **parameters})
        except ValueError as e:
            raise SystemExit(f"{notebook}: {e}") from None


def plan(notebook: Path, seeds: list[int], parameters: dict[str, Any], out_dir: Path
         ) -> list[tuple[dict[str, Any], Path]]:
    """The executions of ``run``: (parameters, executed notebook) for each, after every check."""
    if not notebook.exists():
        raise SystemExit(f"notebook {notebook} not found")
    bad = [s for s in seeds if not (0 <= s <= SEED_MAX)]
    if bad:
        raise SystemExit(f"seeds must be integers in 0..{SEED_MAX}, got {bad}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise SystemExit(f"--seeds names {repeated} more than once; give each seed once")
    declared = declared_parameters(notebook)
    parameters = check_parameters(notebook, parameters, declared)
    stem = notebook.stem
    tag = str(parameters.get("preset", _default(declared, "preset") or "default"))
    if "seeds" in declared:  # the notebook takes all its seeds in one execution
        label = "-".join(map(str, seeds)) if len(seeds) <= 8 else f"{seeds[0]}-to-{seeds[-1]}-n{len(seeds)}"
        executions = [({**parameters, "seeds": list(seeds)}, out_dir / stem / f"{tag}-seeds{label}.ipynb")]
    elif "seed" in declared:
        executions = [({**parameters, "seed": s}, out_dir / stem / f"{tag}-seed{s}.ipynb") for s in seeds]
    else:
        executions = []
    if executions:
        check_values(notebook, declared, executions)
        return executions
    raise SystemExit(f"{notebook} declares neither 'seed' nor 'seeds' among its parameters ({', '.join(declared)}), "
                     f"so it cannot be run for seeds; execute it with papermill directly")


def _execute(notebook: Path, output: Path, parameters: dict[str, Any], threads: int) -> Path:
    import papermill as pm

    # the kernel inherits these: torch reads OMP_NUM_THREADS at start-up, reptile.threads REPTILE_THREADS
    os.environ.update({"OMP_NUM_THREADS": str(threads), "REPTILE_THREADS": str(threads)})
    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
                        progress_bar=False, log_output=True)
    return output


def run(notebook: Path, seeds: list[int], parameters: dict[str, Any], jobs: int, out_dir: Path) -> list[Path]:
    executions = plan(notebook, seeds, parameters, out_dir)
    from .threads import share

    jobs = min(jobs, len(executions))
    threads = share(jobs)  # the cores divided among the executions running together: never oversubscribed
    args = [(notebook, out, params, threads) for params, out in executions]
    if jobs == 1:
        done = [_execute(*a) for a in args]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_execute, *zip(*args)))
    for path in done:
        print(f"executed {path}")
    return done


def check_notebooks(notebooks: list[Path]) -> list:
    """Every notebook of ``refresh`` read before the first executes: a missing or unreadable one stops the runner,
    naming it."""
    import nbformat

    read = []
    for nb_path in notebooks:
        if not nb_path.is_file():
            raise SystemExit(f"notebook {nb_path} not found; allowed: existing .ipynb files, e.g. book/sine.ipynb")
        try:
            read.append(nbformat.read(nb_path, as_version=4))
        except Exception as e:  # noqa: BLE001 - nbformat raises several kinds for a file that is not a notebook
            raise SystemExit(f"{nb_path} is not a readable notebook ({type(e).__name__}: {str(e)[:200]}); allowed: "
                             f".ipynb files, e.g. book/sine.ipynb") from None
    return read


def refresh(notebooks: list[Path]) -> None:
    import nbformat
    from nbclient import NotebookClient

    for nb_path, nb in zip(notebooks, check_notebooks(notebooks)):
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
    p_run = sub.add_parser("run", help="execute a notebook for some seeds with papermill (once per seed when it "
                                       "declares `seed`, once for all when it declares `seeds`)")
    p_run.add_argument("notebook", type=Path)
    p_run.add_argument("--seeds", type=int, nargs="+", required=True)
    p_run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                       help="one of the notebook's parameters (its cell tagged `parameters`); VALUE is a Python "
                            "literal, else a string")
    p_run.add_argument("--jobs", type=int, default=1,
                       help="executions run in parallel, each with cores // jobs threads (a chapter that takes all "
                            "its seeds at once, such as the few-shot one, runs them as one population: 1 job)")
    p_run.add_argument("--out", type=Path, default=REPO_ROOT / "runs", help="where executed notebooks go")
    p_ref = sub.add_parser("refresh", help="re-execute notebooks in place with their committed defaults")
    p_ref.add_argument("notebooks", type=Path, nargs="+")
    a = parser.parse_args(argv)
    from .cli import fail

    try:  # every check raises SystemExit with its message before any kernel starts: one line, exit code 2
        if a.command == "run":
            if a.jobs < 1:
                raise SystemExit(f"--jobs must be >= 1, got {a.jobs}")
            names = [k for k, _ in a.parameter]
            repeated = sorted({k for k in names if names.count(k) > 1})
            if repeated:
                raise SystemExit(f"-p {repeated[0]} is given more than once; give each parameter once")
            parameters = {k: parse_value(v) for k, v in a.parameter}
            plan(a.notebook, a.seeds, parameters, a.out)
        else:
            check_notebooks(a.notebooks)
    except SystemExit as e:
        if isinstance(e.code, str):
            fail(parser, e.code)
        raise
    if a.command == "run":
        run(a.notebook, a.seeds, parameters, a.jobs, a.out)
    else:
        refresh(a.notebooks)


if __name__ == "__main__":
    main()
