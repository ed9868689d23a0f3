/* core/util.c - errors, memory, files, time, RNG. See util.h. */
#include "core/util.h"

#include "core/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char err_buf[1024];

int err_set(const char *fmt, ...) {
    char msg[sizeof err_buf];   /* formatted apart: an argument may be err_get() itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(err_buf, msg, sizeof msg);
    return -1;
}

int err_prefix(const char *fmt, ...) {
    char old[sizeof err_buf];
    memcpy(old, err_buf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err_buf - 3) {
        memcpy(err_buf + n, ": ", 2);
        size_t room = sizeof err_buf - (size_t)n - 3, len = strlen(old);
        if (len > room) len = room;
        memcpy(err_buf + n + 2, old, len);
        err_buf[n + 2 + len] = 0;
    }
    return -1;
}

const char *err_get(void) { return err_buf; }
void err_clear(void) { err_buf[0] = 0; }

static void oom(size_t n) {
    fprintf(stderr, "gpt2sae: out of memory (asked for %zu bytes)\n", n);
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

void strlist_push(StrList *l, char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
}

int strlist_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void strlist_sort(StrList *l, size_t from) {
    if (l->n > from) qsort(l->v + from, l->n - from, sizeof *l->v, strlist_cmp);
}

void strlist_free(StrList *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void *xmalloc_aligned(size_t n) {
    void *p = NULL;
    size_t rounded = (n + 63) / 64 * 64;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) oom(n);
    return p;
}

/* Read f to its end into a new buffer, stopping with an error past max bytes. */
static int read_stream(FILE *f, const char *path, size_t start_cap, size_t max, const char *why_max, char **out,
                       size_t *len) {
    size_t cap = start_cap < (1 << 16) ? (1 << 16) : start_cap, n = 0;
    if (cap > max + 1) cap = max + 1;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max) {
            free(buf);
            return err_set("%s: %s", path, why_max);
        }
        if (n < cap) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                return err_set("%s: read error: %s", path, strerror(e));
            }
            break;
        }
        cap = cap > max / 2 ? max + 1 : cap * 2;
        buf = xrealloc(buf, cap + 1);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int file_read_max(const char *path, char **out, size_t *len, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    char why[256];
    size_t start = 0, limit = max;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        /* a file: its size, plus a little for one still being appended to */
        if ((uint64_t)st.st_size > max) {
            fclose(f);
            return err_set("%s: %lld bytes, more than this input may hold (%zu bytes)", path,
                           (long long)st.st_size, max);
        }
        start = (size_t)st.st_size + 1;
        snprintf(why, sizeof why, "grew past %zu bytes while being read (still being written?)", max);
    } else if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return err_set("%s: is a folder, not a file", path);
    } else {
        /* a pipe or a device: it may never end (/dev/zero), so it gets a bound */
        if (limit > FILE_STREAM_MAX) limit = FILE_STREAM_MAX;
        snprintf(why, sizeof why,
                 "not a regular file, and it goes on past %zu bytes (an endless stream such as /dev/zero?); "
                 "save the input to a file first",
                 limit);
    }
    int rc = read_stream(f, path, start, limit, why, out, len);
    fclose(f);
    return rc;
}

int file_read_all(const char *path, char **out, size_t *len) { return file_read_max(path, out, len, SIZE_MAX / 2); }

int file_read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len) {
    char why[256];
    snprintf(why, sizeof why, "goes on past %zu bytes (an endless stream such as /dev/zero?); save the input to a file first",
             max);
    return read_stream(f, name, 0, max, why, out, len);
}

int file_map(const char *path, const char *hint, void **map, size_t *len) {
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set("%s: not a regular file (a pipe or a device?): %s", path, hint);
    }
    size_t n = (size_t)st.st_size;
    void *p = n ? mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (p == MAP_FAILED) {
        err_set("%s: cannot mmap: %s", path, strerror(e));
        return 1;
    }
    if (p) cleanup_add_map(p, n, path); /* truncated while in use: a message naming it, not SIGBUS */
    *map = p;
    *len = n;
    return 0;
}

void file_unmap(void *map, size_t len) {
    if (!map) return;
    cleanup_remove_map(map);
    munmap(map, len);
}

/* ---- atomic writes ------------------------------------------------------ */

/* n random characters of [A-Za-z0-9] (not a secret: O_EXCL is the guarantee,
 * the randomness only keeps a planted name from blocking us). */
