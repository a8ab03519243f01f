# Tables and the report aggregate every cell; they read small files and run on the submit host.
localrules:
    tables,
    report,


rule tables:
    """Tables 1, 3 and 5 beside the paper's (and the Cambridge reproduction's) values: CSV, Markdown, HTML; Table 5
    also as one picture (PNG, SVG); in a run with systems given as data without a law, their selected equations."""
    input:
        metrics=cell_files(rules.train.output.metrics),
        forcefit=law_cell_files(rules.forcefit.output[0]),
        judge=cell_files(rules.judge.output[0]),
    output:
        **distilled_tables(),
        table5_success_csv="results/tables/table5_success.csv",
        table5_success_md="results/tables/table5_success.md",
        table5_success_html=report(
            "results/tables/table5_success.html", caption="../report/table5.rst", category="Tables"
        ),
        table1_r2_csv="results/tables/table1_r2.csv",
        table1_r2_md="results/tables/table1_r2.md",
        table1_r2_html=report("results/tables/table1_r2.html", caption="../report/table1.rst", category="Tables"),
        table3_loss_csv="results/tables/table3_loss.csv",
        table3_loss_md="results/tables/table3_loss.md",
        table3_loss_html=report("results/tables/table3_loss.html", caption="../report/table3.rst", category="Tables"),
        table5_grid_png=report("results/tables/table5_grid.png", caption="../report/table5_grid.rst", category="Tables"),
        table5_grid_svg="results/tables/table5_grid.svg",
    log:
        "results/logs/tables.log",
    benchmark:
        "results/benchmarks/tables.tsv"
    conda:
        "../envs/report.yaml"
    params:
        settings=table_settings(),
    script:
        "../workflow_scripts/tables.py"


rule figures:
    """One cell's figures: message sparsity, messages vs force, Pareto front, training curves, a GNN trajectory,
    generalisation."""
    input:
        unpack(forcefit_of),
        history=rules.train.output.history,
        model=rules.train.output.model,
        messages=rules.messages.output[0],
        front=rules.symbolic.output.front,
        judge=rules.judge.output[0],
        test=rules.simulate.output.test,
        generalisation=rules.generalisation.output[0],
    output:
        **{
            name: report(
                f"results/figures/{{dataset}}/{{model}}/seed{{seed}}/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                subcategory="{dataset}",
                labels={"model": "{model}", "seed": "{seed}", "figure": figure.label},
            )
            for name, figure in FIGURES.items()
        },
    log:
        "results/logs/figures/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/figures/{dataset}/{model}/seed{seed}.tsv"
    group:
        CELL_GROUP
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        rollout_simulation=config["report"]["rollout_simulation"],
        rollout_substeps=config["report"]["rollout_substeps"],
    script:
        "../workflow_scripts/figures.py"


rule report:
    """The self-contained reproducibility report: summary, tables, every cell's figures, provenance."""
    input:
        table5_success=rules.tables.output.table5_success_csv,
        table1_r2=rules.tables.output.table1_r2_csv,
        table3_loss=rules.tables.output.table3_loss_csv,
        grid=rules.tables.output.table5_grid_png,
        generalisation=rules.generalisation_table.output.csv,
        metrics=cell_files(rules.train.output.metrics),
        forcefit=law_cell_files(rules.forcefit.output[0]),
        judge=cell_files(rules.judge.output[0]),
        symbolic=cell_files(rules.symbolic.output.result),
        figures=figure_files,
        datasets=expand(rules.simulate.output.train, dataset=DATASETS),
        cosmology=halo_cell_files(rules.halos_evaluate.output.evaluation) if COSMOLOGY["enabled"] else [],
        cosmology_figures=halo_figure_files if COSMOLOGY["enabled"] else [],
        comparison=rules.compare.output.summary if config["compare"]["with"] else [],
    output:
        report("results/report/index.html", caption="../report/index.rst", category="Summary"),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../envs/report.yaml"
    params:
        settings=table_settings(),
        resolved_config=config,
        commit=git_commit,
        configfiles=config_files(),
        benchmarks="results/benchmarks",
    script:
        "../workflow_scripts/report.py"
