"""The image-prefix cache of `yopo serve` at LLaVA-1.5-7B dimensions (issue 16): the time of the
second and third questions about an image against the first, through the running server.

    python3 Tools/bench/serve_prefix_7b.py [--yopo .build/release/yopo] [--checkpoint DIR]

Real weights cannot be downloaded here, so the script first writes a random-weight checkpoint in
the llava-hf layout with llava-1.5-7b-hf's dimensions (CLIP ViT-L/14-336, 24 layers; a LLaMA-7B
decoder, 32 layers; bf16, about 14 GB; the tokenizer and templates of the bundled tiny fixture,
which are LLaVA-1.5's) unless DIR already holds one. Then it starts `yopo serve` on it and asks
three questions about one image for each pruning spec, reading the server's usage (prefix_cache,
cached_tokens, timings_ms). A second server with the cache off answers the same requests, so each
hit's answer is compared with the answer computed without the cache. Writes the `serve-7b`
section of BENCHMARKS.md. numpy is the only dependency beyond the standard library.
"""

import argparse
import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from markdown_section import write_section  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "Tests/Fixtures/models/llava-hf-tiny")
IMAGE = os.path.join(ROOT, "Tests/Fixtures/images/chelsea.png")
WARMUP = os.path.join(ROOT, "Tests/Fixtures/images/horse.png")
QUESTIONS = ["What animal is in the picture?", "What colour is the animal's fur?", "Describe the background in one sentence."]
SPECS = [None, "yopo-25", "fastv:k=2,r=0.75"]

# llava-hf/llava-1.5-7b-hf's dimensions.
TEXT = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 32, "head_dim": 128}
VISION = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
          "projection_dim": 768}


def tensor_shapes():
    """Every tensor of the llava-hf layout at 7B dimensions, in the tiny fixture's naming."""
    d, f, v = TEXT["hidden_size"], TEXT["intermediate_size"], 32064
    kv = TEXT["num_key_value_heads"] * TEXT["head_dim"]
    D, F = VISION["hidden_size"], VISION["intermediate_size"]
    shapes = {"language_model.lm_head.weight": [v, d], "language_model.model.embed_tokens.weight": [v, d],
              "language_model.model.norm.weight": [d],
              "multi_modal_projector.linear_1.weight": [d, D], "multi_modal_projector.linear_1.bias": [d],
              "multi_modal_projector.linear_2.weight": [d, d], "multi_modal_projector.linear_2.bias": [d],
              "vision_tower.embeddings.class_embedding": [D],
              "vision_tower.embeddings.patch_embedding.weight": [D, 3, 14, 14],
              "vision_tower.embeddings.position_embedding.weight": [577, D]}
    for n in ["post_layernorm", "pre_layrnorm"]:
        shapes[f"vision_tower.{n}.weight"] = [D]
        shapes[f"vision_tower.{n}.bias"] = [D]
    for i in range(TEXT["num_hidden_layers"]):
        p = f"language_model.model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": [d], p + "post_attention_layernorm.weight": [d],
                       p + "mlp.gate_proj.weight": [f, d], p + "mlp.up_proj.weight": [f, d],
                       p + "mlp.down_proj.weight": [d, f], p + "self_attn.q_proj.weight": [d, d],
                       p + "self_attn.k_proj.weight": [kv, d], p + "self_attn.v_proj.weight": [kv, d],
                       p + "self_attn.o_proj.weight": [d, d]})
    for i in range(VISION["num_hidden_layers"]):
        p = f"vision_tower.encoder.layers.{i}."
        for n in ["layer_norm1", "layer_norm2"]:
            shapes[p + n + ".weight"] = [D]
            shapes[p + n + ".bias"] = [D]
        shapes.update({p + "mlp.fc1.weight": [F, D], p + "mlp.fc1.bias": [F], p + "mlp.fc2.weight": [D, F],
                       p + "mlp.fc2.bias": [D]})
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            shapes[p + f"self_attn.{n}.weight"] = [D, D]
            shapes[p + f"self_attn.{n}.bias"] = [D]
    return shapes


