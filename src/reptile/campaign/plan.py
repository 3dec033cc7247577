"""The campaign's plan and where each of its populations stands: :data:`PLAN` (the paper-budget populations, in
the order the campaign advances them), their checkpoint and record paths, whether one is finished, and
:func:`progress` (one row per population, from the committed checkpoints and records). Read by the campaign's other
modules, by :mod:`reptile.campaign.trained` and by the status page; it trains nothing."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import results as R
from ..config import FEWSHOT_PRESETS, FIGURE3_PRESETS
from ..validate import check


@dataclass(frozen=True)
class Entry:
    """One population of the plan: ``seeds`` of the preset ``name`` of ``experiment``."""

    experiment: str  # 'gradcomb' (Figure 3), 'fewshot' (Tables 1-2) or 'maml' (beyond the paper)
    name: str
    seeds: tuple[int, ...] = (0, 1, 2)
    cfg: Any = None  # None: the preset ``name`` (a FewShotConfig; a MAMLExperimentConfig for 'maml')
    # after its records, its trained state evaluated again with each of these evaluation batches on all of its final
    # evaluation's tasks (reptile.campaign.trained.record_eval_batches: one more results JSON, check_record_path);
    # the entry is finished when that record is written too. Empty: no such check
    batch_check: tuple[int, ...] = ()

    @property
    def config(self):
        if self.cfg is not None:
            return self.cfg
        if self.experiment == "maml":
            from ..maml.presets import PRESETS as MAML_PRESETS

            return MAML_PRESETS[self.name]
        presets = FIGURE3_PRESETS if self.experiment == "gradcomb" else FEWSHOT_PRESETS
        return presets[self.name]

    @property
    def outer_iters(self) -> int:
        cfg = self.config
        return cfg.outer_iters if self.experiment == "maml" else cfg.meta.outer_iters

    @property
    def key(self) -> str:
        return f"{self.experiment}-{self.name}-seeds{'-'.join(map(str, self.seeds))}"


FIGURE3_CURVES = ("g1", "sum2", "avg2", "last2", "sum3", "avg3", "last3", "sum4", "avg4", "last4")
PLAN: tuple[Entry, ...] = (
    *(Entry("gradcomb", f"figure3-{c}") for c in FIGURE3_CURVES),  # Figure 3's ten curves
    Entry("fewshot", "omniglot-5shot-5way"),  # its transductive column comes from the same runs
    Entry("fewshot", "omniglot-1shot-5way"),
    Entry("fewshot", "omniglot-1shot-5way-transductive"),  # Table 5
    Entry("fewshot", "omniglot-1shot-20way"),
    Entry("fewshot", "omniglot-5shot-20way"),
    # Table 5's Omniglot cell with the evaluation batch of the authors' command for it (25, the table says 5): the
    # finished cell above is under the paper's by more than its seeds' spread; this batch raised a checkpoint's
    # transductive accuracy on every seed. Its trained networks are then evaluated with both batches on the same
    # tasks, which separates the batch's effect from the difference between two trainings
    Entry("fewshot", "omniglot-1shot-5way-transductive-eval25", batch_check=(5, 25)),
    # beyond the paper: MAML and first-order MAML, under Finn et al.'s protocol (the rows paper Table 2 quotes) and
    # under Reptile's (the only comparison on equal terms); a MAML entry trains its seeds one after another. The
    # 1-shot 5-way cells first (hours per seed on a CPU: `python -m reptile.bench --maml`), then the rest, which
    # want a GPU
    *(Entry("maml", f"{p}{a}-omniglot-1shot-5way") for p in ("finn-", "") for a in ("maml", "fomaml")),
    *(Entry("maml", f"{p}{a}-omniglot-{c}") for c in ("5shot-5way", "1shot-20way", "5shot-20way")
      for p in ("finn-", "") for a in ("fomaml", "maml")),
)


def campaign_root(results_dir=None) -> Path:
    return R.results_root(results_dir) / "campaign"


def checkpoint_path(entry: Entry, results_dir=None) -> Path:
    return campaign_root(results_dir) / f"{entry.key}.pt"


def maml_checkpoint(entry: Entry, seed: int, results_dir=None) -> Path:
    """Where a 'maml' entry keeps one seed's checkpoint: under ``results/campaign/maml/`` (committed, as the
    populations' are), laid out as :func:`reptile.maml.experiment.checkpoint_path` lays out a solo run's."""
    from ..maml.experiment import checkpoint_path as maml_path

    return maml_path(entry.config, seed, campaign_root(results_dir))


CHECK_PREFIX = "eval-batch-check"  # results/<experiment>/<name>/eval-batch-check-<outer iteration>.json


def check_record_path(experiment: str, name: str, iteration: int, results_dir=None) -> Path:
    """Where an evaluation-batch check of the state after outer iteration ``iteration`` is written
    (:func:`reptile.campaign.trained.record_eval_batches`)."""
    return R.results_root(results_dir) / experiment / name / f"{CHECK_PREFIX}-{iteration}.json"


def records_written(entry: Entry, results_dir=None) -> bool:
    """Whether every seed of ``entry`` has its results file (of this configuration)."""
    for s in entry.seeds:
        p = R.run_path(entry.experiment, entry.name, s, results_dir)
        if not p.exists() or R.read_run(p).get("digest") != entry.config.digest():
            return False
    return True


def check_partial_path(entry: Entry, results_dir=None) -> Path:
    """Where the campaign keeps the finished pieces of ``entry``'s evaluation-batch check while it is under way."""
    return campaign_root(results_dir) / f"{entry.key}-batch-check.pt"


