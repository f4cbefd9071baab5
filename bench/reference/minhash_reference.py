#!/usr/bin/env python3
"""Python reference of datasketch-style MinHash-LSH near-duplicate removal, for the benchmarks.

datasketch is not packaged by Debian, so this is its algorithm written out, as datasketch 1.5/1.6
computes it (numpy, as datasketch does):

- MinHash: each shingle is hashed with sha1_hash32 (the first 4 bytes of SHA-1, little endian);
  num_perm permutations h_j(x) = ((a_j * x + b_j) mod (2^61 - 1)) & (2^32 - 1) with a_j in
  [1, p), b_j in [0, p) drawn by numpy.random.RandomState(seed); the signature is the minimum of
  each h_j over the shingles (MinHash.update_batch).
- LSH: the signature is cut into b bands of r rows; a band's key is its values' bytes (byteswapped,
  as MinHashLSH._H does); (b, r) minimise fp_weight * false-positive area + fn_weight *
  false-negative area of the candidate curve 1 - (1 - s^r)^b (MinHashLSH._optimal_param, with its
  midpoint integration of step 0.001). datasketch's default weights are 0.5 / 0.5.
- Dedup, as datasketch users write it: query the LSH with each document's MinHash; a document with
  candidates is a duplicate of the candidate with the highest estimated Jaccard (the share of equal
  signature values; ties to the earliest), otherwise it is inserted and kept. datasketch does not
  verify candidates against the shingle sets, so LSH false positives become false merges.

Shingles are word 5-grams of the text the way synthforge's dedup_minhash forms words (runs of
characters other than whitespace and ASCII punctuation, ASCII lowercased), joined by one space;
a text with fewer than n words has one shingle: all of its words.

  minhash_reference.py FILE [--threshold 0.8] [--num-perm 128] [--ngram 5] [--docs N]
                            [--fp-weight 0.5] [--fn-weight 0.5]

One document per line in; one decision per line out ("keep" or "dup LINE JACCARD", LINE the
1-based line of the kept document), like bench/minhash_bench_driver; the timing line goes to
stderr: "N docs ... S s (D docs/s)" over the loop only (file reading excluded).
"""
import argparse
import hashlib
import re
import struct
import sys
import time

import numpy as np

_mersenne_prime = np.uint64((1 << 61) - 1)
_max_hash = np.uint64((1 << 32) - 1)

# Whitespace, ASCII control characters and ASCII punctuation separate words (synthforge's rule;
# the typographic quotes and dashes it also treats as punctuation do not occur in the corpus).
_SEPARATORS = re.compile(r"[\s\x00-\x1f\x7f!-/:-@\[-`{-~\u2018\u2019\u201c\u201d\u2013\u2014\u2026]+")


def sha1_hash32(data):
    """datasketch.hashfunc.sha1_hash32."""
    return struct.unpack("<I", hashlib.sha1(data).digest()[:4])[0]


def shingles(text, n):
    words = [w.lower() for w in _SEPARATORS.split(text) if w]
    if not words:
        return []
    if len(words) < n:
        return [" ".join(words).encode("utf-8")]
    return list({" ".join(words[i:i + n]).encode("utf-8") for i in range(len(words) - n + 1)})


class MinHash:
    """datasketch.MinHash: init_hashvalues, _init_permutations, update_batch, jaccard."""

    def __init__(self, num_perm=128, seed=1, permutations=None):
        self.hashvalues = np.ones(num_perm, dtype=np.uint64) * _max_hash
        if permutations is None:
            gen = np.random.RandomState(seed)
            permutations = np.array([(gen.randint(1, _mersenne_prime, dtype=np.uint64),
                                      gen.randint(0, _mersenne_prime, dtype=np.uint64))
                                     for _ in range(num_perm)], dtype=np.uint64).T
        self.permutations = permutations

    def update_batch(self, b):
        hv = np.array([sha1_hash32(x) for x in b], dtype=np.uint64)
        a, b = self.permutations
        phv = np.bitwise_and(((hv * np.tile(a, (len(hv), 1)).T).T + b) % _mersenne_prime, _max_hash)
        self.hashvalues = np.vstack([phv, self.hashvalues]).min(axis=0)

    def jaccard(self, other):
        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / float(len(self.hashvalues))


