/*
 * bench/bench_sha256.c - throughput of weights/sha256.c, the hash every
 * downloaded file goes through (548 MB for gpt2's model.safetensors): the
 * portable reference, the SHA-NI path, and coreutils' sha256sum on the same
 * bytes in the same run.
 *
 *   make build/bench/bench_sha256 && build/bench/bench_sha256 [MB]
 *
 * Correctness first: both must give the same digest. The file is written to
 * /tmp and read once before timing so both read it from the page cache.
 */
#include "core/util.h"
#include "weights/sha256.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long mb = 256;
    if (argc > 1 && (parse_int(argv[1], &mb) != 0 || mb < 1 || mb > 4096)) {
        fprintf(stderr, "usage: bench_sha256 [MB in 1..4096]\n");
        return 2;
    }
    size_t n = (size_t)mb << 20;
    uint8_t *buf = xmalloc(n);
    Rng r;
    rng_seed(&r, 1);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rng_u64(&r);
        memcpy(buf + i, &v, 8);
    }
    char path[] = "/tmp/bench_sha256.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, buf, n) != (ssize_t)n) {
        fprintf(stderr, "bench_sha256: cannot write %s\n", path);
        return 1;
    }
    close(fd);

    /* the portable reference, in memory */
    char hex_ref[65];
    sha256_set_accel(0);
    double t0 = time_now();
    sha256_hex_of(buf, n, hex_ref);
    double t_ref = time_now() - t0;
    int accel = sha256_set_accel(1);

    /* ours (SHA-NI where the CPU has it), in memory (best of 3) */
    char hex[65];
    double best_mem = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = time_now();
        sha256_hex_of(buf, n, hex);
        double t = time_now() - t0;
        if (t < best_mem) best_mem = t;
    }
    /* ours, from the file (as fetch does it) */
    char hex_file[65];
    t0 = time_now();
    int rc = sha256_file(path, hex_file, NULL);
    double t_file = time_now() - t0;

    /* baseline: sha256sum on the same file */
    char cmd[256], line[256] = "";
    snprintf(cmd, sizeof cmd, "sha256sum %s", path);
    double best_ref = 1e30;
    for (int rep = 0; rep < 2; rep++) {
        t0 = time_now();
        FILE *p = popen(cmd, "r");
        if (!p || !fgets(line, sizeof line, p)) line[0] = 0;
        if (p) pclose(p);
        double t = time_now() - t0;
        if (t < best_ref) best_ref = t;
    }
    unlink(path);
    free(buf);
    if (rc != 0 || strncmp(line, hex, 64) != 0 || strcmp(hex, hex_file) != 0 || strcmp(hex, hex_ref) != 0) {
        printf("MISMATCH: ours %s, reference %s, file %s, sha256sum %.64s\n", hex, hex_ref, hex_file, line);
        return 1;
    }
    printf("digest agrees with sha256sum (%ld MB)\n", mb);
    printf("sha256 reference        %8.1f MB/s\n", mb / t_ref);
    printf("sha256 (ours, %s) %8.1f MB/s   %.2fx the reference\n", accel ? "SHA-NI " : "scalar ", mb / best_mem,
           t_ref / best_mem);
    printf("sha256 (ours, file)     %8.1f MB/s\n", mb / t_file);
    printf("sha256sum (coreutils)   %8.1f MB/s   ours/coreutils = %.2fx\n", mb / best_ref, best_ref / best_mem);
    printf("gpt2 model.safetensors (548 MB) would take %.1f s to verify (once: a stamp remembers it)\n",
           548.105171 / (mb / t_file));
    return 0;
}
