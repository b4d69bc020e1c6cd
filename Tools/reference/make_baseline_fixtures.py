#!/usr/bin/env python3
"""Independent Python reference of the FastV, PyramidDrop and SparseVLM (v1.5) baselines and goldens for them.

    python make_baseline_fixtures.py    # (re)write golden/baseline_*.json|.safetensors and the README section

Runs on `Tests/Fixtures/models/llava-hf-tiny-32x32/` (written by make_pruning_fixtures.py), with the chelsea.png +
"What is shown?" case of golden `hf_chelsea`. Semantics: docs BASELINES.md §1-§3 as the project decided them
(written out in the README section this script adds to Tests/Fixtures/models/README.md).

The reference is a layer loop over transformers' own LLaMA modules (input_layernorm, q/k/v/o_proj, rotary
embedding, post_attention_layernorm, MLP, final norm, tied lm_head), fp32, attention written in transformers'
eager op order (QKᵀ·scale + additive causal mask, fp32 softmax, ·V), with a per-layer KV cache so each layer
can hold a different set of rows. Pruning decisions are taken once, at prefill, and recorded; the same
recorded decisions are replayed for the no-cache recomputation. An independent second path checks FastV and
PDrop through transformers' unmodified LlavaForConditionalGeneration forward and DynamicCache: dropped tokens
are masked out as keys (custom attention function) and per-layer RoPE positions are substituted (decoder
pre-hook), which must give the same text logits and the same ranking decisions.

Deterministic: one thread, deterministic algorithms; re-runs are byte-identical.
"""
import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from fractions import Fraction

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import make_model_fixtures as mmf  # noqa: E402
import make_pruning_fixtures as mpf  # noqa: E402

import transformers  # noqa: E402
from transformers import AttentionInterface, DynamicCache  # noqa: E402
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv  # noqa: E402

# --------------------------------------------------------------------------------------------------
# Constants

FIXTURES = common.FIXTURES
MODELS = mmf.MODELS
GOLDEN = mmf.GOLDEN
CHECKPOINT = mpf.BIG_DIR  # llava-hf-tiny-32x32
IMAGE, PROMPT = mpf.IMAGE, mpf.PROMPT
NONE_GOLDENS = ["prune_llava-hf-tiny-32x32_none_skip", "prune_llava-hf-tiny-32x32_none"]
OWN_GOLDEN_PREFIXES = ("baseline_fastv_", "baseline_pdrop_", "baseline_sparsevlm_")  # the goldens this script owns
NEW_TOKENS = mmf.NEW_TOKENS
MIN_MARGIN = mmf.MIN_MARGIN

CASES = [  # (method, n, spec): golden baseline_<method>_<n>
    ("fastv", 1, "fastv:k=2,r=0.5"),
    ("fastv", 2, "fastv:k=3,r=0.75"),
    ("fastv", 3, "fastv:k=2,keep=98"),
    ("pdrop", 1, "pdrop:layers=8/16/24,ratio=0.5"),
    ("pdrop", 2, "pdrop:layers=3/11/19,ratio=0.5"),
    ("pdrop", 3, "pdrop:layers=2/6/12,ratio=0.25"),
    ("sparsevlm", 1, "sparsevlm:tokens=192"),
    ("sparsevlm", 2, "sparsevlm:tokens=128"),
    ("sparsevlm", 3, "sparsevlm:tokens=64"),
]
KEEP_ALL_SPECS = ["fastv:k=2,r=0", "pdrop:layers=8/16/24,ratio=1"]  # must reproduce the unpruned model

SPARSEVLM_LAYERS = [2, 6, 15]  # 0-based; pruning acts on these layers' outputs
SPARSEVLM_KEEP = {192: [300, 200, 110], 128: [303, 110, 36], 64: [66, 30, 17]}
RECYCLE_FRACTION = Fraction(3, 10)  # tau = int(0.3 * deleted)
CENTRE_FRACTION = Fraction(1, 10)   # C = ceil(0.1 * m)
DPC_K = 5

README_BEGIN = "<!-- BEGIN make_baseline_fixtures.py -->"
README_END = "<!-- END make_baseline_fixtures.py -->"

# Tolerances of the self-checks (relative to max |logit| of the compared tensor).
SAME_COMPUTATION_TOL = 1e-5  # same math, possibly different shapes / summation order
MASKED_VS_GATHERED_TOL = 1e-4  # masked (full rows, -inf keys) vs gathered rows
NO_CACHE_TOL = 1e-4  # cached decode vs whole-sequence recomputation (32 layers of different matmul shapes)


# --------------------------------------------------------------------------------------------------
# Specs

@dataclass(frozen=True)
class Spec:
    text: str
    method: str
    k: int = 0                      # fastv: layers 0..k-1 run on the full sequence
    keep: int = 0                   # fastv: image tokens kept after layer k-1
    boundaries: tuple = ()          # pdrop: 1-based layer numbers
    ratio: str = ""                 # pdrop: lambda as written
    tokens: int = 0                 # sparsevlm: 192 | 128 | 64 (0 when layers= / keep= are given)
    prune_layers: tuple = ()        # sparsevlm: 0-based layers whose outputs are pruned
    prune_keep: tuple = ()          # sparsevlm: image tokens kept after each of them


def parse_spec(text: str, n: int) -> Spec:
    method, _, rest = text.partition(":")
    fields = {}
    for item in rest.split(","):
        key, _, value = item.partition("=")
        assert value and key not in fields, text
        fields[key] = value
    if method == "fastv":
        assert set(fields) in ({"k", "r"}, {"k", "keep"}), text
        k = int(fields["k"])
        if "keep" in fields:
            keep = int(fields["keep"])
        else:
            r = float(fields["r"])
            assert 0.0 <= r <= 1.0, text
            keep = round(n * (1 - r))  # Python round, as the HF FastV port
        assert k >= 1 and 0 <= keep <= n, text  # k = 0 (random drop) is not part of this reference
        return Spec(text, method, k=k, keep=keep)
    if method == "pdrop":
        assert set(fields) == {"layers", "ratio"}, text
        b = tuple(int(x) for x in fields["layers"].split("/"))  # three for the 32-layer goldens, fewer on 3 layers
        assert b and b[0] >= 1 and all(x < y for x, y in zip(b, b[1:])), text
        lam = float(fields["ratio"])
        assert 0.0 < lam <= 1.0, text
        return Spec(text, method, boundaries=b, ratio=fields["ratio"])
    if method == "sparsevlm":
        if set(fields) == {"tokens"}:  # a v1.5 schedule
            t = int(fields["tokens"])
            assert t in SPARSEVLM_KEEP, text
            return Spec(text, method, tokens=t, prune_layers=tuple(SPARSEVLM_LAYERS), prune_keep=tuple(SPARSEVLM_KEEP[t]))
        assert set(fields) == {"layers", "keep"}, text  # explicit schedule (shallow models)
        layers = tuple(int(x) for x in fields["layers"].split("/"))
        keep = tuple(int(x) for x in fields["keep"].split("/"))
        assert layers and len(layers) == len(keep) and layers[0] >= 0, text
        assert all(x < y for x, y in zip(layers, layers[1:])) and all(k >= 0 for k in keep), text
        return Spec(text, method, prune_layers=layers, prune_keep=keep)
    raise ValueError(text)


