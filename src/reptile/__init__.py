"""Reptile companion: a small PyTorch core for "Reptile: a Scalable Metalearning Algorithm".

Computation and presentation live apart: the experiments compute and store results; ``reptile.artifacts`` draws
every figure and table from the stored results, one module per chapter.

The package has floors; a module imports only its own floor's modules (its subpackage) and the floors below it, so
there are no import circles (tests/test_layout.py reads every import and checks this):

  6  artifacts     presentation: every figure, table and key number, drawn from stored results; imported by nothing
                   in the package (the chapters and the status page import it)
  5  runner, launch, notebook       the top-level tools: papermill seed runs and output refresh; the chapters'
                   setup cell; the chapters' check of their papermill parameters
  4  bench         the speed benchmark, ``python -m reptile.bench``: __init__ (its rows and command line), paths (the
                   timed paths and the work they count), versus (this commit against another), reference (a plain
                   nn.Module Reptile, the baseline), tf_harness + authors_tf (running the authors' TensorFlow code in
                   its own environment), authors_record (their timings on this machine, beside ours), measure
                   (interleaved ratios, the CPU's model), report (the report's table)
     campaign      the paper-budget runs advanced a piece at a time from committed checkpoints, ``python -m
                   reptile.campaign``: plan (the plan and where each population stands), trained/ (a finished run's
                   trained state: state, batch_check, and cli for ``python -m reptile.campaign.trained``), runs
                   (advancing), workers (several at once), report (the progress table), __init__ (the command line)
  3  experiments   one per chapter, each with its ``python -m reptile.experiments.<name>``: sine, taylor, manifolds,
                   fewshot (Tables 1-2), gradcomb (Figure 3)
     maml          MAML and first-order MAML for the few-shot networks, beyond the paper: algorithm (the
                   meta-gradient on torch.func, vectorised over the meta-batch), population (the same on the
                   engine's network, the second order by hand: the CPU's path), protocol (Finn et al.'s Omniglot
                   protocol and network; Reptile's data), presets (a cell's configuration and the named presets),
                   evaluation (test-time scoring after each test step), experiment (runs, ``python -m
                   reptile.maml.experiment``), probe (accuracy per test step size from a trained state), report
  2  engine        fast training and evaluation: a cell's seeds trained as one population (network, population,
                   trainer, evaluation), fused kernels, CUDA graphs, memory, torchrun ranks (distributed)
  1  data          data and cache roots (datasets), the Omniglot and Mini-ImageNet loaders, splits/ (class lists)
  0  the bottom floor: the paper's algorithm and what everything shares
       params          parameter-vector arithmetic on tuples of tensors
       optim           functional inner/outer optimisers (SGD, Adam) whose state can be saved and restored
       schedule        the linear annealing of the outer step size
       tasks           the Task container and minibatching without replacement
       core            Reptile (Algorithms 1 and 2), first-order MAML, MAML, joint training
       train           the outer loop: progress, learning curves; the checkpoint format and resume
       seeding         every random stream of a run, derived from its seed in one place
       sine, taylor, manifolds, fewshot   the chapters' models: sine-wave tasks and MLP (Section 3); exact and
                       leading-order meta-gradients (4.1); tasks with known solution manifolds (4.2); Conv4
                       networks, N-way K-shot tasks, evaluation (5)
       config          typed presets and validation
       validate        shared input checks (a run's seeds, flags, overrides, device), and the error a diverging run
                       stops with
       cli             what every command line shares: its checks, an experiment's options, printing a table
       threads         CPU thread counts that never oversubscribe the cores
       results         the JSON results store: one file per run, atomic writes, compute-or-load
       provenance      what produced a result: commit, packages, device, machine, engine switches
       stats           means, 95% intervals and standard deviations over seeds and tasks
       paper           the paper's own numbers
"""

__version__ = "0.1.0"
