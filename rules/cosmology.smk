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
