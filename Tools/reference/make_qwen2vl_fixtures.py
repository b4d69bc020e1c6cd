#!/usr/bin/env python3
"""Builds Tests/Fixtures/models/qwen2-vl-tiny/ and qwen2.5-vl-tiny/ (random-weight Qwen2-VL and Qwen2.5-VL in
the Hub layout) and their goldens.

Reference: transformers 5.24.0 `Qwen2VLForConditionalGeneration` / `Qwen2_5_VLForConditionalGeneration` (eager attention, fp32 compute on the
bf16-rounded weights the checkpoint stores), its `Qwen2VLProcessor` with `Qwen2VLImageProcessorPil`
(the PIL backend; see FAMILIES.md on the torchvision trap), greedy `generate(do_sample=False,
repetition_penalty=1.0)`.

The checkpoint: Qwen2-VL's architecture in miniature — vision: 2 blocks of width 32, 2 heads (head_dim
16), MLP 64, patch 14, merge 2, temporal patch 2; LLM: Qwen2, hidden 32, 3 layers, 2 query heads and 1
key/value head (GQA, head_dim 16), intermediate 64, M-RoPE sections [2, 3, 3], rope_theta 1e6,
vocab 151,680, tied embeddings (as Qwen2-VL-2B). Qwen2.5-VL's vision instead: 4 blocks of width 32, 2
heads, SwiGLU MLP 48 with biases, RMSNorm, window_size 112 (4x4 merged tokens) with full attention in
blocks 1 and 3, out_hidden_size 32; the same LLM. Both saved by `save_pretrained` (Hub names `model.*`,
`visual.*`) in bf16. Tokenizer: the Qwen2 tokenizer.json of Tests/Fixtures/tokenizer/qwen2 (symlinked),
with a chat template written for this project from the documented Qwen2-VL behaviour (FAMILIES.md).

Goldens (golden/qwen2vl_tiny.json, golden/qwen25vl_tiny.json): per image (square astronaut 512², wide chelsea 451x300, tall
synthetic/portrait 120x200) the grid, the vision features (`get_image_features`, [tokens, 32]); per
prompt (each image alone, and chelsea + portrait in one prompt): the prompt text, input ids,
M-RoPE position ids [3, L] and rope delta (`get_rope_index`), the last prompt row's logits at 256 fixed
ids and its top 10, and 20 greedy ids with each step's top logit. `large_grid`: the tower on a
1932x1092 image's 78x138 patch grid (39x69 merged tokens; Qwen2.5-VL: 10x18 windows, the last row and
column partial), pixel values float32(sin(0.37 i)): sampled token rows and every column's sum. `yopo`: the wide prompt (one 11x16
merged grid) under YOPO plans in skip mode by make_pruning_fixtures.py's independent `YopoReference`
on the Qwen2 layers (M-RoPE positions are the model's own), and in simulate mode by the official
Qwen2-VL code's numerics (`qwen_official_reference`: head mask from layer 2 on, the layer cut before
softmax by absolute index, our window and FFN): prefill logits at the probe ids and 8 greedy ids; head
mask golden/headmask_qwen_tiny_3x2.npy ([layers, heads], one of the two query heads of the single
key/value group pruned in each layer). `baselines`: FastV on the
same prompt by make_baseline_fixtures.py's layer-loop reference with M-RoPE positions (kept image tokens
keep their (t, h, w) positions; decode at index + rope delta): kept image-relative indices, prefill
logits at the probe ids and 8 greedy ids; PyramidDrop likewise (kept tokens keep their positions: no
1-D re-indexing under M-RoPE), its ranking query at the next layer with M-RoPE rotary; SparseVLM
likewise, its recycled tokens at the position of the last kept image token.
Run from the repository root; deterministic (fixed seed, one thread).
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIXTURES  # noqa: E402

from transformers import (AutoTokenizer, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLConfig,  # noqa: E402
                          Qwen2VLForConditionalGeneration, Qwen2VLProcessor)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil  # noqa: E402

TOKENIZER = os.path.join(FIXTURES, "tokenizer", "qwen2")
IMAGES = os.path.join(FIXTURES, "images")
SEED = 15
MIN_PIXELS, MAX_PIXELS = 3136, 12845056

# Qwen2-VL's chat template behaviour (FAMILIES.md "Template"), written for this project: a default
# system turn when the first message is not a system message; each image part where it sits as
# <|vision_start|><|image_pad|><|vision_end|>; text parts verbatim; turns end with <|im_end|>\n.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
PROMPTS = [
    ("square", ["astronaut.png"], "Describe this image."),
    ("wide", ["chelsea.png"], "What animal is this?"),
    ("tall", ["synthetic/portrait.png"], "What colours do you see?"),
    ("two", ["chelsea.png", "synthetic/portrait.png"], "Compare the two pictures."),
]
IMAGE_NAMES = ["astronaut.png", "chelsea.png", "synthetic/portrait.png"]


TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
            num_key_value_heads=1, vocab_size=151680, rope_theta=1e6, rms_norm_eps=1e-6,
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, tie_word_embeddings=True,
            max_position_embeddings=4096, bos_token_id=151643, eos_token_id=151645)
IDS = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653,
           tie_word_embeddings=True)


def config_25() -> Qwen2_5_VLConfig:
    return Qwen2_5_VLConfig(
        text_config=dict(TEXT),
        vision_config=dict(depth=4, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=32,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, in_channels=3,
                           window_size=112, fullatt_block_indexes=[1, 3], hidden_act="silu"),
        **IDS)


def config() -> Qwen2VLConfig:
    return Qwen2VLConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=151680, rope_theta=1e6, rms_norm_eps=1e-6,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, tie_word_embeddings=True,
                         max_position_embeddings=4096, bos_token_id=151643, eos_token_id=151645),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653,
        tie_word_embeddings=True)


def rgb(name):
    return Image.fromarray(np.asarray(Image.open(os.path.join(IMAGES, name)).convert("RGB")), "RGB")


def make_processor(tokenizer) -> Qwen2VLProcessor:
    """`Qwen2VLProcessor` for images only. Its constructor insists on a video processor, which 5.24
    builds only with torchvision (whose image resize we must not get), so the instance is assembled
    with the attributes its constructor sets; `__call__` and `apply_chat_template` run unchanged."""
    processor = Qwen2VLProcessor.__new__(Qwen2VLProcessor)
    processor.image_processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    processor.tokenizer = tokenizer
    processor.video_processor = None
    processor.chat_template = CHAT_TEMPLATE
    processor.image_token = "<|image_pad|>"
    processor.video_token = "<|video_pad|>"
    processor.image_token_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    processor.video_token_id = tokenizer.convert_tokens_to_ids("<|video_pad|>")
    return processor


FAMILIES = {
    "qwen2-vl-tiny": (config, Qwen2VLForConditionalGeneration, "qwen2vl_tiny.json"),
    "qwen2.5-vl-tiny": (config_25, Qwen2_5_VLForConditionalGeneration, "qwen25vl_tiny.json"),
}


def write_checkpoint(OUT, make_config, cls):
    torch.manual_seed(SEED)
    model = cls(make_config())
    with torch.no_grad():  # larger than the 0.02 init so that the tiny model's outputs depend on the weights
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.2)
            elif "norm" in name or "ln_q" in name:
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0, 0.1)
    model = model.to(torch.bfloat16)
    model.config.dtype = "bfloat16"
    model.save_pretrained(OUT)
    for name in ("tokenizer.json",):
        link = os.path.join(OUT, name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.relpath(os.path.join(TOKENIZER, name), OUT), link)
    tok_config = json.load(open(os.path.join(TOKENIZER, "tokenizer_config.json")))
    tok_config["chat_template"] = CHAT_TEMPLATE
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump(tok_config, f, indent=2, sort_keys=True)
        f.write("\n")
    Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS).save_pretrained(OUT)
    with open(os.path.join(OUT, "generation_config.json")) as f:
        gen = json.load(f)
    with open(os.path.join(OUT, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2, sort_keys=True)
        f.write("\n")


HEAD_MASK = "models/golden/headmask_qwen_tiny_3x2.npy"
YOPO_PLANS = [("window3", "yopo:window=3"), ("layers1", "yopo:layers=1"), ("heads", f"yopo:heads={HEAD_MASK}"),
              ("ffn2", "yopo:ffn=2"), ("layers2_heads", f"yopo:layers=2,heads={HEAD_MASK}"),
              ("all", f"yopo:window=3,layers=1,heads={HEAD_MASK},ffn=2")]


def qwen_official_reference():
    """`modeling_qwen2_vl.py`'s simulated YOPO (the official release; METHOD.md §7, FAMILIES.md),
    written from that description on top of make_pruning_fixtures' reference, whose window and FFN
    masking (the strategies the Qwen code lacks) it keeps: `headcut` from layer 2 on only (the mask's
    rows 0 and 1 are never applied), post-softmax on the image key columns for every query, no
    renormalisation and no zeroing of the pruned heads' outputs; `layercut` from layer K: image key
    columns -inf before softmax for query rows whose absolute index is >= the image-token count (so
    also the image's last `offset` rows; upstream issue #9) and for every decode row. The image offset
    is the prompt's (not the hard-coded 15)."""
    import make_pruning_fixtures as mpf

    class QwenOfficialReference(mpf.YopoReference):
        def sim_key_factor(self, l: int):
            if l < 2 or self.M is None or bool(self.M[l].all()):
                return None
            return self.M[l].to(torch.float32)

        def query_zero_heads(self, l: int):
            return None

        def pre_softmax(self, l, scores, q0, kv):
            if l < self.K:
                return scores
            rows = torch.arange(q0, kv) >= self.n  # absolute query index >= image tokens
            cut = scores[:, :, rows, self.s:self.e]
            scores[:, :, rows, self.s:self.e] = torch.full_like(cut, float("-inf"))
            return scores

    return QwenOfficialReference


def yopo_goldens(model, inputs, grid, probe_ids):
    import make_pruning_fixtures as mpf
    ids = inputs["input_ids"][0].tolist()
    span = mpf.image_span(ids, 151655)
    out = []
    official = qwen_official_reference()
    for label, spec in YOPO_PLANS:
        for mode in mpf.MODES:
            kind = official if mode == "simulate" else mpf.YopoReference
            ref = kind(model.config.text_config, mode, mpf.parse_plan(spec), span, grid, check_positions=False)
            with mpf.YopoPatch(model, ref), torch.no_grad():
                last = model(**inputs).logits[0, -1]
                gen = model.generate(**inputs, max_new_tokens=8, min_new_tokens=8, do_sample=False, repetition_penalty=1.0)
            out.append({"label": label, "plan": spec, "mode": mode, "span": list(span), "grid": list(grid),
                        "probe_logits": [round(float(last[i]), 6) for i in probe_ids],
                        "greedy_ids": gen[0, len(ids):].tolist()})
    return out


BASELINE_CASES = ["fastv:k=1,r=0.5", "fastv:k=1,keep=20", "pdrop:layers=1,ratio=0.5", "pdrop:layers=1,ratio=0.25",
                  "sparsevlm:layers=0,keep=66", "sparsevlm:layers=0,keep=30"]


def baseline_goldens(model, inputs, position_ids, delta, probe_ids):
    import make_baseline_fixtures as mbf

    class QwenLm(mbf.Lm):
        """make_baseline_fixtures' layer loop with M-RoPE: positions are [T, 3] (t, h, w) rows."""

        def rope(self, x, pos):
            return self.rotary(x, pos.T.reshape(3, 1, -1))

    lm = QwenLm(model)
    ids = inputs["input_ids"][0].tolist()
    s, n = mbf.mpf.image_span(ids, 151655)
    with torch.no_grad():
        feats = torch.cat(list(model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output))
        embeds = lm.embed_tokens(inputs["input_ids"]).clone()
        embeds[0, s:s + n] = feats
    class KeepsPositions:
        """Mixin: the policy's transforms keep the tokens' M-RoPE positions (no 1-D re-indexing)."""
        reindex = False

        def after_layer(self, lm, l, st, probs):
            tr = super().after_layer(lm, l, st, probs)
            if tr is not None:
                tr.reindex = False
            return tr

    class KeepingPDrop(KeepsPositions, mbf.PDrop):
        """PyramidDrop with M-RoPE: kept tokens keep their positions."""

    class KeepingSparseVLM(KeepsPositions, mbf.SparseVLM):
        """SparseVLM with M-RoPE: kept tokens keep their positions; recycled tokens take the position of
        the last kept image token (the engine's rule for their sequence index too)."""

    class KeepingState(mbf.State):
        def apply(self, tr):
            if not tr.clusters:
                return KeepingState(*dataclass_fields(super().apply(tr)))
            plain = mbf.Transform(tr.layer, tr.keep, [], reindex=False)
            base = super().apply(plain)  # kept rows with their positions, clusters not yet inserted
            s, k = self.s, len(tr.keep)
            img = self.h[:, s:s + self.c]
            extra = torch.cat([img[:, members].mean(dim=1, keepdim=True) for members in tr.clusters], dim=1)
            h2 = torch.cat([base.h[:, :s + k], extra, base.h[:, s + k:]], dim=1)
            last = base.pos[s + k - 1] if k else base.pos[s - 1]
            pos = torch.cat([base.pos[:s + k], last.unsqueeze(0).repeat(len(tr.clusters), 1), base.pos[s + k:]])
            return KeepingState(h2, pos, s, base.labels[:k] + [-1] * len(tr.clusters))

    def dataclass_fields(st):
        return st.h, st.pos, st.s, st.labels

    raters = mbf.text_raters(embeds, s, n)[0]

    def make(text):
        if text is None:
            return mbf.Policy()
        spec = mbf.parse_spec(text, n)
        if spec.method == "fastv":
            return mbf.FastV(spec)
        return KeepingPDrop(spec, n) if spec.method == "pdrop" else KeepingSparseVLM(spec, raters, n)

    out = []
    for text in [None] + BASELINE_CASES:  # None: no pruning, which must reproduce transformers' own forward
        policy = make(text)
        with torch.no_grad():
            t = embeds.shape[1]
            st = KeepingState(embeds, position_ids.T.clone(), s, list(range(n)))
            caches = []
            for l in range(lm.L):
                h, kv, probs = lm.layer(l, st.h, st.pos)
                caches.append(kv)
                st = KeepingState(h, st.pos, st.s, st.labels)
                tr = policy.after_layer(lm, l, st, probs if policy.needs_probs(l) else None)
                if tr is not None:
                    st = st.apply(tr)
            logits = lm.logits(st.h)
            first, gen = logits, []
            for i in range(8):
                gen.append(int(torch.argmax(logits)))
                h = lm.embed_tokens(torch.tensor([[gen[-1]]]))
                p = t + i + delta
                for l in range(lm.L):
                    h, caches[l], _ = lm.layer(l, h, torch.tensor([[p, p, p]]), past=caches[l])
                logits = lm.logits(h)
        if text is None:
            with torch.no_grad():
                plain = model(**inputs).logits[0, -1]
                dense = model.generate(**inputs, max_new_tokens=8, min_new_tokens=8, do_sample=False, repetition_penalty=1.0)
            assert float((first - plain).abs().max()) < 1e-4 and gen == dense[0, t:].tolist(), "layer loop != transformers"
            continue
        out.append({"spec": text, "span": [s, n], "kept": [i["keep"] for i in policy.info],
                    "recycled": [len(i.get("clusters", [])) for i in policy.info],
                    "probe_logits": [round(float(first[i]), 6) for i in probe_ids], "greedy_ids": gen})
    return out


def main():
    mask = np.array([[True, False], [False, True], [True, False]])
    np.save(os.path.join(FIXTURES, HEAD_MASK), mask)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name, (make_config, cls, golden_name) in FAMILIES.items():
        build(os.path.join(FIXTURES, "models", name), make_config, cls, os.path.join(FIXTURES, "models", "golden", golden_name))


LARGE_GRID = (1, 78, 138)  # a 1932x1092 image's patch grid: 39 x 69 = 2691 merged tokens (FAMILIES.md bug 7)


def large_grid_golden(model):
    """The tower on a 1932x1092 image's patch grid, pixel values by formula (no file):
    value i of the [patches, 1176] tensor (row-major) is float32(sin(0.37 i)). Every 61st merged
    token's features, the last window row's tokens (the partial bottom windows) and each column's sum."""
    t, h, w = LARGE_GRID
    n = t * h * w * 1176
    pixels = torch.from_numpy(np.sin(np.arange(n, dtype=np.float64) * 0.37).astype(np.float32)).reshape(t * h * w, 1176)
    feats = model.model.get_image_features(pixels, torch.tensor([LARGE_GRID])).pooler_output
    feats = torch.cat(list(feats), 0) if isinstance(feats, (list, tuple)) else feats
    tokens = feats.shape[0]
    rows = sorted(set(range(0, tokens, 61)) | set(range(tokens - 69, tokens)))
    return {"grid_thw": list(LARGE_GRID), "rows": rows,
            "features": [[round(float(v), 7) for v in feats[r]] for r in rows],
            "column_sums": [round(float(v), 5) for v in feats.double().sum(0)]}


def build(OUT, make_config, cls, GOLDEN):
    write_checkpoint(OUT, make_config, cls)
    model = cls.from_pretrained(OUT, dtype=torch.float32, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(OUT)
    processor = make_processor(tokenizer)
    rng = np.random.default_rng(SEED)
    probe_ids = sorted(int(x) for x in rng.choice(151680, 256, replace=False))
    golden = {"format": __doc__.split("Goldens")[1].split("Run from")[0].strip(), "probe_ids": probe_ids,
              "images": {}, "prompts": []}
    with torch.no_grad():
        for name in IMAGE_NAMES:
            inputs = processor.image_processor(images=rgb(name), return_tensors="pt")
            feats = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output
            feats = torch.cat(list(feats), 0) if isinstance(feats, (list, tuple)) else feats
            golden["images"][name] = {"grid_thw": inputs["image_grid_thw"][0].tolist(),
                                      "features": [[round(float(v), 7) for v in row] for row in feats]}
        for label, names, question in PROMPTS:
            messages = [{"role": "user", "content": [{"type": "image"} for _ in names] + [{"type": "text", "text": question}]}]
            text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            inputs = processor(text=[text], images=[rgb(n) for n in names], return_tensors="pt")
            position_ids, delta = model.model.get_rope_index(
                inputs["input_ids"], inputs["mm_token_type_ids"], image_grid_thw=inputs["image_grid_thw"])
            out = model(**inputs)
            last = out.logits[0, -1]
            top = torch.topk(last, 10)
            gen = model.generate(**inputs, max_new_tokens=20, min_new_tokens=20, do_sample=False, repetition_penalty=1.0,
                                 output_scores=True, return_dict_in_generate=True)
            new = gen.sequences[0, inputs["input_ids"].shape[1]:].tolist()
            golden["prompts"].append({
                "label": label, "images": names, "question": question, "text": text,
                "input_ids": inputs["input_ids"][0].tolist(),
                "grid_thw": inputs["image_grid_thw"].tolist(),
                "position_ids": position_ids[:, 0].tolist(), "rope_delta": int(delta[0, 0]),
                "probe_logits": [round(float(last[i]), 6) for i in probe_ids],
                "top_ids": top.indices.tolist(), "top_logits": [round(float(v), 6) for v in top.values],
                "greedy_ids": new, "greedy_top_logits": [round(float(s[0].max()), 6) for s in gen.scores]})
            if label == "wide":
                grid = (int(inputs["image_grid_thw"][0][1]) // 2, int(inputs["image_grid_thw"][0][2]) // 2)
                golden["yopo"] = yopo_goldens(model, inputs, grid, probe_ids)
                golden["baselines"] = baseline_goldens(model, inputs, position_ids[:, 0], int(delta[0, 0]), probe_ids)
        golden["large_grid"] = large_grid_golden(model)
    os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
    with open(GOLDEN, "w") as f:
        json.dump(golden, f, indent=None, separators=(",", ":"))
        f.write("\n")
    sizes = {f: os.path.getsize(os.path.join(OUT, f)) for f in sorted(os.listdir(OUT)) if not os.path.islink(os.path.join(OUT, f))}
    print(OUT, json.dumps(sizes), os.path.getsize(GOLDEN))
    for p in golden["prompts"]:
        print(p["label"], len(p["input_ids"]), p["rope_delta"], p["greedy_ids"][:8])


if __name__ == "__main__":
    main()
