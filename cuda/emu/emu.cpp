/*
 * cuda/emu/emu.cpp - the CUDA emulator's runtime (see cuda_runtime.h for what
 * it checks and what it cannot do): the allocation table, the runtime API,
 * and the block scheduler that runs each CUDA thread as a fiber.
 *
 * Scheduling. A block's threads start as runnable. The scheduler runs each
 * runnable thread (in the CUDA_EMU_ORDER order) until it blocks at a barrier
 * or a warp call, or exits. When none is runnable: a warp whose 32 lanes all
 * wait at the same warp call is resolved (its lanes become runnable); a warp
 * with lanes at different places is an error; when no warp is waiting,
 * every thread must wait at the same __syncthreads (or all have exited).
 *
 * Fibers: on x86-64 a 20-instruction context switch (callee-saved registers,
 * MXCSR and the x87 control word); elsewhere ucontext. Under AddressSanitizer
 * every switch is announced with __sanitizer_start/finish_switch_fiber.
 */
#include "cuda_runtime.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define EMU_ASAN 0
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace emu {
uint3 thread_idx, block_idx;
dim3 block_dim, grid_dim;
}

/* ------------------------------------------------------ allocation table */
namespace {
struct Alloc {
    size_t bytes;
    void *map;     /* mmap base (guard-page mode) or NULL (malloc) */
    size_t maplen;
};
std::map<uintptr_t, Alloc> allocs; /* by user address */
cudaError_t last_error = cudaSuccess;
const size_t PAGE = 4096;

/* The allocation holding [p, p + n), or NULL. */
const std::pair<const uintptr_t, Alloc> *find_alloc(const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p;
    auto it = allocs.upper_bound(a);
    if (it == allocs.begin()) return nullptr;
    --it;
    if (a - it->first >= it->second.bytes || n > it->second.bytes - (a - it->first)) return nullptr;
    return &*it;
}
/* Any device allocation overlapping [p, p + n)? */
bool overlaps_device(const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p, e = a + (n ? n : 1);
    auto it = allocs.upper_bound(a);
    if (it != allocs.end() && it->first < e) return true;
    if (it == allocs.begin()) return false;
    --it;
    return a < it->first + it->second.bytes;
}
void fill_nan(void *p, size_t bytes) {
    uint32_t *w = (uint32_t *)p;
    for (size_t i = 0; i < bytes / 4; i++) w[i] = 0x7fffffffu;
    memset((char *)p + bytes / 4 * 4, 0xff, bytes % 4);
}
cudaError_t fail(cudaError_t e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
cudaError_t fail(cudaError_t e, const char *fmt, ...) {
    char msg[1024]; /* one write: the line is not split by another thread's */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cuda-emu: %s\n", msg);
    last_error = e;
    return e;
}
} // namespace

cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = nullptr;
    if (bytes == 0) return cudaSuccess;
    if (bytes > ((size_t)1 << 40)) return fail(cudaErrorMemoryAllocation, "cudaMalloc(%zu): out of memory", bytes);
    Alloc a = {bytes, nullptr, 0};
    char *u;
    if (EMU_ASAN) {
        u = (char *)malloc(bytes); /* ASan's redzones check the bounds */
        if (!u) return cudaErrorMemoryAllocation;
    } else { /* the block ends where a PROT_NONE guard page begins */
        size_t body = (bytes + 15) / 16 * 16, len = (body + PAGE - 1) / PAGE * PAGE + PAGE;
        char *m = (char *)mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return cudaErrorMemoryAllocation;
        mprotect(m + len - PAGE, PAGE, PROT_NONE);
        u = m + len - PAGE - body;
        a.map = m, a.maplen = len;
        memset(u + bytes, 0xa5, body - bytes); /* a canary, checked after each launch */
    }
    fill_nan(u, bytes);
    allocs[(uintptr_t)u] = a;
    *p = u;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end()) return fail(cudaErrorInvalidDevicePointer, "cudaFree(%p): not an allocation", p);
    if (it->second.map) munmap(it->second.map, it->second.maplen);
    else free(p);
    allocs.erase(it);
    return cudaSuccess;
}