def pdrop_count(n: int, ratio: str, i: int) -> int:
    """int(n * lambda^i) with Python floats, checked against exact rational arithmetic."""
    value = int(n * float(ratio) ** i)
    assert value == math.floor(n * Fraction(ratio) ** i), (n, ratio, i)
    return value


def recycle_counts(deleted: int):
    """(tau, C): tau = int(0.3 * deleted) selected tokens, C = ceil(0.1 * tau) centres (0 if tau < 2).
    Computed exactly; asserted equal to the Python-float formulas (they agree for every case here)."""
    tau = math.floor(RECYCLE_FRACTION * deleted)
    assert tau == int(0.3 * deleted), deleted
    if tau < 2:
        return tau, 0
    c = math.ceil(CENTRE_FRACTION * tau)
    assert c == math.ceil(0.1 * tau), tau
    return tau, c


# --------------------------------------------------------------------------------------------------
# Selection helpers (ties: lower index wins)

def top_indices(scores: torch.Tensor, count: int) -> list:
    """Indices of the `count` largest scores, ties broken by the lower index, returned ascending."""
    vals = scores.tolist()
    order = sorted(range(len(vals)), key=lambda j: (-vals[j], j))
    return sorted(order[:count])


def cut_gap(scores: torch.Tensor, chosen: list) -> float | None:
    """Smallest chosen score minus largest unchosen score (None when nothing is left out)."""
    chosen_set = set(chosen)
    rest = [v for j, v in enumerate(scores.tolist()) if j not in chosen_set]
    if not rest or not chosen:
        return None
    return min(scores[j].item() for j in chosen) - max(rest)


# --------------------------------------------------------------------------------------------------
# Per-layer LLaMA loop on transformers' modules

class Lm:
    """The language model of a LlavaForConditionalGeneration, layer by layer. The projections are the model's own
    modules, so q/k/v biases (Qwen2, make_family_fixtures.py) are included; GQA keys/values are cached per KV head
    and repeated for the query heads at attention time."""

    def __init__(self, model):
        lm = model.model.language_model
        cfg = model.config.text_config
        assert cfg.num_attention_heads % cfg.num_key_value_heads == 0
        self.layers, self.norm, self.rotary = lm.layers, lm.norm, lm.rotary_emb
        self.embed_tokens, self.lm_head = lm.embed_tokens, model.lm_head
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads  # Qwen2: no field
        self.L, self.H, self.D = cfg.num_hidden_layers, cfg.num_attention_heads, head_dim
        self.groups = cfg.num_attention_heads // cfg.num_key_value_heads

    def rope(self, x: torch.Tensor, pos: torch.Tensor):
        return self.rotary(x, pos.view(1, -1))

    def qkv(self, l: int, h: torch.Tensor, pos: torch.Tensor):
        """input_layernorm, q/k/v projections and RoPE of layer l: [1, H, T, D] each."""
        layer = self.layers[l]
        attn = layer.self_attn
        x = layer.input_layernorm(h)
        shape = (1, x.shape[1], -1, self.D)
        q = attn.q_proj(x).view(shape).transpose(1, 2)
        k = attn.k_proj(x).view(shape).transpose(1, 2)
        v = attn.v_proj(x).view(shape).transpose(1, 2)
        cos, sin = self.rope(x, pos)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        return q, k, v

    def layer(self, l: int, h: torch.Tensor, pos: torch.Tensor, past=None):
        """One decoder layer on rows h [1, T, d] at RoPE positions pos [T]; `past` = this layer's cached (K, V).
        Query row i sees the cached keys and the new keys 0..i. Returns (out, (K, V) incl. past, probs)."""
        layer = self.layers[l]
        attn = layer.self_attn
        q, k, v = self.qkv(l, h, pos)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        t, kv = h.shape[1], k.shape[2]
        scores = torch.matmul(q, repeat_kv(k, self.groups).transpose(2, 3)) * attn.scaling
        if t > 1:
            scores = scores + causal_mask(kv - t, t, kv)
        probs = F.softmax(scores, dim=-1, dtype=torch.float32)
        out = torch.matmul(probs, repeat_kv(v, self.groups)).transpose(1, 2).contiguous().reshape(1, t, -1).contiguous()
        h = h + attn.o_proj(out)
        h = h + layer.mlp(layer.post_attention_layernorm(h))
        return h, (k, v), probs

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.norm(h))[0, -1]


def causal_mask(q0: int, t: int, kv: int) -> torch.Tensor:
    allowed = torch.arange(kv).view(1, -1) <= torch.arange(q0, q0 + t).view(-1, 1)
    return torch.zeros(t, kv).masked_fill(~allowed, torch.finfo(torch.float32).min).view(1, 1, t, kv)


# --------------------------------------------------------------------------------------------------
# Sequence state and pruning decisions

@dataclass
class Transform:
    """A pruning decision applied to the output rows of layer `layer`: the image block [s, s+c) becomes its rows
    `keep` (image-block-relative, ascending) followed by one new row per cluster (mean of the member rows, in the
    given order); prefix and text rows are untouched. reindex: RoPE positions become 0..len-1 afterwards."""
    layer: int
    keep: list
    clusters: list = field(default_factory=list)
    reindex: bool = False


@dataclass
class State:
    h: torch.Tensor          # [1, T, d]
    pos: torch.Tensor        # [T] RoPE positions
    s: int                   # prefix length = start of the image block
    labels: list             # one per current image row: original image index, or -1 for a recycled token

    @property
    def c(self) -> int:
        return len(self.labels)

    def apply(self, tr: Transform) -> "State":
        s, c, h = self.s, self.c, self.h
        img = h[:, s:s + c]
        parts = [h[:, :s], img[:, tr.keep]]
        parts += [img[:, members].mean(dim=1, keepdim=True) for members in tr.clusters]
        parts.append(h[:, s + c:])
        h2 = torch.cat(parts, dim=1)
        if tr.reindex:
            pos = torch.arange(h2.shape[1])
        else:
            assert not tr.clusters
            pos = torch.cat([self.pos[:s], self.pos[s:s + c][tr.keep], self.pos[s + c:]])
        labels = [self.labels[j] for j in tr.keep] + [-1] * len(tr.clusters)
        return State(h2, pos, s, labels)


class Policy:
    """Decides the pruning after a layer at prefill. `needs_probs(l)`: whether layer l's attention is read."""
    reindex = False

    def needs_probs(self, l: int) -> bool:
        return False

    def after_layer(self, lm: Lm, l: int, st: State, probs) -> Transform | None:
        return None


class Replay(Policy):
    """Re-applies recorded decisions (no-cache recomputation)."""

    def __init__(self, transforms):
        self.by_layer = {tr.layer: tr for tr in transforms}

    def after_layer(self, lm, l, st, probs):
        return self.by_layer.get(l)


