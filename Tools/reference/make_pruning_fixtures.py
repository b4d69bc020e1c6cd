#!/usr/bin/env python3
"""Independent Python reference of YOPO's visual-computation pruning and golden outputs for it.

    python make_pruning_fixtures.py              # (re)write the pruning fixtures and goldens
    python make_pruning_fixtures.py --search 20  # only report which seeds suit llava-hf-tiny-32x32

Runs after make_model_fixtures.py (make_fixtures.sh goes alphabetically), which wipes golden/ and rewrites
Tests/Fixtures/models/README.md: this script then adds its files and its README section again.

Two semantics on top of transformers' LLaMA (attention written here in the eager op order, fp32):

- "simulate": the official release's numerics (docs METHOD.md §2): at prefill the V×V block of the additive
  mask is overwritten by the symmetric Chebyshev window; softmax; post-softmax the probabilities on visual
  key columns are multiplied by M[l,h] (l < K) or 0 (l >= K), not renormalised; outputs of heads with
  M[l,h] = False are zeroed at visual query rows (M[l] read afresh in every layer); for visual rows the
  gate/up channels >= int(I/r) are zeroed. Decode steps: key-side multiplication only.
- "skip": compute-skipping semantics (METHOD.md §3) as pre-softmax exclusion: pruned heads of kept layers
  and every head of dropped layers see no visual key (renormalised softmax); visual query rows of pruned
  heads output zero; visual rows of the hidden state are frozen from layer K on; window as above; visual FFN
  rows computed with the first int(I/r) rows of W_gate/W_up and columns of W_down (sliced matmuls).

Fixtures: goldens for five plans on llava-hf-tiny, a new 32-layer × 32-head bf16 fixture
(llava-hf-tiny-32x32) with two plans using the official 7B head masks (copied into Tests/Fixtures/headmasks/),
and the head mask used on the tiny model. Deterministic: fixed seeds, one thread, deterministic algorithms.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import types
from dataclasses import dataclass

# glibc returns every large tensor buffer to the kernel and faults it in again on the next forward; eager
# attention over 32 heads allocates ~45 MB score tensors per layer, so that doubles the run time. Keep freed
# memory in the heap instead (allocator tuning only: the numbers are unaffected). Re-exec once with it set.
_MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in _MALLOC_ENV.items()):
    os.environ.update(_MALLOC_ENV)
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:])

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import make_model_fixtures as mmf  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AttentionInterface,
    CLIPVisionConfig,
    DynamicCache,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
)
from transformers.models.llama.modeling_llama import repeat_kv  # noqa: E402

# --------------------------------------------------------------------------------------------------
# Constants

FIXTURES = common.FIXTURES
MODELS = mmf.MODELS
GOLDEN = mmf.GOLDEN
HEADMASKS = os.path.join(FIXTURES, "headmasks")
OFFICIAL = os.path.join(common.SHARED, "yopo-official")
OFFICIAL_COMMIT = "f0783f4"
OFFICIAL_MASKS = ["headmask_7b_8.npy", "headmask_7b_16.npy", "headmask_7b_24.npy"]
# Kept heads per layer of the official masks, as METHOD.md §4.1 lists them (provenance check).
OFFICIAL_KEPT = {
    "headmask_7b_8.npy": [32, 32, 0, 0, 1, 0, 1, 0, 4, 3, 5, 5, 10, 8, 18, 11, 9, 10, 9, 11, 15, 11, 11, 6, 11,
                          7, 10, 1, 4, 6, 2, 7],
    "headmask_7b_16.npy": [32, 32, 9, 5, 10, 4, 5, 15, 18, 13, 15, 20, 23, 24, 27, 23, 27, 17, 14, 18, 18, 16, 15,
                           8, 14, 10, 15, 5, 7, 11, 5, 24],
    "headmask_7b_24.npy": [32, 32, 32, 19, 24, 17, 21, 27, 26, 23, 27, 24, 28, 31, 31, 27, 29, 27, 23, 28, 25, 21,
                           20, 19, 18, 21, 20, 13, 18, 22, 16, 32],
}

TINY_DIR = mmf.HF_DIR  # llava-hf-tiny (3 layers, 4 heads, 2 KV heads)
BIG_DIR = "llava-hf-tiny-32x32"
TINY_MASK_NAME = "headmask_tiny_3x4.npy"
TINY_MASK = np.array([[True, True, True, True],
                      [True, False, True, False],
                      [False, False, True, True]], dtype=bool)
TINY_MASK_REL = "models/golden/" + TINY_MASK_NAME  # plan paths are relative to Tests/Fixtures
BIG_MASK_REL = "headmasks/headmask_7b_16.npy"

IMAGE, PROMPT, BASE_GOLDEN = "chelsea.png", "What is shown?", "hf_chelsea"
MODES = ("simulate", "skip")
NEW_TOKENS = mmf.NEW_TOKENS
MIN_MARGIN = mmf.MIN_MARGIN

TINY_PLANS = [
    ("window5", "yopo:window=5"),
    ("layers1", "yopo:layers=1"),
    ("heads", f"yopo:heads={TINY_MASK_REL}"),
    ("ffn2", "yopo:ffn=2"),
    ("all", f"yopo:window=3,layers=2,heads={TINY_MASK_REL},ffn=4"),
]
BIG_PLANS = [
    ("yopo25", f"yopo:window=5,layers=16,heads={BIG_MASK_REL},ffn=2"),
    ("yopo12", f"yopo:window=5,layers=8,heads={BIG_MASK_REL},ffn=2"),
]

# llava-hf-tiny-32x32: text model 32 layers x 32 heads (head_dim 2, no GQA), tied embeddings, stored in
# bf16; vision tower and projector input as llava-hf-tiny. Seed chosen with `--search 12`: of the seeds whose
# five goldens all pass big_case_ok (0, 1, 3, 4, 5, 6, 8, 10, 11), the one with the largest minimum margin.
BIG_SEED_OFFSET = 3000
BIG_SEED = 5
BIG_TEXT_CFG = dict(mmf.TEXT_CFG, hidden_size=64, num_attention_heads=32, num_key_value_heads=32, head_dim=2,
                    intermediate_size=128, num_hidden_layers=32, tie_word_embeddings=True)
# Processor / tokenizer files shared with llava-hf-tiny through relative symlinks.
BIG_LINKED = ["tokenizer.json", "tokenizer_config.json", "processor_config.json", "chat_template.json",
              "chat_template.jinja"]

OWN_GOLDEN_PREFIXES = (f"prune_{TINY_DIR}_", f"prune_{BIG_DIR}_")  # the goldens this script owns

README_BEGIN = "<!-- BEGIN make_pruning_fixtures.py -->"
README_END = "<!-- END make_pruning_fixtures.py -->"

# Self-check tolerances.
FFN_SKIP_VS_SIMULATE_TOL = 1e-6  # absolute, on logits: zeroed channels vs sliced matmuls (summation order)
MODES_MUST_DIFFER = 1e-4         # heads / layers1: the renormalisation must show in the logits


# --------------------------------------------------------------------------------------------------
# Plans

@dataclass(frozen=True)
class Plan:
    spec: str
    window: int | None = None
    layers: int | None = None
    heads: str | None = None  # path relative to Tests/Fixtures
    ffn: float | None = None

    @property
    def empty(self) -> bool:
        return self.window is None and self.layers is None and self.heads is None and self.ffn is None


def parse_plan(spec: str) -> Plan:
    """`none` or `yopo:key=value,...` with keys window, layers, heads, ffn (each at most once)."""
    if spec == "none":
        return Plan(spec)
    assert spec.startswith("yopo:"), spec
    fields = {}
    for item in spec[len("yopo:"):].split(","):
        key, _, value = item.partition("=")
        assert key in ("window", "layers", "heads", "ffn") and value and key not in fields, spec
        fields[key] = value
    window = int(fields["window"]) if "window" in fields else None
    layers = int(fields["layers"]) if "layers" in fields else None
    ffn = float(fields["ffn"]) if "ffn" in fields else None
    assert window is None or window >= 1, spec
    assert layers is None or layers >= 0, spec
    assert ffn is None or ffn >= 1, spec
    return Plan(spec, window, layers, fields.get("heads"), ffn)


def load_head_mask(rel_path: str, layers: int, heads: int) -> torch.Tensor:
    m = np.load(os.path.join(FIXTURES, rel_path))
    assert m.dtype == np.bool_ and m.shape == (layers, heads), (rel_path, m.dtype, m.shape)
    return torch.from_numpy(m.copy())


def window_allowed(grid, w: int) -> torch.Tensor:
    """[n, n] bool: visual i may see visual j iff |row_i-row_j| <= rho and |col_i-col_j| <= rho, raster order.
    `grid`: the side of a square grid, or (rows, columns)."""
    rows, cols = (grid, grid) if isinstance(grid, int) else grid
    rho = (w - 1) // 2
    t = torch.arange(rows * cols)
    row, col = t // cols, t % cols
    return ((row[:, None] - row[None, :]).abs() <= rho) & ((col[:, None] - col[None, :]).abs() <= rho)


def image_span(ids: list, image_token: int) -> tuple:
    pos = [i for i, t in enumerate(ids) if t == image_token]
    assert pos and pos == list(range(pos[0], pos[0] + len(pos))), "one contiguous image run expected"
    return pos[0], len(pos)


# --------------------------------------------------------------------------------------------------
# The reference: one object per (plan, mode, sequence), consulted by the patched attention and MLP

class YopoReference:
    def __init__(self, text_cfg, mode: str, plan: Plan, span: tuple, grid, check_positions: bool = True):
        assert mode in MODES
        self.mode, self.plan = mode, plan
        self.L, self.H = text_cfg.num_hidden_layers, text_cfg.num_attention_heads
        self.I = text_cfg.intermediate_size
        self.s, self.n = span
        self.e = self.s + self.n
        rows, cols = (grid, grid) if isinstance(grid, int) else grid
        assert self.n == rows * cols and self.s >= 1  # every visual row keeps >= 1 prefix key (no empty rows)
        # 1-D RoPE positions are checked never to be re-indexed; M-RoPE (Qwen2-VL) positions are the model's.
        self.check_positions = check_positions
        self.K = self.L if plan.layers is None else min(plan.layers, self.L)
        self.M = None if plan.heads is None else load_head_mask(plan.heads, self.L, self.H)
        self.ffn_keep = None if plan.ffn is None else int(self.I / plan.ffn)
        self.win = None if plan.window is None else window_allowed(grid, plan.window)
        self.cur = None  # (q0, q): absolute index of the first query row and the number of rows in flight
        self._base = None  # ((q0, q, kv), additive mask) of the forward in flight

    # -- per-layer head sets ------------------------------------------------------------------------

    def sim_key_factor(self, l: int):
        """simulate: post-softmax factor on the visual key columns, per head (None = all ones)."""
        if l >= self.K:
            return torch.zeros(self.H)
        if self.M is not None and not bool(self.M[l].all()):
            return self.M[l].to(torch.float32)
        return None

    def skip_excluded_heads(self, l: int):
        """skip: heads for which the visual keys do not exist (pre-softmax exclusion)."""
        if l >= self.K:
            return torch.ones(self.H, dtype=torch.bool)
        if self.M is not None and not bool(self.M[l].all()):
            return ~self.M[l]
        return None

    def query_zero_heads(self, l: int):
        """Heads whose output is zeroed at visual query rows before o_proj."""
        if self.M is None:
            return None
        if self.mode == "skip" and l >= self.K:
            return None  # visual rows are frozen by the layer hook instead
        z = ~self.M[l]  # simulate reads M[l] afresh, even in dropped layers
        return z if bool(z.any()) else None

    # -- rows of the forward in flight ----------------------------------------------------------------

    def begin(self, q0: int, q: int, kv: int) -> None:
        prefill = q0 <= self.s and self.e <= kv
        decode = q0 >= self.e
        assert prefill or decode, f"forward rows [{q0},{kv}) split the image block [{self.s},{self.e})"
        self.cur = (q0, q)

    def visual_rows(self):
        """Slice of the visual rows inside the forward in flight (prefill), or None (decode)."""
        q0, q = self.cur
        if q0 <= self.s and self.e <= q0 + q:
            return slice(self.s - q0, self.e - q0)
        return None

    # -- attention ------------------------------------------------------------------------------------

    def base_mask(self, q0: int, q: int, kv: int) -> torch.Tensor:
        """Additive mask shared by every layer and head of the forward in flight: causal, plus the window."""
        if self._base is not None and self._base[0] == (q0, q, kv):
            return self._base[1]
        qpos = torch.arange(q0, kv).unsqueeze(1)
        kpos = torch.arange(kv).unsqueeze(0)
        allowed = kpos <= qpos  # causal, [q, kv]
        rows = self.visual_rows()
        if self.win is not None and rows is not None:
            # Overwrite (not intersect) the V x V block: symmetric, non-causal inside the image block.
            allowed[rows, self.s:self.e] = self.win
        mask = torch.zeros((q, kv), dtype=torch.float32).masked_fill(~allowed, float("-inf"))
        self._base = ((q0, q, kv), mask)
        return mask

    def pre_softmax(self, l: int, scores: torch.Tensor, q0: int, kv: int) -> torch.Tensor:
        """Extra additive masking of one layer's logits before softmax (none here; see subclasses)."""
        return scores

    def attention(self, l, groups, query, key, value, scaling, position_ids):
        b, H, q, _ = query.shape
        kv = key.shape[2]
        assert b == 1 and H == self.H
        q0 = kv - q
        if position_ids is not None and self.check_positions:  # RoPE positions are never re-indexed
            assert position_ids.reshape(-1).tolist() == list(range(q0, kv))
        self.begin(q0, q, kv)
        key_states = repeat_kv(key, groups)
        value_states = repeat_kv(value, groups)
        scores = torch.matmul(query, key_states.transpose(2, 3)) * scaling
        scores = self.pre_softmax(l, scores + self.base_mask(q0, q, kv), q0, kv)
        if self.mode == "skip":  # visual keys absent for excluded heads: -inf logits on the visual columns
            ex = self.skip_excluded_heads(l)
            if ex is not None and bool(ex.any()):
                scores[:, ex, :, self.s:self.e] = float("-inf")
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        if self.mode == "simulate":
            f = self.sim_key_factor(l)
            if f is not None:
                probs[..., self.s:self.e] = probs[..., self.s:self.e] * f.view(1, H, 1, 1).to(probs.dtype)
        out = torch.matmul(probs, value_states)  # [1, H, q, d]
        assert not torch.isnan(out).any()  # no fully masked row (every row keeps at least BOS)
        rows = self.visual_rows()
        z = self.query_zero_heads(l)
        if rows is not None and z is not None:
            out[:, z, rows, :] = 0.0
        return out.transpose(1, 2).contiguous(), probs

    # -- FFN ------------------------------------------------------------------------------------------

    def mlp(self, mlp, x: torch.Tensor) -> torch.Tensor:
        rows = self.visual_rows()
        if self.ffn_keep is None or rows is None:
            return mlp.down_proj(mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x))
        k = self.ffn_keep
        if self.mode == "simulate":
            g, u = mlp.gate_proj(x), mlp.up_proj(x)
            g[:, rows, k:] = 0.0
            u[:, rows, k:] = 0.0
            return mlp.down_proj(mlp.act_fn(g) * u)
        out = mlp.down_proj(mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x))  # text rows: full FFN
        xv = x[:, rows]
        hv = mlp.act_fn(F.linear(xv, mlp.gate_proj.weight[:k])) * F.linear(xv, mlp.up_proj.weight[:k])
        out[:, rows] = F.linear(hv, mlp.down_proj.weight[:, :k])
        return out

    def freeze(self, l: int, hidden_in: torch.Tensor, hidden_out: torch.Tensor):
        """skip: from layer K on the visual rows of the hidden state are not updated."""
        rows = self.visual_rows()
        if self.mode != "skip" or l < self.K or rows is None:
            return None
        out = hidden_out.clone()
        out[:, rows] = hidden_in[:, rows]
        return out


