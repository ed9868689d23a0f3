#!/usr/bin/python3
# bench/bench_sae_arch_torch.py ARCH D N K B STEPS THREADS - tokens/s of the
# PyTorch port of one architecture (tests/sae_arch_torch.py, the port the
# C code is tested against) training on random activations: forward, loss,
# autograd backward, the decoder constraint, Adam. bench/bench_sae_arch.c
# runs it in the same process tree and prints the ratio.
# One change for speed: TopK's stable sort (needed for the tests' tie rule)
# is replaced by torch.topk, which is what a PyTorch user would write.
# JumpReLU's thresholds are set so that about K latents fire per token, the
# operating point of a trained SAE (as bench_sae_arch.c does).
# Prints one line: "torch ARCH tokens/s X s/step Y".
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import sae_arch_torch as port  # noqa: E402


def main():
    arch, d, n, k, B, steps, threads = sys.argv[1], *map(int, sys.argv[2:8])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    port.topk_stable = lambda z, kk: torch.topk(z, kk, dim=-1).indices
    cfg = port.base_cfg(arch, d=d, n=n, k=k, k_aux=d // 2, dead_tokens=10_000_000, lr=2e-4, warmup_steps=0,
                        decay_steps=0, jump_eps=1e-3, B=B, **{"lambda": 1e-3})
    X = torch.randn(B, d) + torch.randn(d)
    W_dec = torch.randn(n, d)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    P = {"W_enc": W_dec.clone(), "W_dec": W_dec, "b_enc": torch.zeros(n), "b_dec": X.mean(0)}
    if arch == "jumprelu":
        with torch.no_grad():
            z = (X - P["b_dec"]) @ P["W_enc"].T
            theta = torch.quantile(z.flatten()[:1_000_000], 1 - k / n)
        P["log_threshold"] = torch.full((n,), float(torch.log(theta)))
    for key in P:
        P[key] = P[key].requires_grad_(True)
    params = list(P.values())
    opt = torch.optim.Adam(params, lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    since = torch.zeros(n, dtype=torch.int64)
    st = {"step": 0}
    times = []
    for s in range(steps + 1):
        t = time.time()
        st["step"] = s
        opt.zero_grad()
        loss, recon, sp, aux, f = port.FWD[arch](P, cfg, X, since, st)
        loss.backward()
        W, g = P["W_dec"].data, P["W_dec"].grad
        g -= (g * W).sum(1, keepdim=True) * W
        opt.step()
        with torch.no_grad():
            P["W_dec"].data /= P["W_dec"].data.norm(dim=1, keepdim=True)
            since = torch.where((f > 0).any(0), torch.zeros_like(since), since + B)
        if s > 0:  # the first step warms up
            times.append(time.time() - t)
    per = sum(times) / len(times)
    print("torch %s tokens/s %.1f s/step %.3f loss %.5g l0 %.1f" % (arch, B / per, per, float(loss),
                                                                     float((f > 0).float().sum(1).mean())))


if __name__ == "__main__":
    main()
