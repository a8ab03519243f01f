"""The cosmology experiment (paper §4.3): halo catalogues (synthetic, Quijote, your own), the radius graph, the
halo network and its training, its messages and symbolic distillation, Table 6's formulas, the planted law's
judge, and Table 6 with its figures.

May import: ``core`` and ``engine``; never ``nbody``.
"""