class FastV(Policy):
    def __init__(self, spec: Spec):
        self.k, self.q = spec.k, spec.keep
        self.info = []

    def needs_probs(self, l):
        return l == self.k - 1

    def after_layer(self, lm, l, st, probs):
        if l != self.k - 1:
            return None
        # Last prompt row of layer k-1's attention, head average, image columns.
        score = probs[0, :, -1, :].mean(dim=0)[st.s:st.s + st.c]
        keep = top_indices(score, self.q)
        self.info.append({"layer": l, "scores": score.clone(), "keep": keep, "gap": cut_gap(score, keep)})
        return Transform(l, keep, reindex=False)


class PDrop(Policy):
    reindex = True

    def __init__(self, spec: Spec, n: int):
        self.after = {b - 1: i + 1 for i, b in enumerate(spec.boundaries)}  # 0-based layer -> boundary number
        self.counts = {i: pdrop_count(n, spec.ratio, i) for i in range(1, len(spec.boundaries) + 1)}
        self.info = []

    def after_layer(self, lm, l, st, probs):
        if l not in self.after:
            return None
        assert l + 1 < lm.L, "a boundary needs a next layer to rank with"
        i = self.after[l]
        score = pdrop_scores(lm, l + 1, st)
        keep = top_indices(score, min(self.counts[i], st.c))
        self.info.append({"layer": l, "scores": score.clone(), "keep": keep, "gap": cut_gap(score, keep)})
        return Transform(l, keep, reindex=True)


def pdrop_scores(lm: Lm, nxt: int, st: State) -> torch.Tensor:
    """Layer `nxt`'s input_layernorm, q_proj, k_proj and RoPE (current positions) on the current rows; the last row's
    softmax(q·Kᵀ/√d_h) over every current key, per head, head average, image columns."""
    q, k, _ = lm.qkv(nxt, st.h, st.pos)
    row = torch.matmul(q[:, :, -1:], repeat_kv(k, lm.groups).transpose(2, 3)) * lm.layers[nxt].self_attn.scaling
    probs = F.softmax(row, dim=-1, dtype=torch.float32)  # [1, H, 1, T]
    return probs[0, :, 0, :].mean(dim=0)[st.s:st.s + st.c]


class SparseVLM(Policy):
    reindex = True

    def __init__(self, spec: Spec, raters: list, n: int):
        self.keep_counts = dict(zip(spec.prune_layers, spec.prune_keep))
        self.raters = raters  # indices into the text after the image
        self.n = n
        self.info = []

    def needs_probs(self, l):
        return l in self.keep_counts

    def after_layer(self, lm, l, st, probs):
        if l not in self.keep_counts:
            return None
        s, c = st.s, st.c
        rows = [s + c + i for i in self.raters]  # rater rows in the current sequence
        p = probs[0].mean(dim=0)  # head average [T, T]
        score = p[rows][:, s:s + c].mean(dim=0)
        count = min(self.keep_counts[l], c)
        keep = top_indices(score, count)
        kept = set(keep)
        deleted = [j for j in range(c) if j not in kept]
        tau, n_centres = recycle_counts(len(deleted))
        sel_local = top_indices(score[deleted], tau) if tau else []
        selected = [deleted[j] for j in sel_local]  # ascending = current order
        clusters, dpc = [], None
        if n_centres:
            x = st.h[0, s:s + c][selected]
            dpc = dpc_knn(x, n_centres)
            clusters = [[selected[j] for j in members] for members in dpc["clusters"]]
        self.info.append({"layer": l, "scores": score.clone(), "keep": keep, "gap": cut_gap(score, keep),
                          "deleted": len(deleted), "tau": tau, "selected": selected,
                          "tau_gap": cut_gap(score[deleted], sel_local) if tau else None,
                          "dpc": dpc, "clusters": clusters})
        return Transform(l, keep, clusters, reindex=True)


def dpc_knn(x: torch.Tensor, n_centres: int) -> dict:
    """DPC-kNN on rows x [m, d] (m >= 2), indices = row order. Returns clusters (member lists, ordered by centre
    index) and the quantities an engine would want to compare."""
    m = x.shape[0]
    k = min(DPC_K, m - 1)
    diff = x.unsqueeze(1) - x.unsqueeze(0)
    d2 = (diff * diff).sum(dim=-1)  # squared Euclidean distances [m, m]
    dist = d2.sqrt()
    off = d2 + torch.diag(torch.full((m,), float("inf")))
    knn_d2 = torch.sort(off, dim=1).values[:, :k]  # k nearest other tokens
    rho = torch.exp(-knn_d2.mean(dim=1))
    rho_l = rho.tolist()
    delta = []
    for i in range(m):
        denser = [j for j in range(m) if rho_l[j] > rho_l[i] or (rho_l[j] == rho_l[i] and j < i)]
        delta.append(min(dist[i, j].item() for j in denser) if denser else dist[i].max().item())
    delta = torch.tensor(delta, dtype=torch.float32)
    gamma = rho * delta
    centres = top_indices(gamma, n_centres)  # ascending
    cd = dist[:, centres]  # [m, C]
    assign = []
    assign_gap = float("inf")
    for i in range(m):
        row = cd[i].tolist()
        best = min(range(len(centres)), key=lambda a: (row[a], a))
        assign.append(best)
        others = [row[a] for a in range(len(centres)) if a != best]
        if others:
            assign_gap = min(assign_gap, min(others) - row[best])
    for a, cidx in enumerate(centres):
        assert assign[cidx] == a, "a centre must belong to its own cluster"
    clusters = [[i for i in range(m) if assign[i] == a] for a in range(len(centres))]
    return {"k": k, "rho": rho, "delta": delta, "gamma": gamma, "centres": centres, "clusters": clusters,
            "gamma_gap": cut_gap(gamma, centres), "assign_gap": assign_gap,
            "mean_knn_d2": knn_d2.mean(dim=1)}


def text_raters(embeds: torch.Tensor, s: int, n: int) -> tuple:
    """SparseVLM raters from the input embeddings: H_v = the n image embeddings, H_q = every token after the image.
    r = mean over visual rows of softmax_text(H_v·H_qᵀ); raters = {i : r_i >= mean(r)} (indices after the image)."""
    hv = embeds[0, s:s + n]
    hq = embeds[0, s + n:]
    m = torch.matmul(hv, hq.T)  # no scaling
    r = F.softmax(m, dim=-1, dtype=torch.float32).mean(dim=0)
    mean = r.mean()
    raters = [i for i, v in enumerate(r.tolist()) if v >= mean.item()]
    return raters, r, float(mean)


# --------------------------------------------------------------------------------------------------
# Prefill, cached decode, no-cache replay

def prefill(lm: Lm, embeds: torch.Tensor, s: int, n: int, policy: Policy):
    """Runs the prompt through every layer, applying the policy's decisions. Returns the logits of the last
    prompt position, the per-layer caches, the applied transforms and the visual rows each layer processed."""
    t = embeds.shape[1]
    st = State(embeds, torch.arange(t), s, list(range(n)))
    caches, transforms, processed = [], [], []
    for l in range(lm.L):
        processed.append(st.c)
        h, kv, probs = lm.layer(l, st.h, st.pos)
        caches.append(kv)
        st = State(h, st.pos, st.s, st.labels)
        tr = policy.after_layer(lm, l, st, probs if policy.needs_probs(l) else None)
        if tr is not None:
            transforms.append((tr, list(st.labels)))
            st = st.apply(tr)
    return lm.logits(st.h), caches, transforms, processed


