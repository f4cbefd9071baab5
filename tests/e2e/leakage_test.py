#!/usr/bin/env python3
"""Canaries end to end: `synthforge privacy canary` plants codes in seed records, a flow with a
`leakage` block reads outputs that copy some planted records, and every copied canary is caught
(rejected with its code, counted in metadata.json) while fresh outputs pass. Also: the same seed
plants the same canaries, and asking for more canaries than records is a usage error."""
import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="sf-leakage-"))
    try:
        seeds = work / "seeds.jsonl"
        seeds.write_text("".join(json.dumps({"id": i, "text": f"Private note {i}: the client in flat {i} asked "
                                             f"for a repair of the boiler before winter."}) + "\n" for i in range(30)))
        planted, codes = work / "planted.jsonl", work / "canaries.txt"
        base = [a.synthforge, "privacy", "canary", str(seeds), "--count", "5", "--seed", "7"]
        p = subprocess.run(base + ["-o", str(planted), "--canaries", str(codes)], capture_output=True, text=True)
        check(p.returncode == 0, p.stderr)
        canaries = codes.read_text().split()
        check(len(canaries) == 5 and len(set(canaries)) == 5, canaries)
        rows = [json.loads(l) for l in planted.read_text().splitlines()]
        with_canary = [r for r in rows if any(c in r["text"] for c in canaries)]
        check(len(with_canary) == 5, f"{len(with_canary)} records carry a canary")

        # Same seed, same canaries.
        again = work / "again.txt"
        subprocess.run(base + ["-o", str(work / "again.jsonl"), "--canaries", str(again)], check=True,
                       capture_output=True)
        check(again.read_text() == codes.read_text(), "a second planting with the same seed differs")

        # Outputs: two planted records copied verbatim, three fresh texts.
        outputs = work / "outputs.jsonl"
        fresh = ["Tomatoes ripen faster next to bananas.", "The train leaves at nine.", "Knit two, purl two."]
        outputs.write_text("".join(json.dumps({"output": t}) + "\n" for t in [with_canary[0]["text"], fresh[0],
                                                                          with_canary[3]["text"], fresh[1], fresh[2]]))
        flow = work / "flow.yaml"
        flow.write_text("version: 1\nblocks:\n  - name: leak\n    type: leakage\n"
                        "    config: {reference: planted.jsonl, canaries: canaries.txt}\n")
        out = work / "out.jsonl"
        p = subprocess.run([a.synthforge, "run", str(flow), "-i", str(outputs), "-o", str(out), "--run-dir",
                            str(work / "run"), "-q"], capture_output=True, text=True)
        check(p.returncode == 0, p.stderr)
        kept = [json.loads(l)["output"] for l in out.read_text().splitlines()]
        check(kept == fresh, kept)
        rejects = [json.loads(l) for l in (work / "run" / "rejects.jsonl").read_text().splitlines()]
        check(len(rejects) == 2 and all(r["_reason"].startswith("canary leaked: CNRY-") for r in rejects), rejects)
        metrics = json.loads((work / "run" / "metadata.json").read_text())["blocks"][0]["llm"]
        check(metrics["canaries_leaked"] == 2 and metrics["canaries"] == 5, metrics)
        print("canaries: 5 planted, 2 copied into outputs, both caught; fresh outputs kept")

        p = subprocess.run([a.synthforge, "privacy", "canary", str(seeds), "-o", str(work / "x.jsonl"),
                            "--canaries", str(work / "x.txt"), "--count", "31"], capture_output=True, text=True)
        check(p.returncode == 2 and "fewer than --count 31" in p.stderr, p.stderr)
        print("too many canaries: usage error")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
