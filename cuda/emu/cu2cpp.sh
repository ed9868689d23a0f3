#!/bin/sh
# cuda/emu/cu2cpp.sh FILE.cu - print FILE.cu as C++ for the CUDA emulator
# (cuda/emu/cuda_runtime.h). Line for line, so messages keep the .cu's lines:
#   name<<<grid, block[, smem[, stream]]>>>(args)  ->  emu::launch(emu::Cfg(grid, block...), "name", __FILE__, __LINE__, name)(args)
#   extern __shared__ T name[];                    ->  T *const name = (T *)emu::dynamic_shared();
# A launch must sit on one line (as every launch in cuda/ does).
set -e
printf '#line 1 "%s"\n' "$1"
exec perl -pe '
    s/\bextern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([A-Za-z_][\w ]*?)\s+(\w+)\s*\[\s*\]\s*;/$1 *const $2 = ($1 *)emu::dynamic_shared();/g;
    s/([A-Za-z_][\w:]*(?:<[^<>;()]*>)?)\s*<<<(.*?)>>>\s*\(/emu::launch(emu::Cfg($2), "$1", __FILE__, __LINE__, $1)(/g;
' "$1"
