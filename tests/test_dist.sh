#!/usr/bin/env bash
# tests/test_dist.sh - the distributed trainer under mpirun (dist/): the
# data-parallel and latent-sharded checks of tests/test_dist.c with 2, 3 and 4
# ranks (oversubscribed on a small machine), the fault drill (a rank that
# dies ends the job with an error, within a bounded time), `./run train
# --ranks N` (sharded, AuxK, resume, the batch rule), GPU ranks (the
# emulated tests/test_cuda_dist on 2 ranks; `--device cuda` where there is a
# GPU) and the harvest split across ranks. Skipped when the build has no MPI.
. "$(dirname "$0")/lib.sh"
t=$BUILD/tests/test_dist
if "$t" 2>/dev/null | grep -q 'this build has no MPI'; then   # its one skip line
    skip "mpirun: this build has no MPI (install openmpi-bin libopenmpi-dev; make says \"MPI: yes\")"
    finish
fi
command -v mpirun >/dev/null || { skip "mpirun not on the PATH"; finish; }
# Open MPI refuses root unless told; CI and containers run as root
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# under SAN=1: Open MPI's allocations are not the engine's leaks
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan_mpi.supp:fast_unwind_on_malloc=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
mpi="mpirun --oversubscribe -np"
for np in 2 3 4; do   # 3: uneven shares of the latents
    out=$(timeout 120 $mpi $np "$t" 2>&1); rc=$?
    check "np=$np: test_dist exits 0 (rc $rc)" test "$rc" -eq 0
    check "np=$np: $np ranks, no failed check" \
        bash -c 'grep -q "ranks: '$np'" <<<"$1" && grep -qE "^[1-9][0-9]* passed, 0 failed" <<<"$1"' _ "$out"
    echo "$out" | grep -E '^  (ok|FAIL)' | sed "s/^/    /"
done
# fault: rank 1 exits at step 4 while rank 0 waits in the all-reduce
start=$(date +%s)
out=$(timeout 60 $mpi 2 "$t" --die 1 2>&1); rc=$?
took=$(( $(date +%s) - start ))
check "fault: the job ends with an error (rc $rc, not 0 and not the 60 s timeout's 124)" \
    test "$rc" -ne 0 -a "$rc" -ne 124
check "fault: it ends within 30 s (took ${took} s)" test "$took" -le 30
check "fault: mpirun reports the process that exited" grep -qiE "exited with non-zero status|exited on signal" <<<"$out"
echo "$out" | grep -iE "rank|exit" | head -4 | sed "s/^/    /"
# ./run train --ranks 2 against --ranks 1: the same losses.csv within 1e-5 relative
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/x.npy" <<'PY'
import random, struct, sys
random.seed(1)
T, d = 1024, 24
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (T, d)
h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
with open(sys.argv[1], 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode())
    f.write(struct.pack('<%df' % (T * d), *[random.gauss(0.3, 1) for _ in range(T * d)]))
PY
args=(--acts "$tmp/x.npy" --steps 100 --batch 96 --latents 96 --k 6 --quiet)
# worst_vs A B: the worst relative difference of the loss column over two runs' losses.csv
# (100 rows each, or "rows=N"); le W T: W is a number <= T
worst_vs() { paste -d, "$1" "$2" 2>/dev/null | awk -F, 'NR > 1 { r = ($2 - $10) / $2; if (r < 0) r = -r; if (r > w) w = r; n++ } END { if (n != 100) print "rows=" n; else printf "%.2e\n", w + 0 }'; }
le() { awk -v w="$1" -v t="$2" 'BEGIN { exit !(w ~ /^[0-9.e+-]+$/ && w + 0 <= t + 0) }'; }
timeout 120 "$bin" train --ranks 1 "${args[@]}" -o "$tmp/r1" 2>"$tmp/e1"; rc1=$?
timeout 120 "$bin" train --ranks 2 "${args[@]}" -o "$tmp/r2" 2>"$tmp/e2"; rc2=$?
check "train --ranks 1 and --ranks 2 exit 0 (rc $rc1, $rc2)" test "$rc1" -eq 0 -a "$rc2" -eq 0
check "train --ranks 2 wrote the SAELens checkpoint" test -s "$tmp/r2/sae_weights.safetensors" -a -s "$tmp/r2/cfg.json"
worst=$(worst_vs "$tmp/r1/losses.csv" "$tmp/r2/losses.csv")
check "train --ranks 2: 100 steps' losses within 1e-5 relative of --ranks 1 (worst $worst)" \
    le "$worst" 1e-5