def decode(lm: Lm, caches: list, token: int, step: int, t_prompt: int, reindex: bool) -> torch.Tensor:
    """One new token through the cache. Position: the original one (t_prompt + step) or, with re-indexing, each
    layer's current sequence length (its cached rows)."""
    h = lm.embed_tokens(torch.tensor([[token]]))
    for l in range(lm.L):
        pos = caches[l][0].shape[2] if reindex else t_prompt + step
        h, caches[l], _ = lm.layer(l, h, torch.tensor([pos]), past=caches[l])
    return lm.logits(h)


def run_case(lm: Lm, embeds: torch.Tensor, s: int, n: int, policy: Policy) -> dict:
    with torch.no_grad():
        logits, caches, transforms, processed = prefill(lm, embeds, s, n, policy)
        steps, gen = [logits], []
        t = embeds.shape[1]
        for i in range(NEW_TOKENS):
            gen.append(int(torch.argmax(steps[-1])))
            if i == NEW_TOKENS - 1:
                break
            steps.append(decode(lm, caches, gen[-1], i, t, policy.reindex))
    return {"logits": logits, "steps": steps, "greedy_ids": gen, "margins": mmf.margins_of(steps),
            "transforms": [tr for tr, _ in transforms], "labels_before": [lb for _, lb in transforms],
            "processed": processed, "cache_rows": [kv[0].shape[2] for kv in caches]}


def replay_no_cache(lm: Lm, embeds: torch.Tensor, s: int, n: int, transforms: list, n_new: int):
    """Greedy ids recomputing the whole sequence (prompt + generated ids) at every step, with the prefill's
    decisions re-applied as fixed kept sets / clusters. Returns (ids, per-step logits)."""
    policy = Replay(transforms)
    ids, steps = [], []
    with torch.no_grad():
        for _ in range(n_new):
            e = embeds
            if ids:
                e = torch.cat([embeds, lm.embed_tokens(torch.tensor([ids]))], dim=1)
            logits, _, applied, _ = prefill(lm, e, s, n, policy)
            assert len(applied) == len(transforms)
            steps.append(logits)
            ids.append(int(torch.argmax(logits)))
    return ids, steps


# --------------------------------------------------------------------------------------------------
# Independent path: transformers' own forward + DynamicCache, dropped keys masked, per-layer positions

class MaskedPath:
    """Context manager routing the Llava model's attention through `_masked_attention`. From the layer after each
    drop on, the dropped image tokens are masked out as keys (every query row, prefill and decode); RoPE position
    of original row p in layer l = p - (tokens dropped before layer l with index < p) when re-indexing, else p.
    Captures the head-averaged last query row of the layers in `capture` (prefill only)."""

    active = None

    def __init__(self, model, s: int, drops: list, reindex: bool, capture=()):
        # drops: [(0-based layer after which they go, [original image indices])]
        self.model, self.s, self.reindex, self.capture = model, s, reindex, set(capture)
        L = model.config.text_config.num_hidden_layers
        self.dropped = []  # per layer: sorted absolute positions masked as keys
        for l in range(L):
            cols = sorted(s + j for b, idx in drops if b < l for j in idx)
            self.dropped.append(torch.tensor(cols, dtype=torch.long))
        self.rows = {}
        self.handles = []

    def positions(self, l: int, orig: torch.Tensor) -> torch.Tensor:
        if not self.reindex:
            return orig
        d = self.dropped[l]
        return orig - torch.searchsorted(d, orig.reshape(-1)).view(orig.shape)

    def __enter__(self):
        cfg = self.model.config.text_config
        assert cfg._attn_implementation == "eager"
        cfg._attn_implementation = "baseline_masked"
        MaskedPath.active = self
        lm = self.model.model.language_model
        for l, layer in enumerate(lm.layers):
            def pre(_module, args, kwargs, l=l):
                hidden = args[0] if args else kwargs["hidden_states"]
                pos = self.positions(l, kwargs["position_ids"])
                kwargs["position_embeddings"] = lm.rotary_emb(hidden, pos)
                return args, kwargs
            self.handles.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
        return self

    def __exit__(self, *exc):
        self.model.config.text_config._attn_implementation = "eager"
        MaskedPath.active = None
        for h in self.handles:
            h.remove()
        return False


def _masked_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    mp = MaskedPath.active
    assert mp is not None and attention_mask is None and dropout == 0.0
    l = module.layer_idx
    t, kv = query.shape[2], key.shape[2]
    groups = module.num_key_value_groups
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    mask = causal_mask(kv - t, t, kv) if t > 1 else torch.zeros(1, 1, 1, kv)
    cols = mp.dropped[l]
    if len(cols):
        mask = mask.clone()
        mask[..., cols] = torch.finfo(torch.float32).min
    probs = F.softmax(scores + mask, dim=-1, dtype=torch.float32)
    if t > 1 and l in mp.capture:
        mp.rows[l] = probs[0, :, -1, :].mean(dim=0).clone()
    out = torch.matmul(probs, value).transpose(1, 2).contiguous()
    return out, probs


AttentionInterface.register("baseline_masked", _masked_attention)


def masked_greedy(model, ids, pixel_values, s, drops, reindex, capture=()):
    """transformers' forward + DynamicCache under MaskedPath: first-step logits, greedy ids, captured rows."""
    with MaskedPath(model, s, drops, reindex, capture) as mp:
        gen, steps = mpf.greedy_cached(model, ids, pixel_values, NEW_TOKENS)
        rows = dict(mp.rows)
    return steps[0], gen, rows


# --------------------------------------------------------------------------------------------------
# Inputs

def load_inputs(model, checkpoint: str = CHECKPOINT, none_goldens=NONE_GOLDENS):
    """input_ids / image_span of the checkpoint's unpruned golden (when present; else hf_chelsea's, checked against
    the checkpoint's processor) and the llava-hf CLIPImageProcessorPil pixel values; the language model's input
    embeddings as transformers builds them, and transformers' own unpruned logits / greedy ids. Defaults: the 32x32
    fixture; make_family_fixtures.py passes its own checkpoint and golden."""
    _, ids, pixel_values = mpf.case_inputs(os.path.join(MODELS, checkpoint))  # asserts processor == hf_chelsea
    s, n = mpf.image_span(ids, model.config.image_token_id)
    none_golden = None
    for name in none_goldens:
        path = os.path.join(GOLDEN, name + ".json")
        if os.path.exists(path):
            none_golden = name
            g = json.load(open(path))
            assert g["checkpoint"] == checkpoint and g["image"] == IMAGE and g["prompt"] == PROMPT
            assert g["input_ids"] == ids and g["image_span"] == [s, n], name
            break
    captured = {}

    def hook(_module, args, kwargs):
        captured["embeds"] = kwargs["inputs_embeds"].detach().clone()

    handle = model.model.language_model.register_forward_pre_hook(hook, with_kwargs=True)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), pixel_values=pixel_values.unsqueeze(0))
        att = model(input_ids=torch.tensor([ids]), pixel_values=pixel_values.unsqueeze(0), output_attentions=True,
                    output_hidden_states=True)
    handle.remove()
    with torch.no_grad():
        gen = model.generate(input_ids=torch.tensor([ids]), pixel_values=pixel_values.unsqueeze(0),
                             attention_mask=torch.ones(1, len(ids), dtype=torch.long), max_new_tokens=NEW_TOKENS,
                             do_sample=False, num_beams=1, eos_token_id=mmf.EOS_ID,
                             pad_token_id=common.PAD_TOKEN_INDEX_HF)
    plain = {"logits": out.logits[0, -1].clone(), "greedy_ids": gen[0, len(ids):].tolist(),
             "attentions": [a[0].mean(dim=0) for a in att.attentions], "golden": none_golden}
    if none_golden:
        gl = load_file(os.path.join(GOLDEN, none_golden + ".safetensors"))["logits"]
        plain["vs_golden"] = max_diff(plain["logits"], gl)
        plain["golden_ids_equal"] = json.load(open(os.path.join(GOLDEN, none_golden + ".json")))["greedy_ids"] \
            == plain["greedy_ids"]
    return ids, pixel_values, s, n, captured["embeds"], plain


