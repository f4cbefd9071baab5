#!/usr/bin/env python3
"""Sharded runs (`synthforge run --shard I/N`) and `synthforge merge`, through the real CLI.

- A per-record curation flow (flows/demo.yaml: filters, dedup_exact, set; no LLM) over 203 records
  with a bad line, rows the filters drop and duplicates planted across shard boundaries, run as 4
  shard processes in parallel: the merge is byte-for-byte the single run's output, its rejects hold
  the same records, and the cross-shard duplicates are dropped by merge's global dedup (with
  --dedup none they are still there).
- A flow with no input file (input: rows: N) splits its generated rows the same way.
- An LLM flow (flows/generate.yaml) against two fixture servers (shards 0-1 on one, 2-3 on the
  other: base_url differs per shard): merged output == single run, byte for byte.
- --shard auto from Slurm (SLURM_ARRAY_TASK_ID/_COUNT/_MIN) and Kubernetes (JOB_COMPLETION_INDEX +
  SYNTHFORGE_SHARD_COUNT) variables gives the same shard as --shard I/N; unset variables are a
  clear error.
- Refusals: a missing shard (named), shards of another flow/seed, resuming with another shard spec,
  an out-of-range shard, -o without {shard}.
- A shard interrupted (SIGINT) between batches resumes within its slice and ends identical.
- examples/slurm/*.sbatch run locally with fake SLURM_* variables, 4 tasks in parallel, then the
  merge script: same bytes as the single run. examples/kubernetes/*.yaml parse, are an Indexed Job
  whose completions match SYNTHFORGE_SHARD_COUNT, and the pods' own shell scripts run locally.
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "methods"))
from harness import Fixture, check, read_jsonl, workdir  # noqa: E402

import yaml  # noqa: E402  (python3-yaml)

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "examples" / "data" / "seed_instructions.jsonl"
N = 4


def run(cmd, env=None, cwd=None, expect=0):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    if expect is not None:
        check(p.returncode == expect, f"{' '.join(map(str, cmd))}: exit {p.returncode}, wanted {expect}\n"
                                      f"{p.stderr[-3000:]}")
    return p


def parallel(cmds, env=None, cwd=None):
    """Starts every command at once (the shards really run concurrently) and checks each succeeded."""
    procs = [subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env[i] if isinstance(env, list) else env, cwd=cwd) for i, cmd in enumerate(cmds)]
    for cmd, p in zip(cmds, procs):
        out, err = p.communicate(timeout=600)
        check(p.returncode == 0, f"{' '.join(map(str, cmd))}: exit {p.returncode}\n{err[-3000:]}")


def curation_input(work):
    """203 instruction records: variants of the seed set, a few the demo flow's filters drop, exact
    duplicates planted so that most land in another shard than their original, and one bad line."""
    seeds = [json.loads(l) for l in SEEDS.read_text().splitlines() if l.strip()]
    rows = []
    for i in range(200):
        s = dict(seeds[i % len(seeds)])
        s["id"] = i
        if i % 17 == 5:
            s["instruction"] = "Draw a picture of a cat"  # dropped by text_only
        elif i % 23 == 7:
            s["instruction"] = "Hi"  # dropped by length (too few words)
        else:
            s["instruction"] = f"{s['instruction']} (variant {i})"
        rows.append(s)
    # Duplicates of rows 3, 60 and 160 at the end (the last shard): two cross shards, one does not.
    for src in (3, 60, 160):
        d = dict(rows[src])
        d["id"] = 1000 + src
        rows.append(d)
    lines = [json.dumps(r) for r in rows]
    lines.insert(100, '{"id": "broken", "instruction": ')  # a bad record, in shard 1's slice
    path = work / "curation.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, rows


def ids(rows):
    return sorted(str(r.get("id", r.get("_raw", ""))) for r in rows)


def test_curation_flow(exe, work):
    inp, rows = curation_input(work)
    common = ["--on-bad-record", "skip", "--batch-size", "7", "-q"]
    single = work / "demo.single.jsonl"
    run([exe, "run", "demo", "-i", inp, "-o", single, "--run-dir", work / "demo.single", *common])
    single_rejects = read_jsonl(work / "demo.single" / "rejects.jsonl")

    parallel([[exe, "run", "demo", "-i", inp, "--shard", f"{i}/{N}", "--run-dir", work / "demo.{shard}", *common]
              for i in range(N)])
    dirs = [work / f"demo.shard-{i}-of-{N}" for i in range(N)]
    for d in dirs:
        check((d / "run.sqlite").exists(), f"no run store in {d}")
    # Each shard saw only its slice: together every record exactly once.
    seen = sum(json.loads((d / "metadata.json").read_text())["rows_in"] for d in dirs)
    check(seen == len(rows) + 1, f"the shards read {seen} records, the input has {len(rows) + 1}")

    merged = work / "demo.merged.jsonl"
    run([exe, "merge", *reversed(dirs), "-o", merged, "--dedup", "exact", "--field", "instruction", "-q"])
    check(merged.read_bytes() == single.read_bytes(),
          "merged output differs from the single run's:\n" + merged.read_text()[:400] + "\n---\n" +
          single.read_text()[:400])
    merged_rejects = read_jsonl(work / "demo.merged.rejects.jsonl")
    check(ids(merged_rejects) == ids(single_rejects),
          f"merged rejects {ids(merged_rejects)} differ from the single run's {ids(single_rejects)}")
    by_merge = [r for r in merged_rejects if r["_rejected_by"] == "merge_dedup"]
    # Row 1003 duplicates row 3 (shard 0) and 1060 row 60 (shard 1): only merge sees those pairs;
    # 1160 and its original 160 are both in the last shard, whose own dedup_exact drops it.
    check(sorted(r["id"] for r in by_merge) == [1003, 1060], f"merge dropped {by_merge}")
    check(all("duplicate" in r["_reason"].lower() for r in by_merge), by_merge)
    check(any(r["_rejected_by"] == "input" and r["_raw"].startswith('{"id": "broken"') for r in merged_rejects),
          "the bad input line is not in the merged rejects exactly once")
    print(f"curation: {N} shards merged == single run ({len(read_jsonl(single))} rows, "
          f"{len(single_rejects)} rejects, {len(by_merge)} cross-shard duplicates dropped by merge)")

    plain = work / "demo.nodedup.jsonl"
    run([exe, "merge", *dirs, "-o", plain, "--dedup", "none", "-q"])
    check(len(read_jsonl(plain)) == len(read_jsonl(single)) + 2, "--dedup none should keep the 2 cross-shard dups")

    # Refusals.
    p = run([exe, "merge", dirs[0], dirs[1], dirs[3], "-o", work / "x.jsonl"], expect=2)
    check("shard 2/4 is missing" in p.stderr, p.stderr)
    p = run([exe, "merge", *dirs, dirs[1], "-o", work / "x.jsonl"], expect=2)
    check("shard 1/4 is given twice" in p.stderr, p.stderr)
    p = run([exe, "run", "demo", "-i", inp, "--shard", "2/4", "--resume", dirs[1], *common], expect=2)
    check("the run is shard 1/4, now shard 2/4 was asked for" in p.stderr, p.stderr)
    p = run([exe, "run", "demo", "-i", inp, "--resume", dirs[1], *common], expect=2)
    check("the run is shard 1/4, now the whole input (no --shard)" in p.stderr, p.stderr)
    p = run([exe, "run", "demo", "-i", inp, "--shard", "4/4", *common], expect=2)
    check("out of range for 4 shard(s)" in p.stderr, p.stderr)
    p = run([exe, "run", "demo", "-i", inp, "--shard", "0/4", "-o", work / "same.jsonl", *common], expect=2)
    check("put {shard} in the name" in p.stderr, p.stderr)
    other = work / "demo.seed7.shard-0-of-4"
    run([exe, "run", "demo", "-i", inp, "--shard", "0/4", "--seed", "7", "--run-dir", other, *common])
    p = run([exe, "merge", other, *dirs[1:], "-o", work / "x.jsonl"], expect=2)
    check("are not shards of one run" in p.stderr and "the seed changed from 7 to 0" in p.stderr, p.stderr)
    check(not (work / "x.jsonl").exists(), "a refused merge wrote its output")
    print("curation: refusals name the missing shard, the duplicate, the shard mismatch and the seed")
    return inp, common, dirs


def test_auto(exe, work, inp, common, dirs):
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("SLURM_") and k not in ("JOB_COMPLETION_INDEX", "SYNTHFORGE_SHARD_COUNT")}
    auto = work / "auto"
    auto.mkdir()
    # --array=3-6: task 5 is the third task, shard 2 of 4; the default run dir is runs/demo.shard-2-of-4.
    slurm = dict(base, SLURM_ARRAY_TASK_ID="5", SLURM_ARRAY_TASK_COUNT="4", SLURM_ARRAY_TASK_MIN="3")
    run([exe, "run", "demo", "-i", inp, "--shard", "auto", *common], env=slurm, cwd=auto)
    got = auto / "runs" / "demo.shard-2-of-4" / "output.jsonl"
    check(got.exists(), "--shard auto (Slurm) did not write runs/demo.shard-2-of-4")
    check(got.read_bytes() == (dirs[2] / "output.jsonl").read_bytes(), "--shard auto (Slurm) is not shard 2/4")
    k8s = dict(base, JOB_COMPLETION_INDEX="1", SYNTHFORGE_SHARD_COUNT="4")
    run([exe, "run", "demo", "-i", inp, "--shard", "auto", *common], env=k8s, cwd=auto)
    got = auto / "runs" / "demo.shard-1-of-4" / "output.jsonl"
    check(got.exists() and got.read_bytes() == (dirs[1] / "output.jsonl").read_bytes(),
          "--shard auto (Kubernetes) is not shard 1/4")
    p = run([exe, "run", "demo", "-i", inp, "--shard", "auto", *common], env=base, cwd=auto, expect=2)
    check("no scheduler shard found" in p.stderr and "SYNTHFORGE_SHARD_COUNT" in p.stderr, p.stderr)
    p = run([exe, "run", "demo", "-i", inp, "--shard", "auto", *common], env=dict(base, JOB_COMPLETION_INDEX="0"),
            cwd=auto, expect=2)
    check("SYNTHFORGE_SHARD_COUNT is not" in p.stderr, p.stderr)
    print("auto: Slurm and Kubernetes variables pick the same shard as --shard I/N; unset is an error")


def test_generated_rows(exe, work):
    """A flow with no input file (`input: rows: 31`) splits its generated rows: 3 shards, merged == single."""
    flow = work / "numbers.yaml"
    flow.write_text("version: 1\nname: numbers\ninput:\n  rows: 31\nblocks:\n"
                    "  - name: text\n    type: set\n    config:\n      column: text\n"
                    "      template: \"row {{ index }}\"\n")
    single = work / "numbers.single.jsonl"
    run([exe, "run", flow, "-o", single, "--run-dir", work / "numbers.single", "-q", "--batch-size", "4"])
    parallel([[exe, "run", flow, "--shard", f"{i}/3", "--run-dir", work / "numbers.{shard}", "-q", "--batch-size", "4"]
              for i in range(3)])
    sizes = [len(read_jsonl(work / f"numbers.shard-{i}-of-3" / "output.jsonl")) for i in range(3)]
    check(sizes == [10, 10, 11], f"generated rows per shard: {sizes}")
    merged = work / "numbers.merged.jsonl"
    run([exe, "merge", *[work / f"numbers.shard-{i}-of-3" for i in range(3)], "-o", merged, "--dedup", "none", "-q"])
    check(merged.read_bytes() == single.read_bytes() and len(read_jsonl(single)) == 31,
          "merged generated rows differ from the single run's")
    print(f"generated rows: 31 rows split {sizes} over 3 shards, merged == single run")


def prompts_input(work):
    path = work / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": i, "prompt": f"Write a short note about topic number {i}."}) + "\n"
                            for i in range(41)))
    return path


def test_llm_flow(exe, work, fa, fb):
    inp = prompts_input(work)
    sets = ["--set", "backend=openai", "--set", "model=fixture"]
    single = work / "gen.single.jsonl"
    run([exe, "run", "generate", "-i", inp, "-o", single, "--run-dir", work / "gen.single", "-q",
         "--set", f"base_url={fa.url}", *sets])
    check(len(read_jsonl(single)) == 41 and all(r.get("response") for r in read_jsonl(single)),
          "the single LLM run did not answer every prompt")
    parallel([[exe, "run", "generate", "-i", inp, "--shard", f"{i}/{N}", "--run-dir", work / "gen.{shard}", "-q",
               "--set", f"base_url={(fa if i < 2 else fb).url}", *sets] for i in range(N)])
    merged = work / "gen.merged.jsonl"
    run([exe, "merge", *[work / f"gen.shard-{i}-of-{N}" for i in range(N)], "-o", merged, "-q"])
    check(merged.read_bytes() == single.read_bytes(), "merged LLM output differs from the single run's")
    print(f"llm: {N} shards over two endpoints merged == single run (41 rows)")
    return inp, single


def test_interrupted_shard_resumes(exe, work, inp):
    """A shard stopped between batches resumes inside its slice: same rows as the uninterrupted shard."""
    with Fixture(work, faults={"slow_ms": 300}) as slow:
        cmd = [exe, "run", "generate", "-i", inp, "--shard", "1/4", "--batch-size", "2", "-q", "--set",
               "backend=openai", "--set", "model=fixture", "--set", f"base_url={slow.url}", "--set", "concurrency=1"]
        proc = subprocess.Popen([str(c) for c in cmd + ["--run-dir", work / "gen.stopped"]],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        check(proc.returncode == 1 and "--shard 1/4" in err and "--resume" in err,
              f"the interrupted shard should exit 1 with a resume command naming its shard: {proc.returncode} {err}")
        answered_before = len(slow.requests())
        check(0 < answered_before < 10, f"{answered_before} of the shard's 10 prompts were sent before the stop")
        run(cmd + ["--resume", work / "gen.stopped"])
    got = (work / "gen.stopped" / "output.jsonl").read_bytes()
    check(got == (work / f"gen.shard-1-of-{N}" / "output.jsonl").read_bytes(),
          "the resumed shard's output differs from the uninterrupted shard's")
    print(f"resume: a shard interrupted after {answered_before} of its 10 requests resumes within its slice and "
          "ends identical")


def test_slurm_example(exe, work, fa, fb, inp, single):
    slurm = ROOT / "examples" / "slurm"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(SYNTHFORGE=str(exe), FLOW="generate", INPUT=str(inp), RUN_ROOT=str(work / "slurm-runs"),
               MODEL="fixture", ENDPOINTS=f"{fa.url} {fb.url}", SLURM_ARRAY_TASK_COUNT=str(N),
               SLURM_ARRAY_TASK_MIN="0", OUTPUT=str(work / "slurm-merged.jsonl"))
    envs = [dict(env, SLURM_ARRAY_TASK_ID=str(i)) for i in range(N)]
    parallel([["bash", slurm / "generate_array.sbatch"] for _ in range(N)], env=envs, cwd=work)
    run(["bash", slurm / "merge.sbatch"], env=env, cwd=work)
    check((work / "slurm-merged.jsonl").read_bytes() == single.read_bytes(),
          "the Slurm example's merged output differs from a single run")
    # A re-submitted array resumes every shard instead of refusing or redoing the work.
    parallel([["bash", slurm / "generate_array.sbatch"] for _ in range(N)], env=envs, cwd=work)
    meta = json.loads((work / "slurm-runs" / "generate.shard-0-of-4" / "metadata.json").read_text())
    check(meta["resumes"] == 1, f"a re-submitted task did not resume: {meta.get('resumes')}")
    print("slurm: the sbatch array (4 fake tasks, 2 endpoints) + merge.sbatch == single run; re-submit resumes")


def test_kubernetes_example(exe, work, fa, inp, single):
    k8s = ROOT / "examples" / "kubernetes"
    job = list(yaml.safe_load_all((k8s / "indexed-job.yaml").read_text()))
    merge = list(yaml.safe_load_all((k8s / "merge-job.yaml").read_text()))
    check(len(job) == 1 and job[0]["kind"] == "Job" and job[0]["apiVersion"] == "batch/v1", job)
    spec = job[0]["spec"]
    check(spec["completionMode"] == "Indexed", "the shard Job is not an Indexed Job")
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    check(env.get("SYNTHFORGE_SHARD_COUNT") == str(spec["completions"]),
          f"SYNTHFORGE_SHARD_COUNT {env.get('SYNTHFORGE_SHARD_COUNT')} != completions {spec['completions']}")
    check(merge[0]["kind"] == "Job", merge)
    # Run the pods' own scripts locally: the shard pods (JOB_COMPLETION_INDEX 0..N-1), then the merge pod.
    pod = work / "k8s"
    (pod / "inputs").mkdir(parents=True)
    shutil.copy(inp, pod / "inputs" / "prompts.jsonl")
    bindir = work / "bin"
    bindir.mkdir()
    (bindir / "synthforge").symlink_to(exe)

    def script(c):
        s = c["args"][0].replace("http://vllm.inference.svc:8000/v1", fa.url)
        return s.replace("--set model=Qwen/Qwen2.5-7B-Instruct", "--set model=fixture")

    base = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    base["PATH"] = f"{bindir}:{base['PATH']}"
    base.update({k: v for k, v in env.items() if v is not None})
    count = int(env["SYNTHFORGE_SHARD_COUNT"])
    parallel([container["command"] + [script(container)] for _ in range(count)],
             env=[dict(base, JOB_COMPLETION_INDEX=str(i)) for i in range(count)], cwd=pod)
    mc = merge[0]["spec"]["template"]["spec"]["containers"][0]
    menv = dict(base, **{e["name"]: e["value"] for e in mc.get("env", [])})
    run(mc["command"] + [script(mc)], env=menv, cwd=pod)
    check((pod / "runs" / "generate.merged.jsonl").read_bytes() == single.read_bytes(),
          "the Kubernetes example's merged output differs from a single run")
    print(f"kubernetes: Indexed Job ({count} pods' scripts) + merge Job == single run")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    exe = pathlib.Path(a.synthforge).resolve()
    work = workdir(f"shard-{os.getpid()}")
    try:
        inp, common, dirs = test_curation_flow(exe, work)
        test_auto(exe, work, inp, common, dirs)
        test_generated_rows(exe, work)
        with Fixture(work) as fa, Fixture(work) as fb:
            prompts, single = test_llm_flow(exe, work, fa, fb)
            test_interrupted_shard_resumes(exe, work, prompts)
            test_slurm_example(exe, work, fa, fb, prompts, single)
            test_kubernetes_example(exe, work, fa, prompts, single)
        print("OK")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