def check_pending(entry: Entry, results_dir=None) -> bool:
    """Whether ``entry`` has its records but not yet the evaluation-batch check it plans (``batch_check``) of this
    configuration."""
    if not entry.batch_check or not records_written(entry, results_dir):
        return False
    path = check_record_path(entry.experiment, entry.name, entry.outer_iters, results_dir)
    return not path.exists() or R.read_run(path, ("digest",)).get("digest") != entry.config.digest()


def finished(entry: Entry, results_dir=None) -> bool:
    """Whether every seed of ``entry`` has its results file (of this configuration) and the entry its
    evaluation-batch check, if it plans one."""
    return records_written(entry, results_dir) and not check_pending(entry, results_dir)


def select(names=None, plan=None) -> tuple[Entry, ...]:
    """The entries of ``plan`` named in ``names`` (preset names such as ``figure3-last4``, or keys), in the order
    named, so that a call can put first what is nearly done; all of them, in the plan's order, when ``names`` is
    empty or None. An unknown name stops with the names allowed. ``plan``: :data:`PLAN` (read when called)."""
    plan = PLAN if plan is None else plan
    if not names:
        return tuple(plan)
    known = {e.name for e in plan} | {e.key for e in plan}
    unknown = [n for n in names if n not in known]
    check(not unknown, f"no planned population named {', '.join(map(repr, unknown))}; "
                       f"allowed: {', '.join(e.name for e in plan)}")
    chosen = [next(e for e in plan if n in (e.name, e.key)) for n in names]
    return tuple(dict.fromkeys(chosen))  # in the order named, each once


# --------------------------------------------------------------------------------------------------- status


def device_iterations(segments) -> dict[str, int]:
    """Device -> the outer iterations it trained, in the order the devices first ran, from a run's segments (a
    device that trained nothing is left out)."""
    done: dict[str, int] = {}
    for s in segments:
        done[s["device"]] = done.get(s["device"], 0) + s["end"] - s["start"]
    return {d: n for d, n in done.items() if n > 0}


def devices_label(segments) -> str:
    """:func:`device_iterations` as the tables show it, such as ``"NVIDIA H100 80GB HBM3: 30,026; cpu: 9,974"``."""
    return "; ".join(f"{d}: {n:,}" for d, n in device_iterations(segments).items()) or "-"


