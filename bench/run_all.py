#!/usr/bin/env python3
"""The benchmark suite behind `make bench` (issue 8): every benchmark of docs/benchmarks.md, each
side measured the same way in the same run, medians of several repetitions, ratios next to the
absolute numbers. Writes docs/benchmarks.md (from bench/benchmarks.md.in) and
bench/results/latest.json; with --quick, small sizes (a ~2 minute smoke run) written to
bench/results/quick.json and bench/results/quick.md instead, so a smoke run never replaces the
published table.

  bench/run_all.py [--build build] [--quick] [--only rouge,minhash,http,llama,e2e,ingest,pii,memory]

Needs a tree configured with -DSYNTHFORGE_BENCH=ON and built (make bench does both), and the
Debian packages of scripts/install-deps.sh (wrk, nginx-light, python3-aiohttp, python3-numpy,
time). Every process is timed by GNU time (/usr/bin/time): wall, user + system CPU and peak RSS
come from the kernel's rusage of that one process, whichever side it is. "One core" means pinned
with taskset to the last CPU, both sides on the same one.
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Debian's interpreter: the references need python3-numpy and python3-aiohttp, which a pyenv or
# virtualenv python3 earlier on PATH may not see.
PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
NPROC = os.cpu_count() or 1
CORE = str(NPROC - 1)  # the core "one core" benchmarks are pinned to


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Run:
    """One measured process: its output and the rusage GNU time reports for it."""

    def __init__(self, out, err, wall, cpu, rss_kb, rc):
        self.out, self.err, self.wall, self.cpu, self.rss_kb, self.rc = out, err, wall, cpu, rss_kb, rc


def run(cmd, cpu=None, stdout=None, check=True, env=None, timeout=1800):
    """Runs cmd under /usr/bin/time (and taskset -c CPU when given). stdout=PATH writes the
    standard output to a file instead of keeping it."""
    cmd = [str(c) for c in cmd]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name] + cmd
        out_f = open(stdout, "w") if stdout else subprocess.PIPE
        try:
            p = subprocess.run(full, stdout=out_f, stderr=subprocess.PIPE, text=True, env=env, timeout=timeout)
        finally:
            if stdout:
                out_f.close()
        fields = tf.read().strip().splitlines()[-1].split() if os.path.getsize(tf.name) else ["0"] * 4
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {p.returncode}:\n{p.stderr[-2000:]}")
    wall, user, system, rss = (float(x) for x in fields[-4:])
    return Run(p.stdout if not stdout else "", p.stderr, wall, user + system, int(rss), p.returncode)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def grab(pattern, text, cast=float):
    m = re.search(pattern, text)
    if not m:
        raise RuntimeError(f"no match for {pattern!r} in:\n{text[-2000:]}")
    return cast(m.group(1))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def row(bench, name, reference, synthforge, ratio, target, met, note="", **extra):
    """One line of the results table. reference/synthforge are display strings, ratio a number
    (or None), met True/False/None (None: informational, no target)."""
    return dict(bench=bench, name=name, reference=reference, synthforge=synthforge, ratio=ratio,
                target=target, met=met, note=note, **extra)


def shortfall(value, target):
    """'37% short (126 of 200)' for a value below a (higher is better) target."""
    gap = 100 * (1 - value / target)
    digits = 0 if gap >= 10 else 1
    return f"{gap:.{digits}f}% short ({value:,.{2 if value < 10 else 0}f} of {target:,.0f})"


# ---------------------------------------------------------------------------------------------
# 1. ROUGE-L novelty filter

def bench_rouge(ctx):
    b, tmp, reps = ctx["build"], ctx["tmp"], ctx["reps"]
    driver = b / "bench" / "rouge_bench_driver"
    n = ctx["rouge_py_n"]
    corpus = tmp / "rouge.txt"
    run([driver, "gen", n, 1, corpus])
    cpp_secs, py_secs = [], []
    for _ in range(reps):
        r = run([driver, "filter", corpus, 0.7], cpu=CORE, stdout=tmp / "rouge_cpp.out")
        cpp_secs.append(grab(r"([0-9.]+) s", r.err))
    for _ in range(ctx["py_reps"]):
        r = run([PY, ROOT / "bench/reference/rouge_reference.py", "filter", corpus, "--threshold", 0.7], cpu=CORE,
                stdout=tmp / "rouge_py.out")
        py_secs.append(r.wall)
    same = (tmp / "rouge_cpp.out").read_text() == (tmp / "rouge_py.out").read_text()
    kept = (tmp / "rouge_py.out").read_text().split().count("keep")
    cpp, py = median(cpp_secs), median(py_secs)
    ratio = py / cpp
    scaling = []
    for size in ctx["rouge_sizes"]:
        big = tmp / "rouge_big.txt"
        run([driver, "gen", size, 2, big])
        r = run([driver, "filter", big, 0.7], cpu=CORE, stdout="/dev/null")
        scaling.append({"instructions": size, "seconds": grab(r"([0-9.]+) s", r.err), "peak_rss_mb": r.rss_kb / 1024})
    met = same and ratio >= 1000
    note = "" if same else "DECISIONS DIFFER from the reference. "
    if ratio < 1000:
        note += f"Ratio {shortfall(ratio, 1000)}; see notes."
    note += " C++ alone: " + ", ".join(f"{s['instructions'] // 1000}K in {s['seconds']:.1f} s" for s in scaling)
    return [row("rouge", f"ROUGE-L novelty filter, {n:,} instructions, 1 core",
                f"{n / py:,.0f} instr/s", f"{n / cpp:,.0f} instr/s", ratio, ">= 1,000x, identical decisions", met,
                note.strip(), identical=same, kept=kept, python_s=py_secs, cpp_s=cpp_secs, scaling=scaling)]


# ---------------------------------------------------------------------------------------------
# 2. MinHash-LSH dedup

def score_minhash(truth_lines, decisions):
    dups = found = wrong = others = merged = 0
    for (line, kind, source, _jac), g in zip(truth_lines, decisions):
        if kind == "dup":
            dups += 1
            if g[0] == "dup":
                found += g[1] == source
                wrong += g[1] != source
        else:
            others += 1
            merged += g[0] == "dup"
    return {"recall": found / max(dups, 1), "planted": dups,
            "false_merge_rate": (merged + wrong) / max(others + wrong, 1), "false_merges": merged + wrong}


def bench_minhash(ctx):
    b, tmp, reps = ctx["build"], ctx["tmp"], ctx["reps"]
    driver = b / "bench" / "minhash_bench_driver"
    n, n_py = ctx["minhash_docs"], ctx["minhash_py_docs"]
    run([PY, ROOT / "bench/minhash_gen.py", tmp / "mh", "--docs", n])
    ctx["minhash_corpus"] = tmp / "mh"
    truth = [l.rstrip("\n").split("\t") for l in open(tmp / "mh.truth")]
    with open(tmp / "mh.txt") as f, open(tmp / "mh_small.txt", "w") as out:
        for i, line in enumerate(f):
            if i >= n_py:
                break
            out.write(line)

    def decisions(path):
        return [l.split() for l in open(path)]

    # Full corpus: the C++ index alone, block defaults (target: docs/s and recall).
    full_rate = []
    for _ in range(reps):
        r = run([driver, tmp / "mh.txt", 0.8, 128, 5, 0.1, 0.9], cpu=CORE, stdout=tmp / "mh_cpp.out")
        full_rate.append(grab(r"\(([0-9.]+) docs/s\)", r.err))
    full_score = score_minhash(truth, decisions(tmp / "mh_cpp.out"))
    # The same first n_py documents through both, for the ratio.
    cpp_rate, py_rate = [], []
    for _ in range(reps):
        r = run([driver, tmp / "mh_small.txt", 0.8, 128, 5, 0.1, 0.9], cpu=CORE, stdout=tmp / "mh_cpp_small.out")
        cpp_rate.append(grab(r"\(([0-9.]+) docs/s\)", r.err))
    for _ in range(ctx["py_reps"]):
        r = run([PY, ROOT / "bench/reference/minhash_reference.py", tmp / "mh_small.txt", "--threshold", 0.8],
                cpu=CORE, stdout=tmp / "mh_py.out")
        py_rate.append(grab(r"\(([0-9.]+) docs/s\)", r.err))
    py_score = score_minhash(truth[:n_py], decisions(tmp / "mh_py.out"))
    cpp_small_score = score_minhash(truth[:n_py], decisions(tmp / "mh_cpp_small.out"))
    rate = median(full_rate)
    ratio = median(cpp_rate) / median(py_rate)
    met = rate >= 50000 and full_score["recall"] >= 0.95
    notes = []
    if rate < 50000:
        notes.append(f"speed {shortfall(rate, 50000)} docs/s on {n:,} docs; see notes")
    if full_score["recall"] < 0.95:
        notes.append(f"recall {100 * full_score['recall']:.1f}% < 95%")
    notes.append(f"{n:,} docs: recall {100 * full_score['recall']:.2f}%, false merges "
                 f"{100 * full_score['false_merge_rate']:.3f}%, {rate:,.0f} docs/s; on the first {n_py:,}: "
                 f"reference recall {100 * py_score['recall']:.2f}% / false merges "
                 f"{100 * py_score['false_merge_rate']:.3f}%, synthforge {100 * cpp_small_score['recall']:.2f}% / "
                 f"{100 * cpp_small_score['false_merge_rate']:.3f}%")
    return [row("minhash", f"MinHash-LSH dedup, 1 KB docs, 128 perm, 1 core (ratio on {n_py:,} docs)",
                f"{median(py_rate):,.0f} docs/s", f"{median(cpp_rate):,.0f} docs/s", ratio,
                ">= 50,000 docs/s, recall >= 95%", met, "; ".join(notes), docs_per_s_full=full_rate,
                score_full=full_score, score_reference=py_score, score_synthforge_subset=cpp_small_score,
                reference_docs_per_s=py_rate, synthforge_docs_per_s=cpp_rate)]


# ---------------------------------------------------------------------------------------------
# 3. HTTP dispatch

def parse_wrk(out):
    def ms(v, unit):
        return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    lat = dict(re.findall(r"^\s+(50|99)%\s+([0-9.]+(?:us|ms|s))$", out, re.M))

    def val(p):
        m = re.match(r"([0-9.]+)(us|ms|s)", lat[p])
        return ms(m.group(1), m.group(2))

    return {"rps": grab(r"Requests/sec:\s+([0-9.]+)", out), "p50_ms": val("50"), "p99_ms": val("99"),
            "all": grab(r"([0-9]+) requests in", out, int)}


def parse_driver(out):
    return {"rps": grab(r"requests/s ([0-9.]+)", out), "p50_ms": grab(r"p50_ms ([0-9.]+)", out),
            "p99_ms": grab(r"p99_ms ([0-9.]+)", out), "all": grab(r" all ([0-9]+)", out, int)}


class Nginx:
    """nginx from bench/nginx.conf.in; content=TEXT replaces the fixed completion's message
    (nginx variables such as $request_id are expanded per request)."""

    def __init__(self, tmp, cpu=None, content=None):
        self.dir = Path(tempfile.mkdtemp(dir=tmp))
        self.port = free_port()
        conf = (ROOT / "bench/nginx.conf.in").read_text().replace("@PREFIX@", str(self.dir))
        if content is not None:
            body = json.dumps({"id": "bench-1", "object": "chat.completion", "created": 1700000000,
                               "model": "bench-model", "choices": [{"index": 0, "finish_reason": "stop",
                                                                    "message": {"role": "assistant", "content": content}}],
                               "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52}})
            body = body.replace("\\", "\\\\").replace("'", "\\'")  # nginx's quoted-string escapes
            conf = re.sub(r"return 200 '.*';", lambda _: f"return 200 '{body}';", conf)
        (self.dir / "nginx.conf").write_text(conf.replace("@PORT@", str(self.port)))
        cmd = ["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e", str(self.dir / "error.log")]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        self.proc = subprocess.Popen(cmd)
        wait_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def bench_http(ctx):
    b, tmp = ctx["build"], ctx["tmp"]
    secs, rounds = ctx["http_seconds"], ctx["http_rounds"]
    clients = {
        "wrk": lambda url, c: ["wrk", "-t1", f"-c{c}", f"-d{secs}s", "--latency", "-s", ROOT / "bench/wrk_post.lua",
                               url + "/chat/completions"],
        "synthforge": lambda url, c: [b / "bench/http_dispatch_driver", url, secs, c],
        "aiohttp": lambda url, c: [PY, ROOT / "bench/http_aiohttp_client.py", url, secs, c],
    }
    # unpinned: everyone on both cores, as a user would run it; pinned: nginx on core 0, the
    # client alone on core 1, so the client's own CPU is what limits it.
    modes = [("unpinned", None, None)] + ([("pinned", "0", "1")] if NPROC >= 2 else [])
    results = {}
    for mode, server_cpu, client_cpu in modes:
        nginx = Nginx(tmp, server_cpu)
        try:
            for c in ctx["http_concurrency"]:
                samples = {k: [] for k in clients}
                for _ in range(rounds):
                    for name, cmd in clients.items():  # take turns, so a neighbour's burst hits one round
                        r = run(cmd(nginx.url, c), cpu=client_cpu, check=False)
                        if r.rc != 0:
                            raise RuntimeError(f"{name} failed: {r.out}{r.err[-1000:]}")
                        m = parse_wrk(r.out) if name == "wrk" else parse_driver(r.out)
                        m["cpu_us_per_req"] = 1e6 * r.cpu / max(m["all"], 1)
                        m["peak_rss_mb"] = r.rss_kb / 1024
                        samples[name].append(m)
                results[(mode, c)] = {k: {f: median([s[f] for s in v]) for f in v[0]} for k, v in samples.items()}
                log(f"http {mode} c={c}: " + ", ".join(f"{k} {v['rps']:,.0f}/s" for k, v in results[(mode, c)].items()))
        finally:
            nginx.stop()
    rows = []
    for (mode, c), res in results.items():
        w, s, a = res["wrk"], res["synthforge"], res["aiohttp"]
        ratio = s["rps"] / w["rps"]
        detail = (f"p50/p99 ms: wrk {w['p50_ms']:.2f}/{w['p99_ms']:.2f}, synthforge {s['p50_ms']:.2f}/{s['p99_ms']:.2f}; "
                  f"CPU us/request: wrk {w['cpu_us_per_req']:.0f}, synthforge {s['cpu_us_per_req']:.0f}; "
                  f"peak RSS MB: wrk {w['peak_rss_mb']:.0f}, synthforge {s['peak_rss_mb']:.0f}")
        note = (f"{100 * ratio:.1f}% of wrk, {shortfall(100 * ratio, 50)}; see notes. " if ratio < 0.5 else "") + detail
        rows.append(row("http", f"HTTP dispatch vs wrk, c={c}, {mode}", f"{w['rps']:,.0f} req/s",
                        f"{s['rps']:,.0f} req/s", ratio, ">= 0.5x wrk", ratio >= 0.5, note, mode=mode,
                        concurrency=c, metrics=res))
        ratio_py = s["rps"] / a["rps"]
        detail = (f"p50/p99 ms: aiohttp {a['p50_ms']:.2f}/{a['p99_ms']:.2f}; CPU us/request: aiohttp "
                  f"{a['cpu_us_per_req']:.0f} vs {s['cpu_us_per_req']:.0f}; peak RSS MB: aiohttp {a['peak_rss_mb']:.0f}")
        note = (f"{ratio_py:.1f}x, {shortfall(ratio_py, 5)}; see notes. " if ratio_py < 5 else "") + detail
        rows.append(row("http_py", f"HTTP dispatch vs Python asyncio (aiohttp), c={c}, {mode}",
                        f"{a['rps']:,.0f} req/s", f"{s['rps']:,.0f} req/s", ratio_py, ">= 5x aiohttp", ratio_py >= 5,
                        note, mode=mode, concurrency=c))
    return rows


# ---------------------------------------------------------------------------------------------
# 4. In-process generation vs llama-batched-bench

def bench_llama(ctx):
    b, tmp = ctx["build"], ctx["tmp"]
    model = tmp / "tiny.gguf"
    run([b / "bin/synthforge", "tiny-model", model])
    npp, ntg, threads = ctx["llama_npp"], ctx["llama_ntg"], 1
    # One thread, both sides: llama.cpp's OpenMP workers spin, and on a shared 2-core machine
    # a second thread measures the neighbours (bench/llama_batched.sh explains).
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    rows = []
    for npl in ctx["llama_npl"]:
        ref, ours = [], []
        for _ in range(ctx["reps"]):
            r = run([b / "bin/llama-batched-bench", "-m", model, "-c", max(4096, npl * (npp + ntg + 16)), "-b", 2048,
                     "-ub", 512, "-npp", npp, "-ntg", ntg, "-npl", npl, "-t", threads], cpu=CORE, env=env)
            s = None
            for line in r.out.splitlines():
                f = line.split("|")
                if len(f) > 10 and f[1].strip() == str(npp) and f[3].strip() == str(npl):
                    s = float(f[10])
            if s is None:
                raise RuntimeError("could not read llama-batched-bench's table:\n" + r.out)
            ref.append(s)
            r = run([b / "bench/llama_batched_driver", model, npl, npp, ntg, threads, "greedy", 1], cpu=CORE, env=env)
            ours.append(grab(r": ([0-9.]+) t/s", r.out))
        ratio = median(ours) / median(ref)
        note = f"{100 * ratio:.0f}% of llama-batched-bench, {shortfall(100 * ratio, 80)}; see notes" if ratio < 0.8 else ""
        rows.append(row("llama", f"In-process generation vs llama-batched-bench, n_parallel {npl} "
                        f"({npp}+{ntg} tokens, 1 thread)", f"{median(ref):,.0f} tok/s", f"{median(ours):,.0f} tok/s",
                        ratio, ">= 0.8x", ratio >= 0.8, note, npl=npl, reference_tps=ref, synthforge_tps=ours))
    return rows


# ---------------------------------------------------------------------------------------------
# 5. End to end over HTTP

JUDGE_REPLY = json.dumps({"rationale": "Clear, correct and to the point.",
                          "scores": {"helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 3,
                                     "verbosity": 3}})


def bench_e2e(ctx):
    b, tmp = ctx["build"], ctx["tmp"]
    n = ctx["e2e_records"]
    rng = random.Random(5)
    topics = ["rivers", "bridges", "compilers", "tea", "volcanoes", "chess", "bees", "glaciers", "jazz", "maps"]
    with open(tmp / "e2e.jsonl", "w") as f:
        for i in range(n):
            # 2% repeat an earlier instruction: the fixture answers from the prompt, so those
            # answers are duplicates that the dedup block must drop.
            k = rng.randrange(i) if i and rng.random() < 0.02 else i
            f.write(json.dumps({"id": i, "instruction": f"Task {k}: write three sentences about "
                                f"{topics[k % len(topics)]} for a curious reader."}) + "\n")
    script = tmp / "e2e_script.json"
    script.write_text(json.dumps([{"match": "(?i)helpfulness", "reply": JUDGE_REPLY}]))
    port_file = tmp / "fixture.port"
    # Its stderr (tracebacks when wrk drops connections at the end) goes to a file.
    server = subprocess.Popen([PY, ROOT / "tests/fixture_server/fixture_server.py", "--port", "0", "--port-file",
                               port_file, "--script", script], stderr=open(tmp / "fixture.err", "w"))
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.05)
        port = int(port_file.read_text())
        stats_url = f"http://127.0.0.1:{port}/stats"
        # The server's capacity: wrk against it with the same concurrency.
        w = run(["wrk", "-t1", "-c64", f"-d{ctx['http_seconds']}s", "-s", ROOT / "bench/wrk_post.lua",
                 f"http://127.0.0.1:{port}/v1/chat/completions"])
        capacity = grab(r"Requests/sec:\s+([0-9.]+)", w.out)
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/control",
                                                      data=b'{"reset": true}', method="POST")).read()
        samples, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    samples.append(json.loads(urllib.request.urlopen(stats_url, timeout=1).read())["in_flight"])
                except OSError:
                    pass
                stop.wait(0.02)

        def server_cpu():
            f = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

        t = threading.Thread(target=sample)
        t.start()
        cpu0 = server_cpu()
        try:
            r = run([b / "bin/synthforge", "run", ROOT / "bench/flows/e2e.yaml", "-i", tmp / "e2e.jsonl", "-o",
                     tmp / "e2e_out.jsonl", "--run-dir", tmp / "e2e_run", "--set", f"base_url=http://127.0.0.1:{port}/v1",
                     "-q"])
        finally:
            stop.set()
            t.join()
        cpu = server_cpu() - cpu0
    finally:
        server.terminate()
        server.wait(10)
    # The same flow against nginx answering every request with one judge-shaped completion (with a
    # per-request id, so the dedup block keeps the answers apart): a server that is never the
    # bottleneck, so records/s here is the client's own ceiling for this flow.
    reply = json.loads(JUDGE_REPLY)
    reply["rationale"] = "Clear and correct, reviewed as $request_id."
    nginx = Nginx(tmp, content=json.dumps(reply))
    try:
        rn = run([b / "bin/synthforge", "run", ROOT / "bench/flows/e2e.yaml", "-i", tmp / "e2e.jsonl", "-o",
                  tmp / "e2e_nginx_out.jsonl", "--run-dir", tmp / "e2e_nginx_run", "--set", f"base_url={nginx.url}", "-q"])
    finally:
        nginx.stop()
    nginx_rows = sum(1 for _ in open(tmp / "e2e_nginx_out.jsonl"))
    out_rows = sum(1 for _ in open(tmp / "e2e_out.jsonl"))
    rejected = sum(1 for _ in open(tmp / "e2e_run/rejects.jsonl")) if (tmp / "e2e_run/rejects.jsonl").exists() else 0
    # The fixture server is one Python process holding the GIL while it answers: it is saturated
    # when it uses one core. Its CPU time over the run's wall time is the share of time it was
    # working; the /stats samples (requests inside answer()) only see the few microseconds each
    # answer takes, not the requests queued in its sockets, so they are reported but not judged.
    busy = min(1.0, cpu / r.wall)
    sampled = sum(1 for s in samples if s > 0) / max(len(samples), 1)
    rate = n / r.wall
    ceiling = capacity / 2  # two requests per record
    note = (f"{n:,} records -> {out_rows:,} kept, {rejected:,} rejected, in {r.wall:.1f} s; server busy "
            f"{100 * busy:.0f}% (its CPU time / wall time; {100 * sampled:.0f}% of {len(samples)} /stats samples saw "
            f"a request inside answer()); fixture server alone (wrk, c=64) "
            f"{capacity:,.0f} req/s = {ceiling:,.0f} records/s at 2 requests each; synthforge used "
            f"{r.cpu:.1f} CPU-s in {r.wall:.1f} s. Against nginx (fixed judge answer): {n / rn.wall:,.0f} records/s, "
            f"{nginx_rows:,} kept, synthforge {rn.cpu:.1f} CPU-s in {rn.wall:.1f} s")
    if busy < 0.95:
        note = f"server idle {100 * (1 - busy):.0f}% of the time; see notes. " + note
    return [row("e2e", f"End to end generate -> judge -> filter -> dedup, fixture server, {n:,} records",
                f"{ceiling:,.0f} records/s (server ceiling)", f"{rate:,.0f} records/s", rate / ceiling,
                "server busy >= 95%", busy >= 0.95, note, busy_share=busy, records=n, kept=out_rows,
                rejected=rejected, wall_s=r.wall, client_cpu_s=r.cpu, nginx_records_per_s=n / rn.wall,
                nginx_client_cpu_s=rn.cpu, nginx_kept=nginx_rows, fixture_rps=capacity, server_cpu_s=cpu,
                stats_busy_share=sampled)]


# ---------------------------------------------------------------------------------------------
# 6. JSONL ingest/write and PII scan

def write_jsonl(path, records, text_bytes, seed=3):
    """records JSONL rows of about text_bytes of English-like text each. The texts come from a
    pool of 4,096 (generating each anew takes longer than the benchmark); ids and scores differ."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    pool = []
    for _ in range(4096):
        text, size = [], 0
        while size < text_bytes:
            w = words[int(len(words) ** rng.random()) - 1]
            text.append(w)
            size += len(w) + 1
        pool.append(json.dumps(" ".join(text)))
    with open(path, "w") as f:
        chunk = []
        for i in range(records):
            chunk.append(f'{{"id": {i}, "source": "bench", "text": {pool[rng.getrandbits(12)]}, '
                         f'"score": {rng.random():.3f}}}')
            if len(chunk) == 10000:
                f.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            f.write("\n".join(chunk) + "\n")


