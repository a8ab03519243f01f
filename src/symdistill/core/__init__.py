"""What every stage shares, with no knowledge of any experiment: the pipeline's names (datasets, cells and the
checks that a file is the one its path names), a rule's settings as a spec, atomic outputs and provenance, logs,
the affine fit every comparison with a law uses, the vocabulary (outcomes, readings, marks, figure names), the
whitelist parser of every formula and equation string, and the tables' and figures' common rendering.

May import: nothing of the package outside ``core``. Light: no PyTorch or JAX.
"""