# latent sharding from the command: --shard-latents on 2 ranks against --ranks 1 (AuxK does not
# start here: no latent is dead within 9600 tokens; see below), losses and the checkpoint's weights
timeout 120 "$bin" train --ranks 2 --shard-latents "${args[@]}" -o "$tmp/sh" 2>"$tmp/e5"; rc5=$?
check "train --ranks 2 --shard-latents exits 0 (rc $rc5)" test "$rc5" -eq 0
worst=$(worst_vs "$tmp/r1/losses.csv" "$tmp/sh/losses.csv")
check "--shard-latents: 100 steps' losses within 1e-5 relative of --ranks 1 (worst $worst)" \
    le "$worst" 1e-5
wdiff=$(python3 - "$tmp/r1/sae_weights.safetensors" "$tmp/sh/sae_weights.safetensors" <<'PY' 2>&1
import json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: struct.unpack('<%df' % ((v['data_offsets'][1] - v['data_offsets'][0]) // 4),
                             b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]])
            for k, v in h.items() if k != '__metadata__'}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert sorted(a) == sorted(b) and all(len(a[k]) == len(b[k]) for k in a), 'different tensors'
print('%.2e' % max(abs(x - y) for k in a for x, y in zip(a[k], b[k])))
PY
)
check "--shard-latents: the checkpoint (gathered from the ranks) within 1e-4 of --ranks 1's (max diff $wdiff)" \
    le "$wdiff" 1e-4
# AuxK under latent sharding: with 384 latents and --dead-tokens 200 latents die within the run;
# --ranks 1 (one process's AuxK) against --ranks 3 --shard-latents (each rank's dead latents, merged)
aux=(--acts "$tmp/x.npy" --steps 100 --batch 96 --latents 384 --k 6 --quiet --dead-tokens 200 --k-aux 2)
timeout 120 "$bin" train --ranks 1 "${aux[@]}" -o "$tmp/a1" 2>"$tmp/e6"; rc6=$?
timeout 120 "$bin" train --ranks 3 --shard-latents "${aux[@]}" -o "$tmp/a3" 2>"$tmp/e7"; rc7=$?
check "AuxK: --ranks 1 and --ranks 3 --shard-latents with --dead-tokens 200 exit 0 (rc $rc6, $rc7)" test "$rc6" -eq 0 -a "$rc7" -eq 0
naux=$(awk -F, 'NR > 1 && $5 > 0 && $8 * 384 > 2' "$tmp/a1/losses.csv" 2>/dev/null | wc -l)   # more dead than k_aux
w=$(paste -d, "$tmp/a1/losses.csv" "$tmp/a3/losses.csv" 2>/dev/null | awk -F, 'NR > 1 { for (c = 2; c <= 5; c += 3) { r = ($c - $(c + 8)) / ($c == 0 ? 1 : $c); if (r < 0) r = -r; if (r > w) w = r } n++ } END { if (n != 100) print "rows=" n; else printf "%.2e\n", w + 0 }')
check "AuxK sharded over 3 ranks: loss and aux of 100 steps within 1e-5 relative (worst $w; AuxK with more dead latents than --k-aux on $naux steps, >= 20 wanted)" \
    eval 'le "$w" 1e-5 && [ "$naux" -ge 20 ]'
# resume with another number of ranks (train_state.bin: the whole model and Adam's moments):
# 50 steps on 2 ranks, then --resume on 1 and on 4 ranks up to 100, and 50 sharded steps on 2
# ranks resumed data-parallel on 1: every one of the 100 losses within 1e-5 of the unbroken
# --ranks 1 run's. The 1-rank resume first finds 7 rows logged after its checkpoint (as a run
# that died after it leaves) and cuts them.
half=("${args[@]/100/50}")
for c in "2 1" "2 4" "2s 1"; do
    set -- $c
    first=(--ranks ${1%s}); [ "$1" != "${1%s}" ] && first+=(--shard-latents)
    o=$tmp/rs$1-$2
    timeout 120 "$bin" train "${first[@]}" "${half[@]}" -o "$o" 2>"$tmp/e3"; rc3=$?
    [ "$2" = 1 ] && [ "$1" = 2 ] && for x in 1 2 3 4 5 6 7; do echo "$((50 + x)),9,9,0,0,1,1,0" >>"$o/losses.csv"; done
    timeout 120 "$bin" train --ranks $2 "${args[@]}" -o "$o" --resume 2>"$tmp/e4"; rc4=$?
    check "resume: 50 steps on ${first[*]}, then --resume on $2 rank(s) (rc $rc3, $rc4)" test "$rc3" -eq 0 -a "$rc4" -eq 0
    check "resume ${first[*]} -> $2: losses.csv has steps 1..100 once each" \
        bash -c 'cut -d, -f1 "$1" | tail -n +2 | tr "\n" " " | grep -qx "$(seq -s " " 1 100) "' _ "$o/losses.csv"
    w=$(worst_vs "$tmp/r1/losses.csv" "$o/losses.csv")
    check "resume ${first[*]} -> $2: all 100 losses within 1e-5 relative of the unbroken run (worst $w)" le "$w" 1e-5
