#!/usr/bin/python3
# tests/gen_generate_golden.py - goldens for tests/test_generate.c, from
# PyTorch (Debian's python3-torch 1.13, float64), written from the
# definitions, not from the C code:
#
# 1. Greedy decoding, 50 new tokens, on two random GPT-2s whose weights are
#    a hash of their index (tests/hash_model.h, tests/gpt2_torch.py):
#       A: L=2 NH=3 C=24 V=50 n_ctx=64, prompt of 5 tokens
#       B: L=3 NH=4 C=32 V=97 n_ctx=64, prompt of 9 tokens
#    Each step recomputes the whole text (no cache: the definition) and takes
#    the argmax of the last position's logits (first index on ties, as
#    torch.argmax). Written: tests/golden/generate_greedy.txt (the tokens, and
#    the smallest gap between the best and second-best logit, which says how
#    far from a tie every step was) and tests/golden/generate_logits.f32 (for
#    A then B, the last position's logits at each of the 50 steps, (50, V)).
#
# 2. The sampling distribution after the filters, for V = 500 logits and
#    counts made from a hash (the same fmix32 as tests/hash_model.h, so C
#    makes the same ones), for each case in CASES. The filters, in the order
#    Hugging Face's generate() applies its logits processors and warpers:
#       frequency penalty  z - counts * a        (OpenAI's definition)
#       temperature        z / t                  (TemperatureLogitsWarper)
#       top-k              z < topk(z, k)[-1] -> -inf   (TopKLogitsWarper)
#       top-p              sort ascending, cumsum(softmax) <= 1 - p -> -inf,
#                          the largest always kept      (TopPLogitsWarper)
#       greedy             one-hot at argmax(z after the penalty)
#    then softmax. Written: tests/golden/sample_probs.f64, (len(CASES), V)
#    float64 little-endian.
#
# Run:  /usr/bin/python3 tests/gen_generate_golden.py tests/golden
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_torch import fmix32, forward_window, hash_model

torch.set_default_dtype(torch.float64)
out_dir = sys.argv[1]

# ---- 1. greedy decoding ----

SHAPES = [  # L, NH, C, V, n_ctx, prompt length
    (2, 3, 24, 50, 64, 5),
    (3, 4, 32, 97, 64, 9),
]
STEPS = 50
lines = []
logit_blobs = []
for (L, NH, C, V, NCTX, T) in SHAPES:
    m = hash_model(L, NH, C, V, NCTX, 1.0)
    ids = [(7 * i + 3) % V for i in range(T)]  # the prompt
    new, gaps = [], []
    for step in range(STEPS):
        _, logits = forward_window(m, ids)  # the whole text again: no cache
        last = logits[-1]
        logit_blobs.append(last.numpy().astype("<f4"))
        top2 = torch.topk(last, 2)[0]
        gaps.append(float(top2[0] - top2[1]))
        tok = int(torch.argmax(last))
        new.append(tok)
        ids.append(tok)
    lines.append(f"shape L={L} NH={NH} C={C} V={V} n_ctx={NCTX} prompt={T}")
    lines.append("tokens " + " ".join(str(t) for t in new))
    lines.append(f"min_gap {min(gaps):.6g}")
with open(os.path.join(out_dir, "generate_greedy.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
np.concatenate(logit_blobs).tofile(os.path.join(out_dir, "generate_logits.f32"))

# ---- 2. the filtered distributions ----

V = 500
# (temperature, top_k, top_p, freq_penalty, greedy, tied): tied rounds the
# logits to multiples of 0.5, so that many tie with the k-th largest
CASES = [
    (1.0, 0, 1.0, 0.0, 0, 0),
    (0.7, 0, 1.0, 0.0, 0, 0),
    (1.3, 40, 1.0, 0.0, 0, 0),
    (1.0, 0, 0.9, 0.0, 0, 0),
    (0.8, 50, 0.8, 0.0, 0, 0),
    (1.0, 0, 1.0, 0.5, 0, 0),
    (1.5, 10, 0.95, -0.3, 0, 0),
    (1.0, 0, 1.0, 1.0, 1, 0),
    (1.0, 1, 1.0, 0.0, 0, 0),
    (1.0, 0, 0.01, 0.0, 0, 0),
    (0.9, 25, 1.0, 0.2, 0, 1),
    (2.0, 0, 0.5, 0.0, 0, 0),
]


def case_inputs(ci, tied):
    """Logits (float32, as the model makes them) and counts of case ci: the C test makes the same."""
    g = np.arange(V, dtype=np.uint64) + np.uint64(1000003 * (ci + 1))
    u = (fmix32(g) >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)
    z = u * np.float32(6.0)
    if tied:
        z = np.round(z * np.float32(2.0)) / np.float32(2.0)
    counts = (fmix32(g + np.uint64(77)) % np.uint64(4)).astype(np.float64)  # 0..3
    return torch.tensor(z.astype(np.float64)), torch.tensor(counts)


def filtered_probs(z, counts, temperature, top_k, top_p, freq, greedy):
    z = z - counts * freq
    if greedy:
        p = torch.zeros_like(z)
        p[torch.argmax(z)] = 1.0
        return p
    z = z / temperature
    if top_k > 0:
        kth = torch.topk(z, min(top_k, z.numel()))[0][-1]
        z = z.masked_fill(z < kth, float("-inf"))
    if top_p < 1.0:
        sorted_z, order = torch.sort(z, descending=False)
        cum = sorted_z.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cum <= (1 - top_p)
        remove_sorted[-1] = False
        remove = remove_sorted.scatter(0, order, remove_sorted)
        z = z.masked_fill(remove, float("-inf"))
    return z.softmax(dim=-1)


probs = []
for ci, (t, k, p, a, gr, tied) in enumerate(CASES):
    z, counts = case_inputs(ci, tied)
    probs.append(filtered_probs(z, counts, t, k, p, a, gr).numpy())
np.stack(probs).astype("<f8").tofile(os.path.join(out_dir, "sample_probs.f64"))
print(f"wrote {out_dir}/generate_greedy.txt, generate_logits.f32 ({sum(b.size for b in logit_blobs)} floats), "
      f"sample_probs.f64 ({len(CASES)} x {V})")
print("\n".join(lines))
