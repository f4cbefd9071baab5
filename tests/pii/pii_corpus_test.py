#!/usr/bin/env python3
"""`synthforge scan` on the generated PII corpus (tests/pii/make_corpus.py), through the real CLI.

- --action flag: precision and recall per entity type against the generator's labels, printed as a
  table; every built-in type (each has a validator) must reach 0.95 on both. A finding counts as
  correct when the row has a labelled entity of the same type whose byte span overlaps it.
- --action redact, with placeholders and with --surrogate: scanning the redacted output again finds
  nothing, and surrogates are consistent (the same value gets the same fake in every row).
- --action drop: exactly the rows the flag run found PII in are rejected, each with a reason
  "PII found: TYPE xN, ..." that matches the flagged counts.
"""
import argparse
import collections
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
TYPES = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "MAC_ADDRESS", "URL_CREDENTIALS",
         "CRYPTO_ADDRESS", "SECRET"]
TARGET = 0.95


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def read_jsonl(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


def scan(sf, work, name, *args):
    out = work / f"{name}.jsonl"
    p = subprocess.run([sf, "scan", *map(str, args), "-o", str(out), "--run-dir", str(work / f"run-{name}"), "-q"],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"scan {name}: exit {p.returncode}: {p.stderr}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    sf = a.synthforge
    work = pathlib.Path(tempfile.mkdtemp(prefix="sf-pii-"))
    try:
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(work), "--rows", str(a.rows),
                        "--seed", str(a.seed)], check=True)
        corpus = work / "corpus.jsonl"
        truth = {r["id"]: r["entities"] for r in read_jsonl(work / "truth.jsonl")}

        # --- flag: precision and recall per type ---
        flagged = read_jsonl(scan(sf, work, "flag", corpus, "--fields", "text", "--action", "flag"))
        check(len(flagged) == a.rows, f"{len(flagged)} rows out of {a.rows}")
        tp_found, fp, tp_truth, total = (collections.Counter() for _ in range(4))
        misses, false = collections.defaultdict(list), collections.defaultdict(list)
        for row in flagged:
            ents, found = truth[row["id"]], row["_pii"]
            text = row["text"].encode()
            for f in found:
                check(f["field"] == "text", f)
                check(text[f["start"]:f["end"]].decode() == f["text"], f"span of {f} is not its text")
                check(0 <= f["score"] <= 1, f)
            overlap = lambda f, e: f["type"] == e["type"] and f["start"] < e["end"] and e["start"] < f["end"]
            for e in ents:
                total[e["type"]] += 1
                if any(overlap(f, e) for f in found):
                    tp_truth[e["type"]] += 1
                else:
                    misses[e["type"]].append(e["text"])
            for f in found:
                if any(overlap(f, e) for e in ents):
                    tp_found[f["type"]] += 1
                else:
                    fp[f["type"]] += 1
                    false[f["type"]].append(f["text"])
        print(f"{'type':<16} {'entities':>8} {'found':>6} {'false+':>6} {'missed':>6} {'precision':>9} {'recall':>7}")
        failed = []
        for t in TYPES:
            n_found = tp_found[t] + fp[t]
            precision = tp_found[t] / n_found if n_found else 1.0
            recall = tp_truth[t] / total[t] if total[t] else 1.0
            print(f"{t:<16} {total[t]:>8} {n_found:>6} {fp[t]:>6} {total[t] - tp_truth[t]:>6} {precision:>9.3f} "
                  f"{recall:>7.3f}")
            if total[t] < 50 or precision < TARGET or recall < TARGET:
                failed.append(t)
        for t in failed:
            print(f"  {t}: false positives {false[t][:5]}, missed {misses[t][:5]}")
        check(not failed, f"below {TARGET} precision/recall (or too few examples) for {failed}")

        # --- redact: nothing left to find; surrogates consistent ---
        for name, extra in (("redact", []), ("surrogate", ["--surrogate", "--seed", "5"])):
            redacted = scan(sf, work, name, corpus, "--fields", "text", "--action", "redact", *extra)
            rescanned = read_jsonl(scan(sf, work, name + "-rescan", redacted, "--fields", "text"))
            left = [(r["id"], f["type"], f["text"]) for r in rescanned for f in r["_pii"]]
            check(not left, f"{name}: {len(left)} findings left after redaction, e.g. {left[:5]}")
            print(f"{name}: rescanning the redacted output finds nothing")
        originals = {r["id"]: r["text"] for r in read_jsonl(corpus)}
        fakes = {r["id"]: r["text"] for r in read_jsonl(work / "surrogate.jsonl")}
        # The same e-mail address planted twice (a row and its copy) gets the same surrogate.
        twin = work / "twin.jsonl"
        email_rows = [r for r in flagged if any(f["type"] == "EMAIL" for f in r["_pii"])][:20]
        twin.write_text("".join(json.dumps({"id": i, "text": originals[r["id"]]}) + "\n"
                                for r in email_rows for i in (r["id"], r["id"] + 100000)))
        twins = read_jsonl(scan(sf, work, "twin", twin, "--action", "redact", "--surrogate", "--seed", "5"))
        for x, y in zip(twins[::2], twins[1::2]):
            check(x["text"] == y["text"] == fakes[x["id"]], f"surrogates differ for row {x['id']}")
        print(f"surrogate: {len(email_rows)} rows redacted twice give identical text")

        # --- drop: exactly the rows with findings, with their counts ---
        rejects = work / "rejects.jsonl"
        kept = read_jsonl(scan(sf, work, "drop", corpus, "--fields", "text", "--action", "drop", "--rejects", rejects))
        want = {r["id"] for r in flagged if r["_pii"]}
        dropped = read_jsonl(rejects)
        check({r["id"] for r in dropped} == want, "dropped rows differ from the flagged ones")
        check({r["id"] for r in kept} == {r["id"] for r in flagged} - want, "kept rows differ")
        by_id = {r["id"]: r for r in flagged}
        for r in dropped:
            counts = collections.Counter(f["type"] for f in by_id[r["id"]]["_pii"])
            expect = "PII found: " + ", ".join(f"{t} x{counts[t]}" for t in TYPES if counts[t])
            check(r["_reason"] == expect, f"reason {r['_reason']!r}, expected {expect!r}")
        print(f"drop: {len(dropped)} rows dropped, {len(kept)} kept, reasons count the findings")
    finally:
        if a.keep:
            print("work directory:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