def _integration(f, a, b):
    """datasketch.lsh._integration (no scipy): midpoint rule, step 0.001."""
    p = 0.001
    area = 0.0
    x = a
    while x < b:
        area += f(x + 0.5 * p) * p
        x += p
    return area


def _false_positive_probability(threshold, b, r):
    return _integration(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)


def _false_negative_probability(threshold, b, r):
    return _integration(lambda s: 1 - (1 - (1 - s ** float(r)) ** float(b)), threshold, 1.0)


def optimal_param(threshold, num_perm, fp_weight, fn_weight):
    """datasketch.lsh._optimal_param."""
    min_error = float("inf")
    opt = (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, int(num_perm / b) + 1):
            fp = _false_positive_probability(threshold, b, r)
            fn = _false_negative_probability(threshold, b, r)
            error = fp * fp_weight + fn * fn_weight
            if error < min_error:
                min_error = error
                opt = (b, r)
    return opt


class MinHashLSH:
    """datasketch.MinHashLSH with the dict storage: insert and query."""

    def __init__(self, threshold, num_perm, weights=(0.5, 0.5)):
        self.b, self.r = optimal_param(threshold, num_perm, weights[0], weights[1])
        self.hashtables = [dict() for _ in range(self.b)]
        self.hashranges = [(i * self.r, (i + 1) * self.r) for i in range(self.b)]

    @staticmethod
    def _H(hs):
        return bytes(hs.byteswap().data)

    def insert(self, key, minhash):
        for H, table in zip((self._H(minhash.hashvalues[s:e]) for s, e in self.hashranges), self.hashtables):
            table.setdefault(H, []).append(key)

    def query(self, minhash):
        candidates = set()
        for (start, end), table in zip(self.hashranges, self.hashtables):
            for key in table.get(self._H(minhash.hashvalues[start:end]), ()):
                candidates.add(key)
        return candidates


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--docs", type=int, default=0, help="only the first N documents (0: all)")
    ap.add_argument("--fp-weight", type=float, default=0.5)
    ap.add_argument("--fn-weight", type=float, default=0.5)
    args = ap.parse_args()

    with open(args.file, encoding="utf-8") as f:
        docs = [line.rstrip("\n") for line in f]
    if args.docs:
        docs = docs[:args.docs]

    # Setting up is not timed, as in the C++ driver: choosing (b, r) and drawing the permutations
    # once (datasketch accepts them through MinHash(permutations=...); drawing them anew for each
    # document would cost more than hashing it).
    lsh = MinHashLSH(args.threshold, args.num_perm, (args.fp_weight, args.fn_weight))
    permutations = MinHash(args.num_perm, seed=1).permutations
    t0 = time.perf_counter()
    kept = {}  # line -> MinHash
    out = []
    for line, text in enumerate(docs, start=1):
        m = MinHash(args.num_perm, permutations=permutations)
        m.update_batch(shingles(text, args.ngram))
        candidates = lsh.query(m)
        if candidates:
            best = max(sorted(candidates), key=lambda c: kept[c].jaccard(m))  # max keeps the earliest tie
            out.append("dup %d %.6f" % (best, kept[best].jaccard(m)))
        else:
            lsh.insert(line, m)
            kept[line] = m
            out.append("keep")
    secs = time.perf_counter() - t0
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    print("%d docs, %d kept; bands %d x rows %d; %.3f s (%.0f docs/s)"
          % (len(docs), len(kept), lsh.b, lsh.r, secs, len(docs) / secs), file=sys.stderr)


if __name__ == "__main__":
    main()
