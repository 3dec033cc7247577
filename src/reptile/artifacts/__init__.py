"""The book's figures and tables, one module per chapter, each rebuilt from stored result records only.

Experiment modules compute and store; these modules draw. Every function takes run records (the dicts that
``reptile.results`` loads from ``results/``) and returns a matplotlib figure, a pandas table, a line of text or the
formatted numbers a chapter's prose quotes; nothing here trains or recomputes.

  sine       Section 3, Figure 1: the sine-wave chapter's figures, MSE table and key numbers
  taylor     Section 4.1: errors of the leading-order expansion, Equations 15-17, the k-step coefficients
  manifolds  Section 4.2, Figure 2: Reptile's iterates, fixed points and distance tables
  fewshot    Tables 1 and 2 in the paper's layout, what each configuration rests on, learning curves
  gradcomb   Section 5.2, Figure 3: the ten gradient-combination curves, final accuracies, the paper's claims
  status     the status page: coverage of the paper's artifacts, the environments behind the stored runs
  common     shared helpers: the non-empty check and the label of what a ``±`` is

A chapter imports its own module, e.g. ``from reptile.artifacts import sine``. The paper's own numbers live in
:mod:`reptile.paper`.
"""
