#!/usr/bin/env python3
"""Synthetic corpus with planted near-duplicates of known Jaccard, for bench/minhash_bench.sh.

Documents are about SIZE characters of words drawn from a Zipf-distributed vocabulary
(so common words recur as in real text), written as sentences. A share of the documents
are planted near-duplicates: a copy of an earlier original with a few random edits
(replace, insert or delete a word, or replace two adjacent words), kept only when the
Jaccard similarity of the two documents' word 5-shingle sets is at least --min-jaccard.
Another share are "hard negatives": copies with enough edits that their Jaccard with the
original lies between 0.3 and 0.7, which a dedup at threshold 0.8 must keep.

Shingles are computed the way synthforge's dedup_minhash computes them for this text:
lowercased words (the vocabulary is [a-z] only), punctuation ignored, 5 at a time.

Writes:
  OUT.txt    one document per line
  OUT.jsonl  {"id": line number, "text": document}
  OUT.truth  per document: line, kind (orig | dup | neg), source line (0 for orig), Jaccard
"""
import argparse
import bisect
import itertools
import random
import re

WORD = re.compile(r"[a-z0-9]+")


def shingles(text, n=5):
    w = WORD.findall(text.lower())
    if len(w) < n:
        return {tuple(w)} if w else set()
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def jaccard(a, b):
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def make_vocab(rng, size):
    words = set()
    while len(words) < size:
        length = min(12, max(1, int(rng.expovariate(1 / 5.0)) + 1))
        words.add("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(length)))
    return sorted(words)


def to_text(words):
    # Sentences of 8 to 20 words: capitalised, ending with a full stop, commas here and there.
    out, i, rng = [], 0, random.Random(len(words) * 7919 + len(words[0]))
    while i < len(words):
        k = rng.randint(8, 20)
        sent = words[i:i + k]
        i += k
        parts = []
        for j, w in enumerate(sent):
            if j == 0:
                w = w.capitalize()
            if j < len(sent) - 1 and rng.random() < 0.08:
                w += ","
            parts.append(w)
        out.append(" ".join(parts) + ".")
    return " ".join(out)


def edit(rng, words, vocab, sample):
    w = list(words)
    op = rng.random()
    i = rng.randrange(len(w))
    if op < 0.4:
        w[i] = sample()
    elif op < 0.6:
        w.insert(i, sample())
    elif op < 0.8 and len(w) > 10:
        del w[i]
    else:
        w[i] = sample()
        if i + 1 < len(w):
            w[i + 1] = sample()
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--docs", type=int, default=100000)
    ap.add_argument("--size", type=int, default=1000, help="characters per document (about)")
    ap.add_argument("--dup-fraction", type=float, default=0.10)
    ap.add_argument("--neg-fraction", type=float, default=0.02)
    ap.add_argument("--min-jaccard", type=float, default=0.9)
    ap.add_argument("--vocab", type=int, default=30000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    rng = random.Random(a.seed)
    vocab = make_vocab(rng, a.vocab)
    weights = [1.0 / (r + 1) ** 1.05 for r in range(len(vocab))]
    rng.shuffle(vocab)
    cum = list(itertools.accumulate(weights))
    total = cum[-1]

    def sample():
        return vocab[bisect.bisect_left(cum, rng.random() * total)]

    def new_doc():
        words, chars = [], 0
        while chars < a.size:
            w = sample()
            words.append(w)
            chars += len(w) + 1
        return words

    originals = []  # (line, words)
    n_dup = n_neg = 0
    with open(a.out + ".txt", "w") as txt, open(a.out + ".jsonl", "w") as jl, open(a.out + ".truth", "w") as truth:
        for line in range(1, a.docs + 1):
            roll = rng.random()
            kind, source, jac = "orig", 0, 0.0
            if originals and roll < a.dup_fraction:
                src_line, src_words = originals[rng.randrange(len(originals))]
                src_sh = shingles(" ".join(src_words))
                for _ in range(100):
                    words = src_words
                    for _ in range(rng.choice((1, 1, 1, 2))):
                        words = edit(rng, words, vocab, sample)
                    jac = jaccard(shingles(" ".join(words)), src_sh)
                    if a.min_jaccard <= jac < 1.0:
                        break
                else:
                    raise SystemExit("could not plant a near-duplicate; lower --min-jaccard or raise --size")
                kind, source = "dup", src_line
                n_dup += 1
            elif originals and roll < a.dup_fraction + a.neg_fraction:
                src_line, src_words = originals[rng.randrange(len(originals))]
                src_sh = shingles(" ".join(src_words))
                words = src_words
                jac = 1.0
                while jac > 0.7:
                    for _ in range(4):
                        words = edit(rng, words, vocab, sample)
                    jac = jaccard(shingles(" ".join(words)), src_sh)
                if jac < 0.3:
                    words, jac = new_doc(), 0.0  # overshot: an ordinary document instead
                else:
                    kind, source = "neg", src_line
                    n_neg += 1
            else:
                words = new_doc()
            if kind == "orig":
                originals.append((line, words))
            text = to_text(words)
            txt.write(text + "\n")
            jl.write('{"id": %d, "text": "%s"}\n' % (line, text))
            truth.write(f"{line}\t{kind}\t{source}\t{jac:.6f}\n")
    print(f"generated {a.docs} documents: {a.docs - n_dup - n_neg} originals, {n_dup} near-duplicates "
          f"(Jaccard >= {a.min_jaccard}), {n_neg} hard negatives (Jaccard 0.3..0.7)")


if __name__ == "__main__":
    main()
