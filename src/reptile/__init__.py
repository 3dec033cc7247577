"""Reptile companion: a small PyTorch core for "Reptile: a Scalable Metalearning Algorithm".

Computation and presentation live apart: the experiment modules compute and store results; ``reptile.artifacts``
draws every figure and table from the stored results, one module per chapter.

Modules (one concern each):
  params               parameter-vector arithmetic on tuples of tensors
  optim                functional inner/outer optimisers (SGD, Adam) whose state can be saved and restored
  schedule             the linear annealing of the outer step size
  tasks                the Task container and minibatching without replacement
  core                 Reptile (Algorithms 1 and 2), first-order MAML, MAML, joint training
  train                the outer loop: progress, learning curves, checkpoints, resume
  sine                 the sine-wave task distribution and MLP of Section 3
  sine_experiment      Section 3's runs: every method trained and evaluated per seed
  taylor               Section 4.1: exact and leading-order meta-gradients, Monte Carlo checks of Eqs 15-17
  manifolds            Section 4.2: tasks with known solution manifolds, Reptile with projection and with k steps
  datasets, omniglot, miniimagenet   data and cache roots, the Omniglot and Mini-ImageNet loaders
  fewshot, fewshot_experiment        Section 5.1: Conv4 networks, N-way K-shot tasks, evaluation; runs and CLI
  validate             shared input checks
  config               typed presets and validation
  results              the JSON results store and the environment record
  stats                means, 95% intervals and standard deviations over seeds and tasks
  paper                the paper's own numbers
  runner               papermill seed runs and output refresh
  artifacts            presentation: sine, taylor, manifolds, fewshot, status (figures, tables, key numbers)
"""

__version__ = "0.1.0"
