"""How to read the verdict of ``table2_vs_paper.csv``: coverage of our bootstrap CIs and how often the verdict
says "lower" or "higher" by chance, for our N of test cases against the paper's 14.

Run on demand (not a test; about a minute on 2 cores with the defaults):

    python bench/bench_bootstrap.py [--reps 1000] [--resamples 2000] [--seed 0]

For three per-case score distributions shaped like Table 2's (DC symmetric, DC with a left tail of failed
cases, HD95 with a right tail) and N = 5 .. 42 test cases, it draws our N cases and the paper's 14 from the
same distribution, builds our interval with the workflow's own ``bootstrap_interval`` and ``verdict`` (the paper's
mean rounded to one decimal, as printed), and reports:

- coverage: how often our 95 % interval holds the true mean (the bootstrap's own accuracy; 95 % is nominal);
- by chance: how often the verdict is "lower" or "higher" although both runs share one true mean (the paper's 14
  cases are a sample too, and our interval leaves that out);
- shift: how often the verdict is "lower" when our true mean is half an SD / one SD below the paper's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hanseg.reporting.paper_comparison import Bootstrap, bootstrap_interval, verdict

PAPER_CASES = 14
OUR_CASES = (5, 8, 11, 14, 21, 42)


def _dc_symmetric(rng: np.random.Generator, size) -> np.ndarray:
    return np.clip(rng.normal(80.0, 8.0, size), 0.0, 100.0)


def _dc_left_tail(rng: np.random.Generator, size) -> np.ndarray:
    return 100.0 * (1.0 - rng.beta(2.0, 12.0, size))  # mean 85.7 %, SD 9.1, a few poor cases


def _hd95_right_tail(rng: np.random.Generator, size) -> np.ndarray:
    return rng.lognormal(1.0, 0.5, size)  # mean 3.1 mm, SD 1.6, a few far-off cases


DISTRIBUTIONS = {
    "DC, symmetric (80 ± 8 %)": _dc_symmetric,
    "DC, left tail (86 ± 9 %)": _dc_left_tail,
    "HD95, right tail (3.1 ± 1.6 mm)": _hd95_right_tail,
}


def simulate(draw, n: int, reps: int, options: Bootstrap, rng: np.random.Generator) -> dict[str, float]:
    population = draw(rng, 2_000_000)
    mean, sd = float(population.mean()), float(population.std())
    covered = chance = half = whole = 0
    for _ in range(reps):
        ours = draw(rng, n)
        low, high = bootstrap_interval(ours, np.ones(n), rng, options)
        covered += low <= mean <= high
        paper = round(float(draw(rng, PAPER_CASES).mean()), 1)
        chance += verdict(low, high, paper) != "consistent"
        # Our true mean below the paper's by half an SD / one SD: the same interval, shifted.
        half += verdict(low - 0.5 * sd, high - 0.5 * sd, paper) == "lower"
        whole += verdict(low - sd, high - sd, paper) == "lower"
    return {"coverage": covered / reps, "chance": chance / reps, "half": half / reps, "whole": whole / reps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="simulated reproductions per cell")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples per interval")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = Bootstrap(resamples=args.resamples, min_cases=2)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    print(f"{args.reps} simulated reproductions per cell, {args.resamples} bootstrap resamples, 95 % intervals;")
    print(f"the paper's mean: {PAPER_CASES} cases from the same distribution, rounded to one decimal\n")
    header = f"{'distribution':<34} {'N':>3} {'coverage':>9} {'by chance':>10} {'-0.5 SD':>8} {'-1 SD':>6}"
    print(header)
    print("-" * len(header))
    for name, draw in DISTRIBUTIONS.items():
        for n in OUR_CASES:
            r = simulate(draw, n, args.reps, options, rng)
            print(f"{name:<34} {n:>3} {r['coverage']:>9.1%} {r['chance']:>10.1%} {r['half']:>8.1%} {r['whole']:>6.1%}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
