#!/usr/bin/env bash
# tests/test_gpt2_capture.sh - ./run capture end to end on a tiny synthetic
# checkpoint: shapes of the .npy outputs, windows for inputs longer than
# n_ctx, TransformerLens site names, and clear errors for bad input (ids out
# of range, empty input, a missing layer or site, a checkpoint of the wrong
# shape). Python (numpy) reads the .npy files back when it is there.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/gpt2sae_test_capture_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$bin" synth -o "$tmp/m" --n-layer 3 --n-head 2 --n-embd 16 --vocab 60 --n-ctx 8 --seed 5 >/dev/null 2>&1
check "synth a tiny checkpoint (L=3, C=16, V=60, n_ctx=8)" test -f "$tmp/m/model.safetensors"
echo "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19" >"$tmp/ids.txt"   # 19 tokens: 3 windows

"$bin" capture --weights "$tmp/m" --ids "$tmp/ids.txt" -o "$tmp/a.npy" --logits "$tmp/l.npy" 2>"$tmp/err"; rc=$?
check "capture with the defaults (layer 3/2 = 1, mlp_pre) exits 0 (got $rc)" test "$rc" -eq 0
check "it reports 3 windows and blocks.1.mlp.hook_pre" grep -q "3 windows.*blocks.1.mlp.hook_pre" "$tmp/err"
# the windows are independent: each, captured alone, gives the same rows
# (the .npy data is the file's last T x width x 4 bytes)
echo "1 2 3 4 5 6 7 8" >"$tmp/w0.txt"; echo "9 10 11 12 13 14 15 16" >"$tmp/w1.txt"; echo "17 18 19" >"$tmp/w2.txt"
for w in 0 1 2; do
    "$bin" capture --weights "$tmp/m" --ids "$tmp/w$w.txt" -o "$tmp/a$w.npy" --logits "$tmp/l$w.npy" 2>/dev/null
done
data() { tail -c "$2" "$1"; }
check "acts.npy holds float32 [19, 64]" grep -q "'descr': '<f4'.*'shape': (19, 64)" "$tmp/a.npy"
check "logits.npy holds float32 [19, 60]" grep -q "'descr': '<f4'.*'shape': (19, 60)" "$tmp/l.npy"
check "the 19-token capture == its 3 windows captured alone (acts, bit for bit)" \
    cmp -s <(data "$tmp/a.npy" $((19 * 64 * 4))) \
    <(data "$tmp/a0.npy" $((8 * 64 * 4)); data "$tmp/a1.npy" $((8 * 64 * 4)); data "$tmp/a2.npy" $((3 * 64 * 4)))
check "... and the logits, bit for bit" \
    cmp -s <(data "$tmp/l.npy" $((19 * 60 * 4))) \
    <(data "$tmp/l0.npy" $((8 * 60 * 4)); data "$tmp/l1.npy" $((8 * 60 * 4)); data "$tmp/l2.npy" $((3 * 60 * 4)))
if /usr/bin/python3 -c "import numpy" 2>/dev/null; then
    check "numpy reads acts.npy as float32 [19, 64]" test "$(/usr/bin/python3 -c "import numpy,sys; a=numpy.load(sys.argv[1]); print(a.dtype, *a.shape)" "$tmp/a.npy")" = "float32 19 64"
else
    skip "numpy's reading of the .npy: no python3-numpy"
fi
"$bin" capture --weights "$tmp/m" --ids "$tmp/ids.txt" --site blocks.2.hook_resid_post -o "$tmp/b.npy" 2>"$tmp/err"; rc=$?
check "--site blocks.2.hook_resid_post works (rc $rc)" grep -q "layer 2 resid_post" "$tmp/err"
"$bin" capture --weights "$tmp/m" --ids "$tmp/ids.txt" --layer 0 --site attn_out -o "$tmp/c.npy" 2>"$tmp/err"; rc=$?
check "--layer 0 --site attn_out works (rc $rc)" grep -q "layer 0 attn_out" "$tmp/err"