def _yopo_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    ref = module._yopo_patch.ref
    assert attention_mask is None and dropout == 0.0  # no mask function is registered: the reference owns it
    return ref.attention(module.layer_idx, module.num_key_value_groups, query, key, value, scaling,
                         kwargs.get("position_ids"))


AttentionInterface.register("yopo_reference", _yopo_attention)


class YopoPatch:
    """Context manager: routes the LLaMA layers of a Llava model through `ref` while active; outside it the
    model is the unmodified transformers model (eager attention)."""

    def __init__(self, model: LlavaForConditionalGeneration, ref: YopoReference):
        self.model, self.ref, self.handles = model, ref, []

    def __enter__(self):
        text_cfg = self.model.config.text_config
        assert text_cfg._attn_implementation == "eager"
        # The attention receives q/k/v already projected (q/k/v biases, as in Qwen2, are the model's own business);
        # the FFN is recomputed here from the weights alone, so it must have no biases.
        for layer in self.model.model.language_model.layers:
            assert all(getattr(layer.mlp, p).bias is None for p in ("gate_proj", "up_proj", "down_proj"))
        text_cfg._attn_implementation = "yopo_reference"
        for l, layer in enumerate(self.model.model.language_model.layers):
            assert layer.self_attn.layer_idx == l
            layer.self_attn._yopo_patch = self
            layer.mlp.forward = types.MethodType(lambda mlp, x: self.ref.mlp(mlp, x), layer.mlp)

            def hook(_module, args, kwargs, output, l=l):
                assert isinstance(output, torch.Tensor)
                hidden_in = args[0] if args else kwargs["hidden_states"]
                return self.ref.freeze(l, hidden_in, output)

            self.handles.append(layer.register_forward_hook(hook, with_kwargs=True))
        return self

    def __exit__(self, *exc):
        self.model.config.text_config._attn_implementation = "eager"
        for layer in self.model.model.language_model.layers:
            del layer.mlp.forward
            del layer.self_attn._yopo_patch
        for h in self.handles:
            h.remove()
        self.handles = []
        return False


