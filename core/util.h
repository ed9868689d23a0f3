/*
 * core/util.h - the small things every module needs: errors, memory, files, time.
 *
 *   if (file_read_all(path, &buf, &n) != 0) {       // fails: message is set
 *       fprintf(stderr, "gpt2sae: %s\n", err_get());
 *       return 1;
 *   }
 *   ...
 *   free(buf);
 *
 * Errors. Anything a user can cause (a bad file, a bad option) is reported by
 * the function that noticed it with err_set(), which records one message per
 * thread and returns -1, so `return err_set("%s: ...", path, ...)` is the idiom.
 * The message names the input and says what to do; the CLI prints it.
 * Programmer bugs are assert()s.
 */
#ifndef CORE_UTIL_H
#define CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define GS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GS_PRINTF(a, b)
#endif

#define GS_VERSION "0.1.0"

/* Record an error message for this thread (printf-style). Always returns -1.
 * An argument may be err_get(): the new message is made before it replaces
 * the old one. */
int err_set(const char *fmt, ...) GS_PRINTF(1, 2);
/* Prefix the current message with "prefix: " (adds context on the way up). Returns -1. */
int err_prefix(const char *fmt, ...) GS_PRINTF(1, 2);
/* The last message set on this thread ("" if none). Valid until the next err_set. */
const char *err_get(void);
/* Forget the current message. */
void err_clear(void);

/* malloc/calloc/realloc that abort with a message on out-of-memory (a fatal,
 * not a user error: a request the machine cannot satisfy). */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* A growing list of owned strings: strlist_push takes s; strlist_sort puts
 * v[from..n) in strcmp order; strlist_free frees every string and the list. */
typedef struct {
    char **v;
    size_t n, cap;
} StrList;
void strlist_push(StrList *l, char *s);
void strlist_sort(StrList *l, size_t from);
void strlist_free(StrList *l);
/* strcmp for qsort/bsearch over an array of char * */
int strlist_cmp(const void *a, const void *b);

/* 64-byte aligned allocation (for SIMD); free with free(). Aborts on OOM. */
void *xmalloc_aligned(size_t n);

/* Read a whole file into a new buffer (NUL-terminated for convenience; *len
 * excludes the NUL). Caller frees *out. Returns 0, or -1 with err_set().
 * A pipe or device (not a regular file) is read to its end but at most
 * FILE_STREAM_MAX bytes: an endless stream (/dev/zero, a FIFO fed forever)
 * is an error naming the file and the limit, not a read until out of memory. */
int file_read_all(const char *path, char **out, size_t *len);
/* The same with a limit of max bytes (for any kind of file). */
int file_read_max(const char *path, char **out, size_t *len, size_t max);
#define FILE_STREAM_MAX ((size_t)256 << 20)
/* Read an open stream (e.g. stdin) to its end, at most max bytes (else an
 * error naming `name` and the limit; use FILE_STREAM_MAX). Same result as
 * file_read_all; f is not closed. */
int file_read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len);

/* Map a regular file read-only: *map (NULL for an empty file) and *len. The
 * mapping is registered with core/cleanup.h, so a truncation while it is in
 * use stops the run with a message naming path, not a bus error. hint ends
 * the message for a pipe or a device ("save the array to a .npy file
 * first"). Returns 0; 1 when the file is fine but cannot be mapped (err_set()
 * says why; the caller may read it instead); or -1 with err_set(). Undo with
 * file_unmap (NULL is a no-op). */
int file_map(const char *path, const char *hint, void **map, size_t *len);
void file_unmap(void *map, size_t len);

/* Atomic writes. The bytes go to a new temporary "PATH.tmp.PID.XXXXXX" in
 * PATH's folder, created with O_CREAT|O_EXCL|O_NOFOLLOW (a planted file or
 * link of that name is never opened, never written through), registered
 * with core/cleanup.h (SIGINT/SIGTERM/SIGHUP remove it), then fsync'ed and
 * renamed over PATH. If PATH itself is a symbolic link it is refused, not
 * replaced. Temporaries of PATH left by killed processes (pid not alive) are
 * removed first. A failure (disk full included) leaves PATH untouched. */
/* Write len bytes to path atomically. Returns 0 or -1 with err_set(). */
int file_write_atomic(const char *path, const void *data, size_t len);
/* Open the temporary for path; tmp_path (tmp_len bytes, 4096 is plenty)
 * receives its name. Pair with file_commit() or file_abort(). NULL + err_set(). */
