/*
 * tests/test_bounds.c - inputs that never end, sizes that cannot fit, inputs
 * of the wrong kind, and inputs that change while in use:
 *   file_read_all on /dev/zero and on a FIFO fed forever (an error naming
 *   the file and the limit), mem_check, npy_map / safetensors_open on
 *   non-regular files, npy_check_f32_rows naming the real dtype and shape,
 *   NaN/Inf weights named at load (tensor and index), and a mapped .npy and
 *   .safetensors truncated while in use (a message naming the file, exit 1,
 *   not SIGBUS). Also path_dir / path_base.
 */
#include "core/cleanup.h"
#include "core/util.h"
#include "gpt2/model.h"
#include "weights/npy.h"
#include "weights/safetensors.h"

#include "tests/test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[256];

static void test_paths(void) {
    static const char *cases[][3] = {
        {"a/b/c.txt", "a/b", "c.txt"}, {"c.txt", ".", "c.txt"}, {"/c", "/", "c"},   {"a/b/", "a", "b"},
        {"a//b", "a", "b"},            {"/", "/", "/"},         {"./x", ".", "x"}, {"/a/b//", "/a", "b"},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = path_dir(cases[i][0]), *b = path_base(cases[i][0]);
        if (strcmp(d, cases[i][1]) || strcmp(b, cases[i][2])) {
            ok = 0;
            printf("    path_dir/path_base(\"%s\") = \"%s\", \"%s\" (want \"%s\", \"%s\")\n", cases[i][0], d, b,
                   cases[i][1], cases[i][2]);
        }
        free(d);
        free(b);
    }
    CHECK(ok, "path_dir and path_base on %zu cases", sizeof cases / sizeof cases[0]);
}

static void test_endless(void) {
    char *buf = NULL;
    size_t n = 0;
    CHECK(file_read_all("/dev/zero", &buf, &n) == -1 && strstr(err_get(), "/dev/zero") &&
              strstr(err_get(), "268435456"),
          "file_read_all(/dev/zero) stops at the limit: %s", err_get());
    free(buf);

    /* a FIFO fed forever by a child */
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/fifo", root);
    if (mkfifo(fifo, 0600) != 0) {
        SKIP("mkfifo failed");
        return;
    }
    pid_t p = fork();
    if (p == 0) {
        int fd = open(fifo, O_WRONLY);
        char blk[65536];
        memset(blk, 'a', sizeof blk);
        while (write(fd, blk, sizeof blk) > 0) {}
        _exit(0);
    }
    buf = NULL;
    CHECK(file_read_max(fifo, &buf, &n, 1 << 20) == -1 && strstr(err_get(), "fifo") && strstr(err_get(), "1048576"),
          "a FIFO fed forever, limit 1 MiB: %s", err_get());
    free(buf);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);

    /* a FIFO that ends is read whole */
    p = fork();
    if (p == 0) {
        int fd = open(fifo, O_WRONLY);
        if (write(fd, "short", 5) != 5) _exit(1);
        _exit(0);
    }
    buf = NULL;
    CHECK(file_read_all(fifo, &buf, &n) == 0 && n == 5 && !memcmp(buf, "short", 5), "a FIFO that ends is read whole");
    free(buf);
    waitpid(p, NULL, 0);

    /* an open stream (standard input, say) with a limit */
    FILE *z = fopen("/dev/zero", "rb");
    buf = NULL;
    CHECK(z && file_read_stream(z, "standard input", 4096, &buf, &n) == -1 && strstr(err_get(), "standard input") &&
              strstr(err_get(), "4096"),
          "file_read_stream of an endless stream, limit 4096: %s", err_get());
    if (z) fclose(z);
    free(buf);

    /* a regular file above the limit */
    char f[300];
    snprintf(f, sizeof f, "%s/ten.txt", root);
    file_write_atomic(f, "0123456789", 10);
    buf = NULL;
    CHECK(file_read_max(f, &buf, &n, 9) == -1 && strstr(err_get(), "ten.txt"), "a file above the limit: %s",
          err_get());
    free(buf);
    CHECK(file_read_max(f, &buf, &n, 10) == 0 && n == 10, "a file at the limit is read");
    free(buf);
    CHECK(file_read_all(root, &buf, &n) == -1 && strstr(err_get(), "folder"), "a folder: %s", err_get());

    /* mapped readers refuse what is not a regular file */
    Npy a;
    CHECK(npy_map(&a, "/dev/zero") == -1 && strstr(err_get(), "/dev/zero") && strstr(err_get(), "regular"),
          "npy_map(/dev/zero): %s", err_get());
    SafeTensors st;
    CHECK(safetensors_open(&st, "/dev/zero") == -1 && strstr(err_get(), "regular"), "safetensors_open(/dev/zero): %s",
          err_get());
}

