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
  seeding              every random stream of a run, derived from its seed in one place
  sine, sine_experiment              Section 3: the sine-wave tasks and MLP; every method trained and evaluated
  taylor, taylor_experiment          Section 4.1: exact and leading-order meta-gradients; their numerical checks
  manifolds, manifolds_experiment    Section 4.2: tasks with known solution manifolds and Reptile on them; the runs
  datasets, omniglot, miniimagenet   data and cache roots, the Omniglot and Mini-ImageNet loaders
  fewshot, fewshot_experiment        Section 5.1: Conv4 networks, N-way K-shot tasks, evaluation; runs and CLI
  gradcomb_experiment  Section 5.2: Figure 3's inner-gradient combinations; runs and CLI
  engine               speed: a cell's seeds trained as one population, fused kernels, CUDA graphs, checkpoints
  bench                the speed benchmark (rates and ratios measured in one run)
  bench_paths          the paths the benchmark times, and the useful work they count
  campaign             the paper-budget runs, advanced a piece at a time from committed checkpoints
  campaign_workers     the campaign on several workers: processes on a CPU's cores, threads on GPU streams
  trained              a finished campaign run's trained state: its network as a module, its tasks evaluated again
  validate             shared input checks, and the error a diverging run stops with
  config               typed presets and validation
  results              the JSON results store and the environment record
  stats                means, 95% intervals and standard deviations over seeds and tasks
  paper                the paper's own numbers
  notebook             the chapters' check of their papermill parameters
  runner               papermill seed runs and output refresh
  launch               the chapters' setup cell (installs the package where it is missing, as in Colab)
  artifacts            presentation: every figure, table and key number, drawn from stored results
"""

__version__ = "0.1.0"
