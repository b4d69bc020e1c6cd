"""Load run of `yopo serve` (issue 16): 8 concurrent clients x 50 requests over 4 images and mixed
pruning specs on the bundled demo model. Every answer is compared with the answer the same server
gives the same request alone. It reports errors, differing answers, p50/p95 latency and the
server's peak RSS, and also the prefix cache's effect (the second question about an image against
the first). Writes the `serve` section of BENCHMARKS.md.

    python3 Tools/bench/serve_load.py [--yopo .build/release/yopo] [--clients 8] [--requests 50]

Standard library only; the server runs with its defaults (prefix cache on, queue 16). The host's
load is not controlled: latencies are wall-clock on whatever else the machine is doing.
"""

import argparse
import base64
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from markdown_section import write_section  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "Tests/Fixtures/models/llava-demo")
IMAGES = ["shapes-demo.png", "chelsea.png", "astronaut.png", "coffee.png"]
QUESTIONS = ["Describe the image.", "What color is the circle?", "How many objects are there?", "Is there a square?"]
SPECS = [None, "yopo:window=3,layers=2,ffn=2", "fastv:k=2,r=0.5", "yopo:window=5,layers=3"]


def post(url, body, timeout=300):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    start = time.monotonic()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        answer = json.loads(r.read())
    return answer, time.monotonic() - start


def request_body(image_uri, question, spec, max_tokens=48):
    body = {"model": "llava-demo", "max_tokens": max_tokens, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": image_uri}}, {"type": "text", "text": question}]}]}
    if spec:
        body["yopo"] = {"prune": spec}
    return body


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--yopo", default=os.path.join(ROOT, ".build/release/yopo"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()

    server = subprocess.Popen([args.yopo, "serve", "--model", MODEL, "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        port = int(line.rsplit(":", 1)[1])
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if urllib.request.urlopen(base + "/health").status == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        url = base + "/v1/chat/completions"
        uris = {}
        for name in IMAGES:
            with open(os.path.join(ROOT, "Tests/Fixtures/images", name), "rb") as f:
                uris[name] = "data:image/png;base64," + base64.b64encode(f.read()).decode()

        combos = [(i, q, s) for i in IMAGES for q in QUESTIONS for s in SPECS]
        # Each request alone first: the answers the load must reproduce (and the cache effect:
        # the first question about each image/spec misses, the next ones hit).
        alone, first, second = {}, [], []
        for combo in combos:
            answer, seconds = post(url, request_body(uris[combo[0]], combo[1], combo[2]))
            alone[combo] = answer["choices"][0]["message"]["content"]
            usage = answer["usage"]
            timing = usage["yopo"]["timings_ms"]
            work = timing["image"] + timing["vision"] + timing["prefill"]
            (first if usage["yopo"]["prefix_cache"] == "miss" else second).append(
                (work, usage["prompt_tokens"] - usage["prompt_tokens_details"]["cached_tokens"]))

        errors, differing, latencies = [], 0, []
        lock = threading.Lock()

        def client(c):
            nonlocal differing
            for r in range(args.requests):
                combo = combos[(c * 37 + r * 11) % len(combos)]
                try:
                    answer, seconds = post(url, request_body(uris[combo[0]], combo[1], combo[2]))
                    text = answer["choices"][0]["message"]["content"]
                    with lock:
                        latencies.append(seconds)
                        if text != alone[combo]:
                            differing += 1
                except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                    with lock:
                        errors.append(repr(e))

        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client, range(args.clients)))
        wall = time.monotonic() - start
        rss = peak_rss_mib(server.pid)
        latencies.sort()
        p50 = statistics.median(latencies) if latencies else float("nan")
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
        total = args.clients * args.requests
        miss_ms = statistics.median(w for w, _ in first)
        hit_ms = statistics.median(w for w, _ in second)
        miss_tokens = statistics.median(t for _, t in first)
        hit_tokens = statistics.median(t for _, t in second)
    finally:
        server.terminate()
        server.wait(timeout=60)

    command = "python3 Tools/bench/serve_load.py" + ("" if args.yopo.endswith(".build/release/yopo") else f" --yopo {args.yopo}")
    section = f"""<!-- serve:begin -->
## `yopo serve` under load (bundled demo model)

`{command}` ({args.clients} clients x {args.requests} requests, non-streaming, over {len(IMAGES)} images x
{len(QUESTIONS)} questions x {len(SPECS)} pruning specs: none, {", ".join(s for s in SPECS if s)}; server defaults: prefix
cache on, queue 16, greedy; a 2-vCPU machine whose other load is not controlled).

| requests | errors | answers differing from the request alone | p50 latency | p95 latency | throughput | server peak RSS |
|---|---|---|---|---|---|---|
| {total} | {len(errors)} | {differing} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | {total / wall:.1f} req/s | {rss:.0f} MiB |

Prefix cache, from the requests-alone pass: a first question about an image (miss) did
image + vision + prefill work of {miss_ms:.1f} ms (median) on {miss_tokens:.0f} prompt tokens. A later question about
the same image and spec (hit) took {hit_ms:.1f} ms and prefilled only its {hit_tokens:.0f} new tokens. On the
demo model's tiny dimensions this shows what the cache skips; the section below (`serve_prefix_7b.py`) times it at
LLaVA-1.5-7B dimensions.
<!-- serve:end -->
"""
    if errors:
        print("errors:", errors[:5], file=sys.stderr)
    print(section)
    write_section(args.out, "<!-- serve:begin -->", "<!-- serve:end -->", section)


if __name__ == "__main__":
    main()