static void test_mem(void) {
    uint64_t avail = mem_available();
    CHECK(avail > (1 << 20) && mem_check(1 << 20, "1 MiB") == 0, "mem_check: 1 MiB fits (%llu bytes available)",
          (unsigned long long)avail);
    /* the SAE of --latents 536870912 on d = 3072: W (L, d) float32 */
    uint64_t need;
    int over = __builtin_mul_overflow((uint64_t)536870912, (uint64_t)3072 * 4, &need);
    CHECK(!over && mem_check(need, "an SAE of 536870912 latents") == -1 && strstr(err_get(), "6597069766656 bytes") &&
              strstr(err_get(), "available") && strstr(err_get(), "536870912 latents"),
          "mem_check refuses %llu bytes: %s", (unsigned long long)need, err_get());
    CHECK(mem_check(UINT64_MAX, "x") == -1 && strstr(err_get(), "2^64"), "an overflowed size: %s", err_get());
}

static void test_npy_messages(void) {
    char p[300];
    snprintf(p, sizeof p, "%s/ids.npy", root);
    int32_t ids[5] = {1, 2, 3, 4, 5};
    npy_write_i32(p, ids, (int64_t[]){5}, 1);
    Npy a;
    if (npy_map(&a, p) != 0) {
        CHECK(0, "npy_map %s: %s", p, err_get());
        return;
    }
    CHECK(npy_check_f32_rows(&a, p, "activations") == -1 && strstr(err_get(), "int32 of shape (5,)") &&
              strstr(err_get(), "ids.npy"),
          "an int32 1-D .npy: %s", err_get());
    npy_free(&a);
    float v[6] = {0};
    npy_write_f32(p, v, (int64_t[]){6}, 1);
    npy_map(&a, p);
    CHECK(npy_check_f32_rows(&a, p, "activations") == -1 && strstr(err_get(), "float32 of shape (6,)") &&
              strstr(err_get(), "reshape"),
          "a float32 1-D .npy: %s", err_get());
    npy_free(&a);
    npy_write_f32(p, v, (int64_t[]){2, 3}, 2);
    npy_map(&a, p);
    CHECK(npy_check_f32_rows(&a, p, "activations") == 0, "a float32 (2, 3) .npy passes");
    npy_free(&a);
}

/* Overwrite one float of tensor `name` (flat index k) in the checkpoint at dir. */
static int poke(const char *dir, const char *name, int64_t k, float value) {
    char *path = path_join(dir, "model.safetensors");
    SafeTensors st;
    int rc = -1;
    if (safetensors_open(&st, path) == 0) {
        const STTensor *t = safetensors_find(&st, name);
        long off = t ? (long)((st.data - st.map) + t->begin + (size_t)k * 4) : -1;
        safetensors_close(&st);
        int fd = off >= 0 ? open(path, O_WRONLY) : -1;
        if (fd >= 0 && pwrite(fd, &value, 4, off) == 4) rc = 0;
        if (fd >= 0) close(fd);
    }
    free(path);
    return rc;
}

