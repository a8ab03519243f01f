rule simulate:
    """n-body trajectories (JAX) → the train and test splits of one dataset."""
    output:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
    log:
        "results/logs/simulate/{dataset}.log",
    benchmark:
        "results/benchmarks/simulate/{dataset}.tsv"
    wildcard_constraints:
        dataset=sd.dataset_pattern(config, data=False),
    conda:
        "../envs/simulation.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        spec=simulation_spec,
        law=pair_law,
    script:
        "../workflow_scripts/simulate.py"


rule ood:
    """An out-of-distribution set: the test split's simulations from initial conditions shifted as config ood says."""
    output:
        "results/data/{dataset}/ood/{shift}.parquet",
    log:
        "results/logs/ood/{dataset}/{shift}.log",
    benchmark:
        "results/benchmarks/ood/{dataset}/{shift}.tsv"
    wildcard_constraints:
        dataset=sd.dataset_pattern(config, data=False),
    conda:
        "../envs/simulation.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        spec=simulation_spec,
        law=pair_law,
        shift=ood_shift,
    script:
        "../workflow_scripts/ood.py"


rule trajectories:
    """A system given as data (systems.NAME.trajectories): the file, checked and completed, as the train and test
    splits of its dataset (docs/systems.md)."""
    input:
        trajectory_file,
    output:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
    log:
        "results/logs/trajectories/{dataset}.log",
    benchmark:
        "results/benchmarks/trajectories/{dataset}.tsv"
    wildcard_constraints:
        dataset=sd.dataset_pattern(config, data=True),
    conda:
        "../envs/simulation.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        spec=trajectory_spec,
    script:
        "../workflow_scripts/trajectories.py"


rule hypothesis_ood:
    """An out-of-distribution set of a system given as data with a law: its test split's first states shifted as
    config ood says, integrated under the supposed law (systems.NAME.law) to the stored times."""
    input:
        test=rules.trajectories.output.test,
    output:
        "results/data/{dataset}/ood/{shift}.parquet",
    log:
        "results/logs/ood/{dataset}/{shift}.log",
    benchmark:
        "results/benchmarks/ood/{dataset}/{shift}.tsv"
    wildcard_constraints:
        dataset=sd.dataset_pattern(config, data=True),
    conda:
        "../envs/simulation.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        law=pair_law,
        shift=hypothesis_shift,
        tolerances=integration_tolerances(),
    script:
        "../workflow_scripts/hypothesis_ood.py"
