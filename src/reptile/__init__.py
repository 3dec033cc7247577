"""Reptile companion: a small PyTorch core for "Reptile: a Scalable Metalearning Algorithm".

Modules (one concern each):
  params     parameter-vector arithmetic on tuples of tensors
  optim      functional inner/outer optimisers (SGD, Adam) whose state can be saved and restored
  schedule   the linear annealing of the outer step size
  tasks      the Task container and minibatching without replacement
  core       Reptile (Algorithms 1 and 2), first-order MAML, MAML, joint training
  sine       the sine-wave task distribution and MLP of Section 3
  config     typed presets and validation
  results    the JSON results store and the environment record
"""

__version__ = "0.1.0"
