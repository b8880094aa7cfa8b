"""The cost model of a profile's run (issue 20): counted work per stage, projected time and bytes.

One job per module:

- :mod:`harness.cost.kernels`: what one kernel call is (GEMM, decomposition, gather, transfer,
  Python iteration) and its nominal flops / bytes.
- :mod:`harness.cost.workload`: the sizes a run works on (layers, latents, positions, pair
  counts per set, draw counts), from a profile (+ the paper's Tables 5-8) or from a run's records.
- :mod:`harness.cost.recipes`: each stage's kernel recipe, a small table per stage.
- :mod:`harness.cost.stage`: stage markers and the kernel counter that holds the recipes to the
  kernels a run really calls.
- :mod:`harness.cost.throughput`: per-kernel throughput tables (measured, or datasheet-derived).
- :mod:`harness.cost.calibrate`: the microbenchmark that measures a throughput table.
- :mod:`harness.cost.project`: counts x throughputs -> seconds and peak bytes per stage.
- :mod:`harness.cost.render`: text, JSON and Markdown output of ``sae-claims cost``.
"""
