# gpt2sae - GPT-2 + sparse autoencoder engine in C (and CUDA).
#
#   make            build the engine (build/gpt2sae); CUDA too when nvcc is found
#   make test       build and run every test; ends with "N passed, N failed, N skipped"
#                   (the CUDA tests also run on the CPU emulator, cuda/emu/, GPU or not)
#   make test SAN=1 the same, built with AddressSanitizer + UBSan (in build-san/)
#   make bench      build the benchmarks and run them (bench/run.sh)
#   make fuzz       build the libFuzzer targets with clang and run each briefly
#   make clean      remove build outputs
#
# Variables: CC, ARCH (-march=..., default native), CUDA=0 to skip the GPU
# build, NVCC, CUDA_ARCH (default: sm_90 + PTX), SAN=1, FUZZ_SECONDS,
# EMU=0 to skip the emulated CUDA tests (cuda/emu/: needs only g++ and perl),
# MPI=0 to build without MPI even when mpicc is found, MPICC.

CC ?= cc
ARCH ?= -march=native
SAN ?= 0

# Sources: every .c in the module folders is part of the engine (cli/main.c
# is the binary's main). Tests are tests/test_*.c, benchmarks bench/bench_*.c,
# fuzz targets tests/fuzz/fuzz_*.c.
MODULES   := core tokenizer weights data gpt2 harvest sae train viz eval features dist cli
LIB_SRCS  := $(filter-out cli/main.c dist/dist_mpi.c dist/dist_none.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
TEST_SRCS := $(wildcard tests/test_*.c)
BENCH_SRCS:= $(wildcard bench/bench_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
CU_SRCS   := $(wildcard cuda/*.cu)
CU_HOST   := $(filter-out cuda/%_none.c,$(wildcard cuda/*.c))
CU_NONE   := $(wildcard cuda/*_none.c)

ifeq ($(SAN),1)
  BUILD   ?= build-san
  OPT     := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  LDSAN   := -fsanitize=address,undefined
  CUDA    ?= 0
else
  BUILD   ?= build
  OPT     := -O2
  LDSAN   :=
endif

# CUDA: built when nvcc is on the PATH (or NVCC is given), unless CUDA=0.
NVCC ?= $(shell command -v nvcc 2>/dev/null)
CUDA ?= $(if $(NVCC),1,0)
ifeq ($(CUDA),1)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80
  CU_OBJS   := $(CU_SRCS:%.cu=$(BUILD)/%.o) $(CU_HOST:%.c=$(BUILD)/%.o)
  CUDA_DEF  := -DGS_CUDA=1
  CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++ -ldl -lrt
  BENCH_CUDA_LIBS := -lcublas
  BENCH_CUDA_INC  := -I$(CUDA_HOME)/include
  BUILT_MSG := CPU + CUDA (nvcc: $(NVCC))
else
  CU_OBJS   := $(CU_NONE:%.c=$(BUILD)/%.o)
  CUDA_DEF  := -DGS_CUDA=0
  CUDA_LIBS :=
  BUILT_MSG := CPU only (no nvcc found, or CUDA=0)
endif

# MPI (dist/): built when mpicc is on the PATH (or MPICC is given), unless
# MPI=0; only dist/dist_mpi.c includes mpi.h, the link adds libmpi. Without
# it, dist/dist_none.c is the single-process stub.
MPICC ?= $(shell command -v mpicc 2>/dev/null)
MPI ?= $(if $(MPICC),1,0)
ifeq ($(MPI),1)
  MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
  MPI_LIBS   := $(shell $(MPICC) --showme:link 2>/dev/null)
  LIB_SRCS   += dist/dist_mpi.c
  MPI_MSG    := MPI: yes ($(MPICC))
else
  LIB_SRCS   += dist/dist_none.c
  MPI_MSG    := MPI: no (no mpicc found, or MPI=0)
endif

CFLAGS  ?= $(OPT) -g $(ARCH)
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -I. $(CUDA_DEF) -DGS_MPI=$(MPI) -MMD -MP
LDLIBS  := -lz -lm -lpthread $(MPI_LIBS)
NVFLAGS ?= -O3 -std=c++17 $(CUDA_ARCH) -I. -Xcompiler -Wall,-Wextra

LIB_C_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(LIB_C_OBJS) $(CU_OBJS)
BIN      := $(BUILD)/gpt2sae
TESTS    := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test bench fuzz clean tests benches
.DEFAULT_GOAL := all

# The CUDA emulator (cuda/emu/README.md): the unchanged .cu files, rewritten
# line for line by cu2cpp.sh and compiled as C++, linked into a second build of
# the CUDA tests (tests/test_cuda*_emu), which run every kernel on the CPU.
# Built with or without nvcc; EMU=0 skips it.
EMU ?= 1
CXX ?= g++
EMU_DIR   := $(BUILD)/emu
EMU_OBJS  := $(CU_SRCS:cuda/%.cu=$(EMU_DIR)/%.o) $(EMU_DIR)/emu.o
# every tests/test_cuda*.c also gets an emulated twin, tests/test_cuda*_emu
EMU_TESTS := $(if $(filter 1,$(EMU)),$(patsubst tests/%.c,$(BUILD)/tests/%_emu,$(wildcard tests/test_cuda*.c)))
# -Wno-sign-compare: nvcc does not warn on device code (threadIdx is unsigned);
# asan-globals=0: the __shared__ section is refilled between blocks; -O2 also
# under SAN=1 (its -O1 makes the emulated kernels several times slower)
EMU_CXXFLAGS := $(OPT) -O2 -g $(ARCH) -std=c++17 -Wall -Wextra -Wno-unknown-pragmas -Wno-sign-compare \
                -I. -Icuda/emu -DGS_CUDA=1 -MMD -MP $(if $(filter 1,$(SAN)),--param asan-globals=0)

# the engine linked against the emulator (gpt2sae_emu): the command-line
# tests run their --device cuda cases with it when there is no GPU. Not under
# SAN=1: the emulated kernels run under the sanitizers in test_cuda*_emu, and
# the command lines around them in the plain build, which keeps make test
# SAN=1 minutes shorter.
EMU_BIN := $(if $(filter 1,$(EMU)),$(if $(filter 1,$(SAN)),,$(BUILD)/gpt2sae_emu))

# all: the engine binary and the test and benchmark binaries
all: $(BIN) $(EMU_BIN) $(TESTS) $(EMU_TESTS) $(BENCHES)
	@echo "built $(BUILD)/: $(BUILT_MSG); $(MPI_MSG)"

# test: build everything, then run every test and add up the results
test: all
	@bash tests/run_tests.sh $(BUILD)

# bench: build, then run the benchmarks (see bench/README.md)
bench: all
	@bash bench/run.sh $(BUILD)

$(BIN): $(BUILD)/cli/main.o $(LIB_OBJS)
	$(CC) $(CFLAGS) $(LDSAN) -o $@ $^ $(LDLIBS) $(CUDA_LIBS)

$(BUILD)/tests/%: tests/%.c $(LIB_OBJS) tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDSAN) -o $@ $< $(LIB_OBJS) $(LDLIBS) $(CUDA_LIBS)

$(BUILD)/gpt2sae_emu: $(BUILD)/cli/main.o $(LIB_C_OBJS) $(EMU_OBJS)
	$(CXX) $(LDSAN) -o $@ $^ $(LDLIBS)

# the emulated CUDA tests: the same test source, -DGS_CUDA_EMU=1 (it picks its emulator set)
$(BUILD)/tests/test_%_emu: tests/test_%.c $(LIB_C_OBJS) $(EMU_OBJS) tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DGS_CUDA_EMU=1 -c -o $@.o $<
	$(CXX) $(LDSAN) -o $@ $@.o $(LIB_C_OBJS) $(EMU_OBJS) $(LDLIBS)

.SECONDARY: $(CU_SRCS:cuda/%.cu=$(EMU_DIR)/%.cpp) $(EMU_OBJS)
$(EMU_DIR)/%.cpp: cuda/%.cu cuda/emu/cu2cpp.sh
	@mkdir -p $(dir $@)
	sh cuda/emu/cu2cpp.sh $< > $@

$(EMU_DIR)/%.o: $(EMU_DIR)/%.cpp
	$(CXX) $(EMU_CXXFLAGS) -c -o $@ $<

$(EMU_DIR)/emu.o: cuda/emu/emu.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -c -o $@ $<

# benchmarks may also link cuBLAS (the baseline the CUDA matmul is timed against)
$(BUILD)/bench/%: bench/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BENCH_CUDA_INC) $(LDSAN) -o $@ $< $(LIB_OBJS) $(LDLIBS) $(CUDA_LIBS) $(BENCH_CUDA_LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/dist/dist_mpi.o: dist/dist_mpi.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c -o $@ $<

# fuzz: libFuzzer targets (clang), each run for FUZZ_SECONDS on its corpus
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS := -std=c11 -g -O1 -D_GNU_SOURCE -I. -DGS_CUDA=0 -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LIB_OBJS := $(filter-out $(FUZZ_BUILD)/dist/dist_mpi.o,$(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)) $(FUZZ_BUILD)/dist/dist_none.o $(CU_NONE:%.c=$(FUZZ_BUILD)/%.o)
FUZZERS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

fuzz: $(FUZZERS)
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzzers: $(FUZZERS)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJS)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ -lz -lm -lpthread

# clean: remove every build folder
clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
