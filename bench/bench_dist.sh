#!/usr/bin/env bash
# bench/bench_dist.sh - the overhead of training on N processes against one at
# equal total work (the same global batch and steps): ./run train --ranks 1,
# --ranks 2 (data parallel) and --ranks 2 --shard-latents. Each run is first
# checked (its losses against --ranks 1's: the steps within 1e-5 relative are
# counted; at least 90 % and none beyond 1e-3), then timed, best of
# BENCH_DIST_REPEAT (default 3). Prints the trainer's own loop time (rank 0's
# clock, after MPI_Init and the data are ready), the wall time with mpirun's
# start, the ratio to one rank, and the load average: on a shared machine the
# ranks compete with other work for the cores, which is most of what np = 2
# measures there. Sizes: BENCH_DIST_T tokens (4096), d (64), n (2048), k (16),
# batch (1024), steps (40).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin=$BUILD/gpt2sae
command -v mpirun >/dev/null && "$BUILD/tests/test_dist" 2>/dev/null | grep -q "ranks: 1" ||
    { echo "skip: needs a build with MPI and mpirun (make says \"MPI: yes\")"; exit 0; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=${BENCH_DIST_T:-4096} d=${BENCH_DIST_D:-64} n=${BENCH_DIST_N:-2048} k=${BENCH_DIST_K:-16}
B=${BENCH_DIST_BATCH:-1024} S=${BENCH_DIST_STEPS:-40} rep=${BENCH_DIST_REPEAT:-3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# activation-like tokens: each the sum of 4 of 256 random directions with random
# weights, plus a mean and a little noise (an SAE can learn them)
python3 - "$tmp/x.npy" "$T" "$d" <<'PY'
import random, struct, sys
T, d = int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
atoms = [[random.gauss(0, 1) for _ in range(d)] for _ in range(256)]
rows = []
for t in range(T):
    x = [0.3 + random.gauss(0, 0.05) for _ in range(d)]
    for a in random.sample(range(256), 4):
        c = random.uniform(0.5, 2)
        x = [u + c * v for u, v in zip(x, atoms[a])]
    rows += x
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (T, d)
h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
with open(sys.argv[1], 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode())
    f.write(struct.pack('<%df' % (T * d), *rows))
PY
args=(--acts "$tmp/x.npy" --latents "$n" --k "$k" --batch "$B" --steps "$S")
echo "train: T $T, d $d, n $n, k $k, global batch $B, $S steps; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
base=
for run in "1" "2" "2 --shard-latents"; do
    best_loop=; best_wall=
    for r in $(seq "$rep"); do
        t0=$(date +%s.%N)
        "$bin" train --ranks $run "${args[@]}" -o "$tmp/o" 2>"$tmp/err" || { echo "FAIL: --ranks $run: $(tail -1 "$tmp/err")"; exit 1; }
        t1=$(date +%s.%N)
        loop=$(sed -n "s/.*step $S\/$S .*(\([0-9.]*\) s)$/\1/p" "$tmp/err")
        wall=$(echo "$t1 - $t0" | bc)
        [ -z "$best_loop" ] || [ "$(echo "$loop < $best_loop" | bc)" = 1 ] && best_loop=$loop
        [ -z "$best_wall" ] || [ "$(echo "$wall < $best_wall" | bc)" = 1 ] && best_wall=$wall
    done
    if [ -z "$base" ]; then cp "$tmp/o/losses.csv" "$tmp/base.csv"; base=$best_loop; fi
    # steps within 1e-5 relative of one rank's; a step whose top-k has a near tie can flip
    # one token's choice (about 1e-4 of that step's loss; the next step agrees again)
    read -r within worst <<<"$(paste -d, "$tmp/base.csv" "$tmp/o/losses.csv" | awk -F, 'NR > 1 { r = ($2 - $10) / $2; if (r < 0) r = -r; if (r > w) w = r; ok += r <= 1e-5; n++ } END { printf "%d/%d %.1e", ok, n, w }')"
    ok=$(awk -v w="$worst" -v s="$within" 'BEGIN { split(s, a, "/"); print (w <= 1e-3 && a[1] >= 0.9 * a[2]) ? "ok" : "WRONG" }')
    printf "  --ranks %-18s losses %s (%s steps within 1e-5, worst %s)  loop %6.2f s  wall %6.2f s  loop vs 1 rank %.2fx\n" \
        "$run" "$ok" "$within" "$worst" "$best_loop" "$best_wall" "$(echo "$best_loop / $base" | bc -l)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
