#!/usr/bin/python3
"""Reference self-BLEU and mean pairwise ROUGE-L, computed the slow, obvious way with nltk,
for checking synthforge::text::diversity_metrics (src/text/diversity.cpp).

  self_bleu_reference.py cases                       the constants in tests/unit/test_diversity.cpp
  self_bleu_reference.py file FILE [--sample K] [--seed S]
                                                     one text per line -> self-BLEU, mean ROUGE-L
  self_bleu_reference.py sample N K SEED             diversity_sample_positions(N, K, SEED), one per line

Needs nltk (Debian: apt-get install python3-nltk, hence /usr/bin/python3; the constants were
made with nltk 3.8). Self-BLEU of a list of texts: each text with at least one token is the
hypothesis of nltk's sentence_bleu against all the others as references, BLEU-4 with uniform
weights and SmoothingFunction().method1 (epsilon 0.1 on zero match counts); the mean of those
scores. Words are rouge_score's tokens (rouge_reference.tokenize). ROUGE-L: mean F1 over all
pairs i < j (rouge_reference's DP and F-measure).

With --sample K the texts are first reduced to the seeded sample diversity_metrics uses:
splitmix64, Lemire's range reduction and Floyd's algorithm over the texts that have tokens,
reimplemented here with Python integers.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rouge_reference import fmeasure, lcs_length, tokenize  # noqa: E402

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu  # noqa: E402

MASK = (1 << 64) - 1


def self_bleu(texts):
    toks = [t for t in (tokenize(x) for x in texts) if t]
    if len(toks) < 2:
        return 0.0
    smooth = SmoothingFunction().method1
    scores = [sentence_bleu(toks[:i] + toks[i + 1:], hyp, smoothing_function=smooth) for i, hyp in enumerate(toks)]
    return sum(scores) / len(scores)


def mean_pairwise_rougel(texts):
    toks = [t for t in (tokenize(x) for x in texts) if t]
    if len(toks) < 2:
        return 0.0
    total = 0.0
    for i in range(len(toks)):
        for j in range(i + 1, len(toks)):
            lcs = lcs_length(toks[i], toks[j])
            total += fmeasure(lcs / len(toks[j]), lcs / len(toks[i]))
    k = len(toks)
    return total / (k * (k - 1) / 2)


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound):
        m = self.next() * bound
        low = m & MASK
        if low < bound:
            threshold = ((1 << 64) - bound) % bound
            while low < threshold:
                m = self.next() * bound
                low = m & MASK
        return m >> 64


def diversity_sample_positions(n, k, seed):
    if k >= n:
        return list(range(n))
    rng = SplitMix64(seed)
    chosen = set()
    for j in range(n - k, n):
        t = rng.below(j + 1)
        chosen.add(j if t in chosen else t)
    return sorted(chosen)


# The sets of tests/unit/test_diversity.cpp, by the name of their constant there.
CASES = {
    "kIdentical": ["The quick brown fox jumps over the lazy dog."] * 3,
    "kDisjoint": ["alpha beta gamma delta", "one two three four", "red green blue yellow"],
    "kOneSharedWord": ["alpha beta gamma delta the", "one two three four the five", "red green the blue yellow"],
    "kShort": ["hello world", "Hello there!", "world peace now", "hi"],
    "kLengthTie": ["a b c", "a b c d e", "a b c d e f g"],
    "kClipping": ["the the the the the the the", "The cat is on the mat.", "There is a cat on the mat."],
    "kRealistic": [
        "Write a short poem about the ocean at night.",
        "Write a short story about a robot who learns to paint.",
        "Explain how photosynthesis works in simple terms.",
        "Explain the difference between a virus and a bacterium.",
        "List five tips for improving sleep quality.",
        "Give me a recipe for a quick vegetarian dinner.",
        "Summarize the plot of Romeo and Juliet in three sentences.",
        "Write a haiku about autumn leaves.",
        "What are the main causes of the French Revolution?",
        "Translate 'good morning, how are you?' into Spanish.",
    ],
    "kHomogeneous": [
        "Write a short story about a cat who learns to fly.",
        "Write a short story about a dog who learns to swim.",
        "Write a short story about a cat who learns to sing.",
        "Write a short story about a bird who learns to dance.",
        "Write a short story about a dog who learns to paint.",
        "Write a short story about a fish who learns to fly.",
        "Write a short story about a cat who learns to cook.",
        "Write a short story about a mouse who learns to swim.",
    ],
    "kDiverse": [
        "Explain why the sky looks blue during the day.",
        "List three uses of baking soda around the house.",
        "Translate 'thank you very much' into Japanese.",
        "How do vaccines train the immune system?",
        "Compose a limerick about a forgetful wizard.",
        "Which planets have rings, and what are they made of?",
        "Suggest a name for a bakery that sells only pies.",
        "Summarize the causes of inflation in two sentences.",
    ],
}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("cases")
    p_file = sub.add_parser("file")
    p_file.add_argument("file")
    p_file.add_argument("--sample", type=int, default=500)
    p_file.add_argument("--seed", type=int, default=0)
    p_sample = sub.add_parser("sample")
    p_sample.add_argument("n", type=int)
    p_sample.add_argument("k", type=int)
    p_sample.add_argument("seed", type=int)
    args = parser.parse_args(argv)

    if args.cmd == "cases":
        for name, texts in CASES.items():
            print(f"{name}: self_bleu={self_bleu(texts)!r} mean_rougel={mean_pairwise_rougel(texts)!r}")
    elif args.cmd == "file":
        with open(args.file, encoding="utf-8", errors="replace", newline="\n") as f:
            texts = [line[:-1] if line.endswith("\n") else line for line in f]
        texts = [t for t in texts if tokenize(t)]
        sample = [texts[i] for i in diversity_sample_positions(len(texts), args.sample, args.seed)]
        print(f"sample={len(sample)} self_bleu={self_bleu(sample)!r} mean_rougel={mean_pairwise_rougel(sample)!r}")
    else:
        for i in diversity_sample_positions(args.n, args.k, args.seed):
            print(i)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
