#!/usr/bin/env bash
# tests/test_stream.sh - ./run train --cache / --dataset end to end on a tiny
# synthetic GPT-2: the outputs, train_log.csv, the progress lines, exact
# resume (N steps in one run == N/2, then --resume, then the rest: the same
# weights and optimiser state, byte for byte; also after a SIGINT and after
# a simulated stop; a budget that is not a whole number of batches),
# harvesting as it trains, every --arch of sae/arch.h (the same exact resume
# for each, its folder loaded as SAELens 6 does by tests/saelens_load.py; a
# stop and --checkpoint-every for topk and jumprelu; live harvest for topk),
# and bad input (a truncated shard, an unknown hook, a budget under one
# batch, a resume with another seed, batch or architecture, options that
# belong to --arch).
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/gpt2sae_test_stream_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$bin" synth -o "$tmp/m" --n-layer 3 --n-head 2 --n-embd 16 --vocab 50257 --n-ctx 32 --seed 5 >/dev/null 2>&1
python3 - "$tmp/d.bin" <<'PY'
import struct, sys
n = 6000
toks = [50256 if i % 100 == 0 else (i * 7919) % 50257 for i in range(n)]
open(sys.argv[1], "wb").write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)) + struct.pack("<%dH" % n, *toks))
PY
"$bin" harvest --dataset "$tmp/d.bin" --weights "$tmp/m" --hook blocks.1.mlp.hook_pre --ctx 16 --shard-windows 10 -o "$tmp/c" --quiet >/dev/null 2>&1
check "a cache of 400 windows" test -f "$tmp/c/manifest.json"
C="--cache $tmp/c --batch 256 --latents 128 --k 8 --lr 1e-3 --log-every 5"
same_run() { # same_run A B: the same weights, optimiser state, and log (but its last column, tokens/s)
    cmp -s "$1/sae_weights.safetensors" "$2/sae_weights.safetensors" && cmp -s "$1/state.bin" "$2/state.bin" &&
        diff <(sed 's/,[^,]*$//' "$1/train_log.csv") <(sed 's/,[^,]*$//' "$2/train_log.csv") >/dev/null
}

"$bin" train $C --tokens 20480 -o "$tmp/A" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "train --cache --tokens 20480 exits 0 (got $rc)" test "$rc" -eq 0
check "it writes sae_weights.safetensors, cfg.json, train_log.csv, state.bin" test -f "$tmp/A/sae_weights.safetensors" -a -f "$tmp/A/cfg.json" -a -f "$tmp/A/train_log.csv" -a -f "$tmp/A/state.bin"
check "the report: 80 steps, 20480 tokens, max RSS" grep -q "done after 80 steps, 20480 tokens.*max RSS" "$tmp/out"
check "train_log.csv: a header and a line every 5 steps (16)" eval 'test "$(wc -l <"$tmp/A/train_log.csv")" -eq 17 && head -1 "$tmp/A/train_log.csv" | grep -q "^step,tokens,loss,mse,sparsity,decor,l0,fvu,dead_pct,tokens_per_s$"'
check "not a terminal: plain progress lines with tokens, tok/s, ETA, loss, L0, FVU, dead" grep -q "^train: 20.5k/20.5k tokens .* tok/s  ETA .* loss .* L0 .* FVU .* dead .*%$" "$tmp/err"
"$bin" train $C --tokens 20480 -o "$tmp/Q" --quiet >"$tmp/qo" 2>"$tmp/qe"
check "--quiet: nothing printed" test ! -s "$tmp/qo" -a ! -s "$tmp/qe"
check "the same run twice: the same weights" same_run "$tmp/A" "$tmp/Q"

