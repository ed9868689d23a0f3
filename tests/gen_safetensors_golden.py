#!/usr/bin/python3
# tests/gen_safetensors_golden.py - F16 / BF16 -> F32 conversion golden for
# tests/test_safetensors.c, computed by PyTorch (not by our converter).
#
# Run (from the repository root; Debian's python3-torch 1.13 CPU, numpy):
#   /usr/bin/python3 tests/gen_safetensors_golden.py
# Writes tests/golden/f16_bf16.safetensors.golden (a safetensors file; the
# suffix keeps it out of .gitignore's *.safetensors) holding
#   f16      F16  (N16)  half-precision bit patterns
#   f16_f32  F32  (N16)  torch's float32 of each: torch.Tensor.float()
#   bf16     BF16 (NB)   bfloat16 bit patterns
#   bf16_f32 F32  (NB)   torch's float32 of each
# The patterns cover every F16/BF16 whose exponent is all zeros (zero and
# every subnormal) or all ones (inf and NaNs), both signs, every exponent with
# a few mantissas, and random patterns from a fixed seed.
import json
import struct

import numpy as np
import torch

rng = np.random.default_rng(20260101)


def patterns(exp_bits, man_bits, n_random):
    p = set()
    for sign in (0, 1):
        for man in range(1 << man_bits):
            for exp in (0, (1 << exp_bits) - 1):
                p.add((sign << 15) | (exp << man_bits) | man)
        for exp in range(1 << exp_bits):
            for man in (0, 1, 2, (1 << man_bits) - 1, 1 << (man_bits - 1)):
                p.add((sign << 15) | (exp << man_bits) | man)
    p.update(int(x) for x in rng.integers(0, 1 << 16, n_random))
    return np.array(sorted(p), dtype=np.uint16)


f16_bits = patterns(5, 10, 4096)
bf16_bits = patterns(8, 7, 4096)

f16 = torch.from_numpy(f16_bits.view(np.int16).copy()).view(torch.float16)
bf16 = torch.from_numpy(bf16_bits.view(np.int16).copy()).view(torch.bfloat16)
f16_f32 = f16.float().numpy()
bf16_f32 = bf16.float().numpy()

tensors = [
    ("f16", "F16", f16_bits.tobytes(), len(f16_bits)),
    ("f16_f32", "F32", f16_f32.astype("<f4").tobytes(), len(f16_bits)),
    ("bf16", "BF16", bf16_bits.tobytes(), len(bf16_bits)),
    ("bf16_f32", "F32", bf16_f32.astype("<f4").tobytes(), len(bf16_bits)),
]
header, data, off = {"__metadata__": {"source": "torch %s" % torch.__version__}}, b"", 0
for name, dtype, raw, n in tensors:
    header[name] = {"dtype": dtype, "shape": [n], "data_offsets": [off, off + len(raw)]}
    data += raw
    off += len(raw)
h = json.dumps(header).encode()
h += b" " * (-(8 + len(h)) % 8)
with open("tests/golden/f16_bf16.safetensors.golden", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print("wrote tests/golden/f16_bf16.safetensors.golden: %d F16, %d BF16 patterns" % (len(f16_bits), len(bf16_bits)))
