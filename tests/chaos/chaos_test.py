#!/usr/bin/env python3
"""Chaos: LLM flows killed with SIGKILL at random moments against a fault-injecting server.

Two flows run against the fixture server injecting 429 (with Retry-After), 500, 503, garbage
200s, truncated bodies, connection resets and slow answers:

  generate   flows/generate.yaml (one llm_generate), batches of 16
  pipeline   llm_generate -> dedup_exact -> sample (a barrier: a new stage) -> llm_generate

Each is killed with SIGKILL again and again and resumed with --resume each time until it
completes. The moments are drawn from a seeded generator (printed; --seed replays the same
draws, though where a draw lands still depends on timing):
  llm    after the server has logged N more requests (mid LLM calls)
  batch  right after the run store commits one or two more batches
  time   after a random fraction of an uninterrupted run's wall time
  write  while the output's temporary file (OUTPUT.tmp-PID) exists (mid output writing)
and, in every mode, whenever a temporary output or rejects file shows up. The fixture's fault
draws are seeded too (from the same generator).

Proven per campaign (a fresh run dir, killed until it completes):
  - the final output and rejects are byte-identical to an uninterrupted run's;
  - no row missing or doubled: the ids are exactly the reference's;
  - no request already answered is sent again, except those still unstored at a kill: from the
    fixture's request log, the bodies answered 200 before kill k and sent again later number at
    most the client's in-flight window per kill;
  - without the response cache it would be far more: for a few kills, a copy of the run dir
    taken at the kill, its response cache emptied, is resumed against a clean server, and the
    already-answered requests it sends are counted.
"""
import argparse
import json
import os
import pathlib
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "methods"))
from harness import Fixture, check  # noqa: E402  (the shared test helpers)

CONCURRENCY = 8
# Client::run keeps at most the backend's max_in_flight() requests submitted: twice the
# endpoint concurrency (docs/openai_backend.md). At a kill, only those can be answered and unstored.
WINDOW = 2 * CONCURRENCY
FAULTS = {"rate_429": 0.02, "retry_after": 1, "rate_500": 0.04, "rate_503": 0.04, "rate_garbage": 0.03,
          "rate_truncate": 0.03, "rate_reset": 0.03, "slow_ms": 15}
# Topic prompts all get the same answer per topic, so dedup_exact has work to do.
SCRIPT = [{"match": r"^Topic (\d+) ", "reply_template": r"A short note about topic \1."}]

PIPELINE = """version: 1
name: chaos_pipeline
params:
  base_url: {default: "http://127.0.0.1:8080/v1"}
llm:
  backend: openai
  model: fixture
  base_url: ${base_url}
  concurrency: %d
sampling: {temperature: 0.7, max_tokens: 64}
blocks:
  - name: answer
    type: llm_generate
    config: {prompt: "{{ prompt }}", output: response}
  - name: unique
    type: dedup_exact
    config: {columns: [response]}
  - name: pick
    type: sample
    config: {k: 45}
  - name: critique
    type: llm_generate
    config: {prompt: "Critique this note in one line: {{ response }} (row {{ id }})", output: critique}
""" % CONCURRENCY


def make_inputs(work):
    gen = work / "generate-in.jsonl"
    with open(gen, "w") as f:
        for i in range(260):
            f.write(json.dumps({"id": i, "prompt": f"Question {i}: say something about the number {i * 13}."}) + "\n")
    pipe = work / "pipeline-in.jsonl"
    with open(pipe, "w") as f:
        for i in range(240):
            f.write(json.dumps({"id": i, "prompt": f"Topic {i % 70} (variant {i}): write a note."}) + "\n")
    return gen, pipe


class Campaign:
    """One flow from a fresh run dir, killed and resumed until it completes."""

    def __init__(self, exe, work, name, flow, inp, fixture, extra_sets):
        self.exe, self.work, self.name, self.flow, self.inp = exe, work, name, flow, inp
        self.fx = fixture
        self.sets = dict(extra_sets)
        self.out = work / f"{name}.jsonl"
        self.run_dir = work / f"{name}-run"
        self.kills = []  # dicts: mode, log_line (fixture log lines when killed), attempt
        self.starts = []  # fixture log lines when each attempt started (the server was idle then)
        self.copies = []  # (kill index, copied run dir) for the no-cache comparison

    def cmd(self, resume, out=None, run_dir=None):
        c = [self.exe, "run", str(self.flow), "-i", str(self.inp), "-o", str(out or self.out), "--batch-size", "16",
             "--seed", "11", "-q"]
        for k, v in self.sets.items():
            c += ["--set", f"{k}={v}"]
        return c + ["--resume" if resume else "--run-dir", str(run_dir or self.run_dir)]