done
# a rank dies mid-run: the job ends with an error (no hang), and the run resumes from its last
# checkpoint (step 60 of --save-every 30) with another number of ranks, equal to the unbroken run
o=$tmp/killed
start=$(date +%s)
GPT2SAE_DIST_DIE=1:75 timeout 60 "$bin" train --ranks 2 "${args[@]}" --save-every 30 -o "$o" >"$tmp/e8" 2>&1; rc=$?
took=$(( $(date +%s) - start ))
check "train --ranks 2, rank 1 dies at step 75: the job ends with an error in ${took} s (rc $rc; not 0, not the timeout's 124)" \
    test "$rc" -ne 0 -a "$rc" -ne 124 -a "$took" -le 30
timeout 120 "$bin" train --ranks 1 "${args[@]}" -o "$o" --resume 2>"$tmp/e9"; rc=$?
w=$(worst_vs "$tmp/r1/losses.csv" "$o/losses.csv")
check "after the crash, --resume on 1 rank from step 60: 100 losses within 1e-5 of the unbroken run (rc $rc, worst $w)" \
    eval '[ "$rc" -eq 0 ] && le "$w" 1e-5'
# without the training state: a clear error, not a silent restart
rm -f "$tmp/rs2-4/train_state.bin"
out=$(timeout 60 "$bin" train --ranks 2 "${args[@]}" -o "$tmp/rs2-4" --resume 2>&1); rc=$?
check "resume without train_state.bin: exits non-zero, names the file (rc $rc)" \
    bash -c '[ "$1" -ne 0 ] && grep -q "train_state.bin" <<<"$2"' _ "$rc" "$out"
# the batch rule: without --batch, 256 or all T tokens when fewer (a note); a --batch over T or
# under the ranks is one line naming the option, said before mpirun starts
python3 - "$tmp/small.npy" <<'PY'
import struct, sys
T, d = 100, 8
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (T, d)
h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
with open(sys.argv[1], 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode())
    f.write(struct.pack('<%df' % (T * d), *[((i * 37) % 101) / 50.0 - 1 for i in range(T * d)]))
PY
out=$(timeout 60 "$bin" train --ranks 2 --acts "$tmp/small.npy" --steps 3 --latents 16 --k 2 -o "$tmp/sm" 2>&1); rc=$?
check "--ranks 2 on 100 tokens without --batch: trains (rc $rc) with a note saying --batch 100" \
    bash -c '[ "$1" -eq 0 ] && grep -q "note: .*100 tokens.*--batch 100" <<<"$2" && [ $(wc -l < "$3") -eq 4 ]' _ "$rc" "$out" "$tmp/sm/losses.csv"
for b in 500 1; do
    out=$(timeout 60 "$bin" train --ranks 2 --acts "$tmp/small.npy" --steps 3 --batch $b -o "$tmp/sm$b" 2>&1); rc=$?
    check "--ranks 2 --batch $b on 100 tokens: exit 2 with one line naming --batch (rc $rc: $(head -c 120 <<<"$out"))" \
        bash -c '[ "$1" -eq 2 ] && [ $(wc -l <<<"$2") -eq 1 ] && grep -q -- "--batch '$b'" <<<"$2"' _ "$rc" "$out"
done
out=$(timeout 60 $mpi 2 "$bin" train --acts "$tmp/small.npy" --steps 3 --batch 500 -o "$tmp/sm3" 2>&1); rc=$?
check "mpirun -np 2 ... --batch 500: exits non-zero, the error said once (rc $rc)" \
    bash -c '[ "$1" -ne 0 ] && [ $(grep -c -- "--batch 500: more than" <<<"$2") -eq 1 ] && ! grep -q MPI_ABORT <<<"$2"' _ "$rc" "$out"