static void rand_chars(char *out, int n) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[16];
    if (n > 16) n = 16;
    if (getrandom(r, (size_t)n, GRND_NONBLOCK) != n) {
        static uint64_t ctr;
        uint64_t x = (uint64_t)(time_now() * 1e9) ^ ((uint64_t)getpid() << 32) ^
                     __atomic_add_fetch(&ctr, 0x9E3779B97F4A7C15ull, __ATOMIC_RELAXED);
        for (int i = 0; i < n; i++) x = x * 6364136223846793005ull + 1442695040888963407ull, r[i] = (unsigned char)(x >> 56);
    }
    for (int i = 0; i < n; i++) out[i] = al[r[i] % 62];
    out[n] = 0;
}

int file_temp_open(const char *path, const char *tag, char *tmp_path, size_t tmp_len) {
    struct stat st;
    if (!*path) return err_set("an empty file name was given (name the output file)");
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        return err_set("%s: is a symbolic link: not replacing it (give the path of the file it points to, "
                       "or remove the link)",
                       path);
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) return err_set("%s: is a folder, not a file", path);
    /* temporaries left by killed runs of this same output go first */
    char *dir = path_dir(path), *base = path_base(path);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s.%s.", base, tag);
    if (strlen(base) < 400) cleanup_stale_sweep(dir, prefix, FILE_TEMP_RAND, 0);
    free(dir);
    free(base);
    for (int attempt = 0; attempt < 64; attempt++) {
        char r[FILE_TEMP_RAND + 1];
        rand_chars(r, FILE_TEMP_RAND);
        int n = snprintf(tmp_path, tmp_len, "%s.%s.%ld.%s", path, tag, (long)getpid(), r);
        if (n < 0 || (size_t)n >= tmp_len) return err_set("%s: the path is too long", path);
        int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            cleanup_add_path(tmp_path, CLEANUP_FILE);
            return fd;
        }
        if (errno != EEXIST) return err_set("%s: cannot write: %s", path, strerror(errno));
    }
    return err_set("%s: cannot create a temporary file beside it (too many names taken)", path);
}

FILE *file_begin(const char *path, char *tmp_path, size_t tmp_len) {
    int fd = file_temp_open(path, "tmp", tmp_path, tmp_len);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp_path);
        cleanup_remove_path(tmp_path);
        err_set("%s: cannot write: %s", path, strerror(e));
    }
    return f;
}

/* fsync the folder holding path, so a rename into it survives a power cut. */
static void sync_parent(const char *path) {
    char *dir = path_dir(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int file_finish(FILE *f, const char *tmp_path, const char *path) {
    int bad = fflush(f) != 0 || ferror(f);
    int e = bad ? (errno ? errno : EIO) : 0;
    if (!bad && fsync(fileno(f)) != 0 && errno != EINVAL) bad = 1, e = errno;
    if (fclose(f) != 0 && !bad) { bad = 1; e = errno; }
    if (bad) {
        unlink(tmp_path);
        cleanup_remove_path(tmp_path);
        return err_set("%s: write failed: %s (disk full?); the old file, if any, is unchanged", path, strerror(e));
    }
    return 0;
}

int file_rename_group(const char *const *tmp_paths, const char *const *paths, int n) {
    int rc = 0;
    struct stat st;
    for (int i = 0; i < n && rc == 0; i++)
        if (lstat(paths[i], &st) == 0 && S_ISLNK(st.st_mode))   /* planted while we wrote */
            rc = err_set("%s: became a symbolic link while it was being written: not replacing it", paths[i]);
    /* SIGINT/SIGTERM/SIGHUP wait until every file is in place: a group is never half-renamed by them */
    sigset_t old;
    cleanup_hold_signals(&old);
    int done = 0;
    for (; done < n && rc == 0; done++) {
        if (rename(tmp_paths[done], paths[done]) != 0) {
            rc = err_set("%s: cannot rename into place: %s%s", paths[done], strerror(errno),
                         done ? " (the files before it in the group were replaced)" : "");
            break;
        }
        cleanup_remove_path(tmp_paths[done]);
    }
    for (int i = done; i < n; i++) {   /* on failure, the temporaries not renamed */
        unlink(tmp_paths[i]);
        cleanup_remove_path(tmp_paths[i]);
    }
    cleanup_release_signals(&old);
    if (rc == 0)
        for (int i = 0; i < n; i++) sync_parent(paths[i]);
    return rc;
}

int file_commit(FILE *f, const char *tmp_path, const char *path) {
    if (file_finish(f, tmp_path, path) != 0) return -1;
    return file_rename_group(&tmp_path, &path, 1);
}

void file_abort(FILE *f, const char *tmp_path) {
    if (f) fclose(f);
    unlink(tmp_path);
    cleanup_remove_path(tmp_path);
}

int file_write_atomic(const char *path, const void *data, size_t len) {
    char tmp[4096];
    FILE *f = file_begin(path, tmp, sizeof tmp);
    if (!f) return -1;
    if (len && fwrite(data, 1, len, f) != len) {
        int e = errno;
        file_abort(f, tmp);
        return err_set("%s: write failed: %s (disk full?); the old file, if any, is unchanged", path, strerror(e));
    }
    return file_commit(f, tmp, path);
}

/* ---- memory ------------------------------------------------------------- */

uint64_t mem_available(void) {
    uint64_t avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                avail = (uint64_t)kb * 1024;
                break;
            }
        fclose(f);
    }
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    uint64_t phys = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
    if (!avail || (phys && avail > phys)) avail = phys;
    return avail ? avail : UINT64_MAX;
}

