/*
 * bench/bench_weights.c - how fast checkpoints are written, loaded and converted.
 *
 *   build/bench/bench_weights [DIR]     (scratch folder, default $TMPDIR or /tmp)
 *
 * Checks first: synthesises a GPT-2 small checkpoint (124M parameters, 498 MB),
 * loads it and checks its configuration and a tensor against the file. Then,
 * each against a baseline timed in the same run:
 *   synth  gpt2_model_synth (generate + write + fsync)  vs  writing the same
 *          number of zero bytes through the same atomic-file path;
 *   load   gpt2_model_load (mmap, header validation, 148 shape checks)  vs
 *          read() of the whole file into memory (page cache);
 *   f16    F16 -> F32 conversion of 64 MB of halves  vs  memcpy of the output size.
 */
#include "core/util.h"
#include "gpt2/model.h"
#include "weights/safetensors.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile float sink;

int main(int argc, char **argv) {
    const char *base = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/gpt2sae_bench_weights_%ld", base, (long)getpid());
    GPT2Config cfg;
    gpt2_config_named(&cfg, "gpt2");
    char *st_path = path_join(dir, "model.safetensors");

    /* synth, checked */
    double t0 = time_now();
    if (gpt2_model_synth(dir, &cfg, 1) != 0) {
        fprintf(stderr, "bench_weights: %s\n", err_get());
        return 1;
    }
    double t_synth = time_now() - t0;
    char *zero_path = path_join(dir, "zeros.bin");
    GPT2Model m;
    t0 = time_now();
    if (gpt2_model_load(&m, dir) != 0) {
        fprintf(stderr, "bench_weights: %s\n", err_get());
        return 1;
    }
    double t_load = time_now() - t0;
    SafeTensors st;
    int ok = m.cfg.n_layer == 12 && m.cfg.n_embd == 768 && m.cfg.random && safetensors_open(&st, st_path) == 0;
    if (ok) {
        const STTensor *t = safetensors_find(&st, "h.11.mlp.c_proj.weight");
        const float *d = t ? safetensors_f32(&st, t) : NULL;
        ok = d && memcmp(d, m.w.h[11].fcprojw, (size_t)t->numel * 4) == 0;
        safetensors_close(&st);
    }
    printf("check: synthesised GPT-2 small loads with the right config and tensors: %s\n", ok ? "ok" : "FAILED");
    if (!ok) return 1;
    gpt2_model_free(&m);

    /* baseline for synth: the same bytes, zeros, through file_begin/file_commit */
    FILE *probe = fopen(st_path, "rb");
    fseek(probe, 0, SEEK_END);
    size_t bytes = (size_t)ftell(probe);
    fclose(probe);
    char *zeros = xcalloc(1, 1 << 20);
    char tmp[4200];
    t0 = time_now();
    FILE *f = file_begin(zero_path, tmp, sizeof tmp);
    for (size_t o = 0; f && o < bytes; o += 1 << 20) fwrite(zeros, 1, bytes - o < (1u << 20) ? bytes - o : 1u << 20, f);
    if (!f || file_commit(f, tmp, zero_path) != 0) return 1;
    double t_zero = time_now() - t0;
    free(zeros);
    printf("synth  GPT-2 small %.0f MB: %.2f s (%.0f MB/s); writing zeros: %.2f s (%.0f MB/s); synth/zeros = %.2fx\n",
           bytes / 1e6, t_synth, bytes / 1e6 / t_synth, t_zero, bytes / 1e6 / t_zero, t_synth / t_zero);

    /* load again (warm page cache) vs read() of the whole file */
    t0 = time_now();
    gpt2_model_load(&m, dir);
    t_load = time_now() - t0;
    gpt2_model_free(&m);
    char *buf = xmalloc(bytes);
    t0 = time_now();
    int fd = open(st_path, O_RDONLY);
    size_t got = 0;
    for (ssize_t r; got < bytes && (r = read(fd, buf + got, bytes - got)) > 0;) got += (size_t)r;
    close(fd);
    double t_read = time_now() - t0;
    sink = buf[got / 2];
    free(buf);
    printf("load   gpt2_model_load: %.1f ms; read() of the file: %.1f ms; load/read = %.3fx (mmap: pages are "
           "touched later, on use)\n",
           t_load * 1e3, t_read * 1e3, t_load / t_read);

    /* F16 conversion throughput */
    size_t n = 32u << 20; /* 32M halves = 64 MB in, 128 MB out */
    uint16_t *h = xmalloc(n * 2);
    float *out = xmalloc(n * 4), *out2 = xmalloc(n * 4);
    Rng r;
    rng_seed(&r, 3);
    for (size_t k = 0; k < n; k++) h[k] = (uint16_t)rng_u64(&r);
    memset(out, 0, n * 4);
    memset(out2, 1, n * 4);
    t0 = time_now();
    for (size_t k = 0; k < n; k++) out[k] = st_f16_to_f32(h[k]);
    double t_f16 = time_now() - t0;
    t0 = time_now();
    memcpy(out2, out, n * 4);
    double t_cpy = time_now() - t0;
    sink = out[n / 3] + out2[n / 5];
    printf("f16    F16->F32 of %zu M values: %.1f ms (%.2f GB/s written); memcpy of the output: %.1f ms; "
           "f16/memcpy = %.2fx\n",
           n >> 20, t_f16 * 1e3, n * 4 / 1e9 / t_f16, t_cpy * 1e3, t_f16 / t_cpy);
    free(h);
    free(out);
    free(out2);

    unlink(st_path);
    unlink(zero_path);
    char *cj = path_join(dir, "config.json");
    unlink(cj);
    rmdir(dir);
    free(cj);
    free(st_path);
    free(zero_path);
    return 0;
}