def log_lines(fx):
    try:
        with open(fx.log, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def batches_committed(run_dir):
    db = run_dir / "run.sqlite"
    if not db.exists():
        return -1
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        try:
            return con.execute("SELECT count(*) FROM batches").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def temp_files(c, pid):
    return [c.out.parent / f"{c.out.name}.tmp-{pid}", c.run_dir / f"rejects.jsonl.tmp-{pid}"]


def watch(c, p, mode, rng, ref_seconds):
    """Polls the running process; returns a kill description, or None when it exited by itself."""
    start_lines = log_lines(c.fx)
    want_lines = start_lines + rng.randint(1, 15)
    base_batches = None
    want_batches = rng.randint(1, 2)
    deadline = time.monotonic() + rng.uniform(0.02, 0.35) * ref_seconds
    temps = temp_files(c, p.pid)
    polls = 0
    while p.poll() is None:
        # Output writing is short: check the temporary files on every poll, in every mode.
        hit = next((t for t in temps if t.exists()), None) if mode is not None else None
        if hit is not None:
            return kill(c, p, "write", detail=hit.name.split(".tmp-")[0])
        polls += 1
        if mode == "llm" and polls % 8 == 0 and log_lines(c.fx) >= want_lines:
            return kill(c, p, "llm")
        if mode == "batch" and polls % 4 == 0:
            n = batches_committed(c.run_dir)
            if n >= 0 and base_batches is None:
                base_batches = n
            elif base_batches is not None and n >= base_batches + want_batches:
                return kill(c, p, "batch")
        if mode == "time" and time.monotonic() >= deadline:
            return kill(c, p, "time")
        time.sleep(0.0005 if mode == "write" else 0.002)
    return None


def kill(c, p, mode, detail=""):
    lines = log_lines(c.fx)  # read before the kill: everything logged so far was answered before it
    p.send_signal(signal.SIGKILL)
    p.wait()
    return {"mode": mode, "log_line": lines, "detail": detail, "time": time.time()}


def run_campaign(c, rng, ref_seconds, target_kills, copies_wanted):
    attempts = 0
    started = False
    while True:
        attempts += 1
        check(attempts < 120, f"{c.name}: the run never completed")
        c.starts.append(log_lines(c.fx))
        p = subprocess.Popen(c.cmd(resume=started), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started = True
        done = len(c.kills)
        if done >= target_kills:
            mode = None  # enough kills: let it finish
        elif done >= target_kills - 3:
            mode = "write"
        else:
            mode = rng.choice(["llm", "llm", "batch", "batch", "time"])
        k = watch(c, p, mode, rng, ref_seconds)
        if k is None:
            err = p.stderr.read()
            if p.returncode == 2 and "holds no run" in err:
                started = False
                shutil.rmtree(c.run_dir, ignore_errors=True)
                continue
            check(p.returncode == 0, f"{c.name}: resumed run failed ({p.returncode}): {err}")
            return
        p.stderr.close()
        k["attempt"] = attempts - 1
        c.kills.append(k)
        wait_idle(c.fx)
        if not (c.run_dir / "run.sqlite").exists():
            started = False  # killed before the run store existed: start afresh
            shutil.rmtree(c.run_dir, ignore_errors=True)
        elif len(c.copies) < copies_wanted and k["mode"] in ("llm", "time"):
            copy = c.work / f"{c.name}-nocache-{len(c.kills)}"
            shutil.copytree(c.run_dir, copy)
            c.copies.append((len(c.kills) - 1, copy))


def body_key(entry):
    return json.dumps(entry.get("body"), sort_keys=True)


def wait_idle(fx):
    """Until the server holds no request of the killed process (answers to it still get logged)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if fx.stats()["in_flight"] == 0:
            break
        time.sleep(0.01)
    time.sleep(0.05)  # a connection accepted but not yet counted


def attribute(c, entries):
    """Which attempt sent each logged request, and whether its answer was logged before that attempt's kill.

    The next attempt starts only once the server has finished every request of the killed one
    (wait_idle), so the log's line count at each start separates the attempts. A request of a
    killed attempt logged after the kill was answered to a dead process: an orphan, never
    received, so it does not count as answered.
    """
    kill_line = {k["attempt"]: k["log_line"] for k in c.kills}
    attempt_of, orphan = [], set()
    for i, e in enumerate(entries):
        a = max((j for j, line in enumerate(c.starts) if line <= i), default=0)
        attempt_of.append(a)
        if a in kill_line and i >= kill_line[a]:
            orphan.add(i)
    c.attempt_of, c.orphan = attempt_of, orphan
    c.keys = [body_key(e) for e in entries]


def answered(c, entries, i):
    e = entries[i]
    return i not in c.orphan and e.get("status") == 200 and e.get("fault") is None


def analyse_resends(c, entries):
    """Per kill: bodies answered 200 in the killed attempt and sent again later; checked against the window."""
    attribute(c, entries)
    first_answer = {}  # body -> index of its first real answer (not a garbage or truncated 200)
    for i in range(len(entries)):
        if answered(c, entries, i) and c.keys[i] not in first_answer:
            first_answer[c.keys[i]] = i
    results = []
    for ki, k in enumerate(c.kills):
        a = k["attempt"]
        this_attempt = {b for b, i in first_answer.items() if c.attempt_of[i] == a}
        again = {c.keys[i] for i in range(len(entries)) if c.attempt_of[i] > a} & this_attempt
        results.append((ki, len(this_attempt), len(again)))
        check(len(again) <= WINDOW,
              f"{c.name}: kill {ki + 1} ({k['mode']}): {len(again)} requests answered before it were sent again, "
              f"more than the in-flight window {WINDOW}")
    # A request answered (and so stored) is never sent again by the same process.
    for i, b in enumerate(c.keys):
        first = first_answer.get(b)
        if first is not None and i > first:
            check(c.attempt_of[i] > c.attempt_of[first],
                  f"{c.name}: a request answered 200 (log line {first}) was sent again by the same process "
                  f"(line {i}): {b[:200]}\n" + "\n".join(
                      f"  {j}: ts {entries[j]['ts']:.4f} attempt {c.attempt_of[j]} {entries[j].get('fault')} "
                      f"{entries[j].get('status')} {entries[j].get('prompt', '')[:20]}" for j in range(first - 5, i + 3)
                      if 0 <= j < len(entries)) + f"\n  starts {c.starts}\n  kills {c.kills}")
    return results


def nocache_resends(c, entries):
    """Resumes each copied run dir with its response cache emptied; counts already-answered requests sent.

    Against the campaign's own fixture (the server URL is part of the run's identity), its faults
    switched off, after the campaign's analysis has read the log.
    """
    urllib.request.urlopen(urllib.request.Request(
        c.fx.url.replace("/v1", "/control"), data=json.dumps({"faults": {k: 0 for k in FAULTS}}).encode(),
        headers={"Content-Type": "application/json"}), timeout=10).read()
    out = []
    for ki, copy in c.copies:
        k = c.kills[ki]
        answered_before = {c.keys[i] for i in range(len(entries))
                           if c.attempt_of[i] <= k["attempt"] and answered(c, entries, i)}
        con = sqlite3.connect(copy / "run.sqlite")
        con.execute("DELETE FROM response_cache")
        con.commit()
        con.close()
        first = len(c.fx.requests())
        out_path = c.work / f"{copy.name}.jsonl"
        proc = subprocess.run(c.cmd(resume=True, out=out_path, run_dir=copy), capture_output=True, text=True,
                              timeout=300)
        check(proc.returncode == 0, f"{c.name}: resume without cache failed: {proc.stderr}")
        check(out_path.read_bytes() == c.ref_out, f"{c.name}: resume without cache gave different output")
        sent = {body_key(e) for e in c.fx.requests()[first:]}
        with_cache = {c.keys[i] for i in range(len(entries)) if c.attempt_of[i] > k["attempt"]} & answered_before
        out.append((ki, len(sent & answered_before), len(with_cache)))
    return out


def reference(exe, work, name, flow, inp, sets, faults):
    with Fixture(work, script=SCRIPT, faults=faults) as fx:
        s = dict(sets, base_url=fx.url)
        c = Campaign(exe, work, f"{name}-ref", flow, inp, fx, s)
        t0 = time.monotonic()
        proc = subprocess.run(c.cmd(resume=False), capture_output=True, text=True, timeout=600)
        seconds = time.monotonic() - t0
        check(proc.returncode == 0, f"{name}: reference run failed: {proc.stderr}")
        return c.out.read_bytes(), (c.run_dir / "rejects.jsonl").read_bytes(), seconds, len(fx.requests())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--seed", type=int, default=None, help="seed of the kill moments (default: random, printed)")
    ap.add_argument("--kills", type=int, default=12, help="kills per flow (at least)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    print(f"chaos seed: {seed} (reproduce with --seed {seed})", flush=True)
    rng = random.Random(seed)
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sf-chaos-{os.getpid()}-"))
    total_kills = 0
    nc_without = nc_with = 0  # answered requests sent again by the cache-less resumes, and with the cache
    modes = {}
    try:
        gen_in, pipe_in = make_inputs(work)
        pipe_flow = work / "pipeline.yaml"
        pipe_flow.write_text(PIPELINE)
        common = {"llm.max_attempts": 10, "llm.timeout_s": 10}
        flows = [
            ("generate", "generate", gen_in,
             dict(common, backend="openai", model="fixture", concurrency=CONCURRENCY, max_tokens=64)),
            ("pipeline", pipe_flow, pipe_in, dict(common)),
        ]
        for name, flow, inp, sets in flows:
            faults = dict(FAULTS, seed=rng.randrange(1 << 30))
            ref_out, ref_rej, ref_s, ref_requests = reference(a.synthforge, work, name, flow, inp, sets, faults)
            ref_ids = [json.loads(l)["id"] for l in ref_out.splitlines()]
            check(len(ref_ids) == len(set(ref_ids)) and ref_ids, f"{name}: reference ids not unique or empty")
            print(f"{name}: reference {len(ref_ids)} rows, {ref_requests} requests, {ref_s:.2f} s", flush=True)
            kills_here = 0
            campaigns = 0
            while kills_here < a.kills:
                campaigns += 1
                check(campaigns <= 4, f"{name}: could not reach {a.kills} kills")
                with Fixture(work, script=SCRIPT, faults=faults) as fx:
                    c = Campaign(a.synthforge, work, f"{name}-{campaigns}", flow, inp, fx, dict(sets, base_url=fx.url))
                    c.ref_out = ref_out
                    run_campaign(c, rng, ref_s, a.kills - kills_here, copies_wanted=4)
                    entries = fx.requests()
                    per_kill = analyse_resends(c, entries)
                    nc = nocache_resends(c, entries)
                out_bytes = c.out.read_bytes()
                check(out_bytes == ref_out, f"{name}: output after {len(c.kills)} kills differs from the uninterrupted run")
                check((c.run_dir / "rejects.jsonl").read_bytes() == ref_rej, f"{name}: rejects after kills differ")
                ids = [json.loads(l)["id"] for l in out_bytes.splitlines()]
                check(sorted(ids) == sorted(ref_ids) and len(ids) == len(set(ids)), f"{name}: rows missing or doubled")
                meta = json.loads((c.run_dir / "metadata.json").read_text())
                check(meta["status"] == "complete", f"{name}: metadata does not say complete")
                resent = sum(r[2] for r in per_kill)
                answered_total = sum(r[1] for r in per_kill)
                for k in c.kills:
                    modes[k["mode"]] = modes.get(k["mode"], 0) + 1
                kills_here += len(c.kills)
                print(f"{name} campaign {campaigns}: {len(c.kills)} SIGKILLs "
                      f"({', '.join(k['mode'] + (':' + k['detail'] if k['detail'] else '') for k in c.kills)}); "
                      f"output identical ({len(ids)} rows, {len(out_bytes)} bytes); {len(entries)} requests; "
                      f"answered before a kill in the killed attempt: {answered_total}, sent again: {resent} "
                      f"(max {max([r[2] for r in per_kill] or [0])} per kill, window {WINDOW}); "
                      f"without the cache, resumes from kills {[ki + 1 for ki, _, _ in nc]} re-send "
                      f"{[w for _, w, _ in nc]} answered requests, with it {[x for _, _, x in nc]}", flush=True)
                nc_without += sum(w for _, w, _ in nc)
                nc_with += sum(x for _, _, x in nc)
            total_kills += kills_here
        check(total_kills >= 20, f"only {total_kills} kills")
        # Without the cache a resume pays again for every answer of the unfinished batch; with
        # it, only for those still in flight at the kill.
        check(nc_without > 2 * nc_with and nc_without >= 5,
              f"without the cache {nc_without} answered requests are sent again, with it {nc_with}")
        check(modes.get("llm", 0) + modes.get("time", 0) >= 3 and modes.get("batch", 0) >= 3,
              f"kills not spread over LLM calls and batches: {modes}")
        check(modes.get("write", 0) >= 1, f"no kill during output writing: {modes}")
        print(f"chaos: ok, {total_kills} SIGKILLs {modes}; answered requests sent again after the sampled kills: "
              f"{nc_with} with the cache, {nc_without} without; seed {seed}")
        return 0
    finally:
        if a.keep:
            print("work directory:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