int mem_check(uint64_t bytes, const char *what) {
    uint64_t avail = mem_available();
    if (bytes <= avail) return 0;
    if (bytes == UINT64_MAX)
        return err_set("%s: needs more memory than can be counted (more than 2^64 bytes); choose a smaller size",
                       what);
    return err_set("%s: needs %llu bytes (%.1f GiB) of memory, but only %llu bytes (%.1f GiB) are available; "
                   "choose a smaller size",
                   what, (unsigned long long)bytes, (double)bytes / 1073741824.0, (unsigned long long)avail,
                   (double)avail / 1073741824.0);
}

int path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int path_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int path_mkdirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return err_set("%s: bad folder name", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return err_set("%s: cannot create folder %s: %s", path, buf, strerror(errno));
            buf[i] = c;
        }
    }
    if (!path_is_dir(path)) return err_set("%s: exists and is not a folder", path);
    return 0;
}

char *path_cache_root(void) {
    const char *env = getenv("GPT2SAE_CACHE");
    if (env && *env) return xstrdup(env);
    if ((env = getenv("XDG_CACHE_HOME")) && *env) return path_join(env, "gpt2sae");
    if ((env = getenv("HOME")) && *env) {
        char *c = path_join(env, ".cache"), *dir = path_join(c, "gpt2sae");
        free(c);
        return dir;
    }
    err_set("no cache folder: set GPT2SAE_CACHE (or HOME) to a writable folder");
    return NULL;
}

char *path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    while (na > 1 && a[na - 1] == '/') na--;
    char *p = xmalloc(na + nb + 2);
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

char *path_dir(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;            /* "a/b/" is the folder b in a */
    while (n > 0 && path[n - 1] != '/') n--;            /* drop the last component */
    if (n == 0) return xstrdup(".");
    while (n > 1 && path[n - 1] == '/') n--;            /* "a//b" -> "a", "/b" -> "/" */
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

char *path_base(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    if (b == n && n > 0) return xstrdup("/");   /* "/" (or "//") */
    char *s = xmalloc(n - b + 1);
    memcpy(s, path + b, n - b);
    s[n - b] = 0;
    return s;
}

char *path_stem(const char *path) {
    char *s = path_base(path);   /* "a/b/" -> "b" */
    if (s[0] == '/') s[0] = 0;    /* "/" has no name */
    char *dot = strrchr(s, '.');
    if (dot && dot != s) *dot = 0;
    return s;
}

double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rng_seed(Rng *r, uint64_t seed) {
    /* splitmix64 of the seed, so that nearby seeds give unrelated streams */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    r->s = z ? z : 0x2545F4914F6CDD1Dull;
}

uint64_t rng_u64(Rng *r) {
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float rng_uniform(Rng *r) { return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float rng_normal(Rng *r) {
    double u1 = ((double)(rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

int parse_int(const char *s, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int parse_float(const char *s, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

const char *cpu_simd_level(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
#if defined(__AVX512F__)
    if (__builtin_cpu_supports("avx512f")) return "avx512";
#endif
#if defined(__AVX2__)
    if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
    return "sse2";
#else
    return "scalar";
#endif
}
