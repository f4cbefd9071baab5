#!/usr/bin/env python3
"""Kill-and-resume scenarios through the real CLI.

- SIGKILL at random moments, then --resume, until the run completes: the output
  and rejects are byte-identical to an uninterrupted run's (no row missing or doubled).
- SIGINT stops cleanly, says how to resume, and the resumed run matches too.
- A resume with a changed flow, parameter or input is refused with what changed.
- A new run into a directory that holds a run is refused.
"""
import argparse
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FLOW = """version: 1
name: resume_check
params:
  min_words: 3
  k: 4000
blocks:
  - name: length
    type: filter
    config:
      where: [{column: instruction, length: words, op: ">=", value: "${min_words}"}]
  - name: unique
    type: dedup_exact
    config: {columns: [instruction]}
  - name: prompt
    type: set
    config: {column: prompt, template: "Instruction: {{ instruction }} (#{{ id }})"}
  - name: pick
    type: sample
    config: {k: "${k}"}
  - name: split
    type: explode
    config: {column: tags, as: tag}
"""

WORDS = "alpha beta gamma delta river stone cloud paper garden light music ocean forest bridge".split()


def make_input(path, n, rng):
    with open(path, "w") as f:
        for i in range(n):
            if i % 97 == 13:
                f.write('{"broken": \n')  # bad record: skipped into the rejects
                continue
            if i % 10 == 3 and i > 10:
                words = f"describe the {WORDS[i % 7]} of the {WORDS[(i // 7) % 14]}"  # repeats -> dedup
            else:
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
            tags = [f"t{j}" for j in range(rng.randint(1, 3))]
            f.write(json.dumps({"id": i, "instruction": words, "tags": tags}) + "\n")


