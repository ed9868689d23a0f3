#!/usr/bin/env python3
"""bench/bench_cuda_sae_torch.py - the baseline for bench_cuda_sae: the seed's
PyTorch SparseAE and training loop (000_964597d0010a26be.txt, verbatim in
its math), FP32, on the same GPU.

Run on a GPU machine (cuda/device_check.sh does):
    python3 bench/bench_cuda_sae_torch.py [--tokens N] [--steps S]
 1. the seed's configuration: X (220, 3072), L = 6144, k = 1024, Adam lr 1e-4,
    100 epochs of the seed's loop (with its per-epoch .item() calls):
    ms per epoch (after 3 warm-up epochs on a separate model);
 2. minibatches of 1024 rows from a synthetic corpus of N tokens (default 1M,
    on the GPU): tokens/s over S steps (default 256; the corpus is
    consecutive batches, as bench_cuda_sae's minibatch run).
TF32 is switched off (PyTorch's default for matmuls, set explicitly).
Prints RESULT lines in the format of bench/bench_cuda.h.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.optim as optim

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))
from gen_sae_golden import SparseAE, seed_loop  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")


def seed_run(X, n_epochs):
    """The seed's model (k = d/3, L = 2d) and loop (tests/gen_sae_golden.py) on X's device."""
    ae = SparseAE(input_dim=X.shape[1], k=X.shape[1] // 3, latent_dim=2 * X.shape[1]).to(X.device)
    return seed_loop(ae, X, n_epochs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1 << 20)
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--device", default="cuda", help="cpu: a quick try of this script without a GPU")
    a = ap.parse_args()
    dev = a.device

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    name = torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"
    print(f"bench_cuda_sae_torch on {name}, torch {torch.__version__}")
    torch.manual_seed(0)
    X = (torch.rand(220, 3072, device=dev) * 2 - 1)
    E = 100 if dev == "cuda" else 2
    seed_run(X, min(3, E))  # warm-up: allocator, kernels, cuBLAS handles
    sync()
    t0 = time.perf_counter()
    losses = seed_run(X, E)
    sync()
    dt = time.perf_counter() - t0
    print(f"  seed loop: epoch 1 loss {losses[0, 0]:.4f}, epoch {E} loss {losses[E - 1, 0]:.4f}")
    name = f"seed epoch T=220 torch ({E} epochs / {E})"
    print(f"RESULT {'sae-torch':<12} {name:<44} {dt * 1e3 / E:9.4f} ms", flush=True)

    # minibatches: the seed's step on 1024-row batches of a large corpus
    B, N = 1024, a.tokens
    big = torch.rand(N, 3072, device=dev) * 2 - 1
    ae = SparseAE(input_dim=3072, k=1024, latent_dim=6144).to(dev)
    opt = optim.Adam(ae.parameters(), lr=.0001)
    mse = nn.MSELoss()

    def step(i):
        xb = big[(i * B) % (N - B + 1):][:B]
        opt.zero_grad()
        y, z = ae(xb)
        loss = mse(y, xb) + ae.sparsity_loss(z) + ae.decorrelation_loss(z)
        loss.backward()
        opt.step()

    for i in range(3):
        step(i)
    sync()
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(i)
    sync()
    dt = time.perf_counter() - t0
    toks = a.steps * B / dt
    name = f"minibatch B={B} {a.steps} steps torch: {toks:.0f} tok/s"
    print(f"RESULT {'sae-torch':<12} {name:<44} {dt * 1e3:9.4f} ms", flush=True)


if __name__ == "__main__":
    main()
