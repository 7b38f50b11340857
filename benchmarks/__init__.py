"""Reproducible benchmarks of routing, logging, verify, replay and what-if: `make bench`.

`python -m benchmarks` runs every figure of issue 6 once, on the Kent rulebook and a seeded
synthetic population, prints a table (rate, ratio to the engine floor, target, met) and writes
the results as JSON. `--smoke` runs the same code at tiny sizes (CI runs it so the benchmarks
cannot rot; it asserts no speed). See docs/performance.md.
"""
