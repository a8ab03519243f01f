# symdistill: Cranmer et al. 2020, "Discovering Symbolic Models from Deep Learning with Inductive Biases",
# reproduced end to end. Stages and the files between them: README.md, "DAG contract".
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/train.smk"
include: "rules/messages.smk"
include: "rules/symbolic.smk"
include: "rules/framework.smk"
include: "rules/generalisation.smk"
include: "rules/cosmology.smk"
include: "rules/compare.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
