#!/usr/bin/env python3
"""Reference ROUGE-L F1 and Self-Instruct novelty filter, written to behave like Google's
rouge_score (RougeScorer(["rougeL"], use_stemmer=False)) without needing the package.

  rouge_reference.py pairs FILE                    TSV "target<TAB>prediction" per line -> repr(F1)
  rouge_reference.py filter FILE [--threshold T]   one text per line -> "keep" / "drop" per line

The filter mirrors Self-Instruct's bootstrap loop: a candidate is dropped when its F1 against any
instruction kept so far is > T, otherwise it joins the pool. Like the original it scores each pair
with the full scorer (tokenising both texts every time and filling the whole DP table), so its
speed is representative of the reference pipeline.
"""

import argparse
import re
import sys

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_VALID = re.compile(r"^[a-z0-9]+$")


def tokenize(text):
    """rouge_score's default tokenizer without stemming."""
    text = _NON_ALNUM.sub(" ", text.lower())
    return [tok for tok in _SPACES.split(text) if tok and _VALID.match(tok)]


def lcs_length(a, b):
    """Classic O(len(a) * len(b)) dynamic programme over a full table."""
    rows, cols = len(a), len(b)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table[rows][cols]


def fmeasure(precision, recall):
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def rouge_l_f1(target, prediction):
    target_tokens = tokenize(target)
    prediction_tokens = tokenize(prediction)
    if not target_tokens or not prediction_tokens:
        return 0.0
    lcs = lcs_length(target_tokens, prediction_tokens)
    precision = lcs / len(prediction_tokens)
    recall = lcs / len(target_tokens)
    return fmeasure(precision, recall)


def novelty_filter(texts, threshold):
    """Yields True (keep) / False (drop) per text, in order."""
    pool = []
    for text in texts:
        # Self-Instruct: scorer.score(candidate, pool_item) for every pool item, drop if max > T.
        if any(rouge_l_f1(text, kept) > threshold for kept in pool):
            yield False
        else:
            pool.append(text)
            yield True


def _read_lines(path):
    with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
        return [line[:-1] if line.endswith("\n") else line for line in f]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_pairs = sub.add_parser("pairs")
    p_pairs.add_argument("file")
    p_filter = sub.add_parser("filter")
    p_filter.add_argument("file")
    p_filter.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args(argv)

    out = sys.stdout
    if args.cmd == "pairs":
        for line in _read_lines(args.file):
            target, _, prediction = line.partition("\t")
            out.write(repr(rouge_l_f1(target, prediction)) + "\n")
    else:
        for keep in novelty_filter(_read_lines(args.file), args.threshold):
            out.write("keep\n" if keep else "drop\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
