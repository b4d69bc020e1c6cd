#!/usr/bin/env python3
"""Golden for the head-mask calibration rules (issue 14, METHOD.md §4.2).

Writes Tests/Fixtures/calibration/:
- masses.npy: float64 [samples, layers, heads, 3], per sample, layer and head the attention mass the
  saved query rows pay to visual, text and system keys (res_v, res_t, res_s in gen_mask_llava.py).
  Synthetic but shaped like a dump: some heads look at the image strongly, some weakly, some never;
  a few entries are exactly 0/0 (NaN ratio) and x/0 (inf ratio) to pin those comparisons.
- mask_llava_alpha0.1_votes40.npy: bool [layers, heads], the official LLaVA rule written here from
  the description (independently of the Swift code): ratio = res_v / (res_t + res_s); active in a
  sample when ratio > alpha, or, in layers 0 and 1, when ratio >= 0; keep a head active in more than
  `votes` samples.
- mask_llava_alpha0.1_votes40_30samples.npy: the same rule on the first 30 samples (layers 0 and 1
  are then dropped: 30 is not more than 40, as in the official code).
- mask_keep0.5.npy: the half of the heads (rounded down) with the highest mean ratio over samples
  (NaN counted as 0), ties broken by (layer, head) order.

numpy only; deterministic (seed 0).
"""
import os
import numpy as np

out = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "calibration")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
samples, layers, heads = 100, 4, 6
looks = rng.uniform(0.0, 0.3, size=(layers, heads))  # each head's typical visual share
looks[1, 2] = 0.0
masses = np.zeros((samples, layers, heads, 3))
for s in range(samples):
    v = looks * rng.uniform(0.2, 1.8, size=(layers, heads))
    t = rng.uniform(0.3, 1.0, size=(layers, heads))
    sy = rng.uniform(0.1, 0.5, size=(layers, heads))
    masses[s, :, :, 0], masses[s, :, :, 1], masses[s, :, :, 2] = v, t, sy
masses[3, 2, 0] = [0.0, 0.0, 0.0]  # 0/0: NaN, never active
masses[4, 2, 1] = [0.5, 0.0, 0.0]  # x/0: inf, active
masses[5, 0, 3] = [0.0, 0.0, 0.0]  # NaN in an always-kept layer: NaN >= 0 is False
np.save(os.path.join(out, "masses.npy"), masses)


def llava_rule(m, alpha, votes):
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = m[..., 0] / (m[..., 1] + m[..., 2])
    active = ratio > alpha
    active[:, :2, :] = ratio[:, :2, :] >= 0
    return active.sum(axis=0) > votes


np.save(os.path.join(out, "mask_llava_alpha0.1_votes40.npy"), llava_rule(masses, 0.1, 40))
np.save(os.path.join(out, "mask_llava_alpha0.1_votes40_30samples.npy"), llava_rule(masses[:30], 0.1, 40))

with np.errstate(divide="ignore", invalid="ignore"):
    ratio = masses[..., 0] / (masses[..., 1] + masses[..., 2])
mean = np.nan_to_num(ratio, nan=0.0, posinf=np.inf).mean(axis=0).reshape(-1)
keep = (layers * heads) // 2
order = sorted(range(layers * heads), key=lambda i: (-mean[i], i))
mask = np.zeros(layers * heads, dtype=bool)
mask[order[:keep]] = True
np.save(os.path.join(out, "mask_keep0.5.npy"), mask.reshape(layers, heads))
print("kept:", llava_rule(masses, 0.1, 40).sum(axis=1), llava_rule(masses[:30], 0.1, 40).sum(axis=1), mask.reshape(layers, heads).sum(axis=1))