"$bin" train $C --tokens 10240 -o "$tmp/B" --quiet
"$bin" train $C --tokens 20480 --resume "$tmp/B" --quiet; rc=$?
check "N/2 steps, then --resume to N (exit $rc) == N steps in one run, byte for byte" same_run "$tmp/A" "$tmp/B"
"$bin" train $C --tokens 10000 -o "$tmp/R" >"$tmp/ro" 2>/dev/null
"$bin" train $C --tokens 20480 --resume "$tmp/R" --quiet
check "--tokens 10000: 39 whole batches (9984 tokens); then --resume to N == one run, byte for byte" eval 'grep -q "done after 39 steps, 9984 tokens" "$tmp/ro" && same_run "$tmp/A" "$tmp/R"'
"$bin" train $C --tokens 100 -o "$tmp/X" >/dev/null 2>"$tmp/e0"; rc=$?
check "--tokens 100 with --batch 256: refused, less than one batch (exit $rc)" eval 'test $rc -eq 1 && grep -q "less than one batch of 256" "$tmp/e0" && test ! -e "$tmp/X"'
"$bin" train $C --tokens 20480 --stop-after-steps 33 -o "$tmp/S" >"$tmp/so" 2>/dev/null; rc=$?
check "a stop after 33 steps: exit 130, a checkpoint written" eval 'test $rc -eq 130 && grep -q "stopped (checkpoint written" "$tmp/so"'
"$bin" train $C --tokens 20480 --resume "$tmp/S" --quiet
check "stopped at 33, resumed == one run, byte for byte" same_run "$tmp/A" "$tmp/S"
"$bin" train $C --tokens 20480 --checkpoint-every 3000 -o "$tmp/K" --quiet
check "--checkpoint-every 3000: the same result" same_run "$tmp/A" "$tmp/K"

# a real SIGINT in the middle of a longer run, then --resume
"$bin" train $C --tokens 2M --log-every 50 -o "$tmp/I" --quiet >/dev/null & pid=$!
sleep 2; kill -INT $pid; wait $pid; rc=$?
check "SIGINT: exit 130 (got $rc), a checkpoint in the folder" eval 'test $rc -eq 130 && test -f "$tmp/I/state.bin"'
steps=$(tail -1 "$tmp/I/train_log.csv" | cut -d, -f1)
budget=$(( (${steps:-0} / 50 + 2) * 50 * 256 ))
"$bin" train $C --tokens $budget --log-every 50 -o "$tmp/J" --quiet
"$bin" train $C --tokens $budget --log-every 50 --resume "$tmp/I" --quiet
check "interrupted by SIGINT (after step $steps), resumed to $budget tokens == one run" same_run "$tmp/J" "$tmp/I"

"$bin" train $C --tokens 2M -o "$tmp/TT" --quiet >/dev/null & pid=$!
sleep 1; kill -TERM $pid; wait $pid; rc=$?
check "SIGTERM: exit 143 (got $rc), a checkpoint written" eval 'test $rc -eq 143 && test -f "$tmp/TT/state.bin"'

# harvesting as it trains
D="--dataset $tmp/d.bin --weights $tmp/m --hook blocks.1.mlp.hook_pre --ctx 16 --batch 256 --latents 128 --k 8 --lr 1e-3"
"$bin" train $D --tokens 12800 -o "$tmp/L" --quiet; rc=$?
check "train --dataset --hook (live harvest) exits 0 (got $rc)" test "$rc" -eq 0 -a -f "$tmp/L/sae_weights.safetensors"
"$bin" train $D --tokens 6400 -o "$tmp/L2" --quiet
"$bin" train $D --tokens 12800 --resume "$tmp/L2" --quiet
check "live harvest: half, --resume, half == one run" same_run "$tmp/L" "$tmp/L2"

