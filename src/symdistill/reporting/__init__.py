"""What a run reports: the per-cell records the tables read, the reference values (``reference/*.csv``), Tables 1,
3 and 5, the generalisation table, the Table 5 grid, each cell's figures, and the self-contained report
(``templates/``).

May import: ``core``, ``engine``, ``nbody`` and ``cosmology``.
"""
