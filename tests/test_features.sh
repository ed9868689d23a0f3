#!/usr/bin/env bash
# tests/test_features.sh - ./run features end to end on the synthetic GPT-2
# small (--random-weights, cached) with an SAE the pipeline trains on
# palinka.txt: the browser folder, its data files' shapes (node), the
# Neuronpedia export (--neuronpedia), a token file
# as DATA, the same seed giving the same files; in Debian's chromium when it
# is installed: the index loads without console errors, a search finds a
# latent, a latent page renders its contexts. And the refusals: an SAE that
# does not match the model's hook, an empty token set, a missing SAE.
# Needs the tokenizer files (the cache, as test_eval_cli.sh).
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}

"$bin" --random-weights --L 128 --k 16 --epochs 2 --quiet --out "$tmp/run" palinka.txt >/dev/null 2>"$tmp/e"
check "the pipeline trains an SAE to read" test -s "$tmp/run/sae_weights.safetensors"

"$bin" features --sae "$tmp/run" --random-weights --ctx 64 -o "$tmp/fb" palinka.txt >/dev/null 2>"$tmp/e"; rc=$?
check "features runs (rc $rc): $(tail -c 300 "$tmp/e" | tr '\n' ' ')" test "$rc" -eq 0
check "it reports tokens/s and where the time goes" grep -qE "tokens/s a pass.*forward .* encode .* per-latent upkeep" "$tmp/e"
check "index.html, meta, vocab, index and 2 shards of 64 latents" \
    bash -c 'cd "$1" && test -s index.html -a -s data/meta.js -a -s data/vocab.js -a -s data/index.js -a -s data/s_00000.js -a -s data/s_00001.js -a ! -e data/s_00002.js' _ "$tmp/fb"
check "index.html loads nothing from the network" bash -c '! grep -qE "(src|href)=\"(https?:)?//" "$1/index.html"' _ "$tmp/fb"
if command -v node >/dev/null; then
    check "the data files parse and have their shapes (node)" node tests/features_check.js "$tmp/fb" 128
else skip "the data files' shapes: no node"; fi

# the Neuronpedia export
"$bin" features --sae "$tmp/run" --random-weights --ctx 64 --neuronpedia 50 -o "$tmp/fbn" palinka.txt >/dev/null 2>"$tmp/e"; rc=$?
check "--neuronpedia 50 (rc $rc): 3 batch files" test "$rc" -eq 0 -a -s "$tmp/fbn/neuronpedia/batch-2.json" -a ! -e "$tmp/fbn/neuronpedia/batch-3.json"
if command -v node >/dev/null; then
    check "the Neuronpedia batches parse, have their fields, agree with the browser (node)" node tests/features_np_check.js "$tmp/fbn" 128
else skip "the Neuronpedia batches' fields: no node"; fi

# a token file as DATA, and the same seed giving the same files
"$bin" tokenize --bin "$tmp/tok.bin" palinka.txt >/dev/null 2>"$tmp/e"
"$bin" features --sae "$tmp/run" --random-weights --ctx 64 -o "$tmp/fb2" "$tmp/tok.bin" >/dev/null 2>"$tmp/e"; rc=$?
check "a token file as DATA (rc $rc): $(tail -c 200 "$tmp/e" | tr '\n' ' ')" test "$rc" -eq 0
check "the token file and the text give the same statistics and samples" \
    bash -c 'cmp -s "$1/data/s_00000.js" "$2/data/s_00000.js" && cmp -s "$1/data/index.js" "$2/data/index.js"' _ "$tmp/fb" "$tmp/fb2"
"$bin" features --sae "$tmp/run" --random-weights --ctx 64 --seed 7 -o "$tmp/fb3" palinka.txt >/dev/null 2>"$tmp/e"
check "another --seed draws other quantile samples, the same top windows" \
    bash -c '! cmp -s "$1/data/s_00000.js" "$2/data/s_00000.js" && cmp -s "$1/data/index.js" "$2/data/index.js"' _ "$tmp/fb" "$tmp/fb3"

