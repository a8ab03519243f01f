rule symbolic:
    """Pareto front and Occam-selected equation for the most significant message(s)."""
    input:
        "results/messages/{dataset}/{model}/seed{seed}.parquet",
    output:
        front="results/symbolic/{dataset}/{model}/seed{seed}/front.parquet",
        result="results/symbolic/{dataset}/{model}/seed{seed}/result.json",
    params:
        spec=search_spec,
    log:
        "results/logs/symbolic/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/symbolic/{dataset}/{model}/seed{seed}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=symbolic_runtime,
    conda:
        "../envs/symbolic.yaml"
    script:
        "../workflow_scripts/symbolic.py"


rule judge:
    """Was the known force law recovered? Strict / on-front / partial / fail, with the numbers."""
    input:
        model="results/models/{dataset}/{model}/seed{seed}/model.pt",
        test="results/data/{dataset}/test.parquet",
        messages="results/messages/{dataset}/{model}/seed{seed}.parquet",
        front="results/symbolic/{dataset}/{model}/seed{seed}/front.parquet",
        result="results/symbolic/{dataset}/{model}/seed{seed}/result.json",
    output:
        "results/judge/{dataset}/{model}/seed{seed}.json",
    params:
        spec=judge_spec,
    benchmark:
        "results/benchmarks/judge/{dataset}/{model}/seed{seed}.tsv"
    log:
        "results/logs/judge/{dataset}/{model}/seed{seed}.log",
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/judge.py"