# --------------------------------------------------------------------------------------------------
# Running a case

def greedy_cached(model, ids: list, pixel_values: torch.Tensor, n: int):
    """Greedy decoding with the KV cache: one prefill, then one new token per forward."""
    cache = DynamicCache(config=model.config.text_config)
    steps, gen = [], []
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), pixel_values=pixel_values.unsqueeze(0), cache=cache,
                    use_cache=True)
        steps.append(out.logits[0, -1].clone())
        for i in range(n):
            gen.append(int(torch.argmax(steps[-1])))
            if i == n - 1:
                break
            out = model(input_ids=torch.tensor([[gen[-1]]]), cache=cache, use_cache=True)
            steps.append(out.logits[0, -1].clone())
    return gen, steps


def greedy_uncached(model, ids: list, pixel_values: torch.Tensor, n: int) -> list:
    def last_logits(extra):
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids + extra]), pixel_values=pixel_values.unsqueeze(0),
                         use_cache=False, logits_to_keep=1).logits[0, -1]
    return mmf.greedy_no_cache(last_logits, n)


def run_case(model, ids, pixel_values, span, grid, plan: Plan, mode: str, no_cache_check: bool = True) -> dict:
    ref = YopoReference(model.config.text_config, mode, plan, span, grid)
    with YopoPatch(model, ref):
        gen, steps = greedy_cached(model, ids, pixel_values, NEW_TOKENS)
        uncached = greedy_uncached(model, ids, pixel_values, NEW_TOKENS) if no_cache_check else None
    return {"plan": plan, "mode": mode, "greedy_ids": gen, "logits": steps[0], "margins": mmf.margins_of(steps),
            "uncached_ids": uncached}


