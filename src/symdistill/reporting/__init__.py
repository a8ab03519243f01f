"""What a run reports: the per-cell records the tables read, the reference values (``reference/*.csv``), Tables 1,
3 and 5, the generalisation table, the Table 5 grid, each cell's figures, the self-contained report
(``templates/``), and a run compared with another (``runrecords``: what a run recorded; ``compare``: cell by cell).

May import: ``core``, ``engine``, ``nbody`` and ``cosmology``.
"""
