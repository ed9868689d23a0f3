/*
 * weights/download.c - curl as a subprocess, temp file, verify, rename. See download.h.
 */
#include "weights/download.h"
#include "core/cleanup.h"
#include "core/util.h"
#include "weights/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- what the user sees ---- */

static void notify_stderr(const char *line, void *ctx) {
    (void)ctx;
    fprintf(stderr, "gpt2sae: %s\n", line);
}

static DownloadNotify g_notify = notify_stderr;
static void *g_notify_ctx;

void download_set_notify(DownloadNotify fn, void *ctx) {
    g_notify = fn ? fn : notify_stderr;
    g_notify_ctx = fn ? ctx : NULL;
}

void download_notify(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    g_notify(line, g_notify_ctx);
}

/* ---- one run of curl ---- */

typedef struct {
    int code;        /* curl's exit status (0 ok); 127 = curl could not be run */
    int http;        /* the last HTTP status (0 if none) */
    long long got;   /* bytes received in this run */
} CurlResult;

static int connect_timeout(void) {
    const char *s = getenv("GPT2SAE_CONNECT_TIMEOUT");
    long v;
    if (s && parse_int(s, &v) == 0 && v >= 1 && v <= 600) return (int)v;
    return 10;
}

static CurlResult curl_run(const char *url, const char *tmp, int resume, int64_t max_size) {
    CurlResult r = {127, 0, 0};
    char cto[32], maxs[32];
    snprintf(cto, sizeof cto, "%d", connect_timeout());
    const char *argv[40];
    int a = 0;
    argv[a++] = "curl";
    argv[a++] = "--fail";                     /* HTTP >= 400 is an error, not a saved page */
    argv[a++] = "--location";                 /* Hugging Face redirects to its CDN */
    argv[a++] = "--max-redirs"; argv[a++] = "10";
    argv[a++] = "--proto"; argv[a++] = "=http,https";
    argv[a++] = "--proto-redir"; argv[a++] = "=http,https";
    argv[a++] = "--connect-timeout"; argv[a++] = cto;
    argv[a++] = "--speed-limit"; argv[a++] = "1024";  /* a stall: < 1 KB/s for 60 s */
    argv[a++] = "--speed-time"; argv[a++] = "60";
    argv[a++] = isatty(2) ? "--progress-bar" : "--silent";
    if (max_size > 0) {
        snprintf(maxs, sizeof maxs, "%lld", (long long)max_size);
        argv[a++] = "--max-filesize"; argv[a++] = maxs;
    }
    if (resume) { argv[a++] = "--continue-at"; argv[a++] = "-"; }
    argv[a++] = "--output"; argv[a++] = tmp;
    argv[a++] = "--write-out"; argv[a++] = "%{http_code} %{size_download}";
    argv[a++] = "--";
    argv[a++] = url;
    argv[a] = NULL;

    int pfd[2];
    if (pipe(pfd) != 0) return r;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    posix_spawn_file_actions_addclose(&fa, pfd[1]);
    pid_t pid;
    int e = posix_spawnp(&pid, "curl", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (e != 0) {
        close(pfd[0]);
        return r; /* code 127: not found / not runnable */
    }
    cleanup_add_child((int)pid);   /* a signal to us reaches curl too */
    char out[128];
    size_t n = 0;
    for (;;) {
        ssize_t k = read(pfd[0], out + n, sizeof out - 1 - n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
        if (n == sizeof out - 1) break;
    }
    out[n] = 0;
    close(pfd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    cleanup_remove_child((int)pid);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    sscanf(out, "%d %lld", &r.http, &r.got);
    return r;
}

/* Worth trying again? Transfers that broke off, yes; a host we cannot reach
 * or a file the server says is not there, no. */
static int curl_transient(const CurlResult *r) {
    switch (r->code) {
    case 18: /* partial file: connection dropped */
    case 52: /* empty reply */
    case 55: /* send error */
    case 56: /* receive error / reset */
    case 92: /* HTTP/2 stream error */
    case 16: /* HTTP/2 framing */
        return 1;
    case 28: /* timed out: retry only if we got as far as an HTTP response */
        return r->http != 0;
    case 22:
        return r->http >= 500 || r->http == 408 || r->http == 429;
    default:
        return 0;
    }
}

static void curl_describe(const CurlResult *r, char *buf, size_t cap) {
    switch (r->code) {
    case 127: snprintf(buf, cap, "the curl program could not be run (install it: apt-get install curl)"); break;
    case 5:
    case 6: snprintf(buf, cap, "could not resolve the host (DNS failure: offline, or the host is blocked)"); break;
    case 7: snprintf(buf, cap, "could not connect (connection refused or host unreachable)"); break;
    case 28:
        if (r->http == 0) snprintf(buf, cap, "connection timed out after %d s (host unreachable?)", connect_timeout());
        else snprintf(buf, cap, "the transfer stalled or timed out after %lld bytes", r->got);
        break;
    case 18: snprintf(buf, cap, "the connection dropped mid-way (got %lld bytes, fewer than announced)", r->got); break;
    case 52: snprintf(buf, cap, "the server closed the connection without replying"); break;
    case 55:
    case 56: snprintf(buf, cap, "the connection was reset while transferring (after %lld bytes)", r->got); break;
    case 23: snprintf(buf, cap, "cannot write the temporary file (disk full or no permission?)"); break;
    case 35:
    case 60: snprintf(buf, cap, "TLS/SSL failure (curl exit %d; check the system certificates)", r->code); break;
    case 47: snprintf(buf, cap, "too many redirects"); break;
    case 63: snprintf(buf, cap, "the file is bigger than the pinned size"); break;
    case 33: snprintf(buf, cap, "the server cannot resume a broken transfer"); break;
    case 22:
        snprintf(buf, cap, "HTTP %d%s", r->http,
                 r->http == 404   ? " (not found: wrong name or revision, or the file moved)"
                 : r->http == 401 || r->http == 403 ? " (access denied)"
                 : r->http >= 500 ? " (server error)"
                                  : "");
        break;
    default:
        if (r->code > 128) snprintf(buf, cap, "curl was killed by signal %d", r->code - 128);
        else snprintf(buf, cap, "curl failed with exit code %d (see 'man curl', EXIT CODES)", r->code);
    }
}

/* ---- hashing with a stamp ---- */

enum { STAMP_MIN = 16 << 20 };

/* The stamp's name "<dir>/.<name>.sha256" and the key of the file's current
 * state "v1 size mtime.ns inode". Returns 0, or -1 if path cannot be stat'ed. */
static int stamp_names(const char *path, char *stamp, size_t scap, char *key, size_t kcap, off_t *size) {
    struct stat st;
    if (stat(path, &st) != 0) return err_set("%s: cannot read: %s", path, strerror(errno));
    char *dir = path_dir(path), *base = path_base(path);
    snprintf(stamp, scap, "%s/.%s.sha256", dir, base);
    free(dir);
    free(base);
    snprintf(key, kcap, "v1 %lld %lld.%09ld %llu", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
             (long)st.st_mtim.tv_nsec, (unsigned long long)st.st_ino);
    *size = st.st_size;
    return 0;
}

/* Record that path (as it is now) has sha256 hex. Best effort: a cache only. */
static void stamp_store(const char *path, const char *hex) {
    char stamp[4200], key[160], line[256];
    off_t size;
    if (stamp_names(path, stamp, sizeof stamp, key, sizeof key, &size) != 0 || size < STAMP_MIN) {
        err_clear();
        return;
    }
    int n = snprintf(line, sizeof line, "%s %s\n", key, hex);
    if (file_write_atomic(stamp, line, (size_t)n) != 0) err_clear();
}

int download_sha256_cached(const char *path, char hex[65], uint64_t *size) {
    char stamp[4200], key[160];
    off_t sz0;
    if (stamp_names(path, stamp, sizeof stamp, key, sizeof key, &sz0) != 0) return -1;
    if (sz0 >= STAMP_MIN) {
        char *txt;
        size_t n;
        if (file_read_all(stamp, &txt, &n) == 0) {
            size_t kl = strlen(key);
            /* "<key> <64 hex>\n" */
            int ok = n == kl + 1 + 64 + 1 && memcmp(txt, key, kl) == 0 && txt[kl] == ' ' && txt[n - 1] == '\n';
            for (size_t i = 0; ok && i < 64; i++) {
                char c = txt[kl + 1 + i];
                ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            }
            if (ok) {
                memcpy(hex, txt + kl + 1, 64);
                hex[64] = 0;
                if (size) *size = (uint64_t)sz0;
                free(txt);
                return 0;
            }
            free(txt);
        }
        err_clear();
    }
    uint64_t sz;
    if (sha256_file(path, hex, &sz) != 0) return -1;
    if (size) *size = sz;
    stamp_store(path, hex);
    return 0;
}

/* ---- the whole download ---- */

/* Check the downloaded tmp file; *hex = its sha256 when it was hashed, else "". */
static int verify(const char *tmp, const char *final_path, const char *url, const DownloadExpect *ex,
                  char hex[65]) {
    hex[0] = 0;
    struct stat st;
    if (stat(tmp, &st) != 0) return err_set("%s: downloaded file vanished: %s", tmp, strerror(errno));
    if (ex->size > 0 && st.st_size != ex->size)
        return err_set("%s: downloaded %lld bytes, expected %lld (from %s); rejected",
                       final_path, (long long)st.st_size, (long long)ex->size, url);
    if (ex->sha256) {
        if (sha256_file(tmp, hex, NULL) != 0) return -1;
        if (strcmp(hex, ex->sha256) != 0)
            return err_set("%s: checksum mismatch: sha256 %s, expected %s (from %s); rejected",
                           final_path, hex, ex->sha256, url);
    }
    if (ex->check && ex->check(tmp, final_path) != 0) return err_prefix("rejected the download from %s", url);
    return 0;
}

int download_file(const char *url, const char *final_path, const DownloadExpect *ex) {
    /* the .part file: made exclusively (never through a planted link), removed on a signal,
     * and those of killed runs swept first (core/util.h: file_temp_open) */
    char tmp[4096];
    int fd = file_temp_open(final_path, "part", tmp, sizeof tmp);
    if (fd < 0) return -1;
    close(fd);
    if (!ex->quiet) {
        if (ex->size > 0) download_notify("downloading %s (%lld bytes)", url, (long long)ex->size);
        else download_notify("downloading %s", url);
    }

    CurlResult r = {0, 0, 0};
    int rc = 0;
    char hex[65] = "";
    for (int attempt = 0; attempt < 3; attempt++) {
        struct stat st;
        int resume = attempt > 0 && stat(tmp, &st) == 0 && st.st_size > 0;
        r = curl_run(url, tmp, resume, ex->size);
        if (r.code == 0) break;
        if (resume && (r.code == 33 || r.http == 416)) { /* server cannot resume: start over */
            if (truncate(tmp, 0) != 0) break;
            continue;
        }
        if (!curl_transient(&r) || attempt == 2) break;
        char why[256];
        curl_describe(&r, why, sizeof why);
        download_notify("%s: %s; retrying in %d s", url, why, attempt + 1);
        sleep((unsigned)(attempt + 1));
    }
    if (r.code != 0) {
        char why[256];
        curl_describe(&r, why, sizeof why);
        rc = err_set("cannot download %s: %s", url, why);
    } else {
        rc = verify(tmp, final_path, url, ex, hex);
    }
    if (rc == 0 && rename(tmp, final_path) != 0)
        rc = err_set("%s: cannot move the download into place: %s", final_path, strerror(errno));
    if (rc == 0 && hex[0]) stamp_store(final_path, hex); /* so the next run need not hash it again */
    if (rc != 0) unlink(tmp);
    cleanup_remove_path(tmp);
    return rc;
}
