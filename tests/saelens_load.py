#!/usr/bin/python3
# tests/saelens_load.py DIR X_FILE OUT_FILE - load the SAE checkpoint in DIR
# the way SAELens 6's SAE.load_from_disk does, and write its latents and
# reconstruction of X for tests/test_sae_arch_io.c to compare.
#
# It follows sae_lens/loading/pretrained_sae_loaders.py and sae_lens/saes/*.py:
#   cfg = json.load(DIR/cfg.json); handle_config_defaulting (prepend_bos,
#   apply_b_dec_to_input, architecture "standard", normalize_activations
#   "none", device "cpu"); the architecture's config class keeps its own
#   fields (SAEConfig: d_in, d_sae, dtype, device, apply_b_dec_to_input,
#   normalize_activations, reshape_activations, metadata; TopK adds k,
#   rescale_acts_by_decoder_norm); read_sae_components_from_disk reads every
#   tensor of DIR/sae_weights.safetensors in DTYPE_MAP[cfg["dtype"]];
#   load_state_dict(strict) needs exactly the module's parameters with their
#   shapes; then encode / decode as each class does. Run with Debian's
#   python3-torch (no sae_lens or safetensors package needed: the safetensors
#   header is read by hand).
# Also accepts a sparsify checkpoint (DIR/sae.safetensors), following
# SparseCoder.load_from_disk and its encode (TopK of ReLU(encoder(x - b_dec))).
import json
import os
import struct
import sys

import numpy as np
import torch
from st_write import write_st

DTYPE_MAP = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}
ST_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_st(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=ST_DTYPES[v["dtype"]]).reshape(v["shape"])
        out[k] = torch.from_numpy(arr.copy())
    return out


def handle_config_defaulting(cfg):
    cfg.setdefault("prepend_bos", True)
    cfg.setdefault("apply_b_dec_to_input", True)
    cfg.setdefault("architecture", "standard")
    if isinstance(cfg.get("normalize_activations"), bool):
        cfg["normalize_activations"] = "expected_average_only_in" if cfg["normalize_activations"] else "none"
    cfg.setdefault("normalize_activations", "none")
    cfg.setdefault("device", "cpu")
    return cfg


PARAMS = {
    "standard": {"W_enc": "de", "W_dec": "ed", "b_enc": "e", "b_dec": "d"},
    "topk": {"W_enc": "de", "W_dec": "ed", "b_enc": "e", "b_dec": "d"},
    "jumprelu": {"W_enc": "de", "W_dec": "ed", "b_enc": "e", "b_dec": "d", "threshold": "e"},
    "gated": {"W_enc": "de", "W_dec": "ed", "b_gate": "e", "r_mag": "e", "b_mag": "e", "b_dec": "d"},
}


def load_saelens(path):
    with open(os.path.join(path, "cfg.json")) as f:
        cfg = handle_config_defaulting(json.load(f))
    arch = cfg["architecture"]
    assert arch in PARAMS, "unknown architecture %s" % arch
    # the dataclass constructor: required fields must be there
    for key in ("d_in", "d_sae") + (("k",) if arch == "topk" else ()):
        assert key in cfg, "cfg.json lacks %s" % key
    assert cfg["normalize_activations"] in ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")
    meta = cfg.get("metadata", {})
    assert isinstance(meta, dict)
    dtype = DTYPE_MAP[cfg["dtype"]]
    sd = {k: v.to(dtype) for k, v in read_st(os.path.join(path, "sae_weights.safetensors")).items()}
    want = PARAMS[arch]
    assert set(sd) == set(want), "state dict keys %s != %s" % (sorted(sd), sorted(want))
    dims = {"d": cfg["d_in"], "e": cfg["d_sae"]}
    for k, spec in want.items():
        assert list(sd[k].shape) == [dims[c] for c in spec], "%s has shape %s" % (k, list(sd[k].shape))
    return cfg, sd


def encode_saelens(cfg, sd, x):
    sae_in = x - sd["b_dec"] * cfg["apply_b_dec_to_input"]
    arch = cfg["architecture"]
    if arch == "gated":
        mag = sae_in @ sd["W_enc"] * torch.exp(sd["r_mag"]) + sd["b_mag"]
        gate = sae_in @ sd["W_enc"] + sd["b_gate"]
        return (gate > 0).to(x.dtype) * torch.relu(mag)
    pre = sae_in @ sd["W_enc"] + sd["b_enc"]
    if arch == "standard":
        return torch.relu(pre)
    if arch == "jumprelu":
        return torch.relu(pre) * (pre > sd["threshold"]).to(x.dtype)
    top = torch.topk(pre, k=cfg["k"], dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))


def main():
    path, xfile, out = sys.argv[1:4]
    x = read_st(xfile)["X"].float()
    if os.path.exists(os.path.join(path, "sae_weights.safetensors")):
        cfg, sd = load_saelens(path)
        f = encode_saelens(cfg, sd, x)
        xh = f @ sd["W_dec"] + sd["b_dec"]
        sp = os.path.join(path, "sparsity.safetensors")
        extra = {}
        if os.path.exists(sp):
            s = read_st(sp)
            assert set(s) == {"sparsity"} and list(s["sparsity"].shape) == [cfg["d_sae"]]
            extra["sparsity"] = s["sparsity"].float()
    else:
        with open(os.path.join(path, "cfg.json")) as fh:
            cfg = json.load(fh)
        d_in = cfg.pop("d_in")
        n = cfg.get("num_latents") or d_in * cfg["expansion_factor"]
        sd = read_st(os.path.join(path, "sae.safetensors"))
        assert set(sd) == {"encoder.weight", "encoder.bias", "W_dec", "b_dec"}
        assert list(sd["encoder.weight"].shape) == [n, d_in] and list(sd["W_dec"].shape) == [n, d_in]
        pre = torch.relu((x - sd["b_dec"]) @ sd["encoder.weight"].T + sd["encoder.bias"])
        top = pre.topk(cfg["k"], dim=-1)
        f = torch.zeros_like(pre).scatter(-1, top.indices, top.values)
        xh = f @ sd["W_dec"] + sd["b_dec"]
        extra = {}
    write_st(out, dict(F=f, Xh=xh, **extra).items())


if __name__ == "__main__":
    main()
