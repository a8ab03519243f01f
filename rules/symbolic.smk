rule symbolic:
    """Pareto front and Occam-selected equation for the most significant message(s)."""
    input:
        rules.messages.output[0],
    output:
        front="results/symbolic/{dataset}/{model}/seed{seed}/front.parquet",
        result="results/symbolic/{dataset}/{model}/seed{seed}/result.json",
    log:
        "results/logs/symbolic/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/symbolic/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/symbolic.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=symbolic_runtime,
    params:
        spec=search_spec,
    script:
        "../workflow_scripts/symbolic.py"


rule judge:
    """Was the known force law recovered? Strict / on-front / partial / fail, with the numbers."""
    input:
        model=rules.train.output.model,
        test=rules.simulate.output.test,
        messages=rules.messages.output[0],
        front=rules.symbolic.output.front,
        result=rules.symbolic.output.result,
    output:
        "results/judge/{dataset}/{model}/seed{seed}.json",
    log:
        "results/logs/judge/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/judge/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/training.yaml"
    resources:
        runtime=10,
    params:
        spec=judge_spec,
    script:
        "../workflow_scripts/judge.py"
