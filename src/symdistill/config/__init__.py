"""The Snakefile's side: the config validated before any job runs (``validation``), each rule's params
(``params``) and each cluster job's size (``jobs``).

May import: anything of the package it needs to build params. Nothing in the package imports it; only the
Snakefile (rules/common.smk), the workflow scripts and the tests do. A stage that needs a name takes it from
``symdistill.core.names``.
"""
