#!/usr/bin/python3
# bench/bench_pipeline_torch.py - the seed's pipeline in PyTorch, timed: GPT-2
# forward to the hook (h[L/2].mlp.c_fc output), 100 epochs of the seed's
# SparseAE (its class, verbatim math), the final encode and the latent
# statistics. Hugging Face cannot be reached here, so the GPT-2 forward is
# written in plain torch (the standard GPT-2 block) and reads the same
# safetensors file the C engine uses (parsed with json + numpy, no extra
# packages). The token ids come from the engine's tokenizer (a file of ids),
# so both sides see the same input.
#
# Run (bench/bench_pipeline.sh does this):
#   /usr/bin/python3 bench/bench_pipeline_torch.py MODEL.safetensors IDS.txt [EPOCHS] [THREADS]
# Prints "torch_seconds <total>" plus the parts.
import json, os, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))
from gen_sae_golden import SparseAE, seed_loop  # noqa: E402

path, ids_path = sys.argv[1], sys.argv[2]
n_epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 100
if len(sys.argv) > 4:
    torch.set_num_threads(int(sys.argv[4]))

t_start = time.time()

def load_safetensors(p):
    with open(p, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    hdr = json.loads(buf[8:8 + n])
    data = memoryview(buf)[8 + n:]
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", v["dtype"]
        b, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[b:e], dtype=np.float32).reshape(v["shape"]).copy())
    return out

W = load_safetensors(path)
pre = "transformer." if "transformer.wte.weight" in W else ""
n_layer = 1 + max(int(k.split(".")[1 if not pre else 2]) for k in W if ".h." in "." + k)
C = W[pre + "wte.weight"].shape[1]
NH = C // 64
tokens = torch.tensor([int(x) for x in open(ids_path).read().split()], dtype=torch.long)
T = len(tokens)
t_load = time.time()

def ln(x, w, b):
    return F.layer_norm(x, (C,), w, b, 1e-5)

layer2hook = n_layer // 2
with torch.no_grad():
    x = W[pre + "wte.weight"][tokens] + W[pre + "wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(layer2hook + 1):
        h = lambda n: W[f"{pre}h.{l}.{n}"]
        a = ln(x, h("ln_1.weight"), h("ln_1.bias"))
        qkv = a @ h("attn.c_attn.weight") + h("attn.c_attn.bias")          # Conv1D: x @ W + b
        q, k, v = qkv.split(C, dim=1)
        q, k, v = (t.view(T, NH, C // NH).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / (C // NH) ** 0.5
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + (y @ h("attn.c_proj.weight") + h("attn.c_proj.bias"))
        m = ln(x, h("ln_2.weight"), h("ln_2.bias"))
        fc = m @ h("mlp.c_fc.weight") + h("mlp.c_fc.bias")                # the seed's hook
        if l == layer2hook:
            X = fc.clone()
            break
        x = x + (F.gelu(fc, approximate="tanh") @ h("mlp.c_proj.weight") + h("mlp.c_proj.bias"))
t_fwd = time.time()
if os.environ.get("BENCH_X_OUT"):           # for the correctness check in bench_pipeline.sh
    np.save(os.environ["BENCH_X_OUT"], X.numpy().astype(np.float32))

# ---- the seed's SparseAE and training loop (verbatim in tests/gen_sae_golden.py) ----
torch.manual_seed(0)
num_latent = 2 * X.shape[1]
ae = SparseAE(input_dim=X.shape[1], k=X.shape[1] // 3, latent_dim=num_latent)
losses = seed_loop(ae, X, n_epochs)
with torch.no_grad():
    aeout, latent = ae(X)
latent = latent.cpu().numpy()
t_train = time.time()

# ---- the seed's statistics ----
densitymask = np.full(latent.shape, np.nan)
densitymask[latent != 0] = 1
latentDensity = 100 * np.nansum(densitymask, axis=0) / densitymask.shape[0]
import warnings
with warnings.catch_warnings():             # "Mean of empty slice" for never-active latents, as in the seed
    warnings.simplefilter("ignore")
    nonzeroAct = np.nanmean(np.abs(latent * densitymask), axis=0)
nonzeroAct[np.isnan(nonzeroAct)] = 0
t_end = time.time()

print(f"tokens {T} X {tuple(X.shape)} latent {latent.shape} final_loss {losses[-1, 0] if n_epochs else float('nan'):.6g}")
print(f"torch_load_seconds {t_load - t_start:.3f}")
print(f"torch_forward_seconds {t_fwd - t_load:.3f}")
print(f"torch_train_seconds {t_train - t_fwd:.3f}  ({n_epochs} epochs)")
print(f"torch_stats_seconds {t_end - t_train:.3f}")
print(f"torch_seconds {t_end - t_start:.3f}")
