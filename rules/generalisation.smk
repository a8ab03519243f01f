rule generalisation:
    """One cell's network on its test split and on every out-of-distribution set (docs/generalisation.md)."""
    input:
        unpack(closed_models),
        model=rules.train.output.model,
        test=rules.simulate.output.test,
        ood=ood_files,
    output:
        "results/generalisation/{dataset}/{model}/seed{seed}.json",
    log:
        "results/logs/generalisation/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/generalisation/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/training.yaml"
    resources:
        runtime=10,
    params:
        cell=cell_name,
        sets=ood_set_names,
        r_min=config["judge"]["r_min"],
        rollouts=config["ood"]["rollouts"],
        rollout_substeps=config["report"]["rollout_substeps"],
    script:
        "../workflow_scripts/generalisation.py"


rule generalisation_table:
    """Every cell's models in and out of distribution, and whether the symbolic model beats the network there."""
    input:
        cell_files(rules.generalisation.output[0]),
    output:
        csv="results/tables/generalisation.csv",
        md="results/tables/generalisation.md",
        html="results/tables/generalisation.html",
    log:
        "results/logs/generalisation_table.log",
    benchmark:
        "results/benchmarks/generalisation_table.tsv"
    localrule: True
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/generalisation_table.py"