class Runner:
    def __init__(self, exe, work):
        self.exe = exe
        self.work = work

    def cmd(self, flow, inp, out, run_dir, resume=False, extra=()):
        c = [self.exe, "run", str(flow), "-i", str(inp), "-o", str(out), "--on-bad-record", "skip",
             "--batch-size", "100", "--seed", "7", "-q"]
        c += ["--resume" if resume else "--run-dir", str(run_dir)]
        return c + list(extra)

    def run(self, *args, **kw):
        return subprocess.run(self.cmd(*args, **kw), capture_output=True, text=True, timeout=300)


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def kill_and_resume(r, flow, inp, ref_out, ref_rej, rng, full_run_s):
    out = r.work / "killed.jsonl"
    run_dir = r.work / "killed-run"
    kills = 0
    attempts = 0
    started = False
    while True:
        attempts += 1
        check(attempts < 200, "the run never completed")
        p = subprocess.Popen(r.cmd(flow, inp, out, run_dir, resume=started), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        started = True
        # Kill anywhere in a run's life: start-up, batches, stage changes, output writing.
        delay = rng.uniform(0.02, 1.0) * full_run_s
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            if not (run_dir / "run.sqlite").exists():
                started = False  # killed before the run store existed: start afresh
                shutil.rmtree(run_dir, ignore_errors=True)
            continue
        err = p.stderr.read()
        if p.returncode == 2 and "holds no run" in err:
            started = False
            shutil.rmtree(run_dir, ignore_errors=True)
            continue
        check(p.returncode == 0, f"resumed run failed ({p.returncode}): {err}")
        if kills >= 12:
            break
        # Completed before enough kills happened: start over with earlier kills.
        shutil.rmtree(run_dir, ignore_errors=True)
        out.unlink(missing_ok=True)
        started = False
    check(out.read_bytes() == ref_out, "output after kills differs from the uninterrupted run")
    check((run_dir / "rejects.jsonl").read_bytes() == ref_rej, "rejects after kills differ")
    meta = json.loads((run_dir / "metadata.json").read_text())
    check(meta["status"] == "complete", "metadata does not say complete")
    check(meta["resumes"] >= 1, "metadata does not count resumes")
    print(f"kill/resume: {kills} SIGKILLs, output identical ({len(ref_out)} bytes)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    rng = random.Random(1234)
    work = pathlib.Path(tempfile.mkdtemp(prefix="sf-resume-"))
    try:
        r = Runner(a.synthforge, work)
        flow = work / "flow.yaml"
        flow.write_text(FLOW)
        inp = work / "input.jsonl"
        make_input(inp, 30000, rng)

        t0 = time.monotonic()
        ref = r.run(flow, inp, work / "ref.jsonl", work / "ref-run")
        full_run_s = time.monotonic() - t0
        check(ref.returncode == 0, f"reference run failed: {ref.stderr}")
        ref_out = (work / "ref.jsonl").read_bytes()
        ref_rej = (work / "ref-run" / "rejects.jsonl").read_bytes()
        n_in = 30000
        n_out = ref_out.count(b"\n")
        n_rej = ref_rej.count(b"\n")
        meta = json.loads((work / "ref-run" / "metadata.json").read_text())
        check(meta["rows_in"] == n_in, f"rows_in {meta['rows_in']} != {n_in}")
        # Nothing is lost: every input row ends as output or reject (explode turns one row into several).
        exploded_extra = sum(b["rows_out"] - b["rows_in"] + b["rows_rejected"] for b in meta["blocks"] if b["type"] == "explode")
        check(n_out + n_rej == n_in + exploded_extra, f"{n_out} out + {n_rej} rejected != {n_in} in + {exploded_extra} from explode")

        # Without a terminal, progress comes as plain periodic lines.
        env = dict(os.environ, SYNTHFORGE_PROGRESS_INTERVAL="0")
        cmd = [c for c in r.cmd(flow, inp, work / "p.jsonl", work / "p-run") if c != "-q"]
        prog = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        check(prog.returncode == 0, f"progress run failed: {prog.stderr}")
        check("[progress] stage 1/2 | read" in prog.stderr and "[progress] stage 2/2" in prog.stderr,
              f"no progress lines for both stages: {prog.stderr[:500]}")
        check("\r" not in prog.stderr, "a terminal status line was written to a pipe")
        check("done: 30000 rows in" in prog.stderr, f"no summary line: {prog.stderr[-500:]}")

        # A second uninterrupted run is byte-identical.
        again = r.run(flow, inp, work / "again.jsonl", work / "again-run")
        check(again.returncode == 0 and (work / "again.jsonl").read_bytes() == ref_out, "re-run differs")

        kill_and_resume(r, flow, inp, ref_out, ref_rej, rng, full_run_s)

        # SIGINT: clean stop with a resume hint, then a resume that completes identically.
        out = work / "int.jsonl"
        p = subprocess.Popen(r.cmd(flow, inp, out, work / "int-run"), stderr=subprocess.PIPE, text=True)
        time.sleep(full_run_s * 0.5)
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=60)[1]
        if p.returncode != 0:
            check(p.returncode == 1, f"SIGINT exit code {p.returncode}")
            check("--resume" in err and "Continue with" in err, f"no resume hint after SIGINT: {err}")
            res = r.run(flow, inp, out, work / "int-run", resume=True)
            check(res.returncode == 0, f"resume after SIGINT failed: {res.stderr}")
        check(out.read_bytes() == ref_out, "output after SIGINT + resume differs")

        # Refused resumes say what changed.
        res = r.run(flow, inp, work / "x.jsonl", work / "ref-run", resume=True, extra=["--set", "min_words=4"])
        check(res.returncode == 2 and "parameter 'min_words' changed from 3 to 4" in res.stderr,
              f"changed parameter not refused: {res.returncode} {res.stderr}")
        flow2 = work / "flow2.yaml"
        flow2.write_text(FLOW.replace("k: 4000", "k: 3000"))
        res = r.run(flow2, inp, work / "x.jsonl", work / "ref-run", resume=True)
        check(res.returncode == 2 and "parameter 'k' changed from 4000 to 3000" in res.stderr,
              f"changed flow not refused: {res.stderr}")
        res = r.run(flow, inp, work / "x.jsonl", work / "ref-run")
        check(res.returncode == 2 and "holds a run already" in res.stderr, f"reused run dir not refused: {res.stderr}")
        # Last, since it changes the input file in place: a changed input is refused.
        with open(inp, "a") as f:
            f.write('{"id": -1, "instruction": "one more row here", "tags": ["x"]}\n')
        res = r.run(flow, inp, work / "x.jsonl", work / "ref-run", resume=True)
        check(res.returncode == 2 and "input.jsonl changed since the run started" in res.stderr,
              f"changed input not refused: {res.stderr}")
        print("resume scenarios: ok")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
