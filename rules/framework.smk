rule symbolic_rest:
    """The message components a closed model's φe carries beyond those Table 5 fits (framework.components)."""
    input:
        rules.messages.output[0],
    output:
        front="results/symbolic_rest/{dataset}/{model}/seed{seed}/front.parquet",
        result="results/symbolic_rest/{dataset}/{model}/seed{seed}/result.json",
    log:
        "results/logs/symbolic_rest/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/symbolic_rest/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/symbolic.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=rest_runtime,
    params:
        spec=search_spec,
        components=config["framework"]["components"],
    script:
        "../workflow_scripts/symbolic_rest.py"


# symbolic_rest's components judged as Table 5's are (the judge rule, its script and settings), so that
# framework.equation: judged can choose their equations too; Table 5 never reads this.
use rule judge as judge_rest with:
    input:
        model=rules.train.output.model,
        test=rules.simulate.output.test,
        messages=rules.messages.output[0],
        front=rules.symbolic_rest.output.front,
        result=rules.symbolic_rest.output.result,
    output:
        "results/judge_rest/{dataset}/{model}/seed{seed}.json",
    log:
        "results/logs/judge_rest/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/judge_rest/{dataset}/{model}/seed{seed}.tsv"


rule replace:
    """φe replaced by the cell's equations (constants as parameters), φv retrained around them."""
    input:
        model=rules.train.output.model,
        front=rules.symbolic.output.front,
        judge=rules.judge.output[0],
        rest=rules.symbolic_rest.output.front,
        rest_judge=rules.judge_rest.output[0],
        train=rules.simulate.output.train,
        test=rules.simulate.output.test,
    output:
        model="results/replaced/{dataset}/{model}/seed{seed}/model.pt",
        history="results/replaced/{dataset}/{model}/seed{seed}/history.parquet",
        metrics="results/replaced/{dataset}/{model}/seed{seed}/metrics.json",
    log:
        "results/logs/replace/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/replace/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/training.yaml"
    # On a cluster it runs in the cell's CPU job (group cell): φv alone trains, the messages are equations.
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        spec=sd.replacement_params(config),
        cell=cell_name,
    script:
        "../workflow_scripts/replace.py"


rule distil:
    """φv distilled: a search per acceleration component on the node features and summed messages, judged
    against Newton's second law; the symbolic model with no network left."""
    input:
        replaced=rules.replace.output.model,
        train=rules.simulate.output.train,
        test=rules.simulate.output.test,
    output:
        front="results/distilled/{dataset}/{model}/seed{seed}/front.parquet",
        result="results/distilled/{dataset}/{model}/seed{seed}/result.json",
        model="results/distilled/{dataset}/{model}/seed{seed}/model.json",
    log:
        "results/logs/distil/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/distil/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/symbolic.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=symbolic_runtime,
    params:
        cell=cell_name,
        search=search_spec,
        judge={k: config["judge"][k] for k in ("truth_r2", "fit_margin", "r_min")},
        refit=config["framework"]["refit"],
        equation=config["framework"]["equation"],
    script:
        "../workflow_scripts/distil.py"