def bench_ingest(ctx):
    b, tmp, reps = ctx["build"], ctx["tmp"], ctx["reps"]
    src = tmp / "ingest.jsonl"
    write_jsonl(src, ctx["ingest_records"], 800)
    mb = src.stat().st_size / 1e6
    # "Per core" is MB over CPU time (user + system): on a shared machine a process pinned to a
    # core waits for it behind the neighbours, and wall time measures them. Wall-clock MB/s is
    # kept in the note and the JSON.
    cat_cpu, cat_wall, cpu, wall = [], [], [], []
    for i in range(reps):
        # Both write their output to the same disk; cat is the memory/disk ceiling.
        r = run(["sh", "-c", f"cat {src} > {tmp / 'cat.out'}"], cpu=CORE)
        cat_cpu.append(mb / max(r.cpu, 0.01))
        cat_wall.append(mb / r.wall)
        shutil.rmtree(tmp / "ingest_run", ignore_errors=True)
        r = run([b / "bin/synthforge", "run", ROOT / "bench/flows/filter.yaml", "-i", src, "-o", tmp / "ingest_out.jsonl",
                 "--run-dir", tmp / "ingest_run", "-q"], cpu=CORE)
        cpu.append(mb / max(r.cpu, 0.01))
        wall.append(mb / r.wall)
    rate = median(cpu)
    note = (f"{mb:,.0f} MB, {ctx['ingest_records']:,} records; MB per CPU-second (wall clock: synthforge "
            f"{median(wall):,.0f} MB/s, cat {median(cat_wall):,.0f} MB/s)")
    if rate < 200:
        note = f"{shortfall(rate, 200)} MB/s; see notes. " + note
    return [row("ingest", "JSONL ingest + write through a filter flow vs cat, 1 core", f"{median(cat_cpu):,.0f} MB/s (cat)",
                f"{rate:,.0f} MB/s", rate / median(cat_cpu), ">= 200 MB/s/core", rate >= 200, note, mb=mb,
                cat_mb_per_cpu_s=cat_cpu, cat_mb_s=cat_wall, synthforge_mb_per_cpu_s=cpu, synthforge_mb_s=wall)]