def run_plain(model, ids, pixel_values):
    assert model.config.text_config._attn_implementation == "eager"
    gen, steps = greedy_cached(model, ids, pixel_values, NEW_TOKENS)
    return {"greedy_ids": gen, "logits": steps[0], "margins": mmf.margins_of(steps)}


def case_inputs(model_dir: str):
    """input_ids and pixel_values of golden hf_chelsea, checked against the checkpoint's own processor."""
    g = json.load(open(os.path.join(GOLDEN, BASE_GOLDEN + ".json")))
    assert g["image"] == IMAGE and g["prompt"] == PROMPT
    pixel_values = load_file(os.path.join(GOLDEN, BASE_GOLDEN + ".safetensors"))["pixel_values"]
    processor = mmf.load_hf_processor(model_dir)
    text = processor.apply_chat_template(mmf.llava_hf_messages(PROMPT), add_generation_prompt=True)
    inputs = processor(images=mmf.load_rgb(IMAGE), text=text, return_tensors="pt")
    assert inputs["input_ids"][0].tolist() == g["input_ids"]
    assert torch.equal(inputs["pixel_values"][0].to(torch.float32), pixel_values)
    return g, g["input_ids"], pixel_values


def geometry(model, ids):
    vc = model.config.vision_config
    grid = vc.image_size // vc.patch_size
    span = image_span(ids, model.config.image_token_id)
    assert span[1] == grid * grid
    return span, grid


# --------------------------------------------------------------------------------------------------
# The 32 x 32 fixture

def big_config() -> LlavaConfig:
    return LlavaConfig(
        text_config=LlamaConfig(**BIG_TEXT_CFG),
        vision_config=CLIPVisionConfig(**mmf.VISION_CFG),
        image_token_index=common.IMAGE_TOKEN_INDEX_HF,
        pad_token_id=common.PAD_TOKEN_INDEX_HF,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        multimodal_projector_bias=True,
        tie_word_embeddings=True,
    )


def build_big_model(seed: int) -> LlavaForConditionalGeneration:
    config = big_config()
    config._attn_implementation = "eager"
    model = LlavaForConditionalGeneration(config).eval()
    assert model.lm_head.weight is model.model.language_model.embed_tokens.weight
    mmf.reinit_(list(model.named_parameters()), seed)
    mmf.round_model_(model, torch.bfloat16)  # the values stored in bf16, held in fp32
    return model


def write_big_fixture(seed: int) -> str:
    out = os.path.join(MODELS, BIG_DIR)
    mmf.save_hf(build_big_model(seed), out, torch.bfloat16)
    for name in BIG_LINKED:
        assert os.path.exists(os.path.join(MODELS, TINY_DIR, name)), name
        os.symlink(os.path.join("..", TINY_DIR, name), os.path.join(out, name))
    with safe_open(os.path.join(out, "model.safetensors"), "pt") as f:
        names = list(f.keys())
        assert all(f.get_slice(k).get_dtype() == "BF16" for k in names)
    assert not any("lm_head" in k for k in names), "tied embeddings: no lm_head tensor expected"
    return out


def load_model(model_dir: str) -> LlavaForConditionalGeneration:
    model = mmf.load_hf(model_dir, "eager")
    assert model.config.text_config._attn_implementation == "eager"
    return model


def big_cases():
    yield "none", parse_plan("none"), None
    for name, spec in BIG_PLANS:
        for mode in MODES:
            yield name, parse_plan(spec), mode


def big_case_ok(results: dict) -> tuple:
    """Every golden passes make_model_fixtures.case_ok (margin >= 1e-3, no EOS, ids < 32000, >= 10 distinct)
    and each pruned golden's greedy ids differ from the unpruned ones (so the goldens test something)."""
    problems = []
    for key, r in results.items():
        ok, p = mmf.case_ok(r, 32000)
        if not ok:
            problems.append(f"{key}: {p}")
        if key[0] != "none" and r["greedy_ids"] == results[("none", None)]["greedy_ids"]:
            problems.append(f"{key}: same ids as none")
    return not problems, problems