def write_checkpoint(directory):
    """Writes config, tokenizer files and one random bf16 model.safetensors (N(0, 0.02), norms 1)."""
    marker = os.path.join(directory, ".complete")
    if os.path.exists(marker):
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(TINY):
        if name not in ("config.json", "model.safetensors"):
            shutil.copy(os.path.join(TINY, name), directory)
    with open(os.path.join(TINY, "config.json")) as f:
        config = json.load(f)
    config["dtype"] = "bfloat16"
    config["text_config"].update(TEXT)
    config["vision_config"].update(VISION)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    shapes = tensor_shapes()
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    rng = np.random.default_rng(0)
    # One 64 MiB block of N(0, 0.02) bf16 values, read at a moving offset: random enough for timing.
    block = ((rng.standard_normal(1 << 25, dtype=np.float32) * 0.02).view(np.uint32) >> 16).astype(np.uint16)
    one = np.full(8192, 0x3F80, dtype=np.uint16)  # bf16 1.0 for the norm weights
    start = 0
    with open(os.path.join(directory, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name, shape in shapes.items():
            n = int(np.prod(shape))
            if "norm" in name and name.endswith(".weight"):
                f.write(one[:n].tobytes())
                continue
            while n > 0:
                take = min(n, block.size - start)
                f.write(block[start:start + take].tobytes())
                n -= take
                start = (start + take) % block.size
            start = (start + 7919) % block.size
    open(marker, "w").close()


def start_server(yopo, checkpoint, cache_mib):
    server = subprocess.Popen([yopo, "serve", "--model", checkpoint, "--port", "0", "--prefix-cache-mib", str(cache_mib),
                               "--timeout", "0"], stderr=subprocess.PIPE, text=True)
    port = int(server.stderr.readline().rsplit(":", 1)[1])
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        try:
            if urllib.request.urlopen(base + "/health").status == 200:
                break
        except urllib.error.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit("server exited: " + server.stderr.read())
        time.sleep(0.5)
    with urllib.request.urlopen(base + "/v1/models") as r:
        model = json.loads(r.read())["data"][0]["id"]
    return server, (base, model), time.monotonic() - started


def ask(endpoint, image_uri, question, spec):
    base, model = endpoint
    body = {"model": model, "max_tokens": 4, "temperature": 0, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": image_uri}}, {"type": "text", "text": question}]}]}
    if spec:
        body["yopo"] = {"prune": spec}
    request = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=3600) as r:
        answer = json.loads(r.read())
    return answer, time.monotonic() - start


def peak_rss_gb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--yopo", default=os.path.join(ROOT, ".build/release/yopo"))
    ap.add_argument("--checkpoint", default="/tmp/yopo-llava-1.5-7b-random")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()

    t = time.monotonic()
    write_checkpoint(args.checkpoint)
    print(f"checkpoint ready in {time.monotonic() - t:.0f} s", file=sys.stderr)
    with open(IMAGE, "rb") as f:
        uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
    with open(WARMUP, "rb") as f:
        warmup = "data:image/png;base64," + base64.b64encode(f.read()).decode()

    rows = {}
    server, base, load_s = start_server(args.yopo, args.checkpoint, 8192)
    try:
        # The weights are mapped lazily: the first request pays for reading them in. One about
        # another image first, so the table times a warm server.
        _, warm_s = ask(base, warmup, QUESTIONS[0], None)
        print(f"warm-up {warm_s:.1f} s", file=sys.stderr)
        for spec in SPECS:
            for q in QUESTIONS:
                answer, seconds = ask(base, uri, q, spec)
                rows[(spec, q)] = {"answer": answer, "seconds": seconds}
                print(spec, q, f"{seconds:.1f} s", answer["usage"]["yopo"]["prefix_cache"], file=sys.stderr)
        rss = peak_rss_gb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=600)

    alone = {}
    server, base, _ = start_server(args.yopo, args.checkpoint, 0)
    try:
        ask(base, warmup, QUESTIONS[0], None)
        for spec in SPECS:
            for q in QUESTIONS[1:]:
                answer, seconds = ask(base, uri, q, spec)
                alone[(spec, q)] = {"answer": answer, "seconds": seconds}
                print("alone", spec, q, f"{seconds:.1f} s", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=600)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    command = "python3 Tools/bench/serve_prefix_7b.py" + ("" if args.yopo.endswith(".build/release/yopo") else f" --yopo {args.yopo}")
    lines = []
    for spec in SPECS:
        for i, q in enumerate(QUESTIONS):
            row = rows[(spec, q)]
            usage = row["answer"]["usage"]
            timing = usage["yopo"]["timings_ms"]
            new = usage["prompt_tokens"] - usage["prompt_tokens_details"]["cached_tokens"]
            text = row["answer"]["choices"][0]["message"]["content"]
            if (spec, q) in alone:
                other = alone[(spec, q)]
                same = "yes" if other["answer"]["choices"][0]["message"]["content"] == text else "**no**"
                without = f"{other['seconds']:.1f}"
            else:
                same, without = "—", "—"
            lines.append(f"| {spec or 'none'} | {i + 1} | {usage['yopo']['prefix_cache']} | {usage['prompt_tokens']} | {new} | "
                         f"{timing['vision'] / 1000:.1f} | {timing['prefill'] / 1000:.1f} | {row['seconds']:.1f} | {without} | {same} |")
    table = "\n".join(lines)
    section = f"""<!-- serve-7b:begin -->
## `yopo serve`'s image-prefix cache at LLaVA-1.5-7B dimensions (random weights)

`{command}` at commit {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: a random bf16 checkpoint in the
llava-hf layout with llava-1.5-7b-hf's dimensions (32 distinct decoder layers, 24 CLIP layers), bf16 compute, 2 threads;
the server loaded in {load_s:.0f} s, peak RSS {rss:.1f} GB. The weights are mapped lazily, so each server first
answered one question about another image (`horse.png`; {warm_s:.0f} s on the first server) and the table times a warm
server. Three questions about one image (`chelsea.png`) per pruning spec, 4 answer tokens each, one after another on the
server with the cache on; then the second and third questions again on a server started with `--prefix-cache-mib 0`,
which is what each costs alone ("without"). Times are wall-clock seconds as the client sees them; vision and prefill
from the response's `usage.yopo.timings_ms`.

| spec | question | prefix cache | prompt tokens | new tokens (prompt − cached_tokens) | vision s | prefill s | request s | request s without cache | same answer as without |
|---|---|---|---|---|---|---|---|---|---|
{table}

A hit skips the image decode, the CLIP tower and the prefix's layers: dense and YOPO prefill only the
question's rows (attending to the cached keys); FastV (K = 2) reuses only the layers before its first
pruning layer, because the question decides which image rows layer 2 onward keeps, so its hit still runs layers
2–31 on the kept rows.
<!-- serve-7b:end -->
"""
    print(section)
    write_section(args.out, "<!-- serve-7b:begin -->", "<!-- serve-7b:end -->", section)


if __name__ == "__main__":
    main()