# every architecture of sae/arch.h, streamed from the cache
for a in topk batchtopk jumprelu relu gated; do
    case $a in topk | batchtopk) K="--k 8" ;; *) K="" ;; esac
    CA="--cache $tmp/c --batch 256 --latents 128 $K --lr 1e-3 --log-every 5 --arch $a"
    "$bin" train $CA --tokens 20480 -o "$tmp/A_$a" >"$tmp/out" 2>"$tmp/err"; rc=$?
    check "--arch $a: exits 0 (got $rc), 80 steps, L0/FVU/dead in the progress line" eval 'test $rc -eq 0 &&
        grep -q "done after 80 steps, 20480 tokens" "$tmp/out" && grep -q "^train: 20.5k/20.5k tokens .* L0 .* FVU .* dead .*%$" "$tmp/err"'
    saved=$a; case $a in batchtopk) saved=jumprelu ;; relu) saved=standard ;; esac
    check "--arch $a: a SAELens folder (\"architecture\": \"$saved\") and state.bin" eval 'grep -q "\"architecture\": \"$saved\"" "$tmp/A_$a/cfg.json" &&
        test -f "$tmp/A_$a/sae_weights.safetensors" -a -f "$tmp/A_$a/state.bin"'
    check "--arch $a: train_log.csv, a header with l0,fvu,dead_pct and a line every 5 steps" eval 'test "$(wc -l <"$tmp/A_$a/train_log.csv")" -eq 17 &&
        head -1 "$tmp/A_$a/train_log.csv" | grep -q "^step,tokens,loss,recon,sparsity,aux,l0,fvu,dead_pct,grad_norm,lr,tokens_per_s$"'
    "$bin" train $CA --tokens 10240 -o "$tmp/B_$a" --quiet
    "$bin" train --cache "$tmp/c" --batch 256 --log-every 5 --tokens 20480 --resume "$tmp/B_$a" --quiet; rc=$?
    check "--arch $a: N/2 steps, then --resume to N (exit $rc) == N steps in one run, byte for byte" same_run "$tmp/A_$a" "$tmp/B_$a"
done
# the streamed folders load as SAELens 6 loads them (tests/saelens_load.py), when PyTorch is there
if /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
    /usr/bin/python3 - "$tmp/c/shard-000000-h0.bin" "$tmp/x.safetensors" <<'EOF'
import json, struct, sys
import numpy as np
x = np.ascontiguousarray(np.fromfile(sys.argv[1], dtype="<f4").reshape(-1, 64)[:16])
h = json.dumps({"X": {"dtype": "F32", "shape": list(x.shape), "data_offsets": [0, x.nbytes]}}).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + x.tobytes())
EOF
    for a in topk batchtopk jumprelu relu gated; do
        check "--arch $a: tests/saelens_load.py loads the streamed folder as SAELens 6 does" \
            /usr/bin/python3 tests/saelens_load.py "$tmp/A_$a" "$tmp/x.safetensors" "$tmp/sl_$a.out"
    done
else
    skip "tests/saelens_load.py: no python3 with torch and numpy"
fi
for a in topk jumprelu; do
    case $a in topk) K="--k 8" ;; *) K="" ;; esac
    CA="--cache $tmp/c --batch 256 --latents 128 $K --lr 1e-3 --log-every 5 --arch $a"
    "$bin" train $CA --tokens 20480 --stop-after-steps 33 -o "$tmp/S_$a" >/dev/null 2>&1; rc=$?
    "$bin" train $CA --tokens 20480 --resume "$tmp/S_$a" --quiet 2>"$tmp/e_$a"; rc3=$?
    "$bin" train --cache "$tmp/c" --batch 256 --log-every 5 --tokens 20480 --resume "$tmp/S_$a" --quiet; rc2=$?
    check "--arch $a: stopped at 33 (exit $rc), resumed (exit $rc2) == one run, byte for byte" eval 'test $rc -eq 130 -a $rc2 -eq 0 && same_run "$tmp/A_$a" "$tmp/S_$a"'
    check "--arch $a: --resume with the architecture's options (--latents, --lr) again is refused (exit $rc3)" eval 'test $rc3 -eq 2 && grep -q "takes the architecture.s options from the checkpoint" "$tmp/e_$a"'
    "$bin" train $CA --tokens 20480 --checkpoint-every 3000 -o "$tmp/K_$a" --quiet
    check "--arch $a --checkpoint-every 3000: the same result" same_run "$tmp/A_$a" "$tmp/K_$a"
