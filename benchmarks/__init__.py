"""Side-by-side benchmark of nhn-proxy against the physical limit (`make bench`).

`python -m benchmarks.bench` writes `benchmarks/RESULTS.md` and `benchmarks/results.json`;
see `benchmarks/README.md`.
"""
