# bench/gpt2_safetensors_torch.py - GPT-2's weights for the PyTorch benches
# (bench/bench_gpt2_torch.py, bench/bench_generate_torch.py, bench/bench_harvest_torch.py): the safetensors
# file read by hand (json header + numpy, no extra package), float32 tensors
# named without the "transformer." prefix, and the model's sizes.
import json, struct
import numpy as np
import torch


def load_gpt2(path):
    """Returns (W, V, C, L, NH, HS): the tensors by name, the vocabulary, the
    width, the layers, the heads (from the width, as GPT-2's sizes) and the head size."""
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    W = {}
    for k, h in header.items():
        if k == "__metadata__":
            continue
        a, b = h["data_offsets"]
        W[k.removeprefix("transformer.")] = torch.from_numpy(
            np.frombuffer(buf, dtype="<f4", count=(b - a) // 4, offset=8 + n + a).reshape(h["shape"]).copy())
    V, C = W["wte.weight"].shape
    L = 1 + max(int(k.split(".")[1]) for k in W if k.startswith("h."))
    NH = 12 if C == 768 else 16 if C == 1024 else 20 if C == 1280 else 25
    return W, V, C, L, NH, C // NH
