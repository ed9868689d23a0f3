#!/usr/bin/env bash
# tests/test_harvest.sh - ./run harvest end to end on a tiny synthetic GPT-2
# and a token file: the manifest, the rows against ./run capture of the same
# window, float16 shards, a cache extended by a second run equal byte for byte
# to one made at once, and bad input (another hook or model for an existing
# cache, a damaged token file, missing options).
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/gpt2sae_test_harvest_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$bin" synth -o "$tmp/m" --n-layer 3 --n-head 2 --n-embd 16 --vocab 50257 --n-ctx 32 --seed 5 >/dev/null 2>&1
"$bin" synth -o "$tmp/m2" --n-layer 3 --n-head 2 --n-embd 32 --vocab 50257 --n-ctx 32 --seed 5 >/dev/null 2>&1
check "synth two tiny checkpoints" test -f "$tmp/m/model.safetensors" -a -f "$tmp/m2/model.safetensors"
# a token file in llm.c's format: 3000 tokens, an <|endoftext|> every 100
python3 - "$tmp/d.bin" <<'PY'
import struct, sys
n = 3000
toks = [50256 if i % 100 == 0 else (i * 7919) % 50257 for i in range(n)]
open(sys.argv[1], "wb").write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)) + struct.pack("<%dH" % n, *toks))
PY
H="--dataset $tmp/d.bin --weights $tmp/m --hook blocks.1.mlp.hook_pre --hook blocks.2.hook_resid_pre --ctx 16 --shard-windows 10 --batch-windows 4"
"$bin" harvest $H -o "$tmp/c" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "harvest at 2 hooks exits 0 (got $rc)" test "$rc" -eq 0
check "it reports 200 windows x 16 tokens" grep -q "200 windows x 16 tokens at 2 hooks" "$tmp/out"
check "manifest: hooks, widths, ctx, BOS, dtype, complete, 20 shards" python3 - "$tmp/c/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert [h["name"] for h in m["hooks"]] == ["blocks.1.mlp.hook_pre", "blocks.2.hook_resid_pre"], m["hooks"]
assert [h["width"] for h in m["hooks"]] == [64, 16]
assert m["ctx"] == 16 and m["prepend_bos"] is True and m["dtype"] == "float32" and m["complete"] is True
assert len(m["shard_rows"]) == 20 and m["rows"] == 200 * 16 and m["dataset_tokens"] == 3000 and m["random_weights"]
PY
check "shard files: 64 floats x 160 rows at hook 0" test "$(stat -c %s "$tmp/c/shard-000000-h0.bin")" -eq $((160 * 64 * 4))
# window 1 = BOS + file tokens 15..29, captured alone, equals rows 16..31 of shard 0
python3 -c "print(' '.join(['50256'] + [str(50256 if i % 100 == 0 else (i * 7919) % 50257) for i in range(15, 30)]))" >"$tmp/w1.txt"
"$bin" capture --weights "$tmp/m" --ids "$tmp/w1.txt" --site blocks.2.hook_resid_pre -o "$tmp/w1.npy" 2>/dev/null
tail -c $((16 * 16 * 4)) "$tmp/w1.npy" >"$tmp/w1.raw"
dd if="$tmp/c/shard-000000-h1.bin" of="$tmp/s1.raw" bs=1024 skip=1 count=1 2>/dev/null
check "window 1's rows at blocks.2.hook_resid_pre == ./run capture of that window" cmp -s "$tmp/w1.raw" "$tmp/s1.raw"

"$bin" harvest $H --dtype float16 -o "$tmp/c16" --quiet >/dev/null 2>&1
check "--dtype float16: shards of half the bytes" test "$(stat -c %s "$tmp/c16/shard-000000-h0.bin")" -eq $((160 * 64 * 2))
# a cache made in two runs (960 tokens, then all) == one made at once
"$bin" harvest $H --tokens 960 -o "$tmp/c2" --quiet >/dev/null 2>&1
check "--tokens 960: 6 shards" test -f "$tmp/c2/shard-000005-h0.bin" -a ! -f "$tmp/c2/shard-000006-h0.bin"
"$bin" harvest $H -o "$tmp/c2" >"$tmp/out2" 2>"$tmp/err2"; rc=$?
check "the same command without --tokens continues (got $rc)" grep -q "continuing after them" "$tmp/err2"
same=1; for f in "$tmp"/c/*; do cmp -s "$f" "$tmp/c2/$(basename "$f")" || same=0; done
check "the cache made in two runs == the cache made at once, byte for byte" test "$same" -eq 1

"$bin" harvest --dataset "$tmp/d.bin" --weights "$tmp/m" --hook blocks.1.mlp.hook_post --hook blocks.2.hook_resid_pre --ctx 16 --shard-windows 10 -o "$tmp/c" >/dev/null 2>"$tmp/e1"; rc=$?
check "another hook into the cache: exit 1, naming both hooks" eval 'test $rc -eq 1 && grep -q "blocks.1.mlp.hook_pre.*blocks.1.mlp.hook_post" "$tmp/e1"'
"$bin" harvest --dataset "$tmp/d.bin" --weights "$tmp/m2" --hook blocks.1.mlp.hook_pre --hook blocks.2.hook_resid_pre --ctx 16 --shard-windows 10 -o "$tmp/c" >/dev/null 2>"$tmp/e2"; rc=$?
check "another model into the cache: exit 1, naming the weights" eval 'test $rc -eq 1 && grep -q "weights of size" "$tmp/e2"'
"$bin" harvest $H --ctx 8 -o "$tmp/c" >/dev/null 2>"$tmp/e3"; rc=$?
check "another --ctx into the cache: exit 1" eval 'test $rc -eq 1 && grep -q -- "--ctx 16, but 8" "$tmp/e3"'
printf 'XXXX' | dd of="$tmp/d.bin" conv=notrunc 2>/dev/null
"$bin" harvest $H --format llmc -o "$tmp/c3" >/dev/null 2>"$tmp/e4"; rc=$?
check "a token file with a bad magic: exit 1, naming it" eval 'test $rc -eq 1 && grep -q "d.bin" "$tmp/e4"'
"$bin" harvest --dataset "$tmp/d.bin" -o "$tmp/c4" >/dev/null 2>"$tmp/e5"; rc=$?
check "no --hook: usage error (2)" eval 'test $rc -eq 2 && grep -q -- "--hook" "$tmp/e5"'
"$bin" harvest $H --dtype float8 -o "$tmp/c4" >/dev/null 2>"$tmp/e6"; rc=$?
check "--dtype float8: refused" eval 'test $rc -ne 0 && grep -q "float16" "$tmp/e6"'
finish
