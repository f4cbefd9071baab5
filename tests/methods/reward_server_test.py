#!/usr/bin/env python3
"""The reward block against a real llama-server started with --rerank, serving the tiny
random-weight reranker (synthforge tiny-model --reranker).

Checks the structure end to end: the reward block posts to llama-server's /v1/rerank and reads
its relevance scores, one per response; preference_pairs builds chosen/rejected pairs from them;
and the scores equal what the in-process llama backend computes for the same pairs (both lay a
pair out with the model's rerank template and read the classification head's first output).
Random weights: the scores are noise, so nothing is asserted about which answer is better.
"""
import argparse
import subprocess

from harness import check, free_port, run_flow, wait_http, workdir, write_jsonl

FLOW = """version: 1
name: reward_pairs
params:
  margin: {default: 0, description: "score gap a pair needs"}
blocks:
  - {name: rm, type: reward, config: {response: responses, output: rewards}}
  - {name: pairs, type: preference_pairs, config: {margin: "${margin}"}}
"""

ROWS = [
    {"instruction": "Name a prime number.", "responses": ["7 is prime.", "Bananas are yellow.", "Eleven."]},
    {"instruction": "Summarize: the river rose overnight and closed two roads.",
     "responses": ["Flooding closed two roads.", "The weather was nice."]},
    {"instruction": "Write a haiku about autumn.",
     "responses": ["Leaves drift on cold wind", "Autumn: a season.", "Red maple, grey sky, a crow"]},
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server", required=True)
    a = ap.parse_args()
    work = workdir("reward-server")
    model = work / "reranker.gguf"
    subprocess.run([a.synthforge, "tiny-model", "--reranker", str(model)], check=True, capture_output=True)
    flow = work / "reward_pairs.yaml"
    flow.write_text(FLOW)
    inp = write_jsonl(work / "in.jsonl", ROWS)

    port = free_port()
    server = subprocess.Popen([a.llama_server, "-m", str(model), "--rerank", "--host", "127.0.0.1",
                               "--port", str(port), "-np", "2", "-c", "2048", "-t", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        check(wait_http(f"http://127.0.0.1:{port}/health"), "llama-server --rerank did not become healthy")
        http = run_flow(a.synthforge, flow, work, "http", [inp],
                        {"llm.backend": "openai", "llm.base_url": f"http://127.0.0.1:{port}/v1",
                         "llm.model": "tiny-reranker"})
    finally:
        server.terminate()
        server.wait(timeout=30)
    local = run_flow(a.synthforge, flow, work, "local", [inp],
                     {"llm.backend": "llama", "llm.model": str(model), "llm.embeddings": "true",
                      "llm.pooling": "rank", "llm.threads": 2})

    check(len(http.rows) + len(http.rejects) == len(ROWS), f"rows + rejects: {http.rows} {http.rejects}")
    for row in http.rows:
        rewards = row["rewards"]
        check(len(rewards) == len(row["responses"]), f"one score per response: {row}")
        check(all(0.0 < s < 1.0 for s in rewards), f"the tiny reranker's softmax scores lie in (0, 1): {rewards}")
        best, worst = rewards.index(max(rewards)), rewards.index(min(rewards))
        check(row["chosen"] == row["responses"][best] and row["rejected"] == row["responses"][worst],
              f"chosen/rejected follow the scores: {row}")
        check(row["chosen_score"] == max(rewards), f"chosen_score {row}")
    meta = http.block("rm")
    check(meta is not None and meta["llm"]["requests"] == sum(len(r["responses"]) for r in ROWS),
          f"one request per response: {meta}")

    # Same pairs, same model, same layout: the server's scores are the in-process ones.
    local_rows = {row["instruction"]: row for row in local.rows + local.rejects}
    for row in http.rows + http.rejects:
        other = local_rows[row["instruction"]]
        for s_http, s_local in zip(row["rewards"], other["rewards"]):
            check(abs(s_http - s_local) < 1e-3, f"llama-server {row['rewards']} vs in-process {other['rewards']}")
    print("reward_server: ok")


if __name__ == "__main__":
    main()
