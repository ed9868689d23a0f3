#!/usr/bin/env bash
# tests/test_dist.sh - the distributed trainer under mpirun (dist/): the
# data-parallel and latent-sharded checks of tests/test_dist.c with 2 and 4
# ranks (oversubscribed on a small machine), the fault drill (a rank that
# dies ends the job with an error, within a bounded time), and
# `./run train --ranks 2`. Skipped when the build has no MPI.
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
for np in 2 4; do
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
timeout 120 "$bin" train --ranks 1 "${args[@]}" -o "$tmp/r1" 2>"$tmp/e1"; rc1=$?
timeout 120 "$bin" train --ranks 2 "${args[@]}" -o "$tmp/r2" 2>"$tmp/e2"; rc2=$?
check "train --ranks 1 and --ranks 2 exit 0 (rc $rc1, $rc2)" test "$rc1" -eq 0 -a "$rc2" -eq 0
check "train --ranks 2 wrote the SAELens checkpoint" test -s "$tmp/r2/sae_weights.safetensors" -a -s "$tmp/r2/cfg.json"
worst=$(paste -d, "$tmp/r1/losses.csv" "$tmp/r2/losses.csv" 2>/dev/null | awk -F, 'NR > 1 { r = ($2 - $10) / $2; if (r < 0) r = -r; if (r > w) w = r; n++ } END { if (n != 100) print "rows=" n; else printf "%.2e\n", w + 0 }')
check "train --ranks 2: 100 steps' losses within 1e-5 relative of --ranks 1 (worst $worst)" \
    awk -v w="$worst" 'BEGIN { exit !(w ~ /^[0-9.e+-]+$/ && w + 0 <= 1e-5) }'
# latent sharding from the command: --shard-latents on 2 ranks against --ranks 1 (AuxK never
# starts here: no latent is dead within 9600 tokens), losses and the checkpoint's weights
timeout 120 "$bin" train --ranks 2 --shard-latents "${args[@]}" -o "$tmp/sh" 2>"$tmp/e5"; rc5=$?
check "train --ranks 2 --shard-latents exits 0 (rc $rc5)" test "$rc5" -eq 0
worst=$(paste -d, "$tmp/r1/losses.csv" "$tmp/sh/losses.csv" 2>/dev/null | awk -F, 'NR > 1 { r = ($2 - $10) / $2; if (r < 0) r = -r; if (r > w) w = r; n++ } END { if (n != 100) print "rows=" n; else printf "%.2e\n", w + 0 }')
check "--shard-latents: 100 steps' losses within 1e-5 relative of --ranks 1 (worst $worst)" \
    awk -v w="$worst" 'BEGIN { exit !(w ~ /^[0-9.e+-]+$/ && w + 0 <= 1e-5) }'
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
    awk -v w="$wdiff" 'BEGIN { exit !(w ~ /^[0-9.e+-]+$/ && w + 0 <= 1e-4) }'
# resume with another number of ranks: 50 steps on 2 ranks, then --resume on 1 rank up to 100.
# Step 51 starts from the checkpointed weights, so its loss is the uninterrupted run's.
timeout 120 "$bin" train --ranks 2 "${args[@]/100/50}" -o "$tmp/rs" 2>"$tmp/e3"; rc3=$?
timeout 120 "$bin" train --ranks 1 "${args[@]}" -o "$tmp/rs" --resume 2>"$tmp/e4"; rc4=$?
check "resume: 50 steps on 2 ranks, then --resume on 1 rank (rc $rc3, $rc4)" test "$rc3" -eq 0 -a "$rc4" -eq 0
check "resume: losses.csv continues at step 51 and ends at 100" \
    bash -c 'sed -n 52p "$1" | grep -q "^51," && tail -n 1 "$1" | grep -q "^100," && [ $(wc -l < "$1") -eq 101 ]' _ "$tmp/rs/losses.csv"
r51=$(paste -d, "$tmp/r2/losses.csv" "$tmp/rs/losses.csv" 2>/dev/null | awk -F, 'NR == 52 { r = ($2 - $10) / $2; printf "%.2e\n", r < 0 ? -r : r }')
check "resume: step 51's loss within 1e-5 of the uninterrupted run's ($r51)" \
    awk -v w="$r51" 'BEGIN { exit !(w ~ /^[0-9.e+-]+$/ && w + 0 <= 1e-5) }'
finish