# bad input: each a clear message and a non-zero exit, no output file
fails() { # fails "description" "expected message regex" args...
    local d=$1 re=$2; shift 2
    rm -f "$tmp/x.npy"
    "$bin" capture "$@" -o "$tmp/x.npy" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ "$rc" -ne 0 ] && grep -qE "$re" "$tmp/err" && [ ! -e "$tmp/x.npy" ]; then
        check "$d: $(head -c 200 "$tmp/err")" true
    else
        check "$d (rc $rc): $(cat "$tmp/err")" false
    fi
}
echo "1 2 60" >"$tmp/bad_ids.txt"
fails "id out of range" "token id 60 at position 2.*vocabulary" --weights "$tmp/m" --ids "$tmp/bad_ids.txt"
echo "1 two 3" >"$tmp/word_ids.txt"
fails "a word in the ids file" "word_ids.txt: token 1 .*two" --weights "$tmp/m" --ids "$tmp/word_ids.txt"
: >"$tmp/empty.txt"
fails "empty ids file" "empty.txt: no token ids" --weights "$tmp/m" --ids "$tmp/empty.txt"
fails "missing ids file" "nope.txt" --weights "$tmp/m" --ids "$tmp/nope.txt"
fails "a layer that does not exist" "layer 3 does not exist" --weights "$tmp/m" --ids "$tmp/ids.txt" --layer 3
fails "a TransformerLens layer that does not exist" "layer 7 does not exist" --weights "$tmp/m" --ids "$tmp/ids.txt" --site blocks.7.mlp.hook_pre
fails "a site that does not exist" "unknown site 'mlp_mid'" --weights "$tmp/m" --ids "$tmp/ids.txt" --site mlp_mid
fails "--site and --layer disagree" "names layer 2 but --layer is 1" --weights "$tmp/m" --ids "$tmp/ids.txt" --site blocks.2.mlp.hook_pre --layer 1
fails "no input" "no input" --weights "$tmp/m"
fails "missing weights" "no such file or folder" --weights "$tmp/nothing_here" --ids "$tmp/ids.txt"
fails "-o and --logits naming one file, refused up front" "same file" --weights "$tmp/m" --ids "$tmp/ids.txt" --logits "$tmp/x.npy"
# the tokenizer rule: the --weights folder's own vocab.json is used (a bad one
# is named); and after --, an argument that looks like an option is a file
cp -r "$tmp/m" "$tmp/mt"; echo '{"a": 1}' >"$tmp/mt/vocab.json"; printf '#version: 0.2\n' >"$tmp/mt/merges.txt"
echo "some text" >"$tmp/-t.txt"
"$bin" capture --weights "$tmp/mt" -o "$tmp/t.npy" -- "$tmp/-t.txt" >/dev/null 2>"$tmp/err"; rc=$?
check "a text after -- with --weights DIR: DIR's own vocab.json is the tokenizer (rc $rc): $(head -c 160 "$tmp/err")" \
    bash -c "[ $rc -ne 0 ] && grep -q 'mt/vocab.json' '$tmp/err' && ! grep -q 'unknown option' '$tmp/err'"
# a checkpoint of the wrong shape: wte of another model's width under this config
"$bin" synth -o "$tmp/m2" --n-layer 3 --n-head 2 --n-embd 32 --vocab 60 --n-ctx 8 --seed 5 >/dev/null 2>&1
cp "$tmp/m/config.json" "$tmp/m2/config.json"
fails "a checkpoint whose tensors do not match its config" "wte|shape|expected" --weights "$tmp/m2" --ids "$tmp/ids.txt"
# a failed capture leaves an existing good output alone
cp "$tmp/a.npy" "$tmp/keep.npy"
"$bin" capture --weights "$tmp/m" --ids "$tmp/bad_ids.txt" -o "$tmp/keep.npy" >/dev/null 2>&1
check "a failed capture does not touch an existing output" cmp -s "$tmp/a.npy" "$tmp/keep.npy"
h=$("$bin" capture --help)
check "--help documents the non-overlapping windows" grep -q "NON-OVERLAPPING windows" <<<"$h"
finish
