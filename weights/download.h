/*
 * weights/download.h - download one URL to a file with the curl program,
 * verify it, and only then move it into place.
 *
 *   DownloadExpect ex = {.size = 548105171, .sha256 = "248dfc39..."};
 *   if (download_file(url, "cache/gpt2/<rev>/model.safetensors", &ex) != 0)
 *       return cli_fail();   // e.g. "cannot download URL: HTTP 404 (not found ...)"
 *
 * curl runs as a subprocess (posix_spawnp, no shell) with --fail --location,
 * a connect timeout ($GPT2SAE_CONNECT_TIMEOUT seconds, default 10) and a
 * stall timeout, showing a progress bar when stderr is a terminal and
 * staying quiet otherwise. The bytes go to "<final>.part.<pid>.XXXXXX" (made
 * exclusively; those of killed runs are swept first); a transfer
 * that breaks off (dropped connection, timeout, HTTP 5xx/429) is retried
 * twice, resuming where it stopped; "could not resolve host", "connection
 * refused", a connect timeout and HTTP 4xx are not retried (so a host that is
 * simply unreachable fails in well under a second). Then the size, the
 * sha256 (where pinned) and the caller's content check are verified, and
 * the file is renamed to <final>. On any failure, or on SIGINT/SIGTERM/SIGHUP
 * (core/cleanup.h; curl gets the signal too), the temporary file is removed:
 * nothing partial is ever left under <final>.
 *
 * Messages. This module and weights/fetch.c print nothing themselves: the
 * lines a user should see ("downloading URL (N bytes)", "retrying", notes)
 * go to a callback, by default one printing "gpt2sae: LINE" on stderr.
 */
#ifndef WEIGHTS_DOWNLOAD_H
#define WEIGHTS_DOWNLOAD_H

#include <stdint.h>

typedef struct {
    int64_t size;                 /* exact size in bytes, or 0 if not known */
    const char *sha256;           /* 64 lowercase hex digits, or NULL if not pinned */
    /* optional content check on the downloaded file (shown_name = the final
     * name, for messages): 0 if fine, -1 with err_set() if not */
    int (*check)(const char *path, const char *shown_name);
    int quiet;                    /* 1: no "downloading ..." line on stderr */
} DownloadExpect;

/* Receives each message line (no "gpt2sae: " prefix, no newline). */
typedef void (*DownloadNotify)(const char *line, void *ctx);
/* Set the callback for download_file and fetch_* (NULL: the default, which
 * prints "gpt2sae: LINE\n" to stderr). Not thread-safe: set it at startup. */
void download_set_notify(DownloadNotify fn, void *ctx);
/* Send one line (printf-style) to the callback (used by weights/fetch.c). */
void download_notify(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Download url to final_path as described above. Returns 0, or -1 with
 * err_set() saying what failed (DNS, refused, HTTP status, dropped
 * connection, size or checksum mismatch, curl missing) and naming the URL. */
int download_file(const char *url, const char *final_path, const DownloadExpect *ex);

/* The sha256 of a file as 64 hex digits, and its size. Files of 16 MB or
 * more keep the result in a stamp "<dir>/.<name>.sha256" keyed by size,
 * mtime and inode, so a 548 MB checkpoint is hashed once, not every run.
 * Returns 0 or -1 with err_set(). */
int download_sha256_cached(const char *path, char hex[65], uint64_t *size);

#endif