FILE *file_begin(const char *path, char *tmp_path, size_t tmp_len);
/* Flush, fsync, close and rename tmp_path over path. Returns 0 or -1
 * (the temporary is removed on failure). */
int file_commit(FILE *f, const char *tmp_path, const char *path);
/* Close and delete the temporary file. */
void file_abort(FILE *f, const char *tmp_path);
/* file_commit in two steps, for files that must change together (e.g. a
 * checkpoint's weights and its config.json): file_finish flushes, fsyncs and
 * closes (on failure the temporary is removed; -1 with err_set()); then
 * file_rename_group renames every tmp_paths[i] over paths[i], in order, with
 * SIGINT/SIGTERM/SIGHUP held back until all are in place. On failure the
 * temporaries not yet renamed are removed. Returns 0 or -1 with err_set(). */
int file_finish(FILE *f, const char *tmp_path, const char *path);
int file_rename_group(const char *const *tmp_paths, const char *const *paths, int n);
/* The lower level of file_begin: create "PATH.TAG.PID.XXXXXX" exclusively and
 * register it for cleanup; returns the open fd (O_WRONLY), or -1 with
 * err_set(). The caller unlinks it or renames it, then calls
 * cleanup_remove_path(tmp_path). (weights/download.c uses tag "part".) */
int file_temp_open(const char *path, const char *tag, char *tmp_path, size_t tmp_len);
#define FILE_TEMP_RAND 6   /* the random characters at the end of a temporary's name */

/* Memory. mem_check: 0 if `bytes` can be allocated, i.e. at most the
 * MemAvailable of /proc/meminfo (physical memory where that is missing);
 * else -1 with err_set() "WHAT: needs N bytes (x GiB) of memory, but only M
 * bytes (y GiB) are available; choose a smaller size". Compute bytes with
 * __builtin_mul_overflow and pass UINT64_MAX on overflow. Call it before a
 * large allocation a user's option decides (e.g. an SAE of --latents L). */
int mem_check(uint64_t bytes, const char *what);
/* The bytes mem_check compares against. */
uint64_t mem_available(void);

/* 1 if path exists and is a directory / a regular file. */
int path_is_dir(const char *path);
int path_is_file(const char *path);
/* mkdir -p. Returns 0 or -1 with err_set(). */
int path_mkdirs(const char *path);
/* Join a and b with one '/'. Caller frees. */
char *path_join(const char *a, const char *b);
/* The engine's cache folder: $GPT2SAE_CACHE, else $XDG_CACHE_HOME/gpt2sae,
 * else $HOME/.cache/gpt2sae (not created here). malloc'd; NULL, with
 * err_set, when none of the three is set. */
char *path_cache_root(void);
/* The folder holding path: "a/b/c.txt" -> "a/b", "c.txt" -> ".", "/c" -> "/",
 * "a/b/" -> "a" (trailing slashes ignored). Caller frees. */
char *path_dir(const char *path);
/* The final component: "a/b/c.txt" -> "c.txt", "a/b/" -> "b". Caller frees. */
char *path_base(const char *path);
/* path_base without its extension ("a/b/palinka.txt" -> "palinka", "corpus/"
 * -> "corpus", "/" -> ""). Caller frees. */
char *path_stem(const char *path);

/* Wall-clock seconds from a monotonic clock. */
double time_now(void);
/* CPU seconds (user + system, every thread) this process has used: on a
 * shared machine, what a piece of work cost, where the wall clock mostly
 * measures the other tenants. */
double cpu_now(void);

/* Deterministic RNG (xorshift64*), the same stream on every machine. */
typedef struct { uint64_t s; } Rng;
void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1) with 24 bits of precision. */
float rng_uniform(Rng *r);
/* Standard normal (Box-Muller). */
float rng_normal(Rng *r);

/* Parse a whole string as a number. Return 0 on success, -1 if s is not
 * entirely a number in range (no err_set: the caller names the option). */
int parse_int(const char *s, long *out);
int parse_float(const char *s, double *out);

/* The CPU's SIMD level this binary was built for and the machine supports:
 * "avx512", "avx2", "sse2" or "scalar". */
const char *cpu_simd_level(void);

#endif