# GPU ranks (--device cuda, dist/dp.h): the emulated twin of tests/test_cuda_dist.c (every kernel
# on the CPU) on 2 ranks against the CPU's one process, and its fault drills: rank 1's step fails
# with an error (--fail 1), rank 1 exits abruptly (--die 1); both jobs end with an error, soon
te=$BUILD/tests/test_cuda_dist_emu
if [ -x "$te" ]; then
    out=$(timeout 300 $mpi 2 "$te" 2>&1); rc=$?
    check "GPU ranks (emulated), np=2: exits 0 (rc $rc), 2 ranks, no failed check" \
        bash -c '[ "$1" -eq 0 ] && grep -q "ranks: 2" <<<"$2" && grep -qE "^[1-9][0-9]* passed, 0 failed" <<<"$2"' _ "$rc" "$out"
    echo "$out" | grep -E '^  (ok|FAIL)' | sed "s/^/    /"
    for how in fail die; do
        start=$(date +%s)
        out=$(timeout 60 $mpi 2 "$te" --$how 1 2>&1); rc=$?
        took=$(( $(date +%s) - start ))
        [ $how = fail ] && said="rank 1: a share of" || said="exited with non-zero status|exited on signal"
        check "GPU ranks (emulated), rank 1 --$how at step 3: the job ends with an error in ${took} s (rc $rc; not 0, not the timeout's 124; says '$said')" \
            bash -c '[ "$1" -ne 0 ] && [ "$1" -ne 124 ] && [ "$2" -le 30 ] && grep -qE "$4" <<<"$3"' _ "$rc" "$took" "$out" "$said"
    done
else
    skip "GPU ranks (emulated): $te not built (EMU=0)"
fi
# ./run train --device cuda: refused with --shard-latents (any machine); on a machine without a
# GPU one line before mpirun starts. Then, on the GPU or else on the emulator when the build has
# an emulated engine ($BUILD/gpt2sae_emu: the same objects with cuda/emu's kernels), --ranks 2 on
# the GPU against --ranks 1 on the GPU (1e-5) and on the CPU (1e-4: the GPU sums in another
# order, as tests/test_cuda_arch.c allows), and a GPU checkpoint resumed on the CPU
out=$(timeout 60 "$bin" train --ranks 2 --device cuda --shard-latents "${args[@]}" -o "$tmp/gs" 2>&1); rc=$?
check "train --device cuda --shard-latents: exit 2, one line naming both (rc $rc)" \
    bash -c '[ "$1" -eq 2 ] && [ $(wc -l <<<"$2") -eq 1 ] && grep -q -- "--device cuda: --shard-latents" <<<"$2"' _ "$rc" "$out"
gbin=$bin
if [ ! -x "$BUILD/tests/test_cuda_dist" ] || "$BUILD/tests/test_cuda_dist" 2>/dev/null | grep -q "skip  no CUDA device"; then
    out=$(timeout 60 "$bin" train --ranks 2 --device cuda "${args[@]}" -o "$tmp/g0" 2>&1); rc=$?
    check "no GPU: train --ranks 2 --device cuda exits 1 with one line (rc $rc: $(head -c 100 <<<"$out"))" \
        bash -c '[ "$1" -eq 1 ] && [ $(wc -l <<<"$2") -eq 1 ] && grep -q "no usable GPU" <<<"$2"' _ "$rc" "$out"
    gbin=; [ -x "$BUILD/gpt2sae_emu" ] && gbin=$BUILD/gpt2sae_emu
fi
if [ -n "$gbin" ]; then
    g=$(basename "$gbin")
    timeout 300 "$gbin" train --ranks 1 --device cuda "${args[@]}" -o "$tmp/g1" 2>"$tmp/eg1"; rc1=$?
    timeout 300 "$gbin" train --ranks 2 --device cuda "${args[@]}" -o "$tmp/g2" 2>"$tmp/eg2"; rc2=$?
    check "$g train --ranks 1 and 2 --device cuda exit 0 (rc $rc1, $rc2), the checkpoint written" \
        test "$rc1" -eq 0 -a "$rc2" -eq 0 -a -s "$tmp/g2/sae_weights.safetensors" -a -s "$tmp/g2/train_state.bin"
    w=$(worst_vs "$tmp/g1/losses.csv" "$tmp/g2/losses.csv")
    check "$g train --ranks 2 --device cuda: 100 losses within 1e-5 relative of --ranks 1 --device cuda (worst $w)" le "$w" 1e-5
    w=$(worst_vs "$tmp/r1/losses.csv" "$tmp/g2/losses.csv")
    check "$g train --ranks 2 --device cuda: 100 losses within 1e-4 relative of --ranks 1 on the CPU (worst $w)" le "$w" 1e-4
    o=$tmp/gr
    timeout 300 "$gbin" train --ranks 2 --device cuda "${half[@]}" -o "$o" 2>"$tmp/eg3"; rc3=$?
    timeout 300 "$bin" train --ranks 1 "${args[@]}" -o "$o" --resume 2>"$tmp/eg4"; rc4=$?
    w=$(worst_vs "$tmp/r1/losses.csv" "$o/losses.csv")
    check "$g: 50 steps on 2 GPU ranks, --resume on 1 CPU rank (rc $rc3, $rc4): 100 losses within 1e-4 of the CPU's (worst $w)" \
        eval '[ "$rc3" -eq 0 ] && [ "$rc4" -eq 0 ] && le "$w" 1e-4'