def latest_rate(segments) -> float | None:
    """Outer iterations per second of the latest segment that trained any (the device a run is on now: a run
    begun on a GPU and continued on a CPU goes at the CPU's rate); None before any."""
    for s in reversed(segments):
        if s["end"] > s["start"] and s["seconds"] > 0:
            return (s["end"] - s["start"]) / s["seconds"]
    return None


def progress(plan=PLAN, results_dir=None) -> list[dict[str, Any]]:
    """One row per planned population: iterations done of total (and on which devices), device time spent
    (training, and the final evaluation so far), the measured rate (of its latest segment) and the training time
    left at that rate; during the final evaluation, its tasks done of total, their rate so far and the time left at
    that rate; once done, the test accuracy (non-transductive, mean ± standard deviation over the seeds). The
    status page and the Figure 3 chapter draw it as a table (:func:`reptile.campaign.report.campaign_table`, shown
    compactly by :func:`reptile.artifacts.status.campaign_view`)."""
    from ..train import load_checkpoint

    rows = []
    for entry in plan:
        if entry.experiment == "maml":
            rows.append(_maml_progress(entry, results_dir))
            continue
        cfg = entry.config
        total = cfg.meta.outer_iters
        row = {"population": f"{entry.experiment}/{entry.name}", "seeds": " ".join(map(str, entry.seeds)),
               "outer iterations": f"0 / {total:,}", "device hours": 0.0, "devices": "-",
               "outer it/s": None, "hours left (training)": None, "evaluation tasks": "-",
               "evaluation tasks/s": None, "hours left (evaluation)": None, "state": "not started",
               "test accuracy (%)": "-"}
        path = checkpoint_path(entry, results_dir)
        if records_written(entry, results_dir):
            runs = [R.read_run(R.run_path(entry.experiment, entry.name, s, results_dir)) for s in entry.seeds]
            segs = runs[0].get("engine", {}).get("segments", [])
            # a configuration trained for transduction (Table 5's, *-transductive*) reports its transductive accuracy
            mode = "transductive" if "-transductive" in entry.name else "non_transductive"
            accs = [100 * r["eval"][mode]["accuracy"] for r in runs]
            spread = f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
            spread += " (transductive)" if mode == "transductive" else ""
            # a planned evaluation-batch check still to run (Entry.batch_check): the records are written, the
            # entry is not finished; its pieces done so far (one per seed and batch) are kept beside the checkpoints
            state, tasks = "done", f"{cfg.eval_tasks:,} per seed"
            if check_pending(entry, results_dir):
                part = check_partial_path(entry, results_dir)
                done = len(load_checkpoint(part)["pieces"]) if part.exists() else 0
                state = "checking evaluation batches"
                tasks = f"{done} / {len(entry.seeds) * len(entry.batch_check)} evaluations (seed and batch)"
            row.update({"outer iterations": f"{total:,} / {total:,}", "state": state,
                        "device hours": round(runs[0]["wall_seconds"] / 3600, 2),
                        "devices": devices_label(segs),
                        "evaluation tasks": tasks,
                        "test accuracy (%)": f"{statistics.mean(accs):.2f}{spread}"})
        elif path.exists():
            st = load_checkpoint(path)
            it = st["population"]["iteration"]
            secs = sum(s["seconds"] for s in st["segments"])
            rate = latest_rate(st["segments"])
            row.update({"outer iterations": f"{it:,} / {total:,}", "device hours": round(secs / 3600, 2),
                        "devices": devices_label(st["segments"]),
                        "outer it/s": None if rate is None else round(rate, 2),
                        "hours left (training)": None if rate is None else round((total - it) / rate / 3600, 1),
                        "state": "training"})
            if "evaluation" in st:
                ev = st["evaluation"]
                n, of = sum(len(a["non_transductive"]) for a in ev["accuracies"]), cfg.eval_tasks * len(entry.seeds)
                row.update({"state": "evaluating", "hours left (training)": 0.0,
                            "device hours": round((secs + ev["seconds"]) / 3600, 2),
                            "evaluation tasks": f"{n:,} / {of:,}",
                            "evaluation tasks/s": float(f"{n / ev['seconds']:.3g}") if n and ev["seconds"] else None,
                            "hours left (evaluation)": round(ev["seconds"] / n * (of - n) / 3600, 1) if n else None})
        rows.append(row)
    return rows