def max_diff(a, b) -> float:
    return float((a - b).abs().max())


def rel_diff(a, b) -> float:
    return max_diff(a, b) / float(b.abs().max())


# --------------------------------------------------------------------------------------------------
# Cases

def make_policy(spec: Spec, n: int, raters):
    if spec.method == "fastv":
        return FastV(spec)
    if spec.method == "pdrop":
        return PDrop(spec, n)
    return SparseVLM(spec, raters, n)


def kept_lists(spec: Spec, r: dict) -> list:
    """Per pruning point, the image tokens present after it: original image indices, -1 for recycled tokens."""
    out = []
    for tr, labels in zip(r["transforms"], r["labels_before"]):
        kept = [labels[j] for j in tr.keep] + [-1] * len(tr.clusters)
        if spec.method != "sparsevlm":
            assert -1 not in kept and kept == sorted(kept)
        out.append(kept)
    return out


def check_case(model, lm, spec, r, policy, ids, pixel_values, s, n, embeds, plain) -> dict:
    """Self-checks of one case; returns numbers for the README."""
    res = {}
    L = lm.L
    # Cache layout: layers cache exactly the rows they processed (+ 20 - 1 decode rows).
    t = embeds.shape[1]
    for l in range(L):
        assert r["cache_rows"][l] == (t - n) + r["processed"][l] + NEW_TOKENS - 1, (spec.text, l)
    # No-cache recomputation with the same decisions.
    nc_ids, nc_steps = replay_no_cache(lm, embeds, s, n, r["transforms"], NEW_TOKENS)
    res["no_cache_ids_equal"] = nc_ids == r["greedy_ids"]
    res["no_cache_max_rel"] = max(rel_diff(a, b) for a, b in zip(nc_steps, r["steps"]))
    assert res["no_cache_ids_equal"], (spec.text, nc_ids, r["greedy_ids"])
    assert res["no_cache_max_rel"] <= NO_CACHE_TOL, (spec.text, res["no_cache_max_rel"])
    # First decision against transformers' own unpruned attention (output_attentions).
    first = policy.info[0]
    if spec.method == "fastv":
        ref = plain["attentions"][spec.k - 1][-1, s:s + n]
    elif spec.method == "pdrop":
        ref = plain["attentions"][spec.boundaries[0]][-1, s:s + n]  # layer b+1 on the full sequence
    else:
        rows = [s + n + i for i in policy.raters]
        ref = plain["attentions"][spec.prune_layers[0]][rows][:, s:s + n].mean(dim=0)
    res["first_scores_vs_transformers"] = rel_diff(first["scores"], ref)
    assert res["first_scores_vs_transformers"] <= SAME_COMPUTATION_TOL, (spec.text, res)
    assert top_indices(ref, len(first["keep"])) == first["keep"], spec.text
    # Masked path through transformers' forward + cache (FastV, PDrop): same logits / ids / decisions.
    if spec.method in ("fastv", "pdrop"):
        drops = []
        for tr, labels in zip(r["transforms"], r["labels_before"]):
            kept = set(tr.keep)
            drops.append((tr.layer, [labels[j] for j in range(len(labels)) if j not in kept]))
        logits, gen, _ = masked_greedy(model, ids, pixel_values, s, drops, policy.reindex)
        res["masked_vs_gathered"] = rel_diff(logits, r["logits"])
        res["masked_ids_equal"] = gen == r["greedy_ids"]
        assert res["masked_vs_gathered"] <= MASKED_VS_GATHERED_TOL and res["masked_ids_equal"], (spec.text, res)
        # Each ranking re-derived on the masked path holding only the earlier drops.
        for i, info in enumerate(policy.info):
            nxt = info["layer"] if spec.method == "fastv" else info["layer"] + 1
            _, _, rows = masked_greedy_rows(model, ids, pixel_values, s, drops[:i], policy.reindex, nxt)
            present = r["labels_before"][i]
            score = rows[nxt][torch.tensor([s + j for j in present])]
            assert rel_diff(score, info["scores"]) <= SAME_COMPUTATION_TOL, (spec.text, i)
            assert top_indices(score, len(info["keep"])) == info["keep"], (spec.text, i)
        res["rankings_rederived"] = len(policy.info)
    return res


def masked_greedy_rows(model, ids, pixel_values, s, drops, reindex, layer):
    """Prefill only, capturing one layer's last attention row."""
    with MaskedPath(model, s, drops, reindex, capture=[layer]) as mp:
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), pixel_values=pixel_values.unsqueeze(0))
        rows = dict(mp.rows)
    return out.logits[0, -1], None, rows


def reference_text(spec: Spec) -> str:
    what = {
        "fastv": "FastV (BASELINES.md §1 as decided in the README): one prune after layer k-1 from its last-prompt-row "
                 "head-averaged attention, original RoPE positions",
        "pdrop": "PyramidDrop (BASELINES.md §2 as decided in the README): three drops ranked with the next layer's "
                 "q/k on the boundary layer's output, positions re-indexed",
        "sparsevlm": "SparseVLM v1.5 (BASELINES.md §3 as decided in the README): text raters, fixed keep counts at "
                     "layers 2/6/15, DPC-kNN recycling, positions re-indexed",
    }[spec.method]
    return (f"make_baseline_fixtures.py reference on transformers {transformers.__version__} LLaMA modules (own "
            f"per-layer loop, eager op order, fp32 compute from {CHECKPOINT} bf16 weights): {what}; pruning once "
            f"at prefill, greedy with the per-layer KV cache")


def save_case(method, idx, spec: Spec, r, kept, ids, s, n, recycled, name=None, checkpoint=CHECKPOINT,
              reference=None) -> str:
    """Writes golden baseline_<method>_<idx> (or `name`); make_family_fixtures.py passes name, checkpoint, reference."""
    name = name or f"baseline_{method}_{idx}"
    save_file({"logits": r["logits"].to(torch.float32).contiguous()}, os.path.join(GOLDEN, name + ".safetensors"))
    obj = {
        "checkpoint": checkpoint,
        "image": IMAGE,
        "prompt": PROMPT,
        "spec": spec.text,
        "input_ids": ids,
        "image_span": [s, n],
        "kept_indices": kept,
    }
    if recycled is not None:
        obj["recycled_counts"] = recycled
    obj.update({
        "processed_visual_tokens_per_layer": r["processed"],
        "greedy_ids": r["greedy_ids"],
        "min_top2_margin": round(min(r["margins"]), 6),
        "reference": reference or reference_text(spec),
    })
    mmf.write_json(os.path.join(GOLDEN, name + ".json"), obj, compact_lists=True)
    return name


