#!/usr/bin/env bash
# bench/bench_cache_vs_disk.sh - the activation cache's writer and reader
# (build/bench/bench_cache: GB/s, and the writer's time split into packing
# rows and committing shards) beside the disk measured with dd in the same
# run: the same bytes in 64 MiB blocks, with conv=fsync (what the writer's
# fsync'd shards can reach at most) and without (the page cache).
#   BUILD=build bash bench/bench_cache_vs_disk.sh [MiB]
set -u
build=${BUILD:-build}
mib=${1:-256}
uptime
f=$(mktemp /tmp/bench_dd.XXXXXX)
trap 'rm -f "$f"' EXIT
n=$(( (mib + 63) / 64 ))
echo "dd, $((n * 64)) MiB in blocks of 64 MiB into $(dirname "$f"):"
echo "  with conv=fsync: $(dd if=/dev/zero of="$f" bs=64M count=$n conv=fsync 2>&1 | tail -1)"
rm -f "$f"
echo "  page cache only: $(dd if=/dev/zero of="$f" bs=64M count=$n 2>&1 | tail -1)"
rm -f "$f"
"$build/bench/bench_cache" "$mib"
uptime
