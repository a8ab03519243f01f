"""symdistill: a reproducible pipeline for Cranmer et al. 2020, "Discovering Symbolic Models from Deep
Learning with Inductive Biases" (arXiv 2006.11287).

Stages, one module each, in the order of the paper: ``simulate`` → ``train`` (``models``) → ``messages`` →
``forcefit`` → ``symbolic`` → ``judge`` → ``tables`` → ``report``. Importing the package is cheap: JAX and
PyTorch are imported by the stage modules that need them.
"""

__version__ = "0.1.0"