# --------------------------------------------------------------------------------------------------
# Main

def main() -> None:
    mmf.setup_determinism()
    model_dir = os.path.join(MODELS, CHECKPOINT)
    assert os.path.isdir(model_dir), f"{model_dir} missing: run make_pruning_fixtures.py first"
    model = mpf.load_model(model_dir)
    lm = Lm(model)
    assert lm.L == 32 and lm.H == 32 and lm.D == 2
    ids, pixel_values, s, n, embeds, plain = load_inputs(model)
    assert n == 576
    checks = {"plain_golden": plain["golden"]}

    # The loop without pruning = transformers' model.
    unpruned = run_case(lm, embeds, s, n, Policy())
    checks["unpruned_vs_transformers"] = rel_diff(unpruned["logits"], plain["logits"])
    assert checks["unpruned_vs_transformers"] <= SAME_COMPUTATION_TOL, checks
    assert unpruned["greedy_ids"] == plain["greedy_ids"]
    if plain["golden"]:
        checks["transformers_vs_none_golden"] = plain["vs_golden"]
        assert plain["vs_golden"] <= SAME_COMPUTATION_TOL * float(plain["logits"].abs().max())
        assert plain["golden_ids_equal"]
    # Keep-all settings reproduce the unpruned logits.
    for text in KEEP_ALL_SPECS:
        spec = parse_spec(text, n)
        r = run_case(lm, embeds, s, n, make_policy(spec, n, None))
        checks[f"keep_all {text}"] = rel_diff(r["logits"], unpruned["logits"])
        assert checks[f"keep_all {text}"] <= SAME_COMPUTATION_TOL and r["greedy_ids"] == unpruned["greedy_ids"], text
        assert all(len(k) == n for k in kept_lists(spec, r))

    raters, r_values, r_mean = text_raters(embeds, s, n)
    text_ids = ids[s + n:]
    for name in os.listdir(GOLDEN):
        if name.startswith(OWN_GOLDEN_PREFIXES):  # not baseline_fused_* (make_family_fixtures.py)
            os.remove(os.path.join(GOLDEN, name))

    rows, written = [], []
    for method, idx, text in CASES:
        spec = parse_spec(text, n)
        policy = make_policy(spec, n, raters)
        r = run_case(lm, embeds, s, n, policy)
        kept = kept_lists(spec, r)
        recycled = [len(tr.clusters) for tr in r["transforms"]] if method == "sparsevlm" else None
        res = check_case(model, lm, spec, r, policy, ids, pixel_values, s, n, embeds, plain)
        name = save_case(method, idx, spec, r, kept, ids, s, n, recycled)
        written += [os.path.join(GOLDEN, name + ext) for ext in (".json", ".safetensors")]
        rows.append({"name": name, "spec": spec, "r": r, "kept": kept, "recycled": recycled, "res": res,
                     "info": policy.info, "vs_none": max_diff(r["logits"], unpruned["logits"]),
                     "ids_equal_none": r["greedy_ids"] == unpruned["greedy_ids"]})
        print_row(rows[-1], flush=True)

    tokenizer = mmf.load_hf_processor(os.path.join(MODELS, CHECKPOINT)).tokenizer
    report = {"checks": checks, "rows": rows, "raters": raters, "r": r_values, "r_mean": r_mean,
              "tokens": [tok.replace("▁", " ").replace("<0x0A>", "\\n") for tok in tokenizer.convert_ids_to_tokens(text_ids)],
              "unpruned": unpruned, "files": written, "s": s, "n": n, "t": len(ids)}
    write_readme_section(report)
    for p in written:
        with open(p, "rb") as f:
            print(f"sha256 {hashlib.sha256(f.read()).hexdigest()} {os.path.relpath(p, FIXTURES)}")
    for k, v in checks.items():
        print(f"check {k}: {v}")
    low = [row["name"] for row in rows if min(row["r"]["margins"]) < MIN_MARGIN]
    if low:
        print("WARNING: margin below 1e-3:", low)


def fmt_gap(g):
    return "–" if g is None else f"{g:.3g}"


def print_row(row, flush=False):
    r, res = row["r"], row["res"]
    counts = [sum(1 for x in k if x >= 0) for k in row["kept"]]
    print(f"{row['name']:22s} {row['spec'].text:34s} kept {[len(k) for k in row['kept']]} (orig {counts}) "
          f"recycled {row['recycled']} margin {min(r['margins']):.4g} gaps "
          f"{[fmt_gap(i['gap']) for i in row['info']]} ids {r['greedy_ids']} checks {res}", flush=flush)
    for i in row["info"]:
        if i.get("dpc"):
            d = i["dpc"]
            print(f"    layer {i['layer']}: deleted {i['deleted']} tau {i['tau']} C {len(d['centres'])} k {d['k']} "
                  f"rho [{float(d['rho'].min()):.3g}, {float(d['rho'].max()):.3g}] mean kNN d2 "
                  f"[{float(d['mean_knn_d2'].min()):.3g}, {float(d['mean_knn_d2'].max()):.3g}] gamma gap "
                  f"{fmt_gap(d['gamma_gap'])} assign gap {d['assign_gap']:.3g} tau gap {fmt_gap(i['tau_gap'])} "
                  f"sizes {[len(c) for c in d['clusters']]}", flush=flush)


# --------------------------------------------------------------------------------------------------
# README section

def runs(counts: list) -> str:
    out, i = [], 0
    while i < len(counts):
        j = i
        while j < len(counts) and counts[j] == counts[i]:
            j += 1
        out.append(f"{counts[i]}×{j - i}")
        i = j
    return ", ".join(out)


def rel_cut_gaps(row) -> list:
    """Per pruning point: cut gap / smallest kept score (None when nothing was dropped)."""
    out = []
    for info in row["info"]:
        if info["gap"] is None:
            out.append(None)
            continue
        out.append(info["gap"] / min(info["scores"][j].item() for j in info["keep"]))
    return out


