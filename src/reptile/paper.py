"""The paper's own numbers, in one place, labelled as the paper's (Nichol & Schulman 2018, first arXiv version).

Source: the paper's first arXiv version (its Table 1 is Mini-ImageNet, Table 2 Omniglot: the captions follow the
tables in its text; see the book's Protocol page, book/protocol.md).
Values are accuracies in percent, ``(mean, plus-minus)``; the paper quotes its MAML rows from Finn et al., all but
one (:data:`MAML_ROW_SOURCE`). What the paper's plus-minus is, it says in one sentence (:data:`PM_SENTENCE`).
Nothing else in the package types in a result: everything else is computed from runs in ``results/``.
"""

from __future__ import annotations

# Table 1: Mini-ImageNet, 5-way
TABLE1 = {
    "columns": ["1-shot 5-way", "5-shot 5-way"],
    "rows": {
        "MAML + Transduction": [(48.70, 1.84), (63.11, 0.92)],
        "first-order MAML + Transduction": [(48.07, 1.75), (63.15, 0.91)],
        "Reptile": [(45.79, 0.44), (61.98, 0.69)],
        "Reptile + Transduction": [(48.21, 0.69), (66.00, 0.62)],
    },
}

# Table 2: Omniglot
TABLE2 = {
    "columns": ["1-shot 5-way", "5-shot 5-way", "1-shot 20-way", "5-shot 20-way"],
    "rows": {
        "MAML + Transduction": [(98.7, 0.4), (99.9, 0.1), (95.8, 0.3), (98.9, 0.2)],
        "first-order MAML + Transduction": [(98.3, 0.5), (99.2, 0.2), (89.4, 0.5), (97.9, 0.1)],
        "Reptile": [(95.32, 0.05), (98.87, 0.02), (88.27, 0.30), (97.07, 0.12)],
        "Reptile + Transduction": [(97.97, 0.08), (99.47, 0.04), (89.36, 0.20), (97.47, 0.10)],
    },
}

# Section 3 reports no numbers for the sine case study, only Figure 1 (MAML and Reptile after 0, 1 and 32 steps).

# Section 5.2 reports no numbers for Figure 3 (inner-loop gradient combinations), only its learning curves and four
# claims in words; the chapter checks the claims against our runs (reptile.artifacts.gradcomb).
FIGURE3 = None

# The paper on its Reptile rows' plus-minus (paper Section 5.1, its words): the book reads it as the standard
# deviation over the 3 seeds (book/protocol.md, "How a result is judged"), an assumption the text does not settle.
PM_SENTENCE = ("We ran each experiment with three different random seeds, and computed the confidence intervals using "
               "the standard deviation across the runs.")

# The decimals the paper prints a row's numbers with: two everywhere but Table 2's MAML rows, which it prints with
# one, as Finn et al. do (98.7 ± 0.4); a table shows the paper's numbers as printed (:func:`printed`).
DECIMALS = {(2, "MAML + Transduction"): 1, (2, "first-order MAML + Transduction"): 1}


def printed(table: int, row: str, mean: float, pm: float) -> str:
    """A number of paper Table ``table`` as the paper prints it: ``98.7 ± 0.4``, ``95.39 ± 0.09``."""
    d = DECIMALS.get((table, row), 2)
    return f"{mean:.{d}f} ± {pm:.{d}f}"


# Where each MAML row of Tables 1 and 2 comes from: Finn et al. (2017) report MAML on both datasets and first-order
# MAML on Mini-ImageNet only, so the paper's first-order MAML row for Omniglot has no source in that paper.
MAML_ROW_SOURCE = {
    (1, "MAML + Transduction"): "quoted from Finn et al.",
    (1, "first-order MAML + Transduction"): "quoted from Finn et al.",
    (2, "MAML + Transduction"): "quoted from Finn et al.",
    (2, "first-order MAML + Transduction"): "as the paper prints it; not in Finn et al., no source given",
}