def bench_pii(ctx):
    b, tmp, reps = ctx["build"], ctx["tmp"], ctx["reps"]
    corpus = tmp / "pii.txt"
    run([PY, ROOT / "tests/pii/make_corpus.py", "--text-mb", ctx["pii_mb"], "--pii-rate", 0.05, corpus])
    ours, ref = [], []
    for _ in range(reps):
        r = run([b / "bench/pii_bench_driver", corpus], cpu=CORE)
        ours.append(grab(r"c\+\+ scanner: .*= ([0-9.]+) MB/s", r.err))
    for _ in range(ctx["py_reps"]):
        r = run([PY, ROOT / "bench/reference/pii_reference.py", corpus, "--mb", ctx["pii_py_mb"]], cpu=CORE)
        ref.append(grab(r"= ([0-9.]+) MB/s", r.err))
    rate = median(ours)
    note = f"{ctx['pii_mb']} MB of ~1.5 kB documents, 5% with PII; reference on the first {ctx['pii_py_mb']} MB"
    if rate < 200:
        note = f"{shortfall(rate, 200)} MB/s; see notes. " + note
    return [row("pii", "PII scan vs Python re reference, 1 core", f"{median(ref):,.1f} MB/s", f"{rate:,.1f} MB/s",
                rate / median(ref), ">= 200 MB/s/core", rate >= 200, note, synthforge_mb_s=ours, reference_mb_s=ref)]


