rule messages:
    """φe on the edges of sampled test graphs, beside the true pair forces."""
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.pt",
        test="results/data/{dataset}/test.parquet",
    output:
        "results/messages/{dataset}/{model}/seed{seed}.parquet",
    params:
        graphs=config["messages"]["graphs"],
        seed=config["messages"]["seed"],
    benchmark:
        "results/benchmarks/messages/{dataset}/{model}/seed{seed}.tsv"
    log:
        "results/logs/messages/{dataset}/{model}/seed{seed}.log",
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/messages.py"


rule forcefit:
    """Table 1: R² of the top messages as a linear combination of the true force."""
    input:
        "results/messages/{dataset}/{model}/seed{seed}.parquet",
    output:
        "results/forcefit/{dataset}/{model}/seed{seed}.json",
    params:
        keep=config["forcefit"]["keep_fraction"],
    benchmark:
        "results/benchmarks/forcefit/{dataset}/{model}/seed{seed}.tsv"
    log:
        "results/logs/forcefit/{dataset}/{model}/seed{seed}.log",
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/forcefit.py"
