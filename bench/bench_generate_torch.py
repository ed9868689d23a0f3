#!/usr/bin/python3
# bench/bench_generate_torch.py - the PyTorch side of bench/bench_generate_vs_torch.sh:
# GPT-2 (float32, torch ops as bench/bench_gpt2_torch.py) generating greedily
# with a KV cache: the prompt pass fills per-layer key/value tensors (Hugging
# Face's past_key_values, (NH, S, HS) per layer), then each new token runs
# alone and attends to them. The cache is preallocated and sliced (no
# torch.cat per step as HF's default cache does): the faster of the two, so
# the stronger baseline. Same weights (safetensors read by hand), same prompt
# ids (7919 t + 13) mod V, greedy. Prints the first greedy tokens (for the
# driver to compare with C's) and the times: best and median of reps.
#
#   /usr/bin/python3 bench/bench_generate_torch.py MODEL_DIR/model.safetensors [PROMPT] [NEW] [reps] [threads]
import sys, time
import torch
import torch.nn.functional as F
from gpt2_safetensors_torch import load_gpt2

path = sys.argv[1]
P = int(sys.argv[2]) if len(sys.argv) > 2 else 128
N = int(sys.argv[3]) if len(sys.argv) > 3 else 256
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
torch.set_num_threads(threads)

W, V, C, L, NH, HS = load_gpt2(path)
NCTX = W["wpe.weight"].shape[0]


def forward(ids, past, pos):
    """ids (T) at positions pos..pos+T-1; past[l] = (K, V) (NH, NCTX, HS) filled to pos. Returns the last logits."""
    T = ids.shape[0]
    x = W["wte.weight"][ids] + W["wpe.weight"][pos:pos + T]
    S = pos + T
    mask = torch.full((T, S), float("-inf")).triu(pos + 1) if T > 1 else None
    for l in range(L):
        p = f"h.{l}."
        h = F.layer_norm(x, (C,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], 1e-5)
        qkv = torch.addmm(W[p + "attn.c_attn.bias"], h, W[p + "attn.c_attn.weight"])
        q, k, v = (z.view(T, NH, HS).transpose(0, 1) for z in qkv.split(C, dim=1))
        K, Vc = past[l]
        K[:, pos:S] = k
        Vc[:, pos:S] = v
        att = (q @ K[:, :S].transpose(-1, -2)) * (1.0 / HS ** 0.5)
        if mask is not None:
            att = att + mask
        y = (torch.softmax(att, dim=-1) @ Vc[:, :S]).transpose(0, 1).reshape(T, C)
        x = x + torch.addmm(W[p + "attn.c_proj.bias"], y, W[p + "attn.c_proj.weight"])
        h = F.layer_norm(x, (C,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], 1e-5)
        pre = torch.addmm(W[p + "mlp.c_fc.bias"], h, W[p + "mlp.c_fc.weight"])
        x = x + torch.addmm(W[p + "mlp.c_proj.bias"], F.gelu(pre, approximate="tanh"), W[p + "mlp.c_proj.weight"])
    x = F.layer_norm(x[-1:], (C,), W["ln_f.weight"], W["ln_f.bias"], 1e-5)
    return (x @ W["wte.weight"].T)[0]


prompt = torch.tensor([(7919 * t + 13) % V for t in range(P)])
tp, ts = [], []
first = []
with torch.inference_mode():
    for r in range(-1, reps):  # r = -1: warm-up
        past = [(torch.empty(NH, NCTX, HS), torch.empty(NH, NCTX, HS)) for _ in range(L)]
        t0 = time.perf_counter()
        logits = forward(prompt, past, 0)
        t1 = time.perf_counter()
        toks = []
        for s in range(N - 1):
            tok = int(torch.argmax(logits))
            toks.append(tok)
            logits = forward(torch.tensor([tok]), past, P + s)
        t2 = time.perf_counter()
        if r >= 0:
            tp.append(t1 - t0)
            ts.append((t2 - t1) / (N - 1))
        first = toks[:16]
tp.sort(); ts.sort()
blas = [l.strip() for l in torch.__config__.show().splitlines() if "BLAS" in l]
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {blas[0][:60] if blas else ''}")
print("torch greedy tokens: " + " ".join(str(t) for t in first))
print(f"torch prompt pass ({P} tokens): best {tp[0]*1e3:8.2f} ms  median {tp[reps // 2]*1e3:8.2f} ms")
print(f"torch per new token:          best {ts[0]*1e3:8.2f} ms  median {ts[reps // 2]*1e3:8.2f} ms")
print(f"torch tokens/s (new tokens / decode time): best {1 / ts[0]:.1f}  median {1 / ts[reps // 2]:.1f}; "
      f"with the prompt pass: {N / (tp[0] + ts[0] * (N - 1)):.1f}")