# ---------------------------------------------------------------------------------------------
# 7. Memory

def bench_memory(ctx):
    b, tmp = ctx["build"], ctx["tmp"]
    small, large = ctx["memory_records"]
    rss = {}
    for n in (small, large):
        src = tmp / f"mem_{n}.jsonl"
        write_jsonl(src, n, 120, seed=n)
        shutil.rmtree(tmp / "mem_run", ignore_errors=True)
        r = run([b / "bin/synthforge", "run", ROOT / "bench/flows/filter.yaml", "-i", src, "-o", tmp / "mem_out.jsonl",
                 "--run-dir", tmp / "mem_run", "-q"])
        rss[n] = r.rss_kb / 1024
        src.unlink()
    growth = rss[large] / rss[small]
    flat = growth <= 1.25
    rows = [row("memory", f"Peak RSS streaming a filter flow, {large:,} vs {small:,} records",
                f"{rss[small]:,.0f} MB at {small:,}", f"{rss[large]:,.0f} MB at {large:,}", growth,
                "flat (<= 1.25x)", flat,
                f"peak {rss[large]:,.0f} MB while streaming {large:,} records of ~200 bytes"
                + ("" if flat else "; grows with the input: see notes"),
                rss_mb=rss)]
    # Dedup indexes hold every kept row's key: memory grows by design; per 100K rows.
    corpus = ctx.get("minhash_corpus")
    if corpus is None:
        corpus = tmp / "mh"
        run([PY, ROOT / "bench/minhash_gen.py", corpus, "--docs", ctx["dedup_rows"][1]])
    lines = open(f"{corpus}.jsonl").readlines()
    for method in ("minhash", "exact"):
        got = {}
        for n in ctx["dedup_rows"]:
            src = tmp / f"dedup_{n}.jsonl"
            src.write_text("".join(lines[:n]))
            shutil.rmtree(tmp / "dedup_run", ignore_errors=True)
            r = run([b / "bin/synthforge", "dedup", src, "-o", tmp / "dedup_out.jsonl", "--field", "text", "--method",
                     method, "--run-dir", tmp / "dedup_run", "-q"])
            got[n] = r.rss_kb / 1024
        lo, hi = ctx["dedup_rows"]
        per_100k = (got[hi] - got[lo]) * 100000 / (hi - lo)
        rows.append(row("memory_dedup", f"Peak RSS of `synthforge dedup --method {method}`, 1 KB docs",
                        f"{got[lo]:,.0f} MB at {lo:,}", f"{got[hi]:,.0f} MB at {hi:,}", got[hi] / got[lo],
                        "(information)", None, f"{per_100k:,.1f} MB per 100K rows in the index", rss_mb=got))
    return rows


