#!/usr/bin/python3
# tests/gen_gpt2_tiny.py - golden activations for tests/test_gpt2.c, from
# PyTorch (tests/gpt2_torch.py, float64), for a tiny random GPT-2 (L=2,
# NH=3, C=24, V=50, n_ctx=16) whose weights are a hash of their index
# (tests/hash_model.h, matrix scale 1/8).
#
# Run:  /usr/bin/python3 tests/gen_gpt2_tiny.py tests/golden/gpt2_tiny.f32
# (Debian's python3-torch 1.13 and python3-numpy.) The output is raw
# little-endian float32: for each input (T = 13, then T = 21 which spans two
# windows of n_ctx = 16), for each layer l and each site in the order
# resid_pre attn_out resid_mid mlp_pre mlp_post mlp_out resid_post, the
# activation (T, width); then the logits (T, V).
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_torch import SITES, forward, hash_model

L, NH, C, V, NCTX = 2, 3, 24, 50, 16
m = hash_model(L, NH, C, V, NCTX, 0.125)
out = []
for T in (13, 21):
    ids = [(7 * i + 3) % V for i in range(T)]
    acts, logits = forward(m, ids)
    for l in range(L):
        for s in SITES:
            out.append(acts[(l, s)].numpy().astype("<f4").ravel())
    out.append(logits.numpy().astype("<f4").ravel())
blob = np.concatenate(out)
blob.tofile(sys.argv[1])
print(f"wrote {sys.argv[1]}: {blob.size} floats; weights used {m['hash_values']} hash values")