done
"$bin" train --cache "$tmp/c" --arch jumprelu --batch 256 --tokens 30000 --resume "$tmp/B_topk" >/dev/null 2>"$tmp/e5"; rc=$?
check "--resume of a topk SAE with --arch jumprelu: refused, naming both" eval 'test $rc -eq 1 && grep -q "holds a topk SAE, not jumprelu" "$tmp/e5"'
"$bin" train --cache "$tmp/c" --arch topk --tokens 30000 --resume "$tmp/A" -o "$tmp/X" 2>"$tmp/e7"; rc7=$?
check "--arch topk --resume of the seed's SAE: refused (exit $rc7)" eval 'test $rc7 -eq 2 && grep -q "holds the seed.s SAE" "$tmp/e7"'
"$bin" train --cache "$tmp/c" --lambda 3 --tokens 1000 -o "$tmp/X" 2>"$tmp/e8"; rc=$?
check "--lambda without --arch: usage error (exit $rc)" eval 'test $rc -eq 2 && grep -q "options of --arch" "$tmp/e8"'
"$bin" train --cache "$tmp/c" --arch topk --latents 128 --k 200 --tokens 1000 -o "$tmp/X" 2>"$tmp/e9"; rc=$?
check "--arch topk --k 200 of 128 latents: refused, naming k (exit $rc)" eval 'test $rc -ne 0 && grep -q "k = 200" "$tmp/e9" && test ! -e "$tmp/X"'
DA="--dataset $tmp/d.bin --weights $tmp/m --hook blocks.1.mlp.hook_pre --ctx 16 --batch 256 --latents 128 --k 8 --lr 1e-3 --arch topk"
"$bin" train $DA --tokens 12800 -o "$tmp/LA" --quiet; rc=$?
"$bin" train $DA --tokens 6400 -o "$tmp/LA2" --quiet
"$bin" train --dataset "$tmp/d.bin" --weights "$tmp/m" --hook blocks.1.mlp.hook_pre --ctx 16 --batch 256 --tokens 12800 --resume "$tmp/LA2" --quiet
check "--arch topk harvesting as it trains (exit $rc): half, --resume, half == one run" eval 'test $rc -eq 0 && same_run "$tmp/LA" "$tmp/LA2"'

# bad input
"$bin" train $C --tokens 1000 --seed 3 --resume "$tmp/B" >/dev/null 2>"$tmp/e1"; rc=$?
check "--resume with another --seed: refused, naming the seed" eval 'test $rc -eq 1 && grep -q "give --seed 0" "$tmp/e1"'
"$bin" train $C --batch 128 --tokens 30000 --resume "$tmp/B" >/dev/null 2>"$tmp/e10"; rc=$?
check "--resume with another --batch: refused, naming it" eval 'test $rc -eq 1 && grep -q "give --batch 256" "$tmp/e10"'
"$bin" train --cache "$tmp/c" --hook blocks.2.hook_resid_pre --tokens 1000 -o "$tmp/X" >/dev/null 2>"$tmp/e2"; rc=$?
check "a hook the cache does not hold: refused, listing its hooks" eval 'test $rc -eq 1 && grep -q "it holds blocks.1.mlp.hook_pre" "$tmp/e2"'
truncate -s 100 "$tmp/c/shard-000003-h0.bin"
"$bin" train $C --tokens 1000 -o "$tmp/X" >/dev/null 2>"$tmp/e3"; rc=$?
check "a truncated shard: refused, naming it" eval 'test $rc -eq 1 && grep -q "shard-000003-h0.bin.*truncated" "$tmp/e3"'
"$bin" train --cache "$tmp/c" --dataset "$tmp/d.bin" -o "$tmp/X" >/dev/null 2>"$tmp/e4"; rc=$?
check "--cache and --dataset together: usage error" test "$rc" -eq 2
finish
