rule simulate:
    """n-body trajectories (JAX) → the train and test splits of one dataset."""
    output:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
    params:
        spec=simulation_spec,
    log:
        "results/logs/simulate/{dataset}.log",
    benchmark:
        "results/benchmarks/simulate/{dataset}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../envs/simulation.yaml"
    script:
        "../workflow_scripts/simulate.py"