def search(n: int) -> None:
    ensure_headmasks()
    d = os.path.join(MODELS, TINY_DIR)
    _, ids, pixel_values = case_inputs(d)
    for seed in range(n):
        model = build_big_model(seed + BIG_SEED_OFFSET)
        span, grid = geometry(model, ids)
        results = {}
        for name, plan, mode in big_cases():
            results[(name, mode)] = run_case(model, ids, pixel_values, span, grid, plan, mode or "simulate",
                                             no_cache_check=False)
        ok, problems = big_case_ok(results)
        print(f"seed {seed}: {'OK' if ok else 'no'}; min margin "
              f"{min(min(r['margins']) for r in results.values()):.4g} {problems}", flush=True)
        for key, r in results.items():
            print(f"    {key[0]:7s} {key[1] or '':8s} margin {min(r['margins']):.4g} {r['greedy_ids']}")


# --------------------------------------------------------------------------------------------------
# Files

def ensure_headmasks() -> None:
    """Copies the official 7B masks and the licence byte for byte and writes the provenance README."""
    os.makedirs(HEADMASKS, exist_ok=True)
    for name in OFFICIAL_MASKS + ["LICENSE"]:
        src = os.path.join(OFFICIAL, "headmask", name) if name.endswith(".npy") else os.path.join(OFFICIAL, name)
        shutil.copyfile(src, os.path.join(HEADMASKS, name))
        os.chmod(os.path.join(HEADMASKS, name), 0o644)
    for name in OFFICIAL_MASKS:
        m = np.load(os.path.join(HEADMASKS, name))
        assert m.dtype == np.bool_ and m.shape == (32, 32)
        assert m.sum(axis=1).tolist() == OFFICIAL_KEPT[name], name
    lines = [
        "# Official YOPO head masks",
        "",
        f"Copied byte for byte from the official YOPO release (ZhangAIPI/YOPO_MLLM_Pruning, commit `{OFFICIAL_COMMIT}`,",
        "folder `headmask/`), MIT licence: `LICENSE` is the release's licence file, unchanged. Written by",
        "`Tools/reference/make_pruning_fixtures.py` from `shared/yopo-official/`.",
        "",
        "Format (docs METHOD.md §4.1): NumPy `.npy` v1.0, dtype bool, shape [32 layers, 32 heads] (LLaVA-1.5-7B), True =",
        "keep the head for visual computation; `headmask_7b_<k>.npy` keeps k heads per layer on average.",
        "",
        "| file | kept (of 1024) | kept per layer, layer 0 first |",
        "|---|---|---|",
    ]
    for name in OFFICIAL_MASKS:
        kept = OFFICIAL_KEPT[name]
        lines.append(f"| `{name}` | {sum(kept)} | {','.join(map(str, kept))} |")
    lines += ["", "Used by the `llava-hf-tiny-32x32` pruning goldens (`Tests/Fixtures/models/README.md`), by layer/head index.", ""]
    with open(os.path.join(HEADMASKS, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def save_tiny_mask() -> None:
    path = os.path.join(FIXTURES, TINY_MASK_REL)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, TINY_MASK, version=(1, 0))
    assert np.array_equal(np.load(path), TINY_MASK)


def golden_name(fixture: str, plan_name: str, mode) -> str:
    return f"prune_{fixture}_{plan_name}" + (f"_{mode}" if mode else "")


def save_case(fixture: str, plan_name: str, r: dict, ids, span, grid, mode_label: str, reference: str) -> str:
    name = golden_name(fixture, plan_name, None if plan_name == "none" else r["mode"])
    save_file({"logits": r["logits"].to(torch.float32).contiguous()}, os.path.join(GOLDEN, name + ".safetensors"))
    mmf.write_json(os.path.join(GOLDEN, name + ".json"), {
        "checkpoint": fixture,
        "image": IMAGE,
        "prompt": PROMPT,
        "plan": r["plan"].spec,
        "mode": mode_label,
        "input_ids": ids,
        "image_span": [span[0], span[1]],
        "grid": [grid, grid],
        "greedy_ids": r["greedy_ids"],
        "min_top2_margin": round(min(r["margins"]), 6),
        "reference": reference,
    }, compact_lists=True)
    return name


def reference_text(fixture: str, mode: str, decoder: str = "LLaMA") -> str:
    what = {"simulate": "official release numerics (METHOD.md §2: post-softmax visual-key masking without "
                        "renormalisation, query-side head zeroing, dense compute and KV cache)",
            "skip": "compute-skipping semantics (METHOD.md §3: pruned heads / dropped layers see no visual key, "
                    "softmax renormalised; visual rows frozen from layer K on)",
            "none": "no pruning (plain model)"}[mode]
    return (f"make_pruning_fixtures.py YOPO reference on transformers {transformers.__version__} {decoder} "
            f"(own eager-order attention, fp32 compute from {fixture} weights): {what}; greedy with KV cache")


def sha256_of(paths) -> dict:
    out = {}
    for p in paths:
        with open(p, "rb") as f:
            out[os.path.relpath(p, FIXTURES)] = hashlib.sha256(f.read()).hexdigest()
    return out


# --------------------------------------------------------------------------------------------------
# Main

def check_window_rule() -> dict:
    """Mean visual keys per visual query on the 24x24 grid, as METHOD.md §2.1 lists them."""
    means = {w: float(window_allowed(24, w).sum()) / 576 for w in (3, 5, 7, 11)}
    for w, v in {3: 8.51, 5: 22.56, 7: 42.25, 11: 95.06}.items():
        assert abs(means[w] - v) < 0.006, (w, means[w])
    assert torch.equal(window_allowed(24, 6), window_allowed(24, 5))  # even w behaves like w - 1
    assert torch.equal(window_allowed(24, 5), window_allowed(24, 5).T)
    return means


def max_diff(a, b) -> float:
    return float((a - b).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--search", type=int, default=0, metavar="N", help="try 32x32 seeds 0..N-1 and exit")
    args = ap.parse_args()
    mmf.setup_determinism()
    if args.search:
        search(args.search)
        return

    report = {"checks": {}, "cases": []}
    report["checks"]["window_means"] = check_window_rule()
    ensure_headmasks()
    save_tiny_mask()
    for name in os.listdir(GOLDEN):
        if name.startswith(OWN_GOLDEN_PREFIXES):  # not prune_llava-qwen2-fused-tiny_* (make_family_fixtures.py)
            os.remove(os.path.join(GOLDEN, name))
    written = [os.path.join(FIXTURES, TINY_MASK_REL)]

    # ---- llava-hf-tiny: five plans x two modes --------------------------------------------------------
    tiny_dir = os.path.join(MODELS, TINY_DIR)
    golden, ids, pixel_values = case_inputs(tiny_dir)
    model = load_model(tiny_dir)
    span, grid = geometry(model, ids)
    assert list(span) == golden["image_span"]
    plain = run_plain(model, ids, pixel_values)
    golden_logits = load_file(os.path.join(GOLDEN, BASE_GOLDEN + ".safetensors"))["logits"]
    assert torch.equal(plain["logits"], golden_logits), max_diff(plain["logits"], golden_logits)
    assert plain["greedy_ids"] == golden["greedy_ids"]
    checks = report["checks"]
    for mode in MODES:  # no strategy active == the plain model, exactly
        r = run_case(model, ids, pixel_values, span, grid, parse_plan("none"), mode)
        assert torch.equal(r["logits"], plain["logits"]), (mode, max_diff(r["logits"], plain["logits"]))
        assert r["greedy_ids"] == plain["greedy_ids"] == r["uncached_ids"], mode
        checks[f"tiny_none_{mode}_vs_plain"] = max_diff(r["logits"], plain["logits"])
    tiny = {}
    for plan_name, spec in TINY_PLANS:
        for mode in MODES:
            r = run_case(model, ids, pixel_values, span, grid, parse_plan(spec), mode)
            tiny[(plan_name, mode)] = r
    for (plan_name, mode), r in tiny.items():
        name = save_case(TINY_DIR, plan_name, r, ids, span, grid, mode, reference_text(TINY_DIR, mode))
        written += [os.path.join(GOLDEN, name + ext) for ext in (".json", ".safetensors")]
        report["cases"].append(case_row(TINY_DIR, plan_name, mode, name, r, plain, tiny.get((plan_name, other(mode)))))
    d = max_diff(tiny[("ffn2", "skip")]["logits"], tiny[("ffn2", "simulate")]["logits"])
    assert d <= FFN_SKIP_VS_SIMULATE_TOL, d
    assert tiny[("ffn2", "skip")]["greedy_ids"] == tiny[("ffn2", "simulate")]["greedy_ids"]
    checks["tiny_ffn2_skip_vs_simulate"] = d
    w5s, w5k = tiny[("window5", "simulate")], tiny[("window5", "skip")]
    assert torch.equal(w5s["logits"], w5k["logits"]), max_diff(w5s["logits"], w5k["logits"])
    assert w5s["greedy_ids"] == w5k["greedy_ids"]
    checks["tiny_window5_skip_vs_simulate"] = max_diff(w5s["logits"], w5k["logits"])
    for plan_name in ("heads", "layers1"):
        d = max_diff(tiny[(plan_name, "simulate")]["logits"], tiny[(plan_name, "skip")]["logits"])
        assert d > MODES_MUST_DIFFER, (plan_name, d)
        checks[f"tiny_{plan_name}_simulate_vs_skip"] = d
    for r in tiny.values():
        assert r["uncached_ids"] == r["greedy_ids"], (r["plan"].spec, r["mode"])
    for r in tiny.values():
        assert max_diff(r["logits"], plain["logits"]) > 0.0, (r["plan"].spec, r["mode"])  # each plan does something
    del model

    # ---- llava-hf-tiny-32x32 -----------------------------------------------------------------------
    big_dir = write_big_fixture(BIG_SEED + BIG_SEED_OFFSET)
    written += sorted(os.path.join(big_dir, f) for f in os.listdir(big_dir) if f not in BIG_LINKED)
    _, big_ids, big_pixels = case_inputs(big_dir)
    assert big_ids == ids and torch.equal(big_pixels, pixel_values)
    model = load_model(big_dir)
    assert model.lm_head.weight.data_ptr() == model.model.language_model.embed_tokens.weight.data_ptr()
    span, grid = geometry(model, ids)
    plain_big = run_plain(model, ids, pixel_values)
    with torch.no_grad():  # the plain path equals transformers' own generate()
        gen = model.generate(input_ids=torch.tensor([ids]), pixel_values=pixel_values.unsqueeze(0),
                             attention_mask=torch.ones(1, len(ids), dtype=torch.long), max_new_tokens=NEW_TOKENS,
                             do_sample=False, num_beams=1, eos_token_id=mmf.EOS_ID,
                             pad_token_id=common.PAD_TOKEN_INDEX_HF)
    assert gen[0, len(ids):].tolist() == plain_big["greedy_ids"]
    big = {}
    for plan_name, plan, mode in big_cases():
        if plan.empty:
            for m in MODES:  # the no-cache check once (the plain ids are also checked against generate())
                r = run_case(model, ids, pixel_values, span, grid, plan, m, no_cache_check=(m == "skip"))
                assert torch.equal(r["logits"], plain_big["logits"]) and r["greedy_ids"] == plain_big["greedy_ids"]
                checks[f"big_none_{m}_vs_plain"] = max_diff(r["logits"], plain_big["logits"])
            big[(plan_name, None)] = r
        else:
            big[(plan_name, mode)] = run_case(model, ids, pixel_values, span, grid, plan, mode)
    ok, problems = big_case_ok(big)
    assert ok, problems
    for (plan_name, mode), r in big.items():
        assert r["uncached_ids"] == r["greedy_ids"], (plan_name, mode)
        label = mode or "none"
        name = save_case(BIG_DIR, plan_name, r, ids, span, grid, label, reference_text(BIG_DIR, label))
        written += [os.path.join(GOLDEN, name + ext) for ext in (".json", ".safetensors")]
        report["cases"].append(case_row(BIG_DIR, plan_name, label, name, r, plain_big,
                                        big.get((plan_name, other(mode))) if mode else None))
    del model

    # ---- margins, README ---------------------------------------------------------------------------
    low = [c for c in report["cases"] if c["margin"] < MIN_MARGIN]
    report["low_margin"] = low
    written += [os.path.join(HEADMASKS, f) for f in sorted(os.listdir(HEADMASKS))]
    report["files"] = written
    write_readme_section(report)
    print_summary(report)


def other(mode):
    return {"simulate": "skip", "skip": "simulate"}.get(mode)


def case_row(fixture, plan_name, mode, golden, r, plain, twin) -> dict:
    return {
        "fixture": fixture, "plan_name": plan_name, "plan": r["plan"].spec, "mode": mode, "golden": golden,
        "margin": min(r["margins"]), "greedy_ids": r["greedy_ids"],
        "vs_none": max_diff(r["logits"], plain["logits"]),
        "ids_equal_none": r["greedy_ids"] == plain["greedy_ids"],
        "vs_twin": None if twin is None else max_diff(r["logits"], twin["logits"]),
        "max_logit": float(r["logits"].abs().max()),
    }


# --------------------------------------------------------------------------------------------------
# README section (appended to the README make_model_fixtures.py writes)

def write_readme_section(report: dict) -> None:
    c = report["checks"]
    L = [README_BEGIN, "", "## Pruning fixtures and goldens (`Tools/reference/make_pruning_fixtures.py`)", ""]
    a = L.append
    a("Written by `make_pruning_fixtures.py` after `make_model_fixtures.py` (which wipes `golden/` and rewrites this")
    a("README; `make_fixtures.sh` runs the scripts alphabetically, so the order holds). An independent Python reference")
    a("of YOPO's two semantics (docs METHOD.md §2, §3) on the LLaMA of transformers " + transformers.__version__ + ": the")
    a("attention is registered as a custom attention function (same op order as eager: QKᵀ·scale + additive mask,")
    a("fp32 softmax, ·V), the MLP forward and a decoder-layer hook are patched; everything else is transformers' own.")
    a("")
    a("### `llava-hf-tiny-32x32/`")
    a("")
    a(f"llava-hf layout like `llava-hf-tiny`, text model 32 layers × 32 heads (head_dim 2, hidden 64, 32 KV heads, FFN")
    a("128, vocab 32064), `tie_word_embeddings: true` (no `lm_head` tensor), every tensor stored in **bfloat16**; CLIP")
    a("tower as `llava-hf-tiny` (hidden 32, 3 layers, 336 px / patch 14), projector 32 → 64 → 64. Random weights drawn")
    a(f"like the other fixtures (`make_model_fixtures.reinit_`) with seed `{BIG_SEED + BIG_SEED_OFFSET}`, rounded to bf16; goldens are")
    a("fp32 computations on the bf16 values. `tokenizer.json`, `tokenizer_config.json`, `processor_config.json`,")
    a("`chat_template.json` and `chat_template.jinja` are relative symlinks into `../llava-hf-tiny/`. Its shape")
    a("matches LLaVA-1.5-7B's head-mask shape [32, 32], so the official masks apply by index.")
    a("")
    a("### Semantics (image span V = [s, s+n) from the ids, grid G = image_size / patch_size, 0-based layers)")
    a("")
    a("Plan strings: `none` or `yopo:` + any of `window=w` (ρ = ⌊(w−1)/2⌋; visual i sees visual j iff |Δrow| ≤ ρ and")
    a("|Δcol| ≤ ρ, raster order), `layers=K` (layers 0..K−1 keep visual computation), `heads=<path>` (bool .npy")
    a("[L, H], True = keep; **path relative to `Tests/Fixtures/`**), `ffn=r` (visual rows keep FFN channels")
    a("0..int(I/r)−1). An absent key means that strategy is off. Prefill = the forward whose query rows contain the")
    a("whole image block (a forward that splits it is an error); decode = later forwards of single text tokens.")
    a("")
    a("- **simulate** (official numerics): at prefill, in every layer, the V×V block of the causal additive mask is")
    a("  overwritten (0 in window, −inf outside; visual rows keep every prefix key and no text key). Softmax in fp32;")
    a("  then, for every query row, probabilities on visual key columns × M[l,h] (l < K) or × 0 (l ≥ K), no")
    a("  renormalisation (prefill and decode, every batch row). After A·V, heads with M[l,h] = False output zero at")
    a("  visual query rows, reading M[l] also in dropped layers. FFN, visual rows, every layer: gate/up outputs at")
    a("  channels ≥ int(I/r) zeroed. Everything computed and cached.")
    a("- **skip** (compute skipping, pre-softmax): kept layer l < K, head with M[l,h] = False: visual key columns −inf")
    a("  for every query row (softmax renormalised over the rest), visual query rows output zero. Layers l ≥ K: visual")
    a("  columns −inf for every head and row, and the visual rows of the hidden state leave the layer unchanged")
    a("  (frozen; what they would compute is never read). Window: the same symmetric V×V rule at prefill. FFN")
    a("  visual rows: `down[:, :k] · (silu(gate[:k] · x) ⊙ up[:k] · x)` with sliced weights (k = int(I/r)), i.e. not")
    a("  the zeroing used by simulate. Decode tokens see cached visual keys only through kept heads of kept layers.")
    a("- GQA (`llava-hf-tiny`, 4 query heads on 2 KV heads): a pruned query head does no visual work; its KV head's")
    a("  visual keys still serve the other query head of its group. RoPE positions are never re-indexed (asserted).")
    a("")
    a("### Goldens (`golden/prune_<fixture>_<plan>_<mode>.json` + `.safetensors`)")
    a("")
    a("Case: `chelsea.png` + \"What is shown?\" with the `input_ids` and `pixel_values` of golden `hf_chelsea` (checked")
    a("against each checkpoint's processor). JSON: checkpoint, image, prompt, plan (spec string as above), mode")
    a("(`simulate` | `skip`; `none` for the unpruned `prune_llava-hf-tiny-32x32_none`), input_ids (expanded, 576 × 32000),")
    a("image_span [s, n], grid [G, G], greedy_ids (20, greedy over the full vocabulary with the KV cache and the")
    a("decode semantics above), min_top2_margin (over the 20 steps), reference. Safetensors: `logits` fp32 [32064]")
    a("(first step, last prompt position). The unpruned tiny case is golden `hf_chelsea`.")
    a(f"`golden/{TINY_MASK_NAME}`: the tiny head mask (bool [3, 4], .npy v1.0): layer 0 all kept, layer 1")
    a("[T,F,T,F] (one kept head per KV group), layer 2 [F,F,T,T] (KV head 0 unused for vision). The 32x32 plans use")
    a("`Tests/Fixtures/headmasks/headmask_7b_16.npy` (official, see its README).")
    a("")
    a("| golden | plan | min margin | max \\|Δlogits\\| vs none | vs other mode | ids = none | greedy ids |")
    a("|---|---|---|---|---|---|---|")
    for r in report["cases"]:
        twin = "–" if r["vs_twin"] is None else f"{r['vs_twin']:.3g}"
        a(f"| {r['golden']} | `{r['plan']}` | {r['margin']:.4g} | {r['vs_none']:.3g} | {twin} | "
          f"{'yes' if r['ids_equal_none'] else 'no'} | {' '.join(map(str, r['greedy_ids']))} |")
    a("")
    if report["low_margin"]:
        a("**Below the 1e-3 margin:** " + ", ".join(f"{r['golden']} ({r['margin']:.3g})" for r in report["low_margin"])
          + ". Plans were not changed; compare these greedy ids with care.")
    else:
        a("Every golden has a top-1/top-2 margin ≥ 1e-3 at all 20 greedy steps.")
    a(f"Max |logit|: {max(r['max_logit'] for r in report['cases']):.3g}; an fp32 engine should match the logits to about")
    a("1e-5 relative (the summation order differs).")
    a("")
    a("Self-checks (asserted when the script runs):")
    a("")
    a("- Window rule: mean visual keys per visual query on 24×24 = " + ", ".join(
        f"{v:.4g} (w={w})" for w, v in c["window_means"].items()) + ", as METHOD.md §2.1; even w = w − 1; symmetric.")
    a("- No strategy active, both modes, both fixtures: logits bit-identical to the unpatched transformers model,")
    a("  same greedy ids; on `llava-hf-tiny` that model also reproduces golden `hf_chelsea` bit for bit, and on")
    a("  `llava-hf-tiny-32x32` `generate()` gives the same ids.")
    a(f"- `ffn2`: skip (sliced matmuls) vs simulate (zeroed channels) max |Δlogits| = {c['tiny_ffn2_skip_vs_simulate']:.2g}")
    a(f"  (≤ {FFN_SKIP_VS_SIMULATE_TOL:g}), same greedy ids.")
    a(f"- `window5`: skip vs simulate prefill logits identical (max |Δ| = {c['tiny_window5_skip_vs_simulate']:.2g}), same ids.")
    a(f"- `heads` and `layers1`: simulate vs skip differ (max |Δlogits| {c['tiny_heads_simulate_vs_skip']:.3g} and "
      f"{c['tiny_layers1_simulate_vs_skip']:.3g}; no renormalisation vs renormalisation).")
    a("- Every case: greedy ids with the KV cache = greedy ids recomputed without a cache (full forward of prompt +")
    a("  generated ids at every step). In simulate mode the no-cache forwards re-apply the window to the image block")
    a("  (they contain it) and the key-side factor to every row, which is what the cached prefill and decode do, so")
    a("  the two agree; in skip mode the frozen visual rows and excluded visual keys are likewise the same in both.")
    a("- Each tiny plan changes the logits; each 32x32 plan changes the greedy ids.")
    a("")
    a("Choices where METHOD.md leaves room: (1) \"prefill\" = the forward containing the whole image block (the")
    a("official test is `mask rows > 576`, equivalent here); (2) skip mode freezes visual rows from layer K on rather")
    a("than computing them (unobservable: no query reads them) and applies the window in every layer (equally")
    a("unobservable in dropped layers); (3) skip mode zeroes pruned heads' visual rows only in kept layers (dropped")
    a("layers freeze the rows); (4) the decode key-side mask covers every batch row (the official batch-0-only code")
    a("is a bug; batch is 1 here); (5) r may be any number ≥ 1, kept channels = int(I/r) (tiny: I = 64, r = 4 → 16;")
    a("32x32: I = 128, r = 2 → 64).")
    a("")
    a("Regenerate: `python3 Tools/reference/make_pruning_fixtures.py` (after `make_model_fixtures.py`; ≈ 4 min on one CPU thread);")
    a("`--search N` lists which seeds of the 32x32 model pass all five goldens (margin ≥ 1e-3, no EOS, ids < 32000,")
    a("≥ 10 distinct ids, pruned ids ≠ unpruned ids). Re-runs are byte-identical.")
    a("")
    a("| file | bytes |")
    a("|---|---|")
    for p in sorted(report["files"]):
        a(f"| `{os.path.relpath(p, FIXTURES)}` | {os.path.getsize(p):,} |")
    big_dir = os.path.join(MODELS, BIG_DIR)
    for name in BIG_LINKED:
        a(f"| `models/{BIG_DIR}/{name}` | symlink → `{os.readlink(os.path.join(big_dir, name))}` |")
    big_total = sum(os.path.getsize(os.path.join(big_dir, f)) for f in os.listdir(big_dir) if f not in BIG_LINKED)
    a("")
    a(f"`{BIG_DIR}/` totals {big_total / 1e6:.2f} MB (symlinks not counted).")
    a("")
    a(README_END)
    path = os.path.join(MODELS, "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if README_BEGIN in text:
        head, rest = text.split(README_BEGIN, 1)
        tail = rest.split(README_END, 1)[1].lstrip("\n")
        text = head.rstrip("\n") + "\n\n" + "\n".join(L) + "\n" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(L) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def print_summary(report: dict) -> None:
    for r in report["cases"]:
        twin = "" if r["vs_twin"] is None else f" vs-other {r['vs_twin']:.3g}"
        print(f"{r['golden']:44s} margin {r['margin']:.4g} vs-none {r['vs_none']:.3g}{twin} ids {r['greedy_ids']}")
    for k, v in report["checks"].items():
        print(f"check {k}: {v}")
    if report["low_margin"]:
        print("WARNING: margin below 1e-3:", [r["golden"] for r in report["low_margin"]])
    for rel, digest in sha256_of(report["files"]).items():
        print(f"sha256 {digest} {rel}")


if __name__ == "__main__":
    main()
