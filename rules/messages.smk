rule messages:
    """φe on the edges of sampled test graphs, beside the true pair forces."""
    input:
        model=rules.train.output.model,
        test=rules.simulate.output.test,
    output:
        "results/messages/{dataset}/{model}/seed{seed}.parquet",
    log:
        "results/logs/messages/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/messages/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/training.yaml"
    resources:
        runtime=10,
    params:
        graphs=config["messages"]["graphs"],
        seed=config["messages"]["seed"],
    script:
        "../workflow_scripts/messages.py"


rule forcefit:
    """Table 1: R² of the top messages as a linear combination of the true force."""
    input:
        rules.messages.output[0],
    output:
        "results/forcefit/{dataset}/{model}/seed{seed}.json",
    log:
        "results/logs/forcefit/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/forcefit/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/training.yaml"
    resources:
        runtime=10,
    params:
        keep=config["forcefit"]["keep_fraction"],
    script:
        "../workflow_scripts/forcefit.py"