# in a real browser
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chrome" ]; then
    dump() { # dump HASH: the page's DOM after its scripts ran, console messages added to $tmp/console
        timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chr" --enable-logging=stderr --v=0 \
            --virtual-time-budget=5000 --dump-dom "file://$tmp/fb/index.html$1" 2>>"$tmp/console"
    }
    dump "" >"$tmp/dom0"
    check "chromium: the index lists the 128 latents" grep -q "128 of 128 latents" "$tmp/dom0"
    dump "#q=7" >"$tmp/dom1"
    check "chromium: a search for latent 7 finds it alone" \
        bash -c 'grep -q "1 of 128 latents" "$1" && grep -q "data-i=\"7\"" "$1" && ! grep -q "data-i=\"8\"" "$1"' _ "$tmp/dom1"
    dump "#f=70" >"$tmp/dom2"
    check "chromium: latent 70's page (second shard, loaded on demand) renders its contexts and logits" \
        bash -c 'grep -q "<h2>Latent 70</h2>" "$1" && grep -q "class=\"ctx\"" "$1" && grep -q "Top logits" "$1" && grep -q "<svg" "$1"' _ "$tmp/dom2"
    check "chromium: no console errors on the three pages: $(grep -m2 -iE 'CONSOLE|Uncaught' "$tmp/console" | tail -c 200)" \
        bash -c '! grep -qiE "Uncaught|CONSOLE.*(error|Error)" "$1"' _ "$tmp/console"
else
    skip "the page in a browser: no chromium"
fi

# refusals
expect_fail() { # expect_fail "description" "pattern" args...
    local d=$1 pat=$2; shift 2
    "$bin" features "$@" >/dev/null 2>"$tmp/e"; local rc=$?
    if [ "$rc" -ne 0 ] && grep -qE -- "$pat" "$tmp/e"; then check "$d: exit $rc, '$(head -c 160 "$tmp/e" | tr '\n' ' ')'" true
    else check "$d: exit $rc, stderr: $(head -c 300 "$tmp/e")" false; fi
}
mkdir -p "$tmp/narrow"; cp "$tmp/run/sae_weights.safetensors" "$tmp/narrow/"
sed 's/blocks\.6\.mlp\.hook_pre/blocks.6.hook_resid_pre/' "$tmp/run/cfg.json" >"$tmp/narrow/cfg.json"
: >"$tmp/empty.txt"
"$bin" tokenize --bin "$tmp/empty.bin" "$tmp/empty.txt" >/dev/null 2>&1
expect_fail "an SAE whose d_in does not match its hook" "d_in is 3072.*768" --sae "$tmp/narrow" --random-weights palinka.txt
expect_fail "an empty text" "empty|no tokens|fewer than one window|no text" --sae "$tmp/run" --random-weights "$tmp/empty.txt"
if [ -e "$tmp/empty.bin" ]; then
    expect_fail "an empty token file" "empty|no tokens|fewer than one window" --sae "$tmp/run" --random-weights "$tmp/empty.bin"
else skip "an empty token file: tokenize wrote none"; fi
expect_fail "--tokens under one window" "less than one window" --sae "$tmp/run" --random-weights --ctx 64 --tokens 10 palinka.txt
expect_fail "no SAE in the folder" "no sae_weights.safetensors" --sae "$tmp" --random-weights palinka.txt
expect_fail "an unknown option, with a suggestion" "did you mean --radius" --sae "$tmp/run" --radus 3 palinka.txt
sum=$(cat "$tmp/fb/data/"*.js | cksum)
expect_fail "an empty text, over a good browser folder" "fewer than one window" --sae "$tmp/run" --random-weights -o "$tmp/fb" "$tmp/empty.txt"
check "the good folder survives the refusal unchanged" test "$(cat "$tmp/fb/data/"*.js | cksum)" = "$sum"
finish
