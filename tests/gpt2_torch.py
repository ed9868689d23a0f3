# tests/gpt2_torch.py - GPT-2 in plain PyTorch (float64), written from the
# GPT-2 definition (Radford et al. 2019 / Hugging Face's GPT2Model), not from
# the C code: pre-LayerNorm blocks, causal multi-head self-attention with
# scale 1/sqrt(head size), gelu_new (tanh approximation), tied embedding for
# the logits. Used by the golden scripts tests/gen_gpt2_tiny.py and
# tests/gen_gpt2_sizes.py.
#
# hash_model() builds the weights as tests/hash_model.h does: all tensors in
# the order below laid end to end, element g gets
#     u = (fmix32(g) >> 8) * 2^-23 - 1          (exact in float32, in [-1, 1))
# and a per-kind affine map (scales applied in float32 on both sides).
import numpy as np
import torch

SITES = ["resid_pre", "attn_out", "resid_mid", "mlp_pre", "mlp_post", "mlp_out", "resid_post"]


def fmix32(h):
    h = h.astype(np.uint64)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    return h


def hash_model(L, NH, C, V, NCTX, mat_scale):
    """The weights of tests/hash_model.h's hash_model(), as float64 tensors."""
    offset = 0
    mat_scale = np.float32(mat_scale)

    def tensor(shape, kind):
        nonlocal offset
        n = int(np.prod(shape))
        g = np.arange(offset, offset + n, dtype=np.uint64)
        offset += n
        u = (fmix32(g) >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)
        if kind == "lnw":     x = np.float32(1.0) + u * np.float32(0.125)
        elif kind == "small": x = u * np.float32(0.0625)
        elif kind == "mat":   x = u * mat_scale
        elif kind == "wte":   x = u * np.float32(0.5)
        elif kind == "wpe":   x = u * np.float32(0.25)
        return torch.tensor(x.reshape(shape).astype(np.float64))

    m = {"L": L, "NH": NH, "C": C, "V": V, "NCTX": NCTX, "eps": 1e-5}
    m["wte"] = tensor((V, C), "wte")
    m["wpe"] = tensor((NCTX, C), "wpe")
    m["layers"] = []
    for _ in range(L):
        w = {}
        w["ln1w"] = tensor((C,), "lnw"); w["ln1b"] = tensor((C,), "small")
        w["qkvw"] = tensor((C, 3 * C), "mat"); w["qkvb"] = tensor((3 * C,), "small")
        w["attprojw"] = tensor((C, C), "mat"); w["attprojb"] = tensor((C,), "small")
        w["ln2w"] = tensor((C,), "lnw"); w["ln2b"] = tensor((C,), "small")
        w["fcw"] = tensor((C, 4 * C), "mat"); w["fcb"] = tensor((4 * C,), "small")
        w["fcprojw"] = tensor((4 * C, C), "mat"); w["fcprojb"] = tensor((C,), "small")
        m["layers"].append(w)
    m["lnfw"] = tensor((C,), "lnw"); m["lnfb"] = tensor((C,), "small")
    m["hash_values"] = offset
    return m


def gelu_new(x):  # GPT-2's activation
    return 0.5 * x * (1.0 + torch.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def forward_window(m, ids):
    """One window (T <= n_ctx). Returns {(l, site): (T, width)} and logits (T, V)."""
    C, NH = m["C"], m["NH"]
    T = len(ids)
    HS = C // NH
    ln = lambda x, w, b: torch.nn.functional.layer_norm(x, (C,), w, b, m["eps"])
    x = m["wte"][ids] + m["wpe"][:T]
    acts = {}
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l, w in enumerate(m["layers"]):
        acts[(l, "resid_pre")] = x
        qkv = ln(x, w["ln1w"], w["ln1b"]) @ w["qkvw"] + w["qkvb"]   # Conv1D: x @ W + b
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
        pre = ln(x, w["ln2w"], w["ln2b"]) @ w["fcw"] + w["fcb"]
        acts[(l, "mlp_pre")] = pre
        post = gelu_new(pre)
        acts[(l, "mlp_post")] = post
        mlp_out = post @ w["fcprojw"] + w["fcprojb"]
        acts[(l, "mlp_out")] = mlp_out
        x = x + mlp_out
        acts[(l, "resid_post")] = x
    logits = ln(x, m["lnfw"], m["lnfb"]) @ m["wte"].T
    return acts, logits


def forward(m, ids):
    """Windows of n_ctx tokens, each starting fresh at position 0, stacked."""
    parts = [forward_window(m, ids[t0:t0 + m["NCTX"]]) for t0 in range(0, len(ids), m["NCTX"])]
    acts = {key: torch.cat([p[0][key] for p in parts]) for key in parts[0][0]}
    return acts, torch.cat([p[1] for p in parts])
