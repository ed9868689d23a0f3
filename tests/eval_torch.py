#!/usr/bin/python3
# tests/eval_torch.py - the SAE evaluation (eval/metrics.h) in plain PyTorch
# (float64), written from the metric definitions (SAELens' evals, SAEBench's
# core metrics), not from the C code, on random GPT-2s (tests/gpt2_torch.py's
# hash_model) with a random tied top-k SAE (the seed's SparseAE) whose weights
# are a hash of their index too:
#     W[i] = ((fmix32(2^28 + i) >> 8) * 2^-23 - 1) * 0.125      (i over (d_sae, d_in))
#
# For each shape: the token set (ids), cut into windows of ctx tokens (the
# remainder dropped), positions holding exclude_id (-1: none) left out of every
# metric; the clean logits; the SAE's reconstruction x̂ spliced in at the hook
# (the rest of the model run on it), zero- and mean-ablated (x̄: the mean of x
# over the kept positions); CE, KL, the scores, FVU = Σ||x-x̂||²/Σ||x-x̄||², MSE
# per token, cosine, norm ratio, relative bias, L0, L1, density, dead/dense.
#
# Run:  /usr/bin/python3 tests/eval_torch.py tests/golden/eval_metrics.txt
#       (Debian's python3-torch 1.13 and python3-numpy)
# Or:   /usr/bin/python3 tests/eval_torch.py --bench L NH C V NCTX LAYER SITE D_SAE K CTX NTOK
#       times the same evaluation (float32) and prints tokens/s (bench/bench_eval.c).
#
# Output: for each shape, blocks "name count" then count numbers, one a line.
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_torch import SITES, fmix32, gelu_new, hash_model

# (L, NH, C, V, NCTX, layer, site, d_sae, k, ctx, n_ids, exclude_id)
SHAPES = [
    (2, 3, 24, 50, 16, 1, "mlp_pre", 192, 12, 16, 40, -1),
    (3, 2, 32, 64, 20, 1, "resid_mid", 64, 8, 12, 40, 5),
]


def token_ids(n, V):
    return [(7 * i + 3 + (i * i) % 5) % V for i in range(n)]


def sae_weights(L, d):
    g = np.arange(1 << 28, (1 << 28) + L * d, dtype=np.uint64)
    u = (fmix32(g) >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)
    return torch.tensor((u * np.float32(0.125)).reshape(L, d).astype(np.float64))


def sae_encode(W, x, k):
    z = torch.relu(x @ W.T)
    thr = torch.topk(z, k, dim=1)[0][:, -1:]
    return z * (z >= thr)


def run_window(m, ids, layer, site, patch=None):
    """One window; the activation at (layer, site) is returned, and replaced by
    patch(x) when patch is given. Returns (x at the site, logits)."""
    C, NH, T = m["C"], m["NH"], len(ids)
    HS = C // NH
    ln = lambda x, w, b: torch.nn.functional.layer_norm(x, (C,), w, b, m["eps"])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    seen = {}

    def at(l, s, a):
        if l == layer and s == site:
            seen["x"] = a
            if patch is not None:
                return patch(a)
        return a

    x = m["wte"][ids] + m["wpe"][:T]
    for l, w in enumerate(m["layers"]):
        x = at(l, "resid_pre", x)
        qkv = ln(x, w["ln1w"], w["ln1b"]) @ w["qkvw"] + w["qkvb"]
        q, k, v = [t.reshape(T, NH, HS).transpose(0, 1) for t in qkv.split(C, dim=1)]
        att = ((q @ k.transpose(-1, -2)) / np.sqrt(HS)).masked_fill(~mask, float("-inf")).softmax(-1)
        attn_out = at(l, "attn_out", (att @ v).transpose(0, 1).reshape(T, C) @ w["attprojw"] + w["attprojb"])
        x = at(l, "resid_mid", x + attn_out)
        pre = at(l, "mlp_pre", ln(x, w["ln2w"], w["ln2b"]) @ w["fcw"] + w["fcb"])
        post = at(l, "mlp_post", gelu_new(pre))
        mlp_out = at(l, "mlp_out", post @ w["fcprojw"] + w["fcprojb"])
        x = at(l, "resid_post", x + mlp_out)
    return seen["x"], ln(x, m["lnfw"], m["lnfb"]) @ m["wte"].T


