"""The book's figures and tables, one module per chapter, each rebuilt from stored result records only.

Experiment modules compute and store; these modules draw. Every function takes run records (the dicts that
``reptile.results`` loads from ``results/``) and returns a matplotlib figure, a pandas table, a line of text or the
formatted numbers a chapter's prose quotes; nothing here trains or recomputes.

  sine       Section 3, Figure 1: the sine-wave chapter's figures, MSE table and key numbers
  sine_jacobian   the same chapter's section on first-order MAML and the Jacobian it drops (its cosines)
  taylor     Section 4.1: errors of the leading-order expansion, Equations 15-17, the k-step coefficients
  manifolds  Section 4.2, Figure 2: Reptile's iterates, fixed points and distance tables
  fewshot    Tables 1 and 2 in the paper's layout, what each configuration rests on, learning curves
  gradcomb   Section 5.2, Figure 3: the ten gradient-combination curves, final accuracies, the paper's claims
  status     the status page: coverage of the paper's artifacts, the environments behind the stored runs
  maml       the MAML chapter (beyond the paper): iteration costs, reduced runs, Table 2's MAML rows
  common     shared helpers: the captioned table, a verdict row, the label of what a ``±`` is, and the statements a
             chapter's prose makes about its runs, checked on them

A chapter imports its own module(s), e.g. ``from reptile.artifacts import sine, sine_jacobian``. The paper's own
numbers live in :mod:`reptile.paper`.
"""
