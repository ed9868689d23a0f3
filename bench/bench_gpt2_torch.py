#!/usr/bin/python3
# bench/bench_gpt2_torch.py - the PyTorch side of bench/bench_gpt2.sh: GPT-2
# (the standard block, float32, torch ops: F.layer_norm, torch.addmm for
# Conv1D, masked softmax attention, F.gelu(approximate="tanh")) on the same
# safetensors file (read by hand) and the same ids, (7919 t + 13) mod V.
# Times the capture-only pass (stop after layer L/2's c_fc) and the full pass
# with logits: best and median of reps.
#
# Run (bench_gpt2.sh does this, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
# unset for this process only):
#   /usr/bin/python3 bench/bench_gpt2_torch.py MODEL_DIR/model.safetensors [T] [reps] [threads]
import sys, time
import torch
import torch.nn.functional as F
from gpt2_safetensors_torch import load_gpt2

path = sys.argv[1]
T = int(sys.argv[2]) if len(sys.argv) > 2 else 220
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
torch.set_num_threads(threads)

W, V, C, L, NH, HS = load_gpt2(path)
ids = torch.tensor([(7919 * t + 13) % V for t in range(T)])

def forward(stop_layer=None):
    x = W["wte.weight"][ids] + W["wpe.weight"][:T]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(L):
        p = f"h.{l}."
        h = F.layer_norm(x, (C,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], 1e-5)
        qkv = torch.addmm(W[p + "attn.c_attn.bias"], h, W[p + "attn.c_attn.weight"])
        q, k, v = (z.view(T, NH, HS).transpose(0, 1) for z in qkv.split(C, dim=1))
        att = torch.softmax((q @ k.transpose(-1, -2)) * (1.0 / HS ** 0.5) + mask, dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + torch.addmm(W[p + "attn.c_proj.bias"], y, W[p + "attn.c_proj.weight"])
        h = F.layer_norm(x, (C,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], 1e-5)
        pre = torch.addmm(W[p + "mlp.c_fc.bias"], h, W[p + "mlp.c_fc.weight"])
        if stop_layer == l:
            return pre
        x = x + torch.addmm(W[p + "mlp.c_proj.bias"], F.gelu(pre, approximate="tanh"), W[p + "mlp.c_proj.weight"])
    x = F.layer_norm(x, (C,), W["ln_f.weight"], W["ln_f.bias"], 1e-5)
    return x @ W["wte.weight"].T

with torch.inference_mode():
    forward(L // 2), forward()  # warm-up
    tc, tf = [], []
    for _ in range(reps):
        t = time.perf_counter(); forward(L // 2); tc.append(time.perf_counter() - t)
        t = time.perf_counter(); forward(); tf.append(time.perf_counter() - t)
tc.sort(); tf.sort()
blas = [l.strip() for l in torch.__config__.show().splitlines() if "BLAS" in l]
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {blas[0][:60] if blas else ''}")
print(f"torch capture to layer {L // 2} mlp_pre: best {tc[0]*1e3:8.2f} ms  median {tc[reps // 2]*1e3:8.2f} ms")
print(f"torch full pass with logits:      best {tf[0]*1e3:8.2f} ms  median {tf[reps // 2]*1e3:8.2f} ms")
