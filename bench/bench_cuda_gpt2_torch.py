#!/usr/bin/env python3
"""bench/bench_cuda_gpt2_torch.py - the baseline for bench_cuda_gpt2: Hugging
Face's GPT2LMHeadModel (GPT-2 small's configuration, random weights) in
PyTorch eager FP32 on the same GPU, T = 1024 and 220, logits on the device.

Run on a GPU machine with PyTorch and transformers (cuda/device_check.sh
does):  python3 bench/bench_cuda_gpt2_torch.py
TF32 is switched off (PyTorch's default for matmuls, set explicitly), so both
sides do FP32 arithmetic. Two attention implementations are timed: "eager"
(the reference math, softmax materialised) and "sdpa" (PyTorch's fused
scaled_dot_product_attention, the transformers default). Timing: CUDA events,
3 warm-ups, median of 10, no_grad, use_cache=False.
Prints RESULT lines in the format of bench/bench_cuda.h.
"""
import statistics

import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")


def build(impl):
    cfg = GPT2Config()  # GPT-2 small: 12 layers, 12 heads, 768, vocab 50257, n_ctx 1024
    try:
        m = GPT2LMHeadModel._from_config(cfg, attn_implementation=impl)
    except Exception:  # older/newer transformers without the keyword
        cfg._attn_implementation = impl
        m = GPT2LMHeadModel(cfg)
    return m.eval().to("cuda", dtype=torch.float32)


def time_ms(fn, warm=3, reps=10):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def main():
    print(f"bench_cuda_gpt2_torch on {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    g = torch.Generator(device="cpu").manual_seed(99)
    for impl in ("eager", "sdpa"):
        try:
            model = build(impl)
        except Exception as e:  # report, go on with the other
            print(f"FAIL gpt2-torch {impl}: {e}")
            continue
        for T in (1024, 220):
            ids = torch.randint(0, 50257, (1, T), generator=g).to("cuda")

            def fwd():
                with torch.no_grad():
                    return model(ids, use_cache=False).logits

            ms = time_ms(fwd)
            name = f"forward T={T} logits fp32 torch {impl}"
            print(f"RESULT {'gpt2-torch':<12} {name:<44} {ms:9.4f} ms", flush=True)
        del model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
