#!/usr/bin/python3
# bench/bench_harvest_torch.py - the PyTorch side of bench/bench_harvest.sh:
# GPT-2 (float32, torch ops: F.layer_norm, torch.addmm for Conv1D, masked
# softmax attention, F.gelu tanh) on the same safetensors file, a batch of B
# windows of T tokens, ids (7919 i + 13) mod V, the capture-only pass that
# stops at layer 6's c_fc output (blocks.6.mlp.hook_pre), no grad. Prints the
# best and median time and tokens/s.
#   /usr/bin/python3 bench/bench_harvest_torch.py MODEL.safetensors [B] [T] [reps] [threads]
import os, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_safetensors_torch import load_gpt2   # the weights, read as the other PyTorch benches do

path = sys.argv[1]
B = int(sys.argv[2]) if len(sys.argv) > 2 else 32
T = int(sys.argv[3]) if len(sys.argv) > 3 else 128
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
W, V, C, _, NH, HS = load_gpt2(path)
STOP = 6
ids = torch.tensor([(7919 * i + 13) % V for i in range(B * T)]).view(B, T)

def capture():
    x = W["wte.weight"][ids] + W["wpe.weight"][:T]           # (B, T, C)
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(STOP + 1):
        p = f"h.{l}."
        h = F.layer_norm(x, (C,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], 1e-5).view(B * T, C)
        qkv = torch.addmm(W[p + "attn.c_attn.bias"], h, W[p + "attn.c_attn.weight"]).view(B, T, 3 * C)
        q, k, v = (z.reshape(B, T, NH, HS).transpose(1, 2) for z in qkv.split(C, dim=2))
        att = torch.softmax((q @ k.transpose(-1, -2)) * (1.0 / HS ** 0.5) + mask, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B * T, C)
        x = x + torch.addmm(W[p + "attn.c_proj.bias"], y, W[p + "attn.c_proj.weight"]).view(B, T, C)
        h = F.layer_norm(x, (C,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], 1e-5).view(B * T, C)
        pre = torch.addmm(W[p + "mlp.c_fc.bias"], h, W[p + "mlp.c_fc.weight"])
        if l == STOP:
            return pre                                          # (B*T, 4C)
        x = x + torch.addmm(W[p + "mlp.c_proj.bias"], F.gelu(pre, approximate="tanh"),
                            W[p + "mlp.c_proj.weight"]).view(B, T, C)

with torch.inference_mode():
    capture()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); capture(); ts.append(time.perf_counter() - t)
ts.sort()
print(f"torch {torch.__version__} threads {torch.get_num_threads()}: harvest {B}x{T} to blocks.{STOP}.mlp.hook_pre: "
      f"best {ts[0]*1e3:.1f} ms median {ts[reps // 2]*1e3:.1f} ms = {B * T / ts[0]:.0f} tokens/s")
