# tests/st_write.py - write float32 tensors to a safetensors file by hand (a
# JSON header padded with spaces to 8 bytes, then the raw little-endian
# data), for the reference scripts tests/sae_arch_torch.py and
# tests/saelens_load.py (no safetensors package needed).
import json
import struct


def write_st(path, tensors, meta=None):
    """tensors: (name, torch tensor) pairs, written in that order as F32;
    meta: the "__metadata__" entry (string values), first in the header, or None."""
    header, data, off = ({} if meta is None else {"__metadata__": meta}), b"", 0
    for name, t in tensors:
        raw = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
