rule halos_synthetic:
    """A synthetic halo catalogue with the paper's "best with mass" law planted (docs/cosmology.md)."""
    output:
        "results/cosmology/synthetic.parquet",
    log:
        "results/logs/halos_synthetic.log",
    benchmark:
        "results/benchmarks/halos_synthetic.tsv"
    conda:
        "../envs/training.yaml"  # numpy, scipy (cKDTree), pandas, pyarrow; the cosmology GN trains there too
    threads: 1
    # Quijote's size: 1.94 GiB peak, 13 s on one core (docs/benchmarks.md)
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=config["cosmology"]["synthetic"],
    script:
        "../workflow_scripts/halos_synthetic.py"


rule halos_file:
    """A halo catalogue of your own (cosmology.file), checked and written in the pipeline's format."""
    input:
        lambda wildcards: COSMOLOGY["file"]["path"],
    output:
        "results/cosmology/file.parquet",
    log:
        "results/logs/halos_file.log",
    benchmark:
        "results/benchmarks/halos_file.tsv"
    conda:
        "../envs/training.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        box=COSMOLOGY["file"]["box"],
    script:
        "../workflow_scripts/halos_file.py"


rule halos_train:
    """The cosmology GN on one split of a catalogue: φe on every edge within the radius, φv predicting δ."""
    input:
        CATALOGUE,
    output:
        model=f"{HALO_CELL}/model.pt",
        history=f"{HALO_CELL}/history.parquet",
        metrics=f"{HALO_CELL}/metrics.json",
    log:
        "results/logs/halos_train/{catalogue}/{halo_split}.log",
    benchmark:
        "results/benchmarks/halos_train/{catalogue}/{halo_split}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 2
    # Quijote's size: 30.4M edges and their features on the device, about 3 GiB with the activations of a batch
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=halo_train_minutes,
    params:
        spec=halo_training_spec,
        cell=halo_cell,
        device=halo_train_device,
    script:
        "../workflow_scripts/halos_train.py"


rule halos_messages:
    """φe on a sample of edges (components ranked by std) and every halo's summed top messages and δ̂."""
    input:
        model=rules.halos_train.output.model,
        catalogue=CATALOGUE,
    output:
        messages=f"{HALO_CELL}/messages.parquet",
        nodes=f"{HALO_CELL}/nodes.parquet",
    log:
        "results/logs/halos_messages/{catalogue}/{halo_split}.log",
    benchmark:
        "results/benchmarks/halos_messages/{catalogue}/{halo_split}.tsv"
    conda:
        "../envs/training.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        spec=sd.halo_messages_params(config),
    script:
        "../workflow_scripts/halos_messages.py"


rule halos_symbolic:
    """Symbolic fits of φe (the summed components, on their edges) and φv (the GN's δ̂, on its training halos)."""
    input:
        messages=rules.halos_messages.output.messages,
        nodes=rules.halos_messages.output.nodes,
    output:
        front=f"{HALO_CELL}/front.parquet",
        result=f"{HALO_CELL}/result.json",
    log:
        "results/logs/halos_symbolic/{catalogue}/{halo_split}.log",
    benchmark:
        "results/benchmarks/halos_symbolic/{catalogue}/{halo_split}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=halo_search_runtime,
    params:
        spec=halo_search_spec,
        cell=halo_cell,
    script:
        "../workflow_scripts/halos_symbolic.py"


rule halos_evaluate:
    """Table 6's formulas, the GN and the distilled model (refitted) on one split; the planted law's judge."""
    input:
        unpack(halo_reference),
        catalogue=CATALOGUE,
        metrics=rules.halos_train.output.metrics,
        messages=rules.halos_messages.output.messages,
        nodes=rules.halos_messages.output.nodes,
        front=rules.halos_symbolic.output.front,
        result=rules.halos_symbolic.output.result,
    output:
        evaluation=f"{HALO_CELL}/evaluation.json",
        predictions=f"{HALO_CELL}/predictions.parquet",
    log:
        "results/logs/halos_evaluate/{catalogue}/{halo_split}.log",
    benchmark:
        "results/benchmarks/halos_evaluate/{catalogue}/{halo_split}.tsv"
    conda:
        "../envs/training.yaml"
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        spec=sd.halo_evaluation_params(config),
        cell=halo_cell,
    script:
        "../workflow_scripts/halos_evaluate.py"


rule halos_figures:
    """Message sparsity, φe against distance, and δ predicted against δ, for one split."""
    input:
        history=rules.halos_train.output.history,
        messages=rules.halos_messages.output.messages,
        evaluation=rules.halos_evaluate.output.evaluation,
        predictions=rules.halos_evaluate.output.predictions,
        catalogue=CATALOGUE,
    output:
        [f"results/figures/cosmology/{{catalogue}}/{{halo_split}}/{name}.png" for name in HALO_FIGURES],
    log:
        "results/logs/halos_figures/{catalogue}/{halo_split}.log",
    conda:
        "../envs/report.yaml"
    resources:
        runtime=10,
    params:
        cell=halo_cell,
        units=COSMOLOGY["units"],
    script:
        "../workflow_scripts/halos_figures.py"


rule table6:
    """Table 6 and the out-of-distribution test beside the paper's values."""
    input:
        halo_cell_files(rules.halos_evaluate.output.evaluation),
    output:
        csv="results/tables/table6.csv",
        md="results/tables/table6.md",
        html=report("results/tables/table6.html", caption="../report/table6.rst", category="Tables"),
    log:
        "results/logs/table6.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/table6.py"


rule halos_quijote:
    """A Quijote realisation on your disk (cosmology.quijote): its FoF halos, δ from its snapshot's particles."""
    output:
        "results/cosmology/quijote.parquet",
    log:
        "results/logs/halos_quijote.log",
    benchmark:
        "results/benchmarks/halos_quijote.tsv"
    conda:
        "../envs/training.yaml"
    threads: 4
    # 512³ particles on a 512³ mesh: 3.65 GiB peak, 31 s for δ on 2 cores (docs/benchmarks.md)
    resources:
        mem_mb=12000,
        runtime=60,
    params:
        source=COSMOLOGY["quijote"],
    script:
        "../workflow_scripts/halos_quijote.py"