# ---------------------------------------------------------------------------------------------
# Micro-benchmarks (Google Benchmark)

def bench_micro(ctx):
    r = run([ctx["build"] / "bench/micro_bench", "--benchmark_format=json", f"--benchmark_repetitions={ctx['reps']}",
             "--benchmark_report_aggregates_only=true", f"--benchmark_min_time={ctx['micro_min_time']}"], cpu=CORE)
    data = json.loads(r.out)
    out = []
    for bm in data["benchmarks"]:
        if bm.get("aggregate_name") != "median":
            continue
        # CPU time, as Google Benchmark's items/s and bytes/s counters use: on a shared machine
        # the wall time of a pinned process includes waiting for its core.
        unit = {"ns": 1, "us": 1e3, "ms": 1e6}[bm["time_unit"]]
        out.append({"name": bm["run_name"], "cpu_ns_per_op": bm["cpu_time"] * unit,
                    "real_ns_per_op": bm["real_time"] * unit, "items_per_s": bm.get("items_per_second"),
                    "bytes_per_s": bm.get("bytes_per_second")})
    ctx["micro"] = out
    return []


# ---------------------------------------------------------------------------------------------

SIZES = {
    "full": dict(reps=3, py_reps=3, rouge_py_n=500, rouge_sizes=[10000, 30000, 100000], minhash_docs=100000,
                 minhash_py_docs=5000, http_seconds=3, http_rounds=3, http_concurrency=[64, 256], llama_npl=[1, 8, 32],
                 llama_npp=128, llama_ntg=128, e2e_records=20000, ingest_records=200000, pii_mb=30, pii_py_mb=3,
                 memory_records=(100000, 1000000), dedup_rows=(50000, 100000), micro_min_time=0.5),
    "quick": dict(reps=3, py_reps=1, rouge_py_n=300, rouge_sizes=[2000, 5000], minhash_docs=5000, minhash_py_docs=1000,
                  http_seconds=1, http_rounds=1, http_concurrency=[64, 256], llama_npl=[1, 8], llama_npp=32,
                  llama_ntg=32, e2e_records=1000, ingest_records=20000, pii_mb=3, pii_py_mb=0.5,
                  memory_records=(10000, 50000), dedup_rows=(2000, 5000), micro_min_time=0.05),
}
BENCHES = {"rouge": bench_rouge, "minhash": bench_minhash, "http": bench_http, "llama": bench_llama, "e2e": bench_e2e,
           "ingest": bench_ingest, "pii": bench_pii, "memory": bench_memory, "micro": bench_micro}


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args):
        try:
            return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    load = os.getloadavg()
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "nproc": NPROC,
            "cpu": model, "commit": commit + (" (with uncommitted changes)" if dirty else ""),
            "kernel": os.uname().release, "load_at_start": [round(x, 2) for x in load]}


