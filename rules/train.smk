rule train:
    """One cell's graph network: weights, per-epoch history and the test loss (Table 3)."""
    input:
        train=rules.simulate.output.train,
        test=rules.simulate.output.test,
    output:
        model="results/models/{dataset}/{model}/seed{seed}/model.pt",
        history="results/models/{dataset}/{model}/seed{seed}/history.parquet",
        metrics="results/models/{dataset}/{model}/seed{seed}/metrics.json",
    log:
        "results/logs/train/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/training.yaml"
    # One thread per job: at hidden 128 a second thread adds 4 % (9.7k → 10.1k graphs/s), a second job 80 %.
    threads: 1
    resources:
        gpu=1,
        mem_mb=train_mb,
        runtime=train_minutes,
    params:
        spec=training_spec,
        cell=cell_name,
        device=train_device,
    script:
        "../workflow_scripts/train.py"
