# Did it reproduce? This run against another, cell by cell (docs/report.md, "Comparing runs"). Small files only:
# they run on the submit host.
localrules:
    provenance,
    compare,
    records,


rule provenance:
    """What ran, as the comparison reads it: the commit, the resolved config and the config files."""
    output:
        "results/report/provenance.json",
    log:
        "results/logs/provenance.log",
    conda:
        "../envs/report.yaml"
    params:
        commit=git_commit,
        resolved_config=config,
        configfiles=config_files(),
    script:
        "../workflow_scripts/provenance.py"


rule compare:
    """This run's cells against the run named by config compare.with: summary.json, index.html and a verdict line."""
    input:
        judge=cell_files(rules.judge.output[0]),
        forcefit=law_cell_files(rules.forcefit.output[0]),
        metrics=cell_files(rules.train.output.metrics),
        search=cell_files(rules.symbolic.output.result),
        provenance=rules.provenance.output[0],
    output:
        summary="results/compare/summary.json",
        page="results/compare/index.html",
    log:
        "results/logs/compare.log",
    conda:
        "../envs/report.yaml"
    params:
        other=config["compare"]["with"],
        cells=[cell.path for cell in CELLS],
    script:
        "../workflow_scripts/compare.py"


rule records:
    """This run's small per-cell records and the hashes of its large files, to publish (docs/reference_run/records)."""
    input:
        judge=cell_files(rules.judge.output[0]),
        forcefit=law_cell_files(rules.forcefit.output[0]),
        metrics=cell_files(rules.train.output.metrics),
        search=cell_files(rules.symbolic.output.result),
        fronts=cell_files(rules.symbolic.output.front),
        models=cell_files(rules.train.output.model),
        datasets=expand([rules.simulate.output.train, rules.simulate.output.test], dataset=DATASETS),
        provenance=rules.provenance.output[0],
    output:
        directory("results/records"),
    log:
        "results/logs/records.log",
    conda:
        "../envs/report.yaml"
    params:
        cells=[cell.path for cell in CELLS],
        datasets=DATASETS,
    script:
        "../workflow_scripts/records.py"