static const char *kind_name(cudaMemcpyKind k) {
    static const char *n[] = {"HostToHost", "HostToDevice", "DeviceToHost", "DeviceToDevice", "Default"};
    return (unsigned)k < 5 ? n[k] : "?";
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    if (bytes == 0) return cudaSuccess;
    if (kind == cudaMemcpyDefault) { /* unified addressing: the table says which side is which */
        const bool d = overlaps_device(dst, bytes), s = overlaps_device(src, bytes);
        kind = d && s ? cudaMemcpyDeviceToDevice : d ? cudaMemcpyHostToDevice : s ? cudaMemcpyDeviceToHost
                                                                                : cudaMemcpyHostToHost;
    }
    const bool dd = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool sd = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if ((unsigned)kind > 3) return fail(cudaErrorInvalidMemcpyDirection, "cudaMemcpy: unknown kind %d", (int)kind);
    if (dd && !find_alloc(dst, bytes))
        return fail(cudaErrorInvalidValue, "cudaMemcpy %s of %zu bytes: destination %p..+%zu is not inside one device "
                    "allocation%s", kind_name(kind), bytes, dst, bytes,
                    overlaps_device(dst, bytes) ? " (out of bounds)" : " (a host pointer: direction swapped?)");
    if (sd && !find_alloc(src, bytes))
        return fail(cudaErrorInvalidValue, "cudaMemcpy %s of %zu bytes: source %p..+%zu is not inside one device "
                    "allocation%s", kind_name(kind), bytes, src, bytes,
                    overlaps_device(src, bytes) ? " (out of bounds)" : " (a host pointer: direction swapped?)");
    if (!dd && overlaps_device(dst, bytes))
        return fail(cudaErrorInvalidValue, "cudaMemcpy %s: destination %p is device memory (direction swapped?)",
                    kind_name(kind), dst);
    if (!sd && overlaps_device(src, bytes))
        return fail(cudaErrorInvalidValue, "cudaMemcpy %s: source %p is device memory (direction swapped?)",
                    kind_name(kind), src);
    memmove(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void *p, int byte, size_t bytes) {
    if (bytes == 0) return cudaSuccess;
    if (!find_alloc(p, bytes))
        return fail(cudaErrorInvalidValue, "cudaMemset(%p, %zu bytes): not inside one device allocation", p, bytes);
    memset(p, byte, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int byte, size_t bytes, cudaStream_t) { return cudaMemset(p, byte, bytes); }

/* ------------------------------------------------------------ device info */
static const int EMU_SMS = 132, EMU_OPTIN = 232448, EMU_SMEM_DEFAULT = 49152;

cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
cudaError_t cudaGetDevice(int *dev) { *dev = 0; return cudaSuccess; }
cudaError_t cudaSetDevice(int dev) { return dev == 0 ? cudaSuccess : fail(cudaErrorInvalidValue, "no device %d", dev); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev) {
    if (dev != 0) return fail(cudaErrorInvalidValue, "no device %d", dev);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CUDA emulator on the CPU (cuda/emu, not a GPU)");
    p->totalGlobalMem = (size_t)16 << 30, p->sharedMemPerBlock = EMU_SMEM_DEFAULT;
    p->sharedMemPerBlockOptin = EMU_OPTIN, p->warpSize = 32, p->maxThreadsPerBlock = 1024;
    p->major = 9, p->minor = 0, p->multiProcessorCount = EMU_SMS, p->l2CacheSize = 1 << 20;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev) {
    if (dev != 0) return fail(cudaErrorInvalidValue, "no device %d", dev);
    switch (a) {
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = EMU_SMEM_DEFAULT; break;
    case cudaDevAttrMultiProcessorCount: *v = EMU_SMS; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = EMU_OPTIN; break;
    default: return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute %d not emulated", (int)a);
    }
    return cudaSuccess;
}
/* kernels run to completion at launch and stop the process on a fault: nothing is pending */
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) { cudaError_t e = last_error; last_error = cudaSuccess; return e; }
cudaError_t cudaPeekAtLastError(void) { return last_error; }
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    default: return "unspecified launch failure";
    }
}
const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    default: return "cudaErrorLaunchFailure";
    }
}
static std::map<const void *, int> smem_limit; /* cudaFuncSetAttribute's dynamic limits */
cudaError_t cudaFuncSetAttribute(const void *fn, cudaFuncAttribute a, int v) {
    if (a != cudaFuncAttributeMaxDynamicSharedMemorySize || v < 0 || v > EMU_OPTIN)
        return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute(%d, %d): out of range", (int)a, v);
    smem_limit[fn] = v;
    return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t *s) { *s = nullptr; return cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t *e) { *e = nullptr; return cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t, cudaEvent_t) { *ms = 0.0f; return cudaSuccess; }

