#!/usr/bin/env python3
"""`synthforge dedup` through the real CLI.

- --method rougel keeps exactly the rows the Python reference of Self-Instruct's filter keeps
  (bench/reference/rouge_reference.py, the rouge_score algorithm), and every dropped row is in the
  rejects with its ROUGE-L reason.
- --method exact drops rows whose field repeats after normalisation.
- --method minhash drops every planted near-duplicate of a one-kilobyte document (one word
  changed, word 5-shingle Jaccard about 0.93) and no distinct document, naming the kept row.
- A flow using dedup_rougel, killed and resumed, gives the same output as an uninterrupted run.
"""
import argparse
import json
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "bench" / "reference" / "rouge_reference.py"
WORDS = ("write explain describe summarize list compare the a of in about for story poem recipe ocean "
         "history science city river music planet garden letter").split()


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def make_rows(n, rng):
    rows = []
    for i in range(n):
        if i % 7 == 3 and rows:  # a near-duplicate of an earlier row: one word changed
            base = rows[rng.randrange(len(rows))]["instruction"].split()
            base[rng.randrange(len(base))] = rng.choice(WORDS)
            rows.append({"id": i, "instruction": " ".join(base)})
        else:
            rows.append({"id": i, "instruction": " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16)))})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    rng = random.Random(11)
    work = pathlib.Path(tempfile.mkdtemp(prefix="sf-dedup-"))
    try:
        rows = make_rows(600, rng)
        inp = work / "in.jsonl"
        inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        txt = work / "in.txt"
        txt.write_text("".join(r["instruction"] + "\n" for r in rows))

        ref = subprocess.run([sys.executable, str(REFERENCE), "filter", str(txt), "--threshold", "0.7"],
                             capture_output=True, text=True, check=True).stdout.split()
        out, rej = work / "out.jsonl", work / "rej.jsonl"
        p = subprocess.run([a.synthforge, "dedup", str(inp), "-o", str(out), "--field", "instruction",
                            "--method", "rougel", "--rejects", str(rej), "--run-dir", str(work / "r1")],
                           capture_output=True, text=True)
        check(p.returncode == 0, p.stderr)
        kept = {json.loads(l)["id"] for l in out.read_text().splitlines()}
        want = {r["id"] for r, d in zip(rows, ref) if d == "keep"}
        check(kept == want, f"decisions differ from the reference: {sorted(kept ^ want)[:10]}")
        rejects = [json.loads(l) for l in rej.read_text().splitlines()]
        check(len(rejects) == len(rows) - len(kept) and len(rejects) > 30, f"{len(rejects)} rejects")
        check(all("ROUGE-L F1" in r["_reason"] and "(> 0.7)" in r["_reason"] for r in rejects), rejects[0])
        print(f"rougel: {len(kept)} kept, {len(rejects)} dropped, same decisions as the reference")

        exact_in = work / "exact.csv"
        exact_in.write_text("id,text\n1,Hello World\n2,hello   world\n3,Another one\n4,HELLO WORLD\n")
        out2 = work / "exact.jsonl"
        p = subprocess.run([a.synthforge, "dedup", str(exact_in), "-o", str(out2), "--field", "text", "-q",
                            "--run-dir", str(work / "r2")], capture_output=True, text=True)
        check(p.returncode == 0, p.stderr)
        check([json.loads(l)["id"] for l in out2.read_text().splitlines()] == ["1", "3"], out2.read_text())
        print("exact: ok")

        # MinHash: 400 random ~170-word documents, 80 of them near-copies of an earlier one.
        vocab = [f"w{i}" for i in range(5000)]
        docs, planted = [], {}
        for i in range(400):
            if i % 5 == 4:
                src = rng.randrange(len(docs))
                words = docs[src]["text"].split()
                words[rng.randrange(len(words))] = rng.choice(vocab)
                planted[i] = docs[src]["id"]
                docs.append({"id": i, "text": " ".join(words)})
            else:
                docs.append({"id": i, "text": " ".join(rng.choice(vocab) for _ in range(170))})
        mh_in, mh_out, mh_rej = work / "mh.jsonl", work / "mh_out.jsonl", work / "mh_rej.jsonl"
        mh_in.write_text("".join(json.dumps(d) + "\n" for d in docs))
        p = subprocess.run([a.synthforge, "dedup", str(mh_in), "-o", str(mh_out), "--field", "text", "--method",
                            "minhash", "--rejects", str(mh_rej), "-q", "--run-dir", str(work / "r3")],
                           capture_output=True, text=True)
        check(p.returncode == 0, p.stderr)
        kept = [json.loads(l)["id"] for l in mh_out.read_text().splitlines()]
        # A copy of a copy is dropped too, in favour of whichever earlier row it matches.
        check(sorted(kept) == [d["id"] for d in docs if d["id"] not in planted],
              f"minhash kept {len(kept)}, wanted {len(docs) - len(planted)}")
        rejects = [json.loads(l) for l in mh_rej.read_text().splitlines()]
        check(sorted(r["id"] for r in rejects) == sorted(planted), "minhash rejects are not the planted copies")
        check(all(r["_reason"].startswith("near-duplicate of row ") and "Jaccard" in r["_reason"] for r in rejects),
              rejects[0]["_reason"])
        print(f"minhash: {len(planted)} planted near-duplicates dropped, {len(kept)} distinct kept")

        # Kill/resume with dedup_rougel state in the run store.
        flow = work / "flow.yaml"
        flow.write_text("version: 1\nblocks:\n  - {name: novel, type: dedup_rougel, config: {column: instruction}}\n")
        big = work / "big.jsonl"
        big.write_text("".join(json.dumps(r) + "\n" for r in make_rows(20000, rng)))
        base = [a.synthforge, "run", str(flow), "-i", str(big), "--batch-size", "200", "-q"]
        t0 = time.monotonic()
        subprocess.run(base + ["-o", str(work / "ref.jsonl"), "--run-dir", str(work / "ref")], check=True)
        full = time.monotonic() - t0
        out3 = work / "k.jsonl"
        started, kills = False, 0
        for attempt in range(100):
            cmd = base + ["-o", str(out3)] + (["--resume", str(work / "k")] if started else ["--run-dir", str(work / "k")])
            proc = subprocess.Popen(cmd)
            try:
                proc.wait(timeout=rng.uniform(0.1, 0.9) * full)
                if proc.returncode == 0:
                    break
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
            started = (work / "k" / "run.sqlite").exists()
        check(out3.exists() and out3.read_bytes() == (work / "ref.jsonl").read_bytes(),
              "output after kills differs from an uninterrupted run")
        check((work / "k" / "rejects.jsonl").read_bytes() == (work / "ref" / "rejects.jsonl").read_bytes(),
              "rejects after kills differ")
        print(f"dedup_rougel kill/resume: {kills} kills, identical output")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
