"""Model selection cost per algorithm as reservations grow: the project's sampled fit vs a full fit.

For each size and algorithm, a fresh subprocess generates and cleans the reservations, then times
(and measures the extra peak RSS of) one fit + prediction of every row:

- ``sampled`` (the project's way): fit on ``fit_sample_size`` rows; KMeans/GMM are refitted on all
  rows, DBSCAN/agglomerative assign the rest with k-NN, exactly as ``select_clustering_model`` does;
- ``all_candidates``: the whole default selection (every candidate and grid point of
  ``parameters_clustering.yml``) with the sampled strategy, as ``kedro run`` does it;
- ``full`` (the alternative): fit the algorithm on every row. Quadratic methods are only tried up to
  ``--full-cap`` rows: agglomerative ward needs an n x n distance matrix (200k rows = 320 GB).

Run: python benchmarks/clustering_model_selection.py [--sizes 50000 200000] [--full-cap 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "conf/base/parameters_clustering.yml").read_text())["clustering"]
ALGORITHMS = {
    "kmeans": {"n_clusters": 4, "n_init": 4},
    "gaussian_mixture": {"n_components": 4, "covariance_type": "diag"},
    "dbscan": {"eps": 1.5, "min_samples": 10},
    "agglomerative": {"n_clusters": 4, "linkage": "ward"},
}
ALL = "all_candidates"
QUADRATIC = {"dbscan", "agglomerative", ALL}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(algorithm: str, rows: int, strategy: str) -> dict:
    """One measurement, run inside a child process so peak RSS belongs to it alone."""
    from cripto_platform.pipelines.clustering import nodes
    from cripto_platform.run_metadata import new_run_metadata
    from cripto_platform.sources.reservations import generate_reservations

    clean, _ = nodes.clean_reservations(generate_reservations(rows, seed=11))
    if algorithm == ALL:  # the whole default model selection: every candidate and grid point
        selection = dict(PARAMS["model_selection"])
    else:
        spec = PARAMS["model_selection"]["candidates"][algorithm]
        selection = {
            **PARAMS["model_selection"],
            "candidates": {algorithm: {"class": spec["class"], "grid": {k: [v] for k, v in ALGORITHMS[algorithm].items()}}},
            "selection": {"metric": "silhouette", "min_clusters": 1, "max_noise_fraction": 1.0},
        }
    if strategy == "full":
        selection["fit_sample_size"] = rows
        selection["score_sample_size"] = min(rows, PARAMS["model_selection"]["score_sample_size"])
    before = _rss_mb()
    started = time.perf_counter()
    model, _ = nodes.select_clustering_model(clean, {**PARAMS, "model_selection": selection}, new_run_metadata())
    model.predict(clean)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "extra_peak_mb": round(_rss_mb() - before, 1)}


def run_child(algorithm: str, rows: int, strategy: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", algorithm, str(rows), strategy],
        capture_output=True, text=True, timeout=1800,
    )
    if out.returncode != 0:
        return {"seconds": None, "extra_peak_mb": None, "error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000, 200000])
    parser.add_argument("--full-cap", type=int, default=20000, help="largest full fit tried for quadratic methods")
    parser.add_argument("--algorithms", nargs="+", default=[*ALGORITHMS, ALL])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        algorithm, rows, strategy = args.child
        print(json.dumps(measure(algorithm, int(rows), strategy)))
        return

    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"fit_sample_size={PARAMS['model_selection']['fit_sample_size']}")
    print("| algorithm | rows | sampled s | sampled extra MB | full s | full extra MB | full/sampled time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for algorithm in args.algorithms:
        for rows in args.sizes:
            sampled = run_child(algorithm, rows, "sampled")
            if algorithm in QUADRATIC and rows > args.full_cap:
                full = {"seconds": None, "extra_peak_mb": None, "error": f"skipped above {args.full_cap} rows (quadratic)"}
            else:
                full = run_child(algorithm, rows, "full")
            ratio = (
                f"{full['seconds'] / sampled['seconds']:.1f}x"
                if full.get("seconds") and sampled.get("seconds") else full.get("error", "")
            )
            print(
                f"| {algorithm} | {rows} | {sampled['seconds']} | {sampled['extra_peak_mb']} | "
                f"{full['seconds'] if full['seconds'] is not None else '—'} | "
                f"{full['extra_peak_mb'] if full['extra_peak_mb'] is not None else '—'} | {ratio} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
