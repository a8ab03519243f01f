"""What both experiments run on: the symbolic search (its budget, the two backends, the child process it runs in,
the front and the selected member, the files it writes and their readers) and the training engine (a run's
state, the optimiser and schedule, divergence and NaN stops, devices and deterministic kernels, checkpoints and
model files, the MLP).

May import: ``core``.
"""