static void test_nan_weights(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/tiny", root);
    GPT2Config c = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 8, .vocab_size = 50, .ln_eps = 1e-5f};
    if (gpt2_model_synth(dir, &c, 3) != 0) {
        CHECK(0, "synth: %s", err_get());
        return;
    }
    GPT2Model m;
    CHECK(gpt2_model_load(&m, dir) == 0, "a clean tiny checkpoint loads");
    gpt2_model_free(&m);
    /* c_fc weight is (C, 4C) = (16, 64): flat 100 is [1, 36] */
    CHECK(poke(dir, "h.1.mlp.c_fc.weight", 100, NAN) == 0, "a NaN written into h.1.mlp.c_fc.weight");
    CHECK(gpt2_model_load(&m, dir) == -1 && strstr(err_get(), "h.1.mlp.c_fc.weight") && strstr(err_get(), "NaN") &&
              strstr(err_get(), "[1, 36]"),
          "it is found at load: %s", err_get());
    poke(dir, "h.1.mlp.c_fc.weight", 100, 0.5f);
    CHECK(poke(dir, "ln_f.bias", 15, -INFINITY) == 0 && gpt2_model_load(&m, dir) == -1 &&
              strstr(err_get(), "ln_f.bias") && strstr(err_get(), "infinity") && strstr(err_get(), "[15]"),
          "an infinity in the last element of ln_f.bias: %s", err_get());
    poke(dir, "ln_f.bias", 15, 0.0f);
    CHECK(gpt2_model_load(&m, dir) == 0, "restored, it loads again");
    gpt2_model_free(&m);
}

/* A child maps path, truncates it, touches the lost pages: it must exit 1 with
 * a message naming path (not die of SIGBUS). */
static void truncated_while_mapped(const char *path, int is_npy) {
    int pfd[2];
    if (pipe(pfd) != 0) return;
    pid_t p = fork();
    if (p == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        volatile float sum = 0;
        const float *x;
        int64_t n;
        Npy a;
        SafeTensors st;
        if (is_npy) {
            if (npy_map(&a, path) != 0) _exit(3);
            x = a.f32, n = a.numel;
        } else {
            if (safetensors_open(&st, path) != 0) _exit(3);
            x = (const float *)st.data, n = (int64_t)(st.data_len / 4);
        }
        if (truncate(path, 100) != 0) _exit(4);
        for (int64_t i = 0; i < n; i += 1024) sum += x[i];
        _exit(5);   /* read everything: the truncation went unnoticed */
    }
    close(pfd[1]);
    char msg[1024] = "";
    size_t have = 0;   /* read to the end: the handler writes its message in pieces, and closing the pipe
                        * after the first piece would kill the child with SIGPIPE */
    for (ssize_t got; have < sizeof msg - 1 && (got = read(pfd[0], msg + have, sizeof msg - 1 - have)) > 0;)
        have += (size_t)got;
    msg[have] = 0;
    close(pfd[0]);
    int st = 0;
    waitpid(p, &st, 0);
    char *nl = strchr(msg, '\n');
    if (nl) *nl = 0;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(msg, path) && strstr(msg, "shrank"),
          "%s truncated while mapped: exit %d%s, '%s'", is_npy ? ".npy" : ".safetensors",
          WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? " (killed by a signal)" : "", msg);
}

#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer would take SIGBUS for itself; here the engine's handler is under test */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "handle_sigbus=0"; }
#endif

static void test_truncated(void) {
    char p[300];
    snprintf(p, sizeof p, "%s/big.npy", root);
    float *v = xcalloc(1 << 20, sizeof *v);
    npy_write_f32(p, v, (int64_t[]){1024, 1024}, 2);
    truncated_while_mapped(p, 1);
    snprintf(p, sizeof p, "%s/big.safetensors", root);
    STWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "x", (int64_t[]){1 << 20}, 1, v);
    st_writer_write(&w, p);
    st_writer_free(&w);
    truncated_while_mapped(p, 0);
    free(v);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/test_bounds.%ld", (long)getpid());
    cleanup_remove_tree(root);
    mkdir(root, 0755);
    test_paths();
    test_endless();
    test_mem();
    test_npy_messages();
    test_nan_weights();
    test_truncated();
    cleanup_remove_tree(root);
    return test_finish();
}