/* ----------------------------------------------------------------- fibers */
#if defined(__x86_64__)
extern "C" void emu_switch(void **save_sp, void *new_sp);
extern "C" void emu_fiber_entry(void);
asm(".text\n"
    ".globl emu_switch\n"
    ".type emu_switch,@function\n"
    "emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size emu_switch, .-emu_switch\n"
    ".globl emu_fiber_entry\n"
    ".type emu_fiber_entry,@function\n"
    "emu_fiber_entry:\n"
    "  movq %r13, %rdi\n  callq *%r12\n  ud2\n"
    ".size emu_fiber_entry, .-emu_fiber_entry\n");
#endif

namespace {
enum State { RUN, BARRIER, WARP, DONE };
/* A queued asynchronous copy (cuda_pipeline.h): performed when a wait covers its batch. */
struct Copy {
    void *dst;
    const void *src;
    size_t size, zfill;
    long batch;
};
struct Thread {
    State state;
    const char *file; /* where it waits */
    int line;
    emu::WarpCall *wc;
    uint3 idx;
    std::vector<Copy> copies; /* queued cp.async, oldest first */
    long batches;             /* __pipeline_commit calls so far (the open batch's number) */
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t uc;
#endif
    char *stack;
};

struct Launch {
    const char *name, *file;
    int line;
    void (*body)(void *);
    void *ctx;
    size_t smem;
} L;

std::vector<Thread> threads;
int nthreads, cur = -1;
#if defined(__x86_64__)
void *sched_sp;
#else
ucontext_t sched_uc;
#endif
size_t stack_bytes;
char *dyn_smem, *dyn_map;
size_t dyn_maplen;
int order_mode = -1; /* 0 forward, 1 reverse, 2 random */
uint64_t order_state = 1;
#if EMU_ASAN
void *sched_fake_stack;
const void *main_stack_bottom;
size_t main_stack_size;
#endif
extern "C" char __start_emu_shared[] __attribute__((weak)), __stop_emu_shared[] __attribute__((weak));

const char *state_name(const Thread &t, char *buf, size_t n) {
    if (t.state == DONE) snprintf(buf, n, "has exited");
    else if (t.state == BARRIER) snprintf(buf, n, "waits at __syncthreads() at %s:%d", t.file, t.line);
    else if (t.state == WARP) snprintf(buf, n, "waits at %s at %s:%d", t.wc->what, t.file, t.line);
    else snprintf(buf, n, "is running");
    return buf;
}

/* Switch from the scheduler into thread i, and back when it blocks. */
void run_thread(int i) {
    Thread &t = threads[i];
    cur = i;
    emu::thread_idx = t.idx;
#if EMU_ASAN
    __sanitizer_start_switch_fiber(&sched_fake_stack, t.stack, stack_bytes);
#endif
#if defined(__x86_64__)
    emu_switch(&sched_sp, t.sp);
#else
    swapcontext(&sched_uc, &t.uc);
#endif
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(sched_fake_stack, nullptr, nullptr);
#endif
    cur = -1;
}

/* From a thread back to the scheduler. */
void yield_thread(void) {
    Thread &t = threads[cur];
#if EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(t.state == DONE ? nullptr : &fake, main_stack_bottom, main_stack_size);
#endif
#if defined(__x86_64__)
    emu_switch(&t.sp, sched_sp);
#else
    swapcontext(&t.uc, &sched_uc);
#endif
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

extern "C" void fiber_main(void *) {
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &main_stack_bottom, &main_stack_size);
#endif
    L.body(L.ctx);
    threads[cur].state = DONE;
    yield_thread();
    abort(); /* never resumed */
}

/* Same file? (__FILE__ strings of one translation unit are usually one pointer.) */
bool same_file(const char *a, const char *b) { return a == b || strcmp(a, b) == 0; }

void fiber_init(Thread &t) {
    /* (Under ASan the stack needs no unpoisoning here: a finished fiber has
     * returned from every frame but fiber_main's, which the next one reuses.) */
#if defined(__x86_64__)
    uintptr_t top = ((uintptr_t)(t.stack + stack_bytes)) & ~(uintptr_t)15;
    void **sp = (void **)(top - 80);
    uint32_t ctl[2];
    asm volatile("stmxcsr %0\n fnstcw %1" : "=m"(ctl[0]), "=m"(ctl[1]));
    memcpy(&sp[0], ctl, 8);
    sp[1] = nullptr, sp[2] = nullptr;         /* r15, r14 */
    sp[3] = nullptr;                          /* r13: the argument */
    sp[4] = (void *)fiber_main;               /* r12: the function */
    sp[5] = nullptr, sp[6] = nullptr;         /* rbx, rbp */
    sp[7] = (void *)emu_fiber_entry;          /* return address */
    t.sp = sp;
#else
    getcontext(&t.uc);
    t.uc.uc_stack.ss_sp = t.stack;
    t.uc.uc_stack.ss_size = stack_bytes;
    t.uc.uc_link = nullptr;
    makecontext(&t.uc, (void (*)(void))fiber_main, 1, nullptr);
#endif
}

[[noreturn]] void vfatal(const char *fmt, va_list ap) {
    fflush(stdout);
    fprintf(stderr, "cuda-emu: kernel %s (launched at %s:%d), block (%u,%u,%u)", L.name ? L.name : "?",
            L.file ? L.file : "?", L.line, emu::block_idx.x, emu::block_idx.y, emu::block_idx.z);
    if (cur >= 0) fprintf(stderr, ", thread (%u,%u,%u)", emu::thread_idx.x, emu::thread_idx.y, emu::thread_idx.z);
    fprintf(stderr, ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    _exit(3);
}

void segv_handler(int sig, siginfo_t *si, void *) {
    if (!L.name) { /* not inside a kernel: the host's own fault */
        signal(sig, SIG_DFL);
        return;
    }
    uintptr_t a = (uintptr_t)si->si_addr;
    char buf[512] = "";
    if (dyn_smem && a >= (uintptr_t)dyn_smem && a < (uintptr_t)dyn_smem + L.smem + PAGE)
        snprintf(buf, sizeof buf, "%zu bytes past the end of the dynamic shared memory (%zu bytes at launch)",
                 (size_t)(a - (uintptr_t)dyn_smem) - L.smem, L.smem);
    for (auto &kv : allocs) {
        uintptr_t end = kv.first + kv.second.bytes;
        if (a >= end && a < end + 16 + PAGE)
            snprintf(buf, sizeof buf, "%zu bytes past the end of the device allocation %p of %zu bytes",
                     (size_t)(a - end), (void *)kv.first, kv.second.bytes);
    }
    for (auto &t : threads)
        if (t.stack && a >= (uintptr_t)t.stack - PAGE && a < (uintptr_t)t.stack)
            snprintf(buf, sizeof buf, "a thread's stack overflowed (%zu bytes)", stack_bytes);
    char msg[700];
    snprintf(msg, sizeof msg, "memory fault at %p: %s", si->si_addr, buf[0] ? buf : "not device memory");
    emu::fatal("%s", msg);
}

void order_init(void) {
    const char *o = getenv("CUDA_EMU_ORDER"), *s = getenv("CUDA_EMU_SEED");
    order_mode = !o || !strcmp(o, "forward") ? 0 : !strcmp(o, "reverse") ? 1 : !strcmp(o, "random") ? 2 : -2;
    if (order_mode == -2) {
        fprintf(stderr, "cuda-emu: CUDA_EMU_ORDER=%s: use forward, reverse or random\n", o);
        _exit(3);
    }
    order_state = s ? strtoull(s, nullptr, 10) : 1;
    if (!EMU_ASAN) {
        static char altstack[64 * 1024];
        stack_t ss = {};
        ss.ss_sp = altstack, ss.ss_size = sizeof altstack;
        sigaltstack(&ss, nullptr);
        struct sigaction sa = {};
        sa.sa_sigaction = segv_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigaction(SIGSEGV, &sa, nullptr);
        sigaction(SIGBUS, &sa, nullptr);
    }
}

uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (order_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void make_order(std::vector<int> &ord) {
    for (int i = 0; i < nthreads; i++) ord[i] = order_mode == 1 ? nthreads - 1 - i : i;
    if (order_mode == 2)
        for (int i = nthreads - 1; i > 0; i--) std::swap(ord[i], ord[rnd() % (uint64_t)(i + 1)]);
}

void run_block(void) {
    std::vector<int> ord(nthreads);
    make_order(ord);
    for (int i = 0; i < nthreads; i++) {
        Thread &t = threads[i];
        t.state = RUN, t.wc = nullptr, t.file = nullptr, t.line = 0;
        t.copies.clear(), t.batches = 0;
        t.idx = {(unsigned)(i % emu::block_dim.x), (unsigned)(i / emu::block_dim.x % emu::block_dim.y),
                 (unsigned)(i / (emu::block_dim.x * emu::block_dim.y))};
        fiber_init(t);
    }
    char b1[300], b2[300];
    for (;;) {
        for (int i = 0; i < nthreads; i++)
            if (threads[ord[i]].state == RUN) run_thread(ord[i]);
        /* everyone blocked or done: resolve the warps whose lanes all wait at one call */
        bool resolved = false;
        for (int w0 = 0; w0 < nthreads; w0 += 32) {
            int waiting = -1;
            for (int i = w0; i < w0 + 32 && i < nthreads; i++)
                if (threads[i].state == WARP) { waiting = i; break; }
            if (waiting < 0) continue;
            const Thread &a = threads[waiting];
            if (w0 + 32 > nthreads)
                emu::fatal("%s at %s:%d in a warp of %d threads: the emulator needs all 32 lanes", a.wc->what, a.file,
                           a.line, nthreads - w0);
            for (int i = w0; i < w0 + 32; i++) {
                const Thread &b = threads[i];
                if (b.state != WARP || b.line != a.line || !same_file(b.file, a.file) || b.wc->resolve != a.wc->resolve)
                    emu::fatal("divergent warp: lane %d %s, while lane %d %s", waiting - w0,
                               state_name(a, b1, sizeof b1), i - w0, state_name(b, b2, sizeof b2));
            }
            emu::WarpCall *lanes[32];
            for (int i = 0; i < 32; i++) lanes[i] = threads[w0 + i].wc;
            a.wc->resolve(lanes);
            for (int i = w0; i < w0 + 32; i++) threads[i].state = RUN;
            resolved = true;
        }
        if (resolved) continue;
        int first = -1, done = -1;
        for (int i = 0; i < nthreads; i++) {
            if (threads[i].state == BARRIER && first < 0) first = i;
            if (threads[i].state == DONE && done < 0) done = i;
        }
        if (first < 0) break; /* every thread has exited */
        const Thread &a = threads[first];
        for (int i = 0; i < nthreads; i++) {
            const Thread &b = threads[i];
            if (b.state != BARRIER || b.line != a.line || !same_file(b.file, a.file))
                emu::fatal("barrier mismatch: thread %d %s, while thread %d %s", first, state_name(a, b1, sizeof b1), i,
                           state_name(b, b2, sizeof b2));
        }
        for (int i = 0; i < nthreads; i++) threads[i].state = RUN;
        if (order_mode == 2) make_order(ord);
    }
}
} // namespace

namespace emu {
void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfatal(fmt, ap);
}

void warp_call(WarpCall *c) {
    if (cur < 0) fatal("%s at %s:%d called outside a kernel", c->what, c->file, c->line);
    Thread &t = threads[cur];
    t.state = WARP, t.wc = c, t.file = c->file, t.line = c->line;
    yield_thread();
}

void syncthreads(const char *file, int line) {
    if (cur < 0) fatal("__syncthreads() at %s:%d called outside a kernel", file, line);
    Thread &t = threads[cur];
    t.state = BARRIER, t.file = file, t.line = line;
    yield_thread();
}

void *dynamic_shared(void) { return dyn_smem; }

static bool in_shared(const void *p, size_t n) {
    const uintptr_t a = (uintptr_t)p;
    if (a >= (uintptr_t)__start_emu_shared && a + n <= (uintptr_t)__stop_emu_shared) return true;
    return dyn_smem && a >= (uintptr_t)dyn_smem && a + n <= (uintptr_t)dyn_smem + L.smem;
}

void cp_async(const char *file, int line, void *dst, const void *src, size_t size, size_t zfill) {
    if (cur < 0) fatal("__pipeline_memcpy_async at %s:%d called outside a kernel", file, line);
    if ((size != 4 && size != 8 && size != 16) || zfill > size)
        fatal("%s:%d: __pipeline_memcpy_async of %zu bytes (zfill %zu): the size must be 4, 8 or 16 and zfill <= size",
              file, line, size, zfill);
    if ((uintptr_t)dst % size || (uintptr_t)src % size)
        fatal("%s:%d: __pipeline_memcpy_async of %zu bytes: destination %p and source %p must be %zu-byte aligned",
              file, line, size, dst, src, size);
    if (!in_shared(dst, size))
        fatal("%s:%d: __pipeline_memcpy_async: destination %p..+%zu is not inside shared memory", file, line, dst,
              size);
    if (size > zfill && !find_alloc(src, size - zfill))
        fatal("%s:%d: __pipeline_memcpy_async: source %p..+%zu is %s", file, line, src, size - zfill,
              overlaps_device(src, size - zfill) ? "past the end of its device allocation"
                                                 : "not device memory (a host pointer?)");
    Thread &t = threads[cur];
    t.copies.push_back(Copy{dst, src, size, zfill, t.batches});
}

void cp_commit(void) {
    if (cur < 0) fatal("__pipeline_commit called outside a kernel");
    threads[cur].batches++;
}

void cp_wait_prior(size_t n) {
    if (cur < 0) fatal("__pipeline_wait_prior called outside a kernel");
    Thread &t = threads[cur];
    size_t done = 0;
    for (; done < t.copies.size() && t.copies[done].batch < t.batches - (long)n; done++) {
        const Copy &c = t.copies[done];
        memcpy(c.dst, c.src, c.size - c.zfill);
        memset((char *)c.dst + (c.size - c.zfill), 0, c.zfill);
    }
    t.copies.erase(t.copies.begin(), t.copies.begin() + (long)done);
}

int launch_begin(const Cfg &c, const void *fn, const char *name, const char *file, int line) {
    if (order_mode == -1) order_init();
    const unsigned long nt = (unsigned long)c.block.x * c.block.y * c.block.z;
    int limit = EMU_SMEM_DEFAULT;
    auto it = smem_limit.find(fn);
    if (it != smem_limit.end() && it->second > limit) limit = it->second;
    const char *why = nt == 0 || nt > 1024 || c.block.z > 64 ? "threads per block must be 1..1024"
                      : c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0 ? "an empty grid"
                      : c.grid.x > 0x7fffffffu || c.grid.y > 65535 || c.grid.z > 65535 ? "grid too large"
                      : c.smem > (size_t)limit ? "dynamic shared memory above the limit (cudaFuncSetAttribute)"
                                               : nullptr;
    if (why) {
        fail(cudaErrorInvalidConfiguration, "kernel %s at %s:%d: grid (%u,%u,%u) block (%u,%u,%u) smem %zu: %s", name,
             file, line, c.grid.x, c.grid.y, c.grid.z, c.block.x, c.block.y, c.block.z, c.smem, why);
        return -1;
    }
    L.name = name, L.file = file, L.line = line, L.smem = c.smem;
    grid_dim = c.grid, block_dim = c.block;
    block_idx = {0, 0, 0};
    nthreads = (int)nt;
    return 0;
}

void check_arg(int i, const void *p) {
    if (p && !find_alloc(p, 0))
        fatal("argument %d (%p) is %s", i + 1, p,
              overlaps_device(p, 1) ? "outside every live device allocation" : "not device memory (a host pointer?)");
}

void run_grid(void (*body)(void *), void *ctx) {
    L.body = body, L.ctx = ctx;
    if (stack_bytes == 0) stack_bytes = EMU_ASAN ? 512 * 1024 : 64 * 1024;
    if ((int)threads.size() < nthreads) {
        size_t old = threads.size();
        threads.resize(nthreads);
        for (size_t i = old; i < threads.size(); i++) { /* a guard page under each stack */
            char *m = (char *)mmap(nullptr, stack_bytes + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                   -1, 0);
            if (m == MAP_FAILED) fatal("no memory for %d fiber stacks", nthreads);
            mprotect(m, PAGE, PROT_NONE);
            threads[i].stack = m + PAGE;
        }
    }
    /* dynamic shared memory: 16-byte aligned (128 when smem is a multiple of
     * 128, as wmma kernels size it), ending at a guard page; the (< 16 byte)
     * slack before the guard holds a canary checked after each block. Under
     * ASan a 128-byte aligned malloc'ed block of exactly smem bytes instead. */
    size_t body_len = (L.smem + 15) / 16 * 16, need = (body_len + PAGE - 1) / PAGE * PAGE + PAGE;
    if (EMU_ASAN) {
        void *p = nullptr; /* 128-byte aligned, as the device's (wmma wants 32) */
        if (posix_memalign(&p, 128, L.smem ? L.smem : 1) != 0) fatal("no memory for %zu bytes of shared memory", L.smem);
        dyn_smem = (char *)p;
    } else {
        if (need > dyn_maplen) {
            if (dyn_map) munmap(dyn_map, dyn_maplen);
            dyn_map = (char *)mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (dyn_map == MAP_FAILED) fatal("no memory for %zu bytes of shared memory", L.smem);
            mprotect(dyn_map + need - PAGE, PAGE, PROT_NONE);
            dyn_maplen = need;
        }
        dyn_smem = dyn_map + dyn_maplen - PAGE - body_len;
    }
    for (unsigned z = 0; z < grid_dim.z; z++)
        for (unsigned y = 0; y < grid_dim.y; y++)
            for (unsigned x = 0; x < grid_dim.x; x++) {
                block_idx = {x, y, z};
                if ((uintptr_t)__start_emu_shared != (uintptr_t)__stop_emu_shared)
                    memset(__start_emu_shared, 0xff, (size_t)(__stop_emu_shared - __start_emu_shared));
                memset(dyn_smem, 0xff, EMU_ASAN ? L.smem : body_len);
                if (!EMU_ASAN) memset(dyn_smem + L.smem, 0xa5, body_len - L.smem);
                run_block();
                for (size_t i = L.smem; i < body_len && !EMU_ASAN; i++)
                    if ((unsigned char)dyn_smem[i] != 0xa5)
                        fatal("a write at byte %zu past the end of the dynamic shared memory (%zu bytes at launch)",
                              i - L.smem, L.smem);
            }
    /* the slack after each allocation (< 16 bytes, before its guard page) must be untouched */
    for (auto &kv : allocs) {
        const unsigned char *e = (const unsigned char *)kv.first + kv.second.bytes;
        size_t slack = kv.second.map ? (kv.second.bytes + 15) / 16 * 16 - kv.second.bytes : 0;
        for (size_t i = 0; i < slack; i++)
            if (e[i] != 0xa5)
                fatal("a write at byte %zu past the end of the device allocation %p of %zu bytes", i,
                      (void *)kv.first, kv.second.bytes);
    }
    if (EMU_ASAN) free(dyn_smem);
    dyn_smem = nullptr;
    L.name = nullptr;
}
} // namespace emu

void emu::vote_resolve(WarpCall **l) {
    unsigned bits = 0;
    for (int i = 0; i < 32; i++)
        if (*(const int *)l[i]->in[0]) bits |= 1u << i;
    for (int i = 0; i < 32; i++) *(unsigned *)l[i]->out = bits;
}
