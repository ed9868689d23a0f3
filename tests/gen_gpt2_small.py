#!/usr/bin/python3
# tests/gen_gpt2_small.py - golden digest for tests/test_gpt2_small.c: the
# GPT-2 small shape (12 layers, 12 heads, C = 768, V = 50257, n_ctx = 1024)
# with the synthetic weights of `./run synth --seed 1337` (deterministic, so
# the test regenerates them instead of committing 500 MB), a 220-token input,
# the layer-6 mlp_pre capture (c_fc's output, before GELU) and the logits.
#
# Written from the GPT-2 definition (pre-LN blocks, causal attention scaled
# by 1/sqrt(64), gelu_new, logits against the tied wte), not from the C code.
# The safetensors file is read by hand (8-byte header length, JSON header,
# numpy.frombuffer). Computed in float64.
#
# Run:
#   ./run synth -o /tmp/gpt2s --seed 1337
#   /usr/bin/python3 tests/gen_gpt2_small.py /tmp/gpt2s/model.safetensors tests/golden/gpt2_small_digest.f32
#
# Output: raw little-endian float32, in this order, for X = mlp_pre (220, 3072)
# and then X = logits (220, 50257):
#   max |X|                       (1)
#   per-row sums                  (220)
#   per-row L2 norms              (220)
#   rows 0, 1, 57, 219, every 7th column for mlp_pre / every 13th for logits
# Token ids: ids[t] = (7919 t + 13) mod 50257.
import json, struct, sys
import numpy as np
import torch

path, out_path = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)

with open(path, "rb") as f:
    buf = f.read()
n = struct.unpack("<Q", buf[:8])[0]
header = json.loads(buf[8:8 + n])
base = 8 + n

def get(name):
    for key in (name, "transformer." + name):
        if key in header:
            h = header[key]
            assert h["dtype"] == "F32", key
            a, b = h["data_offsets"]
            x = np.frombuffer(buf, dtype="<f4", count=(b - a) // 4, offset=base + a).reshape(h["shape"])
            return torch.tensor(x.astype(np.float64))
    raise KeyError(name)

L, NH, C, V, EPS = 12, 12, 768, 50257, 1e-5
HS = C // NH
T = 220
ids = [(7919 * t + 13) % V for t in range(T)]

def ln(x, p):
    return torch.nn.functional.layer_norm(x, (C,), get(p + ".weight"), get(p + ".bias"), EPS)

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

wte = get("wte.weight")
x = wte[ids] + get("wpe.weight")[:T]
mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
mlp_pre6 = None
with torch.no_grad():
    for l in range(L):
        p = f"h.{l}."
        qkv = ln(x, p + "ln_1") @ get(p + "attn.c_attn.weight") + get(p + "attn.c_attn.bias")
        q, k, v = (z.view(T, NH, HS).transpose(0, 1) for z in qkv.split(C, dim=1))
        att = ((q @ k.transpose(-1, -2)) / np.sqrt(HS)).masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + y @ get(p + "attn.c_proj.weight") + get(p + "attn.c_proj.bias")
        pre = ln(x, p + "ln_2") @ get(p + "mlp.c_fc.weight") + get(p + "mlp.c_fc.bias")
        if l == 6:
            mlp_pre6 = pre.clone()
        x = x + gelu_new(pre) @ get(p + "mlp.c_proj.weight") + get(p + "mlp.c_proj.bias")
    logits = ln(x, "ln_f") @ wte.T

def digest(X, step):
    X = X.numpy()
    parts = [np.array([np.abs(X).max()]), X.sum(axis=1), np.sqrt((X * X).sum(axis=1))]
    for r in (0, 1, 57, 219):
        parts.append(X[r, ::step])
    return np.concatenate(parts)

blob = np.concatenate([digest(mlp_pre6, 7), digest(logits, 13)]).astype("<f4")
blob.tofile(out_path)
print(f"wrote {out_path}: {blob.size} floats; max|mlp_pre| {np.abs(mlp_pre6.numpy()).max():.4f}, "
      f"max|logits| {np.abs(logits.numpy()).max():.4f}")
