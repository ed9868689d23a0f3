#!/usr/bin/python3
# tests/sae_arch_torch.py - PyTorch ports of the SAE architectures of
# sae/arch.h, written from the papers (autograd does every derivative except
# JumpReLU's straight-through estimators, which are the paper's
# torch.autograd.Function pair), and the goldens tests/test_sae_arch.c holds
# the C code to.
#
# Run (from the repository root; Debian's python3-torch 1.13 CPU):
#   /usr/bin/python3 tests/sae_arch_torch.py
# Writes tests/golden/sae_arch_<case>.safetensors.golden, each holding
#   X          (NB*B, d)  the batches, step s uses batch s % NB
#   init.*     the starting tensors (W_enc and W_dec as (n, d) rows)
#   since0     (n)        tokens since each latent fired, before step 1
#   loss0      (6)        loss, recon, sparsity, aux, l0, FVU of batch 0 at init
#   grad0.*    the raw gradients of that loss (before any constraint/clip)
#   losses     (STEPS)    the loss of every training step
#   final.*    the tensors after STEPS steps; final.since (n); threshold (1)
# and metadata "cfg": the case's settings as JSON.
#
# Conventions both sides share (chosen in the C files' comments):
#   TopK ties go to the lower index (torch.sort(stable=True)); AuxK's
#   reconstruction has no b_dec; nmse normalises each token by ||x||^2;
#   unit-norm decoder rows with the parallel gradient removed for every
#   architecture except relu; clip_grad_norm_; torch.optim.Adam.
import json

import numpy as np
import torch
from st_write import write_st

torch.set_default_dtype(torch.float32)
STEPS = 50
NB = 10


def topk_stable(z, k):
    """indices (B, k) of the k largest of each row; ties to the lower index"""
    return torch.sort(z, dim=-1, descending=True, stable=True).indices[:, :k]


def sparse_relu(z, idx):
    """f (B, n): ReLU(z) at idx, 0 elsewhere (gradient flows to z at idx)"""
    return torch.zeros_like(z).scatter(1, idx, torch.relu(z.gather(1, idx)))


def token_norms(x):
    nx = (x * x).sum(1)
    return torch.where(nx > 0, nx, torch.ones_like(nx))


def auxk_loss(P, cfg, z, x, xh, nx, since):
    """Gao et al. 2024 AuxK: the dead latents' top k_aux reconstruct x - x_hat"""
    dead = since >= cfg["dead_tokens"]
    nd = int(dead.sum())
    if cfg["k_aux"] == 0 or nd == 0:
        return torch.zeros(())
    kk = min(cfg["k_aux"], nd)
    masked = torch.where(dead[None, :], z.detach(), torch.full_like(z, -float("inf")))
    a = sparse_relu(z, topk_stable(masked, kk))
    eh = a @ P["W_dec"]
    e = (x - xh).detach()
    return cfg["aux_alpha"] * (((eh - e) ** 2).sum(1) / nx).mean()


