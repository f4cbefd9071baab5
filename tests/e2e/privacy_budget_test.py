#!/usr/bin/env python3
"""`synthforge privacy budget` against an independent evaluation of the Gaussian-DP formula.

For T noisy histograms with L2 sensitivity 1 and noise sigma, mu = sqrt(T)/sigma and
delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2). This script evaluates that with
Python's math.erfc and its own bisection, and checks the CLI both ways: sigma for a budget
(T = 10, epsilon 1, 2, 4) and epsilon for a sigma, plus the default delta 1/(N ln N) and the
errors for missing arguments.
"""
import argparse
import json
import math
import subprocess
import sys


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def delta_of(eps, mu):
    return phi(-eps / mu + mu / 2) - math.exp(eps) * phi(-eps / mu - mu / 2)


def solve(f, lo, hi):
    """Smallest x in [lo, hi] with f(x) true, for f monotone false -> true."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid):
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()

    def budget(*args):
        p = subprocess.run([a.synthforge, "privacy", "budget", "--json", *args], capture_output=True, text=True)
        check(p.returncode == 0, p.stderr)
        return json.loads(p.stdout)

    T = 10
    for eps in (1.0, 2.0, 4.0):
        for delta in (1e-5, 1e-6):
            got = budget("--epsilon", str(eps), "--delta", str(delta), "--iterations", str(T))
            mu = solve(lambda m: delta_of(eps, m) >= delta, 1e-9, 50)
            want = math.sqrt(T) / mu
            check(abs(got["sigma"] - want) <= 1e-6 * want, f"eps {eps} delta {delta}: sigma {got['sigma']} != {want}")
            back = budget("--sigma", repr(got["sigma"]), "--delta", str(delta), "--iterations", str(T))
            check(abs(back["epsilon"] - eps) <= 1e-6, f"sigma {got['sigma']} gives epsilon {back['epsilon']}, not {eps}")
            print(f"T={T} eps={eps} delta={delta:g}: sigma={got['sigma']:.6f} (independent: {want:.6f})")

    # Epsilon for a given noise, at the default delta for 5,000 records.
    got = budget("--sigma", "8", "--records", "5000", "--iterations", "20")
    delta = 1 / (5000 * math.log(5000))
    check(abs(got["delta"] - delta) <= 1e-15, f"default delta {got['delta']} != {delta}")
    mu = math.sqrt(20) / 8
    want = solve(lambda e: delta_of(e, mu) <= delta, 0, 100)
    check(abs(got["epsilon"] - want) <= 1e-6, f"epsilon {got['epsilon']} != {want}")
    print(f"sigma=8 T=20 N=5000: epsilon={got['epsilon']:.6f} (independent: {want:.6f})")

    # Missing or contradictory arguments are usage errors (exit 2) that say what to give.
    for args, words in ((["--iterations", "10", "--delta", "1e-5"], "--epsilon"),
                        (["--iterations", "10", "--epsilon", "1"], "--delta"),
                        (["--iterations", "10", "--epsilon", "1", "--delta", "2"], "delta")):
        p = subprocess.run([a.synthforge, "privacy", "budget", *args], capture_output=True, text=True)
        check(p.returncode == 2 and words in p.stderr, f"{args}: rc {p.returncode}, {p.stderr!r}")
    print("argument errors: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
