#!/usr/bin/python3
# tests/gen_gpt2_sizes.py - golden values for tests/test_gpt2_sizes.c: one
# block of each GPT-2 size's width and head count, from PyTorch
# (tests/gpt2_torch.py, float64), with hash weights (tests/hash_model.h;
# matrix scale 0.125 * sqrt(24 / C), so that activations stay O(1) at every
# width). distilgpt2 has GPT-2 small's block.
#
#   gpt2 (12 heads, C 768), gpt2-medium (16, 1024), gpt2-large (20, 1280),
#   gpt2-xl (25, 1600); 1 layer, V = 64, n_ctx = 24, T = 30 (two windows)
#
# Run:  /usr/bin/python3 tests/gen_gpt2_sizes.py tests/golden/gpt2_sizes.f32
# Output, raw little-endian float32, for each size in that order: the
# layer-0 mlp_pre row T-1 (4C), the logits rows n_ctx-1 and T-1 (2 x V),
# then sum |mlp_pre| and sum |logits| over all T rows (2 floats).
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_torch import forward, hash_model

SIZES = [(12, 768), (16, 1024), (20, 1280), (25, 1600)]
L, V, NCTX, T = 1, 64, 24, 30
out = []
for NH, C in SIZES:
    m = hash_model(L, NH, C, V, NCTX, np.float32(0.125 * np.sqrt(24.0 / C)))
    ids = [(7 * i + 3) % V for i in range(T)]
    acts, logits = forward(m, ids)
    pre = acts[(0, "mlp_pre")]
    out.append(pre[T - 1].numpy().astype("<f4"))
    out.append(logits[NCTX - 1].numpy().astype("<f4"))
    out.append(logits[T - 1].numpy().astype("<f4"))
    out.append(np.array([pre.abs().sum().item(), logits.abs().sum().item()], dtype="<f4"))
    print(f"NH {NH} C {C}: max|mlp_pre| {pre.abs().max().item():.3f}, max|logits| {logits.abs().max().item():.3f}")
blob = np.concatenate(out)
blob.tofile(sys.argv[1])
print(f"wrote {sys.argv[1]}: {blob.size} floats")