def _maml_progress(entry: Entry, results_dir=None) -> dict[str, Any]:
    """:func:`progress`'s row for a 'maml' entry, whose seeds train one after another: the outer iterations of all
    its seeds together, the rate of the seed under way, and once done the accuracy in the protocol's own mode
    (transductive under Finn et al.'s, non-transductive under Reptile's)."""
    from ..train import load_checkpoint

    cfg, total = entry.config, entry.outer_iters * len(entry.seeds)
    row = {"population": f"{entry.experiment}/{entry.name}", "seeds": " ".join(map(str, entry.seeds)),
           "outer iterations": f"0 / {total:,}", "device hours": 0.0, "devices": "-", "outer it/s": None,
           "hours left (training)": None, "evaluation tasks": "-", "evaluation tasks/s": None,
           "hours left (evaluation)": None, "state": "not started", "test accuracy (%)": "-"}
    done, seconds, rate, records, evaluating, pieces = 0, 0.0, None, [], None, []
    for s in entry.seeds:
        p = R.run_path(entry.experiment, entry.name, s, results_dir)
        if p.exists() and R.read_run(p).get("digest") == cfg.digest():
            r = R.read_run(p)
            records.append(r)
            pieces += r.get("pieces", [])
            done += entry.outer_iters
            seconds += r["train_seconds"] + r["eval_seconds"]
            continue
        ck = maml_checkpoint(entry, s, results_dir)
        if ck.exists():
            st = load_checkpoint(ck)
            it = st["learner"]["iteration"]
            pieces += st.get("pieces", [])
            done += it
            seconds += st["train_seconds"]
            rate = it / st["train_seconds"] if st["train_seconds"] > 0 else None
            if "evaluation" in st:  # this seed's final evaluation under way
                ev = st["evaluation"]
                n = len(next(iter(ev["accuracies"].values())))
                seconds += ev["seconds"]
                evaluating = (n, ev["seconds"])
    if len(records) == len(entry.seeds):
        mode = records[0].get("primary_mode", "transductive")
        accs = [100 * r["eval"][mode]["accuracy"] for r in records]
        spread = f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
        row.update({"state": "done", "outer iterations": f"{total:,} / {total:,}",
                    "evaluation tasks": f"{cfg.eval_tasks:,} per seed",
                    "test accuracy (%)": f"{statistics.mean(accs):.2f}{spread} ({mode.replace('_', '-')})"})
    elif done:
        row.update({"state": "training", "outer iterations": f"{done:,} / {total:,}",
                    "outer it/s": None if rate is None else round(rate, 2),
                    "hours left (training)": None if not rate else round((total - done) / rate / 3600, 1)})
        if records:  # the seeds finished so far
            mode = records[0].get("primary_mode", "transductive")
            accs = [100 * r["eval"][mode]["accuracy"] for r in records]
            row["test accuracy (%)"] = (f"{statistics.mean(accs):.2f} ({len(records)} of {len(entry.seeds)} seeds; "
                                        f"{mode.replace('_', '-')})")
        if evaluating is not None:  # a seed's evaluation (the seeds after it still to train)
            n, secs = evaluating
            row.update({"state": "evaluating", "evaluation tasks": f"{n:,} / {cfg.eval_tasks:,} (a seed)",
                        "evaluation tasks/s": float(f"{n / secs:.3g}") if n and secs else None,
                        "hours left (evaluation)": round(secs / n * (cfg.eval_tasks - n) / 3600, 1) if n else None})
    row["device hours"] = round(seconds / 3600, 2)
    row["devices"] = devices_label(pieces)  # which device trained how many outer iterations, all seeds together
    return row
