"""The MAML chapter's learning curves: read from the records of finished seeds and the checkpoints of seeds under way,
beside the accuracy paper Table 2 quotes for the cell."""

import json

import matplotlib

matplotlib.use("Agg")

from reptile.artifacts import maml_curves as C  # noqa: E402
from reptile.campaign.plan import PLAN, maml_checkpoint  # noqa: E402
from reptile.train import save_checkpoint  # noqa: E402

NAME = "finn-maml-omniglot-1shot-5way"
HEAD = {"experiment": "maml", "name": NAME}  # what a stored run names


def _curve(its, accs):
    return {"iteration": list(its), "train_query_accuracy": [None] * len(its), "train_query_loss": [None] * len(its),
            "curve_accuracy_transductive": list(accs), "curve_accuracy_non_transductive": list(accs)}


def test_a_finished_seed_is_read_from_its_record_and_one_under_way_from_its_checkpoint(tmp_path):
    entry = next(e for e in PLAN if e.name == NAME)
    folder = tmp_path / "maml" / NAME
    folder.mkdir(parents=True)
    (folder / "seed-0.json").write_text(json.dumps({**HEAD, "seed": 0, "digest": entry.config.digest(),
                                                    "curve": _curve((0, 30000, 60000), (0.2, 0.9, 0.95))}))
    (folder / "seed-2.json").write_text(json.dumps({**HEAD, "seed": 2, "digest": "another configuration",
                                                    "curve": _curve((0,), (0.5,))}))  # a stale record: not read
    save_checkpoint(maml_checkpoint(entry, 1, tmp_path), {"learner": {"iteration": 2000},
                                                          "curve": _curve((0, 1000, 2000), (0.2, None, 0.5))})
    got = C.campaign_curves(tmp_path)
    assert list(got) == [NAME]  # no other entry has anything stored
    seeds = got[NAME]["seeds"]
    assert sorted(seeds) == [0, 1] and got[NAME]["total"] == entry.config.outer_iters == 60_000
    assert seeds[0] == {"iteration": [0, 30000, 60000], "accuracy": [20.0, 90.0, 95.0], "done": 60_000}
    assert seeds[1] == {"iteration": [0, 2000], "accuracy": [20.0, 50.0], "done": 2000}  # the missing point dropped
    assert got[NAME]["curve_tasks"] == entry.config.curve_tasks


def test_the_paper_s_value_is_table_2_s_for_the_algorithm_and_cell():
    from reptile.paper import TABLE2

    col = TABLE2["columns"].index("5-shot 20-way")
    assert C._paper_value("fomaml-omniglot-5shot-20way") == TABLE2["rows"]["first-order MAML + Transduction"][col][0]
    assert C._paper_value("finn-maml-omniglot-1shot-5way") == TABLE2["rows"]["MAML + Transduction"][0][0]
    assert C._paper_value("ci") is None


def test_the_figure_draws_each_seed_and_the_quoted_accuracy(tmp_path):
    got = {NAME: {"seeds": {0: {"iteration": [0, 1000], "accuracy": [50.0, 90.0], "done": 60_000},
                            1: {"iteration": [0, 1000], "accuracy": [52.0, 80.0], "done": 1000}},
                  "total": 60_000, "curve_tasks": 50}}
    runs = {"reduced-maml-omniglot-1shot-5way": [{"config": {"curve_tasks": 20}, "curve": _curve((0, 10), (0.2, 0.4))},
                                                 {"config": {"curve_tasks": 20}, "curve": _curve((0, 10), (0.4, 0.6))}]}
    fig = C.learning_curves(runs, got)
    above, below = fig.axes
    assert [tuple(line.get_ydata()) for line in above.lines] == [(30.0, 50.0)]  # the mean over the two seeds
    labels = [t.get_text() for t in below.get_legend().get_texts()]
    said = f"{C.readable(NAME)}, 1-shot 5-way"
    assert labels == [f"{said}, seed 0", f"{said}, seed 1: so far, 1,000 / 60,000",
                      f"paper Table 2, MAML, 1-shot 5-way: {C._paper_value(NAME):.1f}"]
    styles = [line.get_linestyle() for line in below.lines]
    assert styles[:2] == ["-", "--"]  # finished solid, under way dashed
    assert "50 held-out tasks per point" in below.get_title() and "20 held-out tasks per point" in above.get_title()
    empty = C.learning_curves({}, {})
    assert all(ax.texts[0].get_text() == "no runs stored yet" for ax in empty.axes)


def test_the_reduced_runs_have_a_panel_per_cell_and_a_customised_preset_says_what_it_changed():
    def run(curve_tasks=20, **config):
        return {"config": {"curve_tasks": curve_tasks, **config}, "curve": _curve((0, 10), (0.2, 0.4))}

    runs = {"reduced-finn-maml-omniglot-5shot-5way": [run()],
            "reduced-maml-omniglot-1shot-5way": [run(), run()],
            "reduced-maml-omniglot-1shot-5way-custom-0123456789": [run(protocol="reptile", network="finn")],
            "reduced-fomaml-omniglot-1shot-5way-custom-abcdef0123": [run(protocol="reptile", network="reptile")],
            "finn-maml-omniglot-1shot-5way": [run()]}  # the full budget: drawn from the campaign's curves instead
    fig = C.learning_curves(runs, {})
    one_shot, five_shot, below = fig.axes
    assert one_shot.get_title().startswith("1-shot 5-way, reduced budget")
    assert five_shot.get_title().startswith("5-shot 5-way, reduced budget")
    assert [t.get_text() for t in one_shot.get_legend().get_texts()] == [
        "first-order MAML, Reptile's protocol, customised (1 seed)", "MAML, Reptile's protocol (2 seeds)",
        "MAML, Reptile's protocol, Finn's network (1 seed)"]
    assert [t.get_text() for t in five_shot.get_legend().get_texts()] == ["MAML, Finn et al.'s protocol (1 seed)"]
    assert below.texts[0].get_text() == "no runs stored yet"
    # one colour per algorithm and protocol (and swapped network), whatever the panel, cell or budget
    got = {"finn-maml-omniglot-1shot-5way": {"seeds": {0: {"iteration": [0, 10], "accuracy": [20.0, 40.0],
                                                           "done": 10}}, "total": 60_000, "curve_tasks": 50}}
    fig = C.learning_curves(runs, got)
    one_shot, five_shot, below = fig.axes
    colour = {line.get_label(): line.get_color() for ax in fig.axes for line in ax.lines}
    finn = [c for label, c in colour.items() if label.startswith("MAML, Finn et al.'s protocol")]
    assert len(finn) == 2 and len(set(map(str, finn))) == 1  # the 5-shot reduced run and the full-budget seed
    reptile = [colour["MAML, Reptile's protocol (2 seeds)"], colour["MAML, Reptile's protocol, Finn's network (1 seed)"]]
    assert str(reptile[0]) != str(reptile[1])  # the swapped network has its own
    assert C._cell("reduced-maml-omniglot-5shot-20way-custom-0123456789") == "5-shot 20-way" and C._cell("ci") is None
