#!/usr/bin/env python3
"""SIGINT and SIGTERM in the middle of LLM calls (tests/e2e/resume_test.py covers SIGINT in a
flow without a model; this adds SIGTERM, in-flight model requests, and the printed command).

For each signal, flows/generate.yaml runs against the fixture server answering slowly (so a
batch's requests are in flight when the signal comes):
  - the run stops within the time of the batch in flight (it finishes that batch), exit code 1;
  - stderr says it was interrupted, where the finished batches are, and gives the command to
    continue; that exact command (with this build's binary) completes the run;
  - the resumed output is byte-identical to an uninterrupted run's;
  - no request answered before the stop is sent again: the in-flight work was finished and
    stored, not thrown away.
Then against a server that stopped answering: the first SIGINT waits for the batch in flight,
a second one stops at once (exit 130, naming --resume), and the resume completes identically.
"""
import argparse
import json
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "methods"))
from harness import Fixture, check  # noqa: E402  (the shared test helpers)

ROWS = 96
BATCH = 16
CONCURRENCY = 4
SLOW_MS = 150


def cmd(exe, inp, out, run_dir, url):
    return [exe, "run", "generate", "-i", str(inp), "-o", str(out), "--run-dir", str(run_dir), "--batch-size",
            str(BATCH), "--set", "backend=openai", "--set", f"base_url={url}", "--set", "model=fixture", "--set",
            f"concurrency={CONCURRENCY}", "--set", "max_tokens=32"]


def body_key(e):
    return json.dumps(e.get("body"), sort_keys=True)


def second_signal_stops_at_once(exe, work, inp, ref_out, fx):
    """Against a server that stopped answering, the first SIGINT waits for the batch in flight
    (up to timeout_s x max_attempts); a second one stops at once, exit 130, naming --resume, and
    the resume (server back) completes to the same bytes."""
    def control(faults):
        urllib.request.urlopen(urllib.request.Request(
            fx.url.replace("/v1", "/control"), data=json.dumps({"faults": faults}).encode(),
            headers={"Content-Type": "application/json"}), timeout=10).read()
    out = work / "twice.jsonl"
    run_dir = work / "twice-run"
    first = len(fx.requests())
    p = subprocess.Popen(cmd(exe, inp, out, run_dir, fx.url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + 60
    while len(fx.requests()) - first < BATCH and time.time() < deadline:
        time.sleep(0.01)
    control({"hang_rate": 1, "hang_s": 60, "slow_ms": 0})
    time.sleep(1.0)  # the next requests are now hanging
    p.send_signal(signal.SIGINT)
    time.sleep(1.0)
    check(p.poll() is None, "the run ended on the first signal although its batch was still in flight")
    sent_at = time.time()
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=30)[1]
    stop_s = time.time() - sent_at
    check(p.returncode == 130 and stop_s < 3, f"second SIGINT: exit {p.returncode} after {stop_s:.1f} s: {err[-1000:]}")
    check(f"--resume {run_dir}" in err, f"second SIGINT: the message does not say how to resume: {err[-1000:]}")
    control({"hang_rate": 0, "slow_ms": SLOW_MS})
    resume = cmd(exe, inp, out, run_dir, fx.url)
    resume[resume.index("--run-dir")] = "--resume"
    res = subprocess.run(resume, capture_output=True, text=True, timeout=300)
    check(res.returncode == 0, f"resume after the second signal failed: {res.stderr[-2000:]}")
    check(out.read_bytes() == ref_out, "output after a second signal and resume differs")
    print(f"second SIGINT against a hung server: stopped in {stop_s:.2f} s, exit 130; resumed to identical output")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sf-signals-{os.getpid()}-"))
    try:
        inp = work / "prompts.jsonl"
        with open(inp, "w") as f:
            for i in range(ROWS):
                f.write(json.dumps({"id": i, "prompt": f"Prompt {i}: one line about {i * 3}."}) + "\n")
        with Fixture(work, faults={"slow_ms": SLOW_MS}) as fx:
            ref = subprocess.run(cmd(a.synthforge, inp, work / "ref.jsonl", work / "ref-run", fx.url) + ["-q"],
                                 capture_output=True, text=True, timeout=300)
            check(ref.returncode == 0, f"reference run failed: {ref.stderr}")
            ref_out = (work / "ref.jsonl").read_bytes()
            check(ref_out.count(b"\n") == ROWS, "reference run lost rows")
            # One batch at CONCURRENCY in flight takes about BATCH / CONCURRENCY answers of SLOW_MS.
            batch_s = BATCH / CONCURRENCY * SLOW_MS / 1000.0

            for sig in (signal.SIGINT, signal.SIGTERM):
                name = signal.Signals(sig).name
                out = work / f"{name}.jsonl"
                run_dir = work / f"{name}-run"
                first = len(fx.requests())
                p = subprocess.Popen(cmd(a.synthforge, inp, out, run_dir, fx.url), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
                # Mid-batch: the second batch's requests are in flight.
                deadline = time.time() + 60
                while len(fx.requests()) - first < BATCH + CONCURRENCY // 2 and time.time() < deadline:
                    time.sleep(0.01)
                check(p.poll() is None, f"{name}: the run ended before the signal")
                sent_at = time.time()
                p.send_signal(sig)
                err = p.communicate(timeout=120)[1]
                stop_s = time.time() - sent_at
                log = fx.requests()[first:]
                before = {body_key(e) for e in log if e["ts"] < sent_at and e.get("status") == 200}
                check(p.returncode == 1, f"{name}: exit code {p.returncode}, expected 1: {err[-2000:]}")
                check(stop_s < 2 * batch_s + 5, f"{name}: took {stop_s:.1f} s to stop (a batch takes ~{batch_s:.1f} s)")
                check("interrupted" in err and f"finished batches are saved in {run_dir}" in err,
                      f"{name}: the message does not say what was saved: {err[-2000:]}")
                hint = [l.strip() for l in err.splitlines() if l.strip().startswith("synthforge run ")]
                check(len(hint) == 1 and f"--resume {run_dir}" in hint[0],
                      f"{name}: no single command to continue with: {err[-2000:]}")
                meta = json.loads((run_dir / "metadata.json").read_text())
                check(meta.get("status") != "complete", f"{name}: metadata says complete after the stop")
                # The printed command, run as printed (with this build's binary for `synthforge`).
                resume_cmd = shlex.split(hint[0])
                resume_cmd[0] = a.synthforge
                mark = len(fx.requests())
                res = subprocess.run(resume_cmd, capture_output=True, text=True, timeout=300)
                check(res.returncode == 0, f"{name}: the printed resume command failed: {res.stderr[-2000:]}")
                check(out.read_bytes() == ref_out, f"{name}: resumed output differs from the uninterrupted run")
                again = {body_key(e) for e in fx.requests()[mark:]} & before
                check(not again, f"{name}: {len(again)} requests answered before the stop were sent again")
                print(f"{name}: stopped {stop_s:.2f} s after the signal (batch ~{batch_s:.2f} s), exit 1, "
                      f"{len(before)} answers before it all kept; resumed with the printed command to "
                      f"identical output ({ROWS} rows)")
            second_signal_stops_at_once(a.synthforge, work, inp, ref_out, fx)
        print("signals: ok")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