def write_readme_section(report: dict) -> None:
    c, rows, s, n, t = report["checks"], report["rows"], report["s"], report["n"], report["t"]
    L = [README_BEGIN, "", "## Baseline goldens: FastV, PyramidDrop, SparseVLM v1.5 (`Tools/reference/make_baseline_fixtures.py`)",
         ""]
    a = L.append
    a("An independent Python reference of the three baselines of docs/BASELINES.md (§1-§3), with the semantics the")
    a("project fixed for YOPO's engine (below), run on `llava-hf-tiny-32x32/` (32 layers × 32 heads, head_dim 2, hidden")
    a("64, bf16 weights computed in fp32). Implementation: a per-layer loop over transformers " + transformers.__version__)
    a("LLaMA modules (`input_layernorm`, `q/k/v/o_proj`, `rotary_emb` + `apply_rotary_pos_emb`, `post_attention_layernorm`,")
    a("`mlp`, `norm`, tied `lm_head`), attention in transformers' eager op order (QKᵀ·scale + additive causal mask, fp32")
    a("softmax, ·V), one KV cache per layer (each layer may hold a different set of rows). The LLaMA input embeddings are")
    a("the ones transformers' `LlavaForConditionalGeneration` builds (captured at the language model's input).")
    a("")
    src = c["plain_golden"] or mpf.BASE_GOLDEN
    a(f"Case: `chelsea.png` + \"What is shown?\": `input_ids` and `image_span` [{s}, {n}] of golden `{src}`")
    a(f"({t} tokens: prefix 0..{s - 1}, image {s}..{s + n - 1}, text {s + n}..{t - 1}), pixel values from the llava-hf")
    a("`CLIPImageProcessorPil` (checked equal to golden `hf_chelsea`'s).")
    a("")
    a("### Semantics (0-based layers unless said otherwise; L = 32)")
    a("")
    a("Common: one image of n = 576 tokens at [s, s+n); \"last prompt token\" = position T−1 of the prompt; pruning happens")
    a("once, at prefill; every decode step (KV cache) attends to whatever each layer cached; kept visual tokens keep their")
    a("relative order; every top-k breaks ties by the lower index; all text tokens are kept. Attention probabilities =")
    a("softmax over the causal keys, per head, fp32; \"head average\" = mean over the 32 heads.")
    a("")
    a("- **FastV** `fastv:k=K,r=R` | `fastv:k=K,keep=N`: layers 0..K−1 run on the full sequence. Score of image token j =")
    a("  head average of layer K−1's probability row of the last prompt token, column s+j. Keep the top q, q =")
    a("  `round(n·(1−R))` (Python `round`) or N. Layers K..31 run on [prefix, kept image tokens, text] with the")
    a("  **original** position ids (RoPE gaps); layers < K cache every prompt row, layers ≥ K only the rows they process.")
    a("  Decode: the new token's position is its original one (T + step) in every layer.")
    a("- **PyramidDrop** `pdrop:layers=A/B/C,ratio=λ`: boundaries are 1-based layer numbers, i.e. drops after 0-based")
    a("  layers A−1, B−1, C−1. After boundary i (1, 2, 3) `int(n·λ^i)` image tokens remain (288/144/72 for λ = 0.5,")
    a("  144/36/9 for λ = 0.25), chosen among those still present. Ranking after layer b: that layer's output rows →")
    a("  layer b+1's `input_layernorm`, `q_proj`, `k_proj`, RoPE at the current position ids; one row")
    a("  softmax(q_last·Kᵀ/√head_dim) over every current key, per head; head average; image columns. Position ids are")
    a("  re-indexed 0..len−1 after each drop; layers cache only the rows they process; at decode the new token's position")
    a("  in layer l is that layer's current cached length.")
    a("- **SparseVLM v1.5** `sparsevlm:tokens=192|128|64`: prunes the outputs of layers 2, 6, 15, keeping 300/200/110,")
    a("  303/110/36, 66/30/17 image tokens (counted among the current image tokens, recycled ones included). Text raters,")
    a("  once, from the input embeddings: H_v = the 576 projected image embeddings, H_q = the embeddings of **every** token")
    a("  after the image; M = H_v·H_qᵀ (no scaling); softmax over the text axis per visual row; r = mean over the visual")
    a("  rows; raters = {i : r_i ≥ mean(r)}. At prune layer l: score of each current image token = mean over the rater")
    a("  rows of layer l's head-averaged probabilities; keep the top count (current order). Recycling: of the deleted")
    a("  tokens take the top τ = int(0.3·deleted) by score, in current order (m = τ); if m ≥ 2, DPC-kNN on their layer-l")
    a("  output rows: d_ij Euclidean; k = min(5, m−1) nearest *other* tokens; ρ_i = exp(−mean of the k smallest d_ij²);")
    a("  δ_i = min d_ij over the tokens j denser than i (ρ_j > ρ_i, or ρ_j = ρ_i and j < i), for the densest token")
    a("  δ = max_j d_ij; C = ceil(0.1·m) centres = top C of ρ·δ (ties → lower index); every selected token joins the")
    a("  nearest centre (L2, ties → lower centre index); each cluster becomes one token = the mean of its members'")
    a("  rows; the C tokens go right after the kept image tokens, ordered by their centre's current position. Positions")
    a("  re-indexed after each prune; decode as PDrop.")
    a("")
    a("### Goldens (`golden/baseline_<method>_<n>.json` + `.safetensors`)")
    a("")
    a("JSON: checkpoint, image, prompt, spec, input_ids (expanded, 576 × 32000), image_span [s, n], `kept_indices` (one list")
    a("per pruning point — FastV 1, PDrop 3, SparseVLM 3 — of the image tokens present after it, as original image-relative")
    a("indices 0..575 in sequence order; SparseVLM recycled tokens are −1, after the kept original ones, recycled tokens")
    a("of an earlier prune that survive included), `recycled_counts` (SparseVLM: clusters added at each prune),")
    a("`processed_visual_tokens_per_layer` (32 numbers: image rows each layer processes at prefill, recycled included),")
    a("greedy_ids (20, greedy over the full vocabulary with the KV cache), min_top2_margin (over the 20 steps),")
    a("reference. Safetensors: `logits` fp32 [32064], first step (last prompt position).")
    a("")
    a("| golden | spec | image tokens after each point (originals + recycled) | processed per layer | equivalent | min margin | max \\|Δlogits\\| vs unpruned | greedy ids |")
    a("|---|---|---|---|---|---|---|---|")
    for row in rows:
        pts = " → ".join(f"{len(k)}" + (f" ({sum(1 for x in k if x >= 0)}+{sum(1 for x in k if x < 0)})"
                                        if row["recycled"] is not None else "") for k in row["kept"])
        proc = row["r"]["processed"]
        a(f"| {row['name']} | `{row['spec'].text}` | {pts} | {runs(proc)} | {sum(proc) / len(proc):.4g} | "
          f"{min(row['r']['margins']):.4g} | {row['vs_none']:.3g} | {' '.join(map(str, row['r']['greedy_ids']))} |")
    a("")
    low = [row for row in rows if min(row["r"]["margins"]) < MIN_MARGIN]
    if low:
        a("**Below the 1e-3 margin:** " + ", ".join(f"{r['name']} ({min(r['r']['margins']):.3g})" for r in low) + ".")
    else:
        a("Every golden has a top-1/top-2 margin ≥ 1e-3 at all 20 greedy steps.")
    same = [r["name"] for r in rows if r["ids_equal_none"]]
    a("Greedy ids equal to the unpruned model's: " + (", ".join(same) if same else "none") + ".")
    a(f"Unpruned greedy ids: {' '.join(map(str, report['unpruned']['greedy_ids']))}.")
    a("")
    a("Robustness of the discrete decisions (an engine's summation order must not flip them): smallest gap between the")
    a("last kept and the first dropped score, relative to the last kept score, per pruning point:")
    a("")
    for row in rows:
        gaps = ", ".join("–" if g is None else f"{g:.2g}" for g in rel_cut_gaps(row))
        a(f"- {row['name']}: {gaps}")
    a("")
    tok = report["tokens"]
    a("SparseVLM raters for this prompt (tokens after the image, r_i; mean(r) = "
      f"{report['r_mean']:.4g}): " + ", ".join(
          f"{'**' if i in report['raters'] else ''}`{tok[i]}` {report['r'][i].item():.3g}{'**' if i in report['raters'] else ''}"
          for i in range(len(tok))) + " (bold = rater; positions " + ", ".join(str(s + n + i) for i in report["raters"])
      + " of the prompt).")
    a("")
    a("SparseVLM recycling, per prune layer (deleted → τ selected → C clusters; k; cluster sizes; min mean kNN d²; smallest")
    a("assignment gap = second-nearest minus nearest centre distance; τ cut gap on the scores):")
    a("")
    all_zero = True
    for row in rows:
        if row["recycled"] is None:
            continue
        parts = []
        for info in row["info"]:
            d = info["dpc"]
            if d is None:
                parts.append(f"layer {info['layer']}: deleted {info['deleted']}, τ {info['tau']}, no recycling")
                continue
            all_zero &= bool((d["rho"] == 0).all())
            parts.append(f"layer {info['layer']}: {info['deleted']} → {info['tau']} → {len(d['centres'])}; k {d['k']}; "
                         f"sizes {'/'.join(str(len(m)) for m in d['clusters'])}; d² ≥ {float(d['mean_knn_d2'].min()):.3g}; "
                         f"assign gap {d['assign_gap']:.3g}; τ gap {fmt_gap(info['tau_gap'])}")
        a(f"- {row['name']}: " + "; ".join(parts))
    a("")
    if all_zero:
        a("**ρ underflows to exactly 0 for every selected token at every prune layer of all three cases** (mean kNN")
        a("squared distances are in the thousands: exp(−x) is 0 in fp32 for x > 104 and in fp64 for x > 745). Hence ρ·δ = 0")
        a("everywhere, the centres are the **first C selected tokens in current order** and δ never matters; an engine")
        a("computing ρ in fp32 or fp64 gets the same centres. The spec has no 1/√hidden scaling of the distances (common in")
        a("DPC-kNN code); with it the density would still underflow for many tokens here.")
        a("")
    a("### Self-checks (asserted when the script runs)")
    a("")
    a(f"- Unpruned loop vs transformers' `LlavaForConditionalGeneration` forward: max |Δlogits| / max |logit| = "
      f"{c['unpruned_vs_transformers']:.2g}; greedy ids = `generate()`'s" +
      (f"; transformers' logits vs golden `{c['plain_golden']}`: {c['transformers_vs_none_golden']:.2g}." if c['plain_golden'] else "."))
    for k in KEEP_ALL_SPECS:
        a(f"- `{k}` (keep all) reproduces the unpruned logits: relative max |Δ| = {c['keep_all ' + k]:.2g}, same greedy ids.")
    a(f"- KV cache vs no cache: for every golden the greedy ids with the cache equal a recomputation of the whole")
    a("  sequence (prompt + generated ids) at every step that re-applies the prefill's decisions as fixed kept sets and")
    a("  fixed clusters (a recycled token = mean of the same members' rows, recomputed); largest per-step |Δlogits| /")
    a(f"  max |logit|: {max(r['res']['no_cache_max_rel'] for r in rows):.2g}. Re-deciding at every step instead (FastV's")
    a("  in-place mode) would re-rank from the last row of the longer sequence: a different method (BASELINES §1.2).")
    a("- First decision vs transformers' own `output_attentions` (unpruned forward): FastV layer K−1 last row, PDrop layer")
    a("  A's last row (= layer A's q/k on layer A−1's output, same positions before any drop), SparseVLM layer 2 rater")
    a(f"  rows: scores agree to {max(r['res']['first_scores_vs_transformers'] for r in rows):.2g} relative, same kept sets.")
    a("- FastV and PDrop through a second path: transformers' unmodified forward with `DynamicCache`, dropped tokens kept")
    a("  as rows but masked out as keys from the layer after their drop on (custom attention function), per-layer RoPE")
    a("  positions substituted (decoder pre-hook: original − dropped tokens before it, or original for FastV). Same greedy")
    a(f"  ids; first-step logits within {max(r['res'].get('masked_vs_gathered', 0) for r in rows):.2g} relative; every")
    a("  ranking (FastV 1, PDrop 3) re-derived on that path holding only the earlier drops gives the same kept set.")
    a("- Every layer's cache holds exactly prefix + its processed image rows + text + 19 decoded rows.")
    a("")
    a("### Choices where BASELINES.md / the spec left room")
    a("")
    a("1. H_q (SparseVLM) is every token after the image, so it includes the `\\n` that follows `<image>` in the llava-hf")
    a("   template (10 tokens: `\\n What is shown? ASSISTANT:`).")
    a("2. \"k nearest neighbours\" excludes the token itself; ρ uses the squared distances Σ(x_i − x_j)² directly.")
    a("3. DPC indices = the selected tokens' current order (not their score rank); \"lower centre index\" likewise.")
    a("4. Recycled clusters are ordered by their centre's *current* position (a centre may itself be a recycled token).")
    a("5. τ = ⌊0.3·deleted⌋ and C = ⌈m/10⌉ are computed exactly; the float formulas `int(0.3*d)`, `ceil(0.1*m)` agree for")
    a("   every case here (asserted). With them SparseVLM@128 processes 576×3, 312×4, 116×9, 39×16 = 145.125 equivalent")
    a("   tokens, not BASELINES §3.3's 145.4 (that needs 7 clusters at layer 6, i.e. τ = 61 = ⌈60.6⌉); @192 and @64 match")
    a("   §3.3 (206.5, 82.25).")
    a("6. `kept_indices` is always a list of lists (FastV: one list).")
    a("7. FastV decode positions continue the original numbering (T + step) in every layer; PDrop/SparseVLM use each")
    a("   layer's cached length (= T + step before the first drop).")
    a("8. Scores are read from the head average of the full probability row (mean over heads, then the image columns);")
    a("   SparseVLM averages heads first, then rater rows.")
    a("")
    a("Regenerate: `python3 Tools/reference/make_baseline_fixtures.py` (after `make_pruning_fixtures.py`, which writes")
    a("`llava-hf-tiny-32x32/`; a few minutes on one thread). `make_fixtures.sh` runs the scripts alphabetically, which puts")
    a("this one **before** `make_model_fixtures.py` (it wipes `golden/` and rewrites this README): after a full")
    a("`make_fixtures.sh` run this script must be run again. Re-runs are byte-identical.")
    a("")
    a("| file | bytes |")
    a("|---|---|")
    for p in report["files"]:
        a(f"| `{os.path.relpath(p, FIXTURES)}` | {os.path.getsize(p):,} |")
    a("")
    a(README_END)
    path = os.path.join(MODELS, "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if README_BEGIN in text:
        head, rest = text.split(README_BEGIN, 1)
        tail = rest.split(README_END, 1)[1].lstrip("\n")
        text = head.rstrip("\n") + "\n\n" + "\n".join(L) + "\n" + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(L) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
