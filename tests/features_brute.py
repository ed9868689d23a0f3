#!/usr/bin/env python3
"""tests/features_brute.py DIR N NW CTX TOP_K RADIUS NQ PER NB SEED - the
feature statistics by brute force, in plain Python, from the whole latent
matrix, against the browser's data files written by features/ (C).

DIR holds F.f32 (the latents, (NW*CTX, N) float32 little-endian, row-major),
ids.txt and mask.txt (NW*CTX integers each) and fb/ (the browser). Checked
exactly: firing counts, the top windows (positions, in order: activation
descending, ties to the earlier position), the histogram counts over
(0, max], the quantile samples (per interval the PER positions with the
smallest key, the key being splitmix64 of seed, latent and position as
features.h documents it) and the context token ids. Activations are compared
to the 4 significant digits the files keep. Run by tests/test_features.c;
prints one line per check and exits non-zero on a failure.
"""
import array, json, math, os, re, sys

d = sys.argv[1]
N, NW, CTX, K, R, NQ, PER, NB, SEED = (int(a) for a in sys.argv[2:11])
F = array.array("f")
with open(os.path.join(d, "F.f32"), "rb") as f:
    F.frombytes(f.read())
ids = [int(x) for x in open(os.path.join(d, "ids.txt")).read().split()]
mask = [int(x) for x in open(os.path.join(d, "mask.txt")).read().split()]
T = NW * CTX
assert len(F) == T * N and len(ids) == T and len(mask) == T

M64 = (1 << 64) - 1
def key(latent, pos):
    z = (SEED + 0x9E3779B97F4A7C15 * (latent + 1) + 0xBF58476D1CE4E5B9 * pos) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)

def binof(a, mx, nb):
    return min(max(int(math.floor(a * nb / mx)), 0), nb - 1)

def load_js(path):
    text = open(path, encoding="utf-8").read()
    return json.loads(re.sub(r"^[A-Z_]+(\[\d+\])? = ", "", text.strip()).rstrip(";"))

index = load_js(os.path.join(d, "fb", "data", "index.js"))
shards = {}
def latent_data(i):
    k = i // 64
    if k not in shards:
        shards[k] = load_js(os.path.join(d, "fb", "data", "s_%05d.js" % k))
    return shards[k][i - k * 64]

def close(a, b):
    return abs(a - b) <= 1e-3 * abs(b) + 1e-30

bad = {"fires": 0, "top": 0, "hist": 0, "samples": 0, "context": 0}
def ctx_ok(ex, latent, pos):
    w, t = divmod(pos, CTX)
    lo, hi = max(t - R, 0), min(t + R, CTX - 1)
    toks = [ids[w * CTX + u] for u in range(lo, hi + 1)]
    vals = [F[(w * CTX + u) * N + latent] for u in range(lo, hi + 1)]
    return ex[2] == t - lo and ex[3] == toks and all(close(a, b) for a, b in zip(ex[4], vals))

for i in range(N):
    items = [(F[p * N + i], p) for p in range(T) if mask[p] and F[p * N + i] > 0]
    D = latent_data(i)
    if index[i][4] != len(items):
        bad["fires"] += 1
    if not items:
        continue
    mx = max(a for a, _ in items)
    top = sorted(items, key=lambda x: (-x[0], x[1]))[:K]
    if [e[0] for e in D["top"]] != [p for _, p in top] or not all(close(e[1], a) for e, (a, _) in zip(D["top"], top)):
        bad["top"] += 1
    bad["context"] += sum(not ctx_ok(e, i, e[0]) for e in D["top"])
    h = [0] * NB
    for a, _ in items:
        h[binof(a, mx, NB)] += 1
    bad["hist"] += h != D["h"]
    for q in range(NQ):
        inq = [(key(i, p), p) for a, p in items if binof(a, mx, NQ) == q]
        want = [p for _, p in sorted(inq)[:PER]]
        got = D["q"][q]
        if got[2] != len(inq) or [e[0] for e in got[3]] != want:
            bad["samples"] += 1
        bad["context"] += sum(not ctx_ok(e, i, e[0]) for e in got[3])

fails = 0
for what, n in bad.items():
    ok = n == 0
    fails += not ok
    print("  %s  python brute force: %s of %d latents (%d differ)" % ("ok  " if ok else "FAIL", what, N, n))
sys.exit(1 if fails else 0)