def fmt_ratio(r):
    if r is None:
        return "—"
    return f"{r:,.0f}x" if r >= 100 else f"{r:.2f}x"


def render(template, info, rows, micro, mode, seconds):
    lines = ["| # | benchmark | reference | synthforge | ratio | target | result | note |",
             "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        result = "—" if r["met"] is None else ("met" if r["met"] else "**NOT met**")
        lines.append(f"| {i} | {r['name']} | {r['reference']} | {r['synthforge']} | {fmt_ratio(r['ratio'])} | "
                     f"{r['target']} | {result} | {r['note']} |")
    table = "\n".join(lines)
    mlines = ["| micro-benchmark | CPU ns/op (median) | wall ns/op | items/s (CPU) | MB/s (CPU) |",
              "|---|---|---|---|---|"]
    for m in micro:
        mb = f"{m['bytes_per_s'] / 1e6:,.1f}" if m.get("bytes_per_s") else "—"
        mlines.append(f"| {m['name']} | {m.get('cpu_ns_per_op', 0):,.0f} | {m.get('real_ns_per_op', 0):,.0f} | "
                      f"{m['items_per_s'] or 0:,.0f} | {mb} |")
    mach = (f"- date: {info['date']}\n- machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}; "
            f"load average at start {', '.join(map(str, info['load_at_start']))}, at the end "
            f"{', '.join(map(str, info.get('load_at_end', [])))}\n- commit: {info['commit']}\n"
            f"- sizes: {mode}; the whole suite took {seconds / 60:.1f} minutes")
    return (template.replace("@MACHINE@", mach).replace("@TABLE@", table).replace("@MICRO@", "\n".join(mlines)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="small sizes: a ~2 minute smoke run")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(BENCHES))
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite docs/benchmarks.md (or quick.md) from the JSON results and the template, no runs")
    args = ap.parse_args()
    build = Path(args.build).resolve()
    mode = "quick" if args.quick else "full"
    if args.render_only:
        res = json.loads((ROOT / "bench/results" / ("quick.json" if args.quick else "latest.json")).read_text())
        md = render((ROOT / "bench/benchmarks.md.in").read_text(), res["machine"], res["rows"], res["micro"],
                    res["mode"], res["seconds"])
        (ROOT / "bench/results/quick.md" if args.quick else ROOT / "docs/benchmarks.md").write_text(md)
        return
    for exe in ("bench/micro_bench", "bench/rouge_bench_driver", "bench/minhash_bench_driver", "bench/pii_bench_driver",
                "bench/http_dispatch_driver", "bench/llama_batched_driver", "bin/synthforge", "bin/llama-batched-bench"):
        if not os.access(build / exe, os.X_OK):
            sys.exit(f"run_all: {build / exe} missing: configure with -DSYNTHFORGE_BENCH=ON and build (make bench)")
    for tool in ("wrk", "nginx", "taskset", "/usr/bin/time"):
        if not shutil.which(tool):
            sys.exit(f"run_all: '{tool}' not found: scripts/install-deps.sh installs it")
    selected = [b for b in BENCHES if not args.only or b in args.only.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="synthforge-bench-"))
    ctx = dict(SIZES[mode], build=build, tmp=tmp, micro=[])
    info = machine()
    log(f"{mode} run on {info['nproc']} cores ({info['cpu']}), commit {info['commit']}; scratch {tmp}")
    rows, errors = [], []
    start = time.time()
    try:
        for name in selected:
            t0 = time.time()
            log(f"{name} ...")
            try:
                got = BENCHES[name](ctx)
            except Exception as e:  # one broken benchmark must not hide the others' results
                errors.append(f"{name}: {e}")
                got = [row(name, f"{name}: FAILED", "—", "—", None, "—", False, str(e).splitlines()[0][:200])]
            for r in got:
                log(f"  {r['name']}: {r['reference']} | {r['synthforge']} | {fmt_ratio(r['ratio'])} | "
                    f"{'—' if r['met'] is None else ('met' if r['met'] else 'NOT met')}")
            rows += got
            log(f"{name} took {time.time() - t0:.0f} s")
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.time() - start
    info["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = {"machine": info, "mode": mode, "seconds": seconds, "sizes": SIZES[mode], "rows": rows,
               "micro": ctx["micro"], "errors": errors}
    out_dir = ROOT / "bench/results"
    out_dir.mkdir(exist_ok=True)
    json_path = out_dir / ("quick.json" if args.quick else "latest.json")
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    md = render((ROOT / "bench/benchmarks.md.in").read_text(), info, rows, ctx["micro"], mode, seconds)
    md_path = out_dir / "quick.md" if args.quick else ROOT / "docs/benchmarks.md"
    md_path.write_text(md)
    log(f"wrote {md_path} and {json_path} in {seconds / 60:.1f} minutes")
    if errors:
        sys.exit("run_all: some benchmarks failed:\n  " + "\n  ".join(errors))


if __name__ == "__main__":
    main()
