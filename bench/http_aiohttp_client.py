#!/usr/bin/env python3
"""The Python asyncio client of the HTTP dispatch benchmark: what a Python pipeline would do with
Debian's python3-aiohttp. CONCURRENCY coroutines share one ClientSession (a keep-alive pool of
CONCURRENCY connections) and each POSTs the same chat request as wrk and http_dispatch_driver,
reads the body and parses it as JSON (as the openai backend does), in a loop, for SECONDS.

  http_aiohttp_client.py URL SECONDS CONCURRENCY

URL ends in /v1. Prints one line in http_dispatch_driver's format:
  requests N failed F seconds S requests/s R p50_ms X p99_ms Y all A
counting requests that finished within SECONDS after a 0.3 s warm-up that opens the connections.
bench/run_all.py measures its CPU time and peak RSS from outside (wait4), as for the others.
Runs on one event loop (one core), as asyncio does.
"""
import asyncio
import json
import sys
import time

import aiohttp

BODY = json.dumps({"model": "bench-model",
                   "messages": [{"role": "system", "content": "You are terse."},
                                {"role": "user", "content": "benchmark prompt number 12345"}],
                   "temperature": 0.7, "top_p": 0.9, "max_tokens": 64}, separators=(",", ":")).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


async def run(url, seconds, concurrency):
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        latencies = []
        failed = 0
        completed = 0  # all requests, warm-up included: what the CPU time is divided by

        async def worker(until, record):
            nonlocal failed, completed
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=BODY, headers=HEADERS) as r:
                        payload = json.loads(await r.read())
                        ok = r.status == 200 and "choices" in payload
                except (aiohttp.ClientError, ValueError):
                    ok = False
                t1 = time.perf_counter()
                completed += 1
                if record and t1 < until:
                    if ok:
                        latencies.append((t1 - t0) * 1000)
                    else:
                        failed += 1

        warm = time.perf_counter() + 0.3
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        start = time.perf_counter()
        await asyncio.gather(*(worker(start + seconds, True) for _ in range(concurrency)))
        latencies.sort()

        def pct(p):
            return latencies[int(p * (len(latencies) - 1))] if latencies else 0.0

        print("requests %d failed %d seconds %.3f requests/s %.0f p50_ms %.3f p99_ms %.3f all %d"
              % (len(latencies), failed, seconds, len(latencies) / seconds, pct(0.5), pct(0.99), completed))
        return failed


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: http_aiohttp_client.py URL SECONDS CONCURRENCY")
    url = sys.argv[1].rstrip("/") + "/chat/completions"
    failed = asyncio.run(run(url, float(sys.argv[2]), int(sys.argv[3])))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
