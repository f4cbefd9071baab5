#!/usr/bin/env python3
"""A server that never answers, answers forever slowly, or drops connections mid-body cannot
hang a run (flows/generate.yaml through the real CLI, the openai backend).

With a short per-attempt timeout (llm.timeout_s) and attempt cap (llm.max_attempts), against the
fixture server set to
  hang       accept the request, never answer (hang_rate 1)
  slow       answer every request after 30 s (slow_ms 30000)
  truncate   send half the body, then close (rate_truncate 1)
  reset      close the connection with a TCP RST (rate_reset 1)
each run ends within a bound derived from those settings and llm.all_down_timeout_s (how long
queued requests wait once every endpoint was ejected for failing), with exit code 1; every
record is in the rejects with the LLM block as `_rejected_by` and the failure as `_reason`; the
output holds no row; the summary says how many requests failed and where their records are; no
request is tried more than max_attempts times (the fixture's counts).
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "methods"))
from harness import Fixture, check, read_jsonl  # noqa: E402  (the shared test helpers)

ROWS = 12
CONCURRENCY = 4
TIMEOUT_S = 1.0
ATTEMPTS = 2
# The backoff before the second attempt is at most backoff_base_s (0.5 s, docs/openai_backend.md).
BACKOFF_S = 0.5
# After eject_after_failures (5) failures in a row the endpoint leaves rotation; once every
# endpoint is out, queued requests wait this long for one to come back, then fail (default 300 s).
ALL_DOWN_S = 3

SCENARIOS = [
    ("hang", {"hang_rate": 1, "hang_s": 120}, ["timed out", "timeout"]),
    ("slow", {"slow_ms": 30000}, ["timed out", "timeout"]),
    ("truncate", {"rate_truncate": 1}, ["partial", "transfer closed", "bytes remaining", "connection"]),
    ("reset", {"rate_reset": 1}, ["reset", "recv", "connection", "empty reply", "got nothing"]),
]


def failures_survive_a_resume(exe, work):
    """A request that failed before a kill still fails the resumed run: exit code 1, and the
    summary counts it (its record sits in a batch committed by the killed process)."""
    inp = work / "one-bad.jsonl"
    with open(inp, "w") as f:
        for i in range(40):
            f.write(json.dumps({"id": i, "prompt": ("REFUSE " if i == 1 else "") + f"Prompt {i}"}) + "\n")
    script = [{"match": "^REFUSE", "status": 400, "error": "this request is refused"}]
    with Fixture(work, script=script, faults={"slow_ms": 40}) as fx:
        def cmd(run_dir, resume=False):
            return [exe, "run", "generate", "-i", str(inp), "-o", str(work / "one-bad.out.jsonl"), "--batch-size", "4",
                    "--set", "backend=openai", "--set", f"base_url={fx.url}", "--set", "model=fixture",
                    "--set", "concurrency=2", "--resume" if resume else "--run-dir", str(run_dir)]
        whole = subprocess.run(cmd(work / "one-bad-whole"), capture_output=True, text=True, timeout=120)
        check(whole.returncode == 1 and "1 LLM request failed" in whole.stderr,
              f"uninterrupted run with a refused request: exit {whole.returncode}: {whole.stderr[-1000:]}")
        mark = len(fx.requests())
        run_dir = work / "one-bad-killed"
        p = subprocess.Popen(cmd(run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Three batches later the refused request's batch is committed.
        deadline = time.time() + 60
        while len(fx.requests()) - mark < 16 and time.time() < deadline and p.poll() is None:
            time.sleep(0.01)
        check(p.poll() is None, "the run ended before the kill")
        p.kill()
        p.wait()
        res = subprocess.run(cmd(run_dir, resume=True), capture_output=True, text=True, timeout=120)
        refused_again = [e for e in fx.requests()[mark:] if e["prompt"].startswith("REFUSE")]
        check(len(refused_again) == 1, "the refused request's batch was not committed before the kill")
        check(res.returncode == 1 and "1 LLM request failed after all attempts" in res.stderr,
              f"resumed run forgot the request that failed before the kill: exit {res.returncode}: {res.stderr[-1000:]}")
        print("a request that failed before a kill: the resumed run exits 1 and reports it")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sf-hung-{os.getpid()}-"))
    try:
        inp = work / "prompts.jsonl"
        with open(inp, "w") as f:
            for i in range(ROWS):
                f.write(json.dumps({"id": i, "prompt": f"Prompt {i}: anything."}) + "\n")
        waves = -(-ROWS // CONCURRENCY)
        # Every request: ATTEMPTS attempts of at most TIMEOUT_S plus the backoffs, in waves of
        # CONCURRENCY; a few seconds for start-up, the fixture and a loaded machine on top.
        bound = waves * (ATTEMPTS * TIMEOUT_S + (ATTEMPTS - 1) * BACKOFF_S) + ALL_DOWN_S + 10
        for name, faults, reasons in SCENARIOS:
            with Fixture(work, faults=faults) as fx:
                out = work / f"{name}.jsonl"
                run_dir = work / f"{name}-run"
                cmd = [a.synthforge, "run", "generate", "-i", str(inp), "-o", str(out), "--run-dir", str(run_dir),
                       "--set", "backend=openai", "--set", f"base_url={fx.url}", "--set", "model=fixture",
                       "--set", f"concurrency={CONCURRENCY}", "--set", f"llm.timeout_s={TIMEOUT_S}",
                       "--set", f"llm.max_attempts={ATTEMPTS}", "--set", f"llm.all_down_timeout_s={ALL_DOWN_S}"]
                t0 = time.monotonic()
                try:
                    p = subprocess.run(cmd, capture_output=True, text=True, timeout=bound * 3)
                except subprocess.TimeoutExpired:
                    check(False, f"{name}: the run hung (still running after {bound * 3:.0f} s)")
                secs = time.monotonic() - t0
                check(secs < bound, f"{name}: took {secs:.1f} s, more than the bound {bound:.1f} s")
                check(p.returncode == 1, f"{name}: exit code {p.returncode}, expected 1: {p.stderr[-2000:]}")
                rows = read_jsonl(out)
                rejects = read_jsonl(run_dir / "rejects.jsonl")
                check(not rows, f"{name}: {len(rows)} rows in the output from a server that never answered")
                check(sorted(r.get("id") for r in rejects) == list(range(ROWS)),
                      f"{name}: not every record is in the rejects: {[r.get('id') for r in rejects]}")
                for r in rejects:
                    check(r.get("_rejected_by") == "respond", f"{name}: rejected by {r.get('_rejected_by')}")
                    reason = str(r.get("_reason", "")).lower()
                    gave_up = f"after {ATTEMPTS} attempts" in reason or "no endpoint reachable" in reason
                    check(gave_up and any(k in reason for k in reasons),
                          f"{name}: reason does not say what failed: {r.get('_reason')}")
                check(f"{ROWS} LLM requests failed after all attempts" in p.stderr and
                      str(run_dir / "rejects.jsonl") in p.stderr,
                      f"{name}: the summary does not report the failures: {p.stderr[-2000:]}")
                check(f"{ROWS} rows in, 0 out, {ROWS} rejected" in p.stderr,
                      f"{name}: no summary line with the rejected count: {p.stderr[-2000:]}")
                # Counted on arrival (a slow answer is only logged once it is sent).
                per_prompt = fx.stats()["per_prompt"]
                # The attempt cap holds; requests still queued when the endpoint was ejected may
                # fail (no endpoint reachable) before using them all.
                check(per_prompt and len(per_prompt) <= ROWS and max(per_prompt.values()) <= ATTEMPTS,
                      f"{name}: attempts per request {sorted(per_prompt.values())}, cap {ATTEMPTS}")
                print(f"{name}: ended in {secs:.1f} s (bound {bound:.0f} s), exit 1, {ROWS}/{ROWS} rejected: "
                      f"'{rejects[0]['_reason'][:150]}'")
        failures_survive_a_resume(a.synthforge, work)
        print("hung servers: ok")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
