"""Drives a running `yopo serve` with the real `openai` client: a plain request, a streamed one
with a usage chunk, and one with per-request pruning through extra_body. Prints one JSON object
per request (text, finish reason, token counts, prune spec) for the Swift test to compare with
`yopo generate`.

    python openai_client_check.py BASE_URL MODEL IMAGE PROMPT MAX_TOKENS PRUNE_SPEC
"""

import base64
import json
import sys
import time
import urllib.error
import urllib.request

from openai import OpenAI


def main():
    base_url, model, image, prompt, max_tokens, spec = sys.argv[1:7]
    # /health is 503 until the model is loaded.
    for _ in range(600):
        try:
            with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/health") as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.05)
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    with open(image, "rb") as f:
        uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
    messages = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": uri}},
        {"type": "text", "text": prompt}]}]
    out = {}

    plain = client.chat.completions.create(model=model, messages=messages, max_tokens=int(max_tokens), temperature=0)
    out["plain"] = {
        "text": plain.choices[0].message.content, "finish_reason": plain.choices[0].finish_reason,
        "prompt_tokens": plain.usage.prompt_tokens, "completion_tokens": plain.usage.completion_tokens}

    pieces, usage, finish, roles = [], None, None, 0
    for chunk in client.chat.completions.create(
            model=model, messages=messages, max_tokens=int(max_tokens), temperature=0, stream=True,
            stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles += 1
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    out["stream"] = {
        "text": "".join(pieces), "finish_reason": finish, "roles": roles,
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}

    pruned = client.chat.completions.create(
        model=model, messages=messages, max_tokens=int(max_tokens), temperature=0,
        extra_body={"yopo": {"prune": spec, "mode": "skip"}})
    extra = pruned.usage.model_extra["yopo"]
    out["pruned"] = {
        "text": pruned.choices[0].message.content, "finish_reason": pruned.choices[0].finish_reason,
        "prompt_tokens": pruned.usage.prompt_tokens, "completion_tokens": pruned.usage.completion_tokens,
        "spec": extra["prune"]["spec"], "total_flops": extra["executed_flops"]["total"]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
