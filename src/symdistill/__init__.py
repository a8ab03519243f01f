"""symdistill: a reproducible pipeline for Cranmer et al. 2020, "Discovering Symbolic Models from Deep
Learning with Inductive Biases" (arXiv 2006.11287).

The folders are the architecture; imports run one way, ``core → engine → {nbody, cosmology} → reporting → config``
(tests/test_layout.py):

- ``core``: names, specs, io, logs, fits, vocabulary, expressions (the whitelist parser), rendering, plotting.
- ``engine``: the symbolic search (budget, search and its child process, front, search_files) and the training
  engine (training, devices, model_files, mlp), shared by both experiments.
- ``nbody`` and ``cosmology``: the two experiments; ``reporting``: tables, figures, the report.
- ``config``, ``jobs``: the Snakefile's side (validation, each rule's params, cluster job sizes); nothing in the
  package imports them.

Each rule (rules/*.smk) → the module its script (workflow_scripts/{rule}.py) calls:

=====================  ==================================================================================
simulate, ood          ``nbody.simulate`` (``nbody.laws``, ``nbody.systems``, ``nbody.data``)
train                  ``nbody.train`` (``nbody.models``; ``engine.training``, ``engine.model_files``)
messages               ``nbody.messages``
forcefit               ``nbody.forcefit`` (Table 1)
symbolic, symbolic_rest ``nbody.symbolic`` (``engine.search``, ``engine.front``, ``engine.search_files``)
judge                  ``nbody.judge`` (Table 5)
replace                ``nbody.replacement``
distil                 ``nbody.distillation``
generalisation         ``nbody.generalisation`` (``nbody.rollout``)
generalisation_table   ``reporting.tables``
tables                 ``reporting.tables`` (``reporting.records``, ``reporting.references``, ``reporting.grid``)
figures                ``reporting.cell_figures``
report                 ``reporting.report``
halos_synthetic        ``cosmology.catalogue``
halos_file             ``cosmology.catalogue``
halos_quijote          ``cosmology.quijote``
halos_train            ``cosmology.network``
halos_messages         ``cosmology.distillation``
halos_symbolic         ``cosmology.distillation``
halos_evaluate         ``cosmology.formulas``
halos_figures          ``cosmology.table6``
table6                 ``cosmology.table6``
=====================  ==================================================================================

Importing the package is cheap: JAX and PyTorch are imported by the stage modules that need them.
"""

__version__ = "0.1.0"