def fwd_topk(P, cfg, x, since, st):
    z = (x - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
    nx = token_norms(x)
    f = sparse_relu(z, topk_stable(z.detach(), cfg["k"]))
    xh = f @ P["W_dec"] + P["b_dec"]
    recon = (((xh - x) ** 2).sum(1) / nx).mean()
    if cfg.get("multi_topk"):
        f4 = sparse_relu(z, topk_stable(z.detach(), 4 * cfg["k"]))
        xh4 = f4 @ P["W_dec"] + P["b_dec"]
        recon = recon + (((xh4 - x) ** 2).sum(1) / nx).mean() / 8
    aux = auxk_loss(P, cfg, z, x, xh, nx, since)
    return recon + aux, recon, torch.zeros(()), aux, f


def fwd_batchtopk(P, cfg, x, since, st):
    """Bussmann et al. 2024: the k*B largest of the whole batch"""
    B, n = x.shape[0], cfg["n"]
    z = (x - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
    nx = token_norms(x)
    flat = z.reshape(1, B * n)
    f = sparse_relu(flat, topk_stable(flat.detach(), cfg["k"] * B)).reshape(B, n)
    xh = f @ P["W_dec"] + P["b_dec"]
    recon = (((xh - x) ** 2).sum(1) / nx).mean()
    aux = auxk_loss(P, cfg, z, x, xh, nx, since)
    pos = f.detach()[f.detach() > 0]
    st["min_kept"] = float(pos.min()) if pos.numel() else None
    return recon + aux, recon, torch.zeros(()), aux, f


class JumpReLU(torch.autograd.Function):
    """f = z H(z - theta); d/dz = H, d/dtheta = -(theta/eps) K((z-theta)/eps)"""

    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return z * (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        z, theta = ctx.saved_tensors
        eps = ctx.eps
        K = (((z - theta) / eps).abs() < 0.5).to(z.dtype)
        return g * (z > theta).to(z.dtype), (-(theta / eps) * K * g).sum(0), None


class Step(torch.autograd.Function):
    """H(z - theta); d/dz = 0, d/dtheta = -(1/eps) K((z-theta)/eps)"""

    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        z, theta = ctx.saved_tensors
        eps = ctx.eps
        K = (((z - theta) / eps).abs() < 0.5).to(z.dtype)
        return torch.zeros_like(z), (-(1.0 / eps) * K * g).sum(0), None


def lam_now(cfg, step):
    lam = cfg["lambda"]
    w = cfg.get("lambda_warmup", 0)
    return lam * min(1.0, (step + 1) / w) if w > 0 else lam


def fwd_jumprelu(P, cfg, x, since, st):
    z = (x - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
    theta = torch.exp(P["log_threshold"])
    f = JumpReLU.apply(z, theta, cfg["jump_eps"])
    xh = f @ P["W_dec"] + P["b_dec"]
    recon = ((xh - x) ** 2).sum(1).mean()
    lam = torch.tensor(lam_now(cfg, st["step"]), dtype=torch.float32)
    sp = lam * Step.apply(z, theta, cfg["jump_eps"]).sum(1).mean()
    return recon + sp, recon, sp, torch.zeros(()), f


def fwd_relu(P, cfg, x, since, st):
    """Anthropic's April 2024 update: L1 weighted by the decoder norms"""
    z = (x - P["b_dec"]) @ P["W_enc"].T + P["b_enc"]
    f = torch.relu(z)
    xh = f @ P["W_dec"] + P["b_dec"]
    recon = ((xh - x) ** 2).sum(1).mean()
    lam = torch.tensor(lam_now(cfg, st["step"]), dtype=torch.float32)
    sp = lam * (f * P["W_dec"].norm(dim=1)).sum(1).mean()
    return recon + sp, recon, sp, torch.zeros(()), f


def fwd_gated(P, cfg, x, since, st):
    """Rajamanoharan et al. 2024a: gate and magnitude share W_enc"""
    xc = x - P["b_dec"]
    h = xc @ P["W_enc"].T
    pi_gate = h + P["b_enc"]
    pi_mag = torch.exp(P["r_mag"]) * h + P["b_mag"]
    f = (pi_gate > 0).to(x.dtype) * torch.relu(pi_mag)
    xh = f @ P["W_dec"] + P["b_dec"]
    recon = ((xh - x) ** 2).sum(1).mean()
    g = torch.relu(pi_gate)
    lam = torch.tensor(lam_now(cfg, st["step"]), dtype=torch.float32)
    sp = lam * g.sum(1).mean()
    xh_frozen = g @ P["W_dec"].detach() + P["b_dec"].detach()
    aux = ((xh_frozen - x) ** 2).sum(1).mean()
    return recon + sp + aux, recon, sp, aux, f


FWD = {"topk": fwd_topk, "batchtopk": fwd_batchtopk, "jumprelu": fwd_jumprelu, "relu": fwd_relu, "gated": fwd_gated}


def train(cfg, P, X, since):
    """STEPS steps; returns (losses, since, threshold)"""
    B = cfg["B"]
    params = [P[k] for k in P]
    opt = torch.optim.Adam(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["adam_eps"])
    unit = cfg["arch"] != "relu"
    st = {"step": 0, "threshold": 0.0}
    losses = []
    for s in range(STEPS):
        st["step"] = s
        x = X[(s % NB) * B:(s % NB + 1) * B] * cfg["input_scale"]
        opt.zero_grad()
        loss, recon, sp, aux, f = FWD[cfg["arch"]](P, cfg, x, since, st)
        loss.backward()
        losses.append(float(loss))
        if unit:
            W, g = P["W_dec"].data, P["W_dec"].grad
            g -= (g * W).sum(1, keepdim=True) * W
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip"])
        lr = cfg["lr"]
        if cfg["warmup_steps"] > 0 and s < cfg["warmup_steps"]:
            lr *= (s + 1) / cfg["warmup_steps"]
        if cfg["decay_steps"] > 0 and STEPS - s < cfg["decay_steps"]:
            lr *= (STEPS - s) / cfg["decay_steps"]
        for grp in opt.param_groups:
            grp["lr"] = lr
        opt.step()
        with torch.no_grad():
            if unit:
                P["W_dec"].data /= P["W_dec"].data.norm(dim=1, keepdim=True)
            fired = (f.detach() > 0).any(0)
            since = torch.where(fired, torch.zeros_like(since), since + B)
            if cfg["arch"] == "batchtopk" and st.get("min_kept") is not None:
                r = cfg["threshold_lr"]
                st["threshold"] = (1 - r) * st["threshold"] + r * st["min_kept"]
    return losses, since, st["threshold"]


def base_cfg(arch, **kw):
    cfg = dict(arch=arch, d=8, n=32, k=4, k_aux=4, aux_alpha=1 / 32, multi_topk=0, threshold_lr=0.01,
               **{"lambda": 0.0}, lambda_warmup=0, jump_eps=0.001, theta0=0.001, dead_tokens=64,
               lr=5e-3, beta1=0.9, beta2=0.999, adam_eps=1e-8, warmup_steps=5, decay_steps=10,
               grad_clip=0.0, B=16, input_scale=1.0, seed=1)
    cfg.update(kw)
    return cfg


def make_case(name, cfg, since0=None, ties=()):
    g = torch.Generator().manual_seed(cfg["seed"])
    d, n, B = cfg["d"], cfg["n"], cfg["B"]
    # activations with a mean offset and a few strong directions
    basis = torch.randn(4, d, generator=g)
    X = (torch.randn(NB * B, d, generator=g) * 0.7 + torch.randn(NB * B, 4, generator=g).abs() @ basis * 0.8
         + torch.randn(d, generator=g) * 0.5)
    if cfg["arch"] == "relu":
        # E||x|| = sqrt(d) over the first 4 batches (the sample)
        cfg["input_scale"] = float(np.sqrt(d) / X[:4 * B].norm(dim=1).mean())
    W_dec = torch.randn(n, d, generator=g)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    if cfg["arch"] == "relu":
        W_dec *= 0.1 + 0.9 * torch.rand(n, 1, generator=g)
    P = {
        "W_enc": (W_dec.clone() + 0.3 * torch.randn(n, d, generator=g)),
        "W_dec": W_dec,
        "b_enc": 0.1 * torch.randn(n, generator=g),
        "b_dec": 0.2 * torch.randn(d, generator=g),
    }
    if cfg["arch"] == "jumprelu":
        P["log_threshold"] = torch.log(torch.full((n,), cfg["theta0"])) + 0.5 * torch.randn(n, generator=g)
    if cfg["arch"] == "gated":
        P["r_mag"] = 0.2 * torch.randn(n, generator=g)
        P["b_mag"] = 0.1 * torch.randn(n, generator=g)
    # planted ties: latent i gets z = v for every token (zero encoder row)
    for i, v in ties:
        P["W_enc"][i] = 0
        P["b_enc"][i] = v
    for k in P:
        P[k] = P[k].float().requires_grad_(True)
    if since0 is None:
        since0 = torch.zeros(n, dtype=torch.int64)
    init = {k: v.detach().clone() for k, v in P.items()}
    # the step-0 loss and gradients
    x0 = X[:B] * cfg["input_scale"]
    st = {"step": 0}
    loss, recon, sp, aux, f = FWD[cfg["arch"]](P, cfg, x0, since0, st)
    loss.backward()
    l0 = float((f.detach() > 0).float().sum(1).mean())
    with torch.no_grad():
        xh = f @ P["W_dec"] + P["b_dec"]
        fvu = float(((xh - x0) ** 2).sum() / ((x0 - x0.mean(0)) ** 2).sum()) if B > 1 else float("nan")
    loss0 = [float(loss), float(recon), float(sp), float(aux), l0, fvu]
    grads = {k: P[k].grad.detach().clone() for k in P}
    for k in P:
        P[k].grad = None
    losses, since, thr = train(cfg, P, X, since0.clone())
    tensors = [("X", X)]
    tensors += [("init." + k, v) for k, v in init.items()]
    tensors += [("since0", since0.float()), ("loss0", torch.tensor(loss0))]
    tensors += [("grad0." + k, v) for k, v in grads.items()]
    tensors += [("losses", torch.tensor(losses))]
    tensors += [("final." + k, v.detach()) for k, v in P.items()]
    tensors += [("final.since", since.float()), ("threshold", torch.tensor([thr]))]
    write_st("tests/golden/sae_arch_%s.safetensors.golden" % name, tensors,
             {"cfg": json.dumps(cfg), "source": "torch %s" % torch.__version__})
    print("%-16s loss0 %.6f  loss[49] %.6f" % (name, loss0[0], losses[-1]))


def dead_since(n, dead, dead_tokens):
    s = torch.zeros(n, dtype=torch.int64)
    for i in dead:
        s[i] = dead_tokens
    return s


if __name__ == "__main__":
    torch.manual_seed(0)
    # latents 5, 6, 7 at 10 for every token; 8 and 9 tie at 5 for the k-th
    # place (k = 4): the lower index, 8, must win. 3 dead latents < k_aux = 4.
    make_case("topk", base_cfg("topk"), dead_since(32, [3, 20, 21], 64),
              ties=((5, 10.0), (6, 10.0), (7, 10.0), (8, 5.0), (9, 5.0)))
    # AuxK's tie: dead 20 at 4.5, dead 21 and 22 tie at 4 for k_aux = 2's last place
    make_case("topk_auxties", base_cfg("topk", k_aux=2, seed=10), dead_since(32, [20, 21, 22], 64),
              ties=((20, 4.5), (21, 4.0), (22, 4.0)))
    make_case("topk_multi", base_cfg("topk", k=2, multi_topk=1, seed=2, k_aux=6),
              dead_since(32, range(0, 32, 3), 64))
    make_case("topk_alldead", base_cfg("topk", seed=3), dead_since(32, range(32), 64))
    make_case("topk_b1", base_cfg("topk", B=1, seed=4, dead_tokens=8), dead_since(32, [1, 2], 8))
    make_case("jumprelu", base_cfg("jumprelu", seed=5, jump_eps=0.05, theta0=0.1, lambda_warmup=10,
                                   grad_clip=1.0, **{"lambda": 0.05}))
    make_case("jumprelu_b1", base_cfg("jumprelu", B=1, seed=6, jump_eps=0.1, theta0=0.2, **{"lambda": 0.02}))
    make_case("relu", base_cfg("relu", seed=7, grad_clip=1.0, lambda_warmup=20, **{"lambda": 0.5}))
    make_case("batchtopk", base_cfg("batchtopk", seed=8), dead_since(32, [0, 1, 2, 3, 4, 5], 64))
    make_case("gated", base_cfg("gated", seed=9, **{"lambda": 0.1}))
    # d = 20: the 16-lane vector loops and their scalar tails
    make_case("topk_d20", base_cfg("topk", d=20, n=64, k=5, k_aux=10, seed=11), dead_since(64, range(0, 64, 5), 64))
    make_case("jumprelu_d20", base_cfg("jumprelu", d=20, n=64, seed=12, jump_eps=0.05, theta0=0.1, **{"lambda": 0.05}))