else
    skip "train --ranks 2 --device cuda: no CUDA device here, and no $BUILD/gpt2sae_emu"
fi
# harvest split across ranks (harvest/harvest_dist.c): `mpirun -np N ./run harvest`, each
# rank writing its own block of shards, rank 0 the manifest; the cache byte-identical to a
# one-process harvest (the same rows in the same order: every shard and the manifest) with 2
# ranks and with 3 (uneven blocks), at two hooks, with --exclude-special (shards of different
# row counts). A complete cache is left as it is; a partial one-process cache is refused.
hv=$tmp/hv; mkdir -p "$hv"
"$bin" synth -o "$hv/m" --n-layer 3 --n-head 2 --n-embd 16 --vocab 50257 --n-ctx 32 --seed 5 >/dev/null 2>&1
python3 -c 'import random, struct, sys
random.seed(3); t = [random.choice([50256] + list(range(1000))) for _ in range(3000)]
open(sys.argv[1], "wb").write(struct.pack("<256i", 20240520, 1, len(t), *[0] * 253) + struct.pack("<3000H", *t))' "$hv/d.bin"
# 200 windows of 16 tokens, 7 a shard: 29 shards, the last of 4 windows
H0=(--dataset "$hv/d.bin" --weights "$hv/m" --hook blocks.1.mlp.hook_pre --hook blocks.2.hook_resid_pre --ctx 16
    --shard-windows 7 --batch-windows 4 --exclude-special)
H=("${H0[@]}" --quiet)
"$bin" harvest "${H[@]}" -o "$hv/c1" >/dev/null 2>"$hv/e1"; rc=$?
check "harvest, one process: exits 0 (rc $rc)" test "$rc" -eq 0
for np in 2 3; do
    timeout 120 $mpi $np "$bin" harvest "${H0[@]}" -o "$hv/c$np" >"$hv/o$np" 2>&1; rc=$?
    check "mpirun -np $np harvest exits 0 (rc $rc)" test "$rc" -eq 0
    w0=$(( 29 / np * 7 ))   # rank 0's block: shards [0, 29/np), 7 windows each
    check "harvest np=$np: rank 0 harvested its block alone ($w0 of the 200 windows)" grep -q "harvest: $w0/$w0 windows" "$hv/o$np"
    diffs=$(cd "$hv/c1" && for f in *; do cmp -s "$f" "$hv/c$np/$f" || echo "$f"; done | head -3)
    n1=$(ls "$hv/c1" | wc -l); nn=$(ls -A "$hv/c$np" | wc -l)
    check "harvest np=$np: the same $n1 files as one process (has $nn, no part folder left), each byte-identical${diffs:+ (differ: $diffs)}" \
        test -z "$diffs" -a "$n1" -eq "$nn" -a "$n1" -eq 59
done
check "harvest np=2: the manifest complete, 29 shards of uneven rows (--exclude-special)" python3 - "$hv/c2/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["complete"] is True and len(m["shard_rows"]) == 29 and len(set(m["shard_rows"])) > 1, m["shard_rows"]
assert m["rows"] == sum(m["shard_rows"]) < 200 * 16
PY
before=$(stat -c %Y "$hv/c2/manifest.json")
sleep 1
timeout 60 $mpi 2 "$bin" harvest "${H[@]}" -o "$hv/c2" >/dev/null 2>&1; rc=$?
check "harvest np=2 into the complete cache: exit 0, the manifest untouched (rc $rc)" \
    test "$rc" -eq 0 -a "$before" -eq "$(stat -c %Y "$hv/c2/manifest.json")"
"$bin" harvest "${H[@]}" --tokens 300 -o "$hv/cp" >/dev/null 2>&1
out=$(timeout 60 $mpi 2 "$bin" harvest "${H[@]}" -o "$hv/cp" 2>&1); rc=$?
check "harvest np=2 into a partial cache: exits non-zero, says to continue with one process, once (rc $rc)" \
    bash -c '[ "$1" -ne 0 ] && [ $(grep -c "partial cache.*one process" <<<"$2") -eq 1 ]' _ "$rc" "$out"
finish
