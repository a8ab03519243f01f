"""symdistill: a reproducible pipeline for Cranmer et al. 2020, "Discovering Symbolic Models from Deep
Learning with Inductive Biases" (arXiv 2006.11287).

The folders are the architecture; imports run one way, ``core → engine → {nbody, cosmology} → reporting → config``
(tests/test_layout.py):

- ``core``: names, specs, bundles, io, logs, fits, vocabulary, expressions (the whitelist parser of every formula
  and equation string), rendering, plotting; no experiment.
- ``engine``, shared by both experiments: the symbolic search (budget, search and its child process, front,
  search_files) and the training engine (training, devices, model_files, mlp).
- ``nbody`` and ``cosmology``: the two experiments, neither importing the other.
- ``reporting``: the tables, the figures of a cell, the report, a run's records and its comparison with another.
- ``config``: the Snakefile's side (validation, each rule's params, cluster job sizes); nothing in the package
  imports it.

Each rule (rules/*.smk) → the module its script (workflow_scripts/{rule}.py) calls, and what it builds on:

======================  ===============================================================================
simulate, ood           ``nbody.simulate`` (``nbody.integrator``, ``nbody.systems``, ``nbody.laws``, ``nbody.data``)
trajectories            ``nbody.trajectories`` (a system given as data, in place of simulate; ``nbody.data``)
train                   ``nbody.train`` (``nbody.models``; ``engine.training``, ``engine.model_files``)
messages                ``nbody.messages``
forcefit                ``nbody.forcefit`` (Table 1)
symbolic, symbolic_rest ``nbody.symbolic`` (``engine.search``, ``engine.front``, ``engine.search_files``)
judge                   ``nbody.judge`` (Table 5)
replace                 ``nbody.replacement``
distil                  ``nbody.distillation``
generalisation          ``nbody.generalisation`` (``nbody.rollout``)
figures                 ``reporting.cell_figures``
tables                  ``reporting.tables`` (``reporting.records``, ``.references``, ``.agreement``, ``.grid``)
generalisation_table    ``reporting.generalisation_table``
report                  ``reporting.report`` (``reporting.cell_reports``)
provenance, records     ``reporting.runrecords`` (what ran; the per-cell records a comparison reads)
compare                 ``reporting.compare`` (``reporting.runrecords``)
halos_synthetic         ``cosmology.catalogue`` (``cosmology.graph``: the radius graph every halo rule reads)
halos_file              ``cosmology.catalogue``
halos_quijote           ``cosmology.quijote`` (``cosmology.overdensity``)
halos_train             ``cosmology.training`` (``cosmology.network``)
halos_messages          ``cosmology.messages``
halos_symbolic          ``cosmology.distillation``
halos_evaluate          ``cosmology.evaluation`` (``.formulas``, ``.distillation``, ``.judge``)
halos_figures           ``cosmology.figures``
table6                  ``cosmology.table6``
======================  ===============================================================================

Importing the package is cheap: JAX and PyTorch are imported by the stage modules that need them.
"""

__version__ = "0.1.0"