def evaluate(m, W, k, ids, layer, site, ctx, exclude_id):
    nw = len(ids) // ctx
    wins = [ids[w * ctx:(w + 1) * ctx] for w in range(nw)]
    keeps = [torch.tensor([i != exclude_id for i in win]) for win in wins]
    # the mean activation over the kept positions
    xs = [run_window(m, win, layer, site)[0] for win in wins]
    xbar = torch.cat([x[kp] for x, kp in zip(xs, keeps)]).mean(0)
    runs = {
        "clean": None,
        "sae": lambda a: sae_encode(W, a, k) @ W,
        "zero": lambda a: torch.zeros_like(a),
        "mean": lambda a: xbar.expand_as(a).clone(),
    }
    tok_ce = {r: [] for r in runs}
    tok_kl = {r: [] for r in runs if r != "clean"}
    X, XH, F = [], [], []
    for win, kp in zip(wins, keeps):
        nxt = torch.tensor(win[1:])
        logp = {}
        for r, patch in runs.items():
            x, logits = run_window(m, win, layer, site, patch)
            logp[r] = torch.log_softmax(logits, -1)
            ce = torch.full((ctx,), float("nan"), dtype=torch.float64)
            ce[:-1] = -logp[r][:-1].gather(1, nxt[:, None])[:, 0]
            ce[~kp] = float("nan")
            tok_ce[r].append(ce)
            if r != "clean":
                kl = (logp["clean"].exp() * (logp["clean"] - logp[r])).sum(-1)
                kl[~kp] = float("nan")
                tok_kl[r].append(kl)
            if r == "sae":
                f = sae_encode(W, x, k)
                X.append(x[kp]), XH.append((f @ W)[kp]), F.append(f[kp])
    X, XH, F = torch.cat(X), torch.cat(XH), torch.cat(F)
    out = {}
    for r in runs:
        t = torch.cat(tok_ce[r])
        out["tok_ce_" + r] = t
        out["ce_" + r] = t[~t.isnan()].mean()
    for r in tok_kl:
        t = torch.cat(tok_kl[r])
        out["tok_kl_" + r] = t
        out["kl_" + r] = t[~t.isnan()].mean()
    ce, kl = lambda r: out["ce_" + r], lambda r: out["kl_" + r]
    out["ce_score"] = (ce("zero") - ce("sae")) / (ce("zero") - ce("clean"))
    out["ce_score_mean"] = (ce("mean") - ce("sae")) / (ce("mean") - ce("clean"))
    out["kl_score"] = (kl("zero") - kl("sae")) / kl("zero")
    out["kl_score_mean"] = (kl("mean") - kl("sae")) / kl("mean")
    N = X.shape[0]
    err2 = ((X - XH) ** 2).sum()
    out["fvu"] = err2 / ((X - X.mean(0)) ** 2).sum()
    out["mse"] = err2 / N
    nx, nh = X.norm(dim=1), XH.norm(dim=1)
    dot = (X * XH).sum(1)
    out["cos"] = torch.where(nx * nh > 0, dot / (nx * nh), torch.zeros_like(dot)).mean()
    out["norm_ratio"] = torch.where(nx > 0, nh / nx, torch.zeros_like(nx)).mean()
    out["rel_bias"] = (XH ** 2).sum() / dot.sum()
    act = F != 0
    out["l0"] = act.sum(1).double().mean()
    out["l1"] = F.abs().sum(1).mean()
    dens = act.double().mean(0)
    out["density"] = dens
    out["dead"] = (dens == 0).sum()
    out["dense_1pct"] = (dens > 0.01).sum()
    out["dense_10pct"] = (dens > 0.1).sum()
    out["n_kept"] = torch.tensor(N)
    return out


def golden(path):
    lines = []
    for (L, NH, C, V, NCTX, layer, site, dsae, k, ctx, n, ex) in SHAPES:
        m = hash_model(L, NH, C, V, NCTX, 0.125)
        d = 4 * C if site in ("mlp_pre", "mlp_post") else C
        out = evaluate(m, sae_weights(dsae, d), k, token_ids(n, V), layer, site, ctx, ex)
        lines.append(f"shape {L} {NH} {C} {V} {NCTX} {layer} {site} {dsae} {k} {ctx} {n} {ex}")
        for key, v in out.items():
            v = v.reshape(-1).tolist()
            lines.append(f"{key} {len(v)}")
            lines += [repr(float(x)) for x in v]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path}: {len(SHAPES)} shapes")


def bench(args):
    """The same evaluation in float32 (4 full passes per window: clean, SAE,
    zero, mean, plus one for the mean), timed."""
    L, NH, C, V, NCTX, layer, site_i, dsae, k, ctx, ntok, threads = [int(a) if a.lstrip('-').isdigit() else a
                                                                      for a in args]
    torch.set_num_threads(threads)
    torch.set_default_dtype(torch.float32)
    m = hash_model(L, NH, C, V, NCTX, 0.125)
    for key in ("wte", "wpe", "lnfw", "lnfb"):
        m[key] = m[key].float()
    m["layers"] = [{a: b.float() for a, b in w.items()} for w in m["layers"]]
    d = 4 * C if site_i in ("mlp_pre", "mlp_post") else C
    W = sae_weights(dsae, d).float()
    ids = token_ids(ntok, V)
    with torch.no_grad():
        t0 = time.time()
        out = evaluate(m, W, k, ids, layer, site_i, ctx, -1)
        dt = time.time() - t0
    ntok_run = (ntok // ctx) * ctx
    print(f"torch: {ntok_run} tokens in {dt:.3f} s: {ntok_run / dt:.1f} tokens/s (ce_sae {float(out['ce_sae']):.6f}, "
          f"threads {torch.get_num_threads()})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bench":
        bench(sys.argv[2:])
    else:
        golden(sys.argv[1])
