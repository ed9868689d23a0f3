#!/usr/bin/python3
# tests/gen_gpt2_tiny.py - golden activations for tests/test_gpt2.c, from
# PyTorch, for a tiny random GPT-2 (L=2, NH=3, C=24, V=50, n_ctx=16).
#
# Written from the GPT-2 definition (Radford et al. 2019 / Hugging Face's
# GPT2Model), not from the C code: pre-LayerNorm blocks, causal multi-head
# self-attention with scale 1/sqrt(head size), gelu_new (tanh approximation),
# tied embedding for the logits. Computed in float64.
#
# The weights are a deterministic hash of their index (murmur3's fmix32), so C
# and Python build the same model without a weights file: all tensors in the
# order below are laid end to end, element g gets
#     u = (fmix32(g) >> 8) * 2^-23 - 1          (exact in float32, in [-1, 1))
# and a per-tensor affine map (scales are applied in float32 on both sides).
#
# Run:  /usr/bin/python3 tests/gen_gpt2_tiny.py tests/golden/gpt2_tiny.f32
# (Debian's python3-torch 1.13 and python3-numpy.) The output is raw
# little-endian float32: for each input (T = 13, then T = 21 which spans two
# windows of n_ctx = 16), for each layer l and each site in the order
# resid_pre attn_out resid_mid mlp_pre mlp_post mlp_out resid_post, the
# activation (T, width); then the logits (T, V).
import sys
import numpy as np
import torch

L, NH, C, V, NCTX, EPS = 2, 3, 24, 50, 16, 1e-5

def fmix32(h):
    h = h.astype(np.uint64)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    return h

offset = 0
def tensor(shape, kind):
    """The next tensor of the flat hash stream, mapped by kind."""
    global offset
    n = int(np.prod(shape))
    g = np.arange(offset, offset + n, dtype=np.uint64)
    offset += n
    u = (fmix32(g) >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)
    if kind == "lnw":   x = np.float32(1.0) + u * np.float32(0.125)
    elif kind == "small": x = u * np.float32(0.0625)
    elif kind == "mat": x = u * np.float32(0.125)
    elif kind == "wte": x = u * np.float32(0.5)
    elif kind == "wpe": x = u * np.float32(0.25)
    return torch.tensor(x.reshape(shape).astype(np.float64))

wte = tensor((V, C), "wte")
wpe = tensor((NCTX, C), "wpe")
layers = []
for l in range(L):
    w = {}
    w["ln1w"] = tensor((C,), "lnw"); w["ln1b"] = tensor((C,), "small")
    w["qkvw"] = tensor((C, 3 * C), "mat"); w["qkvb"] = tensor((3 * C,), "small")
    w["attprojw"] = tensor((C, C), "mat"); w["attprojb"] = tensor((C,), "small")
    w["ln2w"] = tensor((C,), "lnw"); w["ln2b"] = tensor((C,), "small")
    w["fcw"] = tensor((C, 4 * C), "mat"); w["fcb"] = tensor((4 * C,), "small")
    w["fcprojw"] = tensor((4 * C, C), "mat"); w["fcprojb"] = tensor((C,), "small")
    layers.append(w)
lnfw = tensor((C,), "lnw"); lnfb = tensor((C,), "small")

def layernorm(x, w, b):
    return torch.nn.functional.layer_norm(x, (C,), w, b, EPS)

def gelu_new(x):  # GPT-2's activation
    return 0.5 * x * (1.0 + torch.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

def forward(ids):
    """One window (T <= n_ctx). Returns {(l, site): (T, width)} and logits (T, V)."""
    T = len(ids)
    HS = C // NH
    x = wte[ids] + wpe[:T]
    acts = {}
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l, w in enumerate(layers):
        acts[(l, "resid_pre")] = x
        qkv = layernorm(x, w["ln1w"], w["ln1b"]) @ w["qkvw"] + w["qkvb"]   # Conv1D: x @ W + b
        q, k, v = qkv.split(C, dim=1)
        q = q.view(T, NH, HS).transpose(0, 1)  # (NH, T, HS)
        k = k.view(T, NH, HS).transpose(0, 1)
        v = v.view(T, NH, HS).transpose(0, 1)
        att = (q @ k.transpose(-1, -2)) / np.sqrt(HS)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        attn_out = y @ w["attprojw"] + w["attprojb"]
        acts[(l, "attn_out")] = attn_out
        x = x + attn_out
        acts[(l, "resid_mid")] = x
        pre = layernorm(x, w["ln2w"], w["ln2b"]) @ w["fcw"] + w["fcb"]
        acts[(l, "mlp_pre")] = pre
        post = gelu_new(pre)
        acts[(l, "mlp_post")] = post
        mlp_out = post @ w["fcprojw"] + w["fcprojb"]
        acts[(l, "mlp_out")] = mlp_out
        x = x + mlp_out
        acts[(l, "resid_post")] = x
    logits = layernorm(x, lnfw, lnfb) @ wte.T
    return acts, logits

SITES = ["resid_pre", "attn_out", "resid_mid", "mlp_pre", "mlp_post", "mlp_out", "resid_post"]
out = []
for T in (13, 21):
    ids = [(7 * i + 3) % V for i in range(T)]
    # windows of n_ctx tokens, each starting fresh at position 0
    parts = [forward(ids[t0:t0 + NCTX]) for t0 in range(0, T, NCTX)]
    for l in range(L):
        for s in SITES:
            out.append(torch.cat([p[0][(l, s)] for p in parts]).numpy().astype("<f4").ravel())
    out.append(torch.cat([p[1] for p in parts]).numpy().astype("<f4").ravel())
blob = np.concatenate(out)
blob.tofile(sys.argv[1])
print(f"wrote {sys.argv[1]}: {blob.size} floats; weights used {offset} hash values")
