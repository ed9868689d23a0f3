#!/usr/bin/python3
# bench/bench_gemm_openblas.py - OpenBLAS sgemm GFLOP/s on GPT-2 small's
# shapes (T = 220), the baseline for build/bench/bench_gemm. OpenBLAS is
# called through ctypes (cblas_sgemm from Debian's libopenblas0-pthread); it
# is never linked into the engine.
#
# Run (bench/bench_gemm.sh does this, alternating with the C benchmark):
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/bench_gemm_openblas.py [T] [reps] [threads]
# Needs: apt-get install libopenblas0-pthread python3-numpy
import ctypes, sys, time
import numpy as np

T = int(sys.argv[1]) if len(sys.argv) > 1 else 220
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2

lib = None
for name in ("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0", "libopenblas.so.0"):
    try:
        lib = ctypes.CDLL(name)
        break
    except OSError:
        pass
if lib is None:
    print("SKIP: libopenblas.so.0 not found (apt-get install libopenblas0-pthread)")
    sys.exit(0)
lib.openblas_set_num_threads(threads)
try:
    lib.openblas_get_corename.restype = ctypes.c_char_p
    core = lib.openblas_get_corename().decode()
except AttributeError:
    core = "?"
print(f"OpenBLAS threads {threads}, core {core}")

RowMajor, NoTrans, Trans = 101, 111, 112
f = ctypes.c_float
P = ctypes.c_void_p
lib.cblas_sgemm.argtypes = [ctypes.c_int] * 6 + [f, P, ctypes.c_int, P, ctypes.c_int, f, P, ctypes.c_int]

shapes = [("c_attn   (T,768)x(768,2304)", 0, 2304, 768), ("attn.c_proj (T,768)x(768,768)", 0, 768, 768),
          ("c_fc     (T,768)x(768,3072)", 0, 3072, 768), ("mlp.c_proj (T,3072)x(3072,768)", 0, 768, 3072),
          ("logits   (T,768)x(50257,768)^T", 1, 50257, 768)]
rng = np.random.default_rng(0)
for name, tB, N, K in shapes:
    M = T
    A = (rng.random((M, K), dtype=np.float32) - 0.5)
    B = (rng.random((N, K) if tB else (K, N), dtype=np.float32) - 0.5)
    C = np.zeros((M, N), dtype=np.float32)
    def run():
        lib.cblas_sgemm(RowMajor, NoTrans, Trans if tB else NoTrans, M, N, K, 1.0, A.ctypes.data, K,
                        B.ctypes.data, K if tB else N, 0.0, C.ctypes.data, N)
    run()
    ref = A @ (B.T if tB else B)
    err = float(np.abs(C - ref).max())
    best = 1e9
    for _ in range(reps):
        t = time.perf_counter(); run(); t = time.perf_counter() - t
        best = min(best, t)
    print(f"{name:34s} M={M}: {best*1e3:8.3f} ms  {2.0*M*N*K/best/1e9:7.1f} GFLOP/s  (check: max err {err:.1e})")
