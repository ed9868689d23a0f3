/*
 * core/dir.c - an output folder written as one unit (see core/dir.h).
 *
 * Begin: refuse names that cannot be swapped (empty, "/", a mount point, a
 * file), refuse a folder holding anything its manifest does not list, sweep
 * the staging folders of killed runs, then mkdtemp the staging folder beside
 * the final one and register it with core/cleanup.h.
 * Commit: list the staging folder into its manifest, check the final folder
 * again, then swap the two with renameat2(RENAME_EXCHANGE) and delete from
 * the old folder exactly the entries its manifest lists - so a file added
 * during the swap itself still survives.
 */
#include "core/dir.h"

#include "core/cleanup.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_HEAD "gpt2sae manifest 1\n"
#define MANIFEST_MAX ((size_t)4 << 20)

void dir_remove_tree(const char *dir) { cleanup_remove_tree(dir); }

/* ---- the manifest ------------------------------------------------------------ */

static int names_has(const StrList *s, const char *name) {
    return bsearch(&name, s->v, s->n, sizeof *s->v, strlist_cmp) != NULL;
}

/* List what folder `dir` holds, as paths relative to it ("a.npy", "sub/",
 * "sub/b.svg"), the manifest itself left out. Anything but a regular file or
 * a folder is an error naming it. */
static int list_tree(const char *dir, const char *rel, StrList *out, int depth) {
    char *full = rel[0] ? path_join(dir, rel) : xstrdup(dir);
    int fd = open(full, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0) close(fd);
        int rc = err_set("%s: cannot list: %s", full, strerror(e));
        free(full);
        return rc;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || (!rel[0] && !strcmp(n, DIR_MANIFEST))) continue;
        if (strchr(n, '\n')) {
            rc = err_set("%s: holds a name with a line break", full);
            break;
        }
        size_t rl = strlen(rel), nl = strlen(n);
        char *r = xmalloc(rl + nl + 3);
        snprintf(r, rl + nl + 3, "%s%s", rel, n);
        struct stat st;
        if (fstatat(fd, n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            free(r);
            continue;   /* gone meanwhile */
        }
        if (S_ISREG(st.st_mode)) {
            strlist_push(out, r);
        } else if (S_ISDIR(st.st_mode) && depth < 16) {
            strcat(r, "/");
            strlist_push(out, r);
            rc = list_tree(dir, r, out, depth + 1);
        } else {
            rc = err_set("%s/%s: %s", dir, r,
                         S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISDIR(st.st_mode) ? "folders nested too deep"
                                                                                          : "not a regular file");
            free(r);
        }
    }
    closedir(d);
    free(full);
    return rc;
}

/* Read dir's manifest into *m (sorted). 1 read, 0 no manifest, -1 bad one (err_set). */
static int manifest_read(const char *dir, StrList *m) {
    char *p = path_join(dir, DIR_MANIFEST);
    struct stat st;
    int have = lstat(p, &st) == 0;
    if (!have) {
        free(p);
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    if (!S_ISREG(st.st_mode) || file_read_max(p, &text, &len, MANIFEST_MAX) != 0 ||
        strncmp(text, MANIFEST_HEAD, strlen(MANIFEST_HEAD)) != 0) {
        free(text);
        err_set("%s: not a manifest written by gpt2sae", p);
        free(p);
        return -1;
    }
    free(p);
    for (char *s = text + strlen(MANIFEST_HEAD); *s;) {
        char *nl = strchr(s, '\n');
        if (!nl) break;
        *nl = 0;
        if (*s) strlist_push(m, xstrdup(s));
        s = nl + 1;
    }
    free(text);
    strlist_sort(m, 0);
    return 1;
}

/* 1 if every name is one a run of an older version wrote (no manifest then). */
static int legacy_outputs(const StrList *have) {
    static const char *known[] = {"report.html", "summary.json", "sae.safetensors", "cfg.json", "latents.npy",
                                  "activations.npy", "losses.csv"};
    for (size_t i = 0; i < have->n; i++) {
        const char *n = have->v[i];
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= !strcmp(n, known[k]);
        size_t len = strlen(n);
        ok |= !strchr(n, '/') && len > 4 && !strcmp(n + len - 4, ".svg");
        if (!ok) return 0;
    }
    return 1;
}

/* 0 if `final` (an existing folder) holds nothing but what its manifest lists;
 * else -1 with err_set() naming the folder, the first foreign entry, and what to do. */
static int check_owned(const char *final) {
    StrList have = {0}, listed = {0};
    int rc = list_tree(final, "", &have, 0);
    if (rc != 0) {
        err_prefix("output folder %s holds something gpt2sae never writes: not replacing it "
                   "(move it out, or give a new or empty folder with --out DIR)",
                   final);
        goto out;
    }
    char *mp = path_join(final, DIR_MANIFEST);
    struct stat st;
    int has_manifest = lstat(mp, &st) == 0;
    free(mp);
    if (have.n == 0 && !has_manifest) goto out;   /* empty: ours to fill */
    int m = manifest_read(final, &listed);
    if (m < 0) {
        rc = err_prefix("output folder %s: not replacing it (give a new or empty folder with --out DIR)", final);
        goto out;
    }
    if (m == 0) {
        if (legacy_outputs(&have))
            rc = err_set("output folder %s has no %s: it was written by an older version of gpt2sae, or holds "
                         "files of yours. Not replacing it: check nothing in it is yours, then delete it "
                         "(rm -r %s), or give a new folder with --out DIR",
                         final, DIR_MANIFEST, final);
        else
            rc = err_set("output folder %s holds '%s', which gpt2sae did not write: not replacing it "
                         "(move it out, or give a new or empty folder with --out DIR)",
                         final, have.v[0]);
        goto out;
    }
    for (size_t i = 0; i < have.n; i++)
        if (!names_has(&listed, have.v[i])) {
            rc = err_set("output folder %s holds '%s', which gpt2sae did not write (it is not in %s): not "
                         "replacing it (move that out, or give a new or empty folder with --out DIR)",
                         final, have.v[i], DIR_MANIFEST);
            goto out;
        }
out:
    strlist_free(&have);
    strlist_free(&listed);
    return rc;
}

/* Write dir's manifest: every file and folder in it now. */
static int manifest_write(const char *dir) {
    StrList have = {0};
    if (list_tree(dir, "", &have, 0) != 0) {
        strlist_free(&have);
        return err_prefix("the staging folder %s", dir);
    }
    strlist_sort(&have, 0);
    size_t cap = strlen(MANIFEST_HEAD) + 1;
    for (size_t i = 0; i < have.n; i++) cap += strlen(have.v[i]) + 1;
    char *text = xmalloc(cap), *o = text;
    o += sprintf(o, "%s", MANIFEST_HEAD);
    for (size_t i = 0; i < have.n; i++) o += sprintf(o, "%s\n", have.v[i]);
    char *p = path_join(dir, DIR_MANIFEST);
    int rc = file_write_atomic(p, text, (size_t)(o - text));
    free(p);
    free(text);
    strlist_free(&have);
    return rc;
}

/* The folder holding relative path rel inside the folder open as fd, each
 * component opened with O_NOFOLLOW (a link swapped in for a folder is
 * refused, never followed); *leaf = rel's last component. Returns fd itself
 * for a name without '/', a new fd to close, or -1. */
static int open_parent(int fd, const char *rel, const char **leaf) {
    const char *slash = strrchr(rel, '/');
    *leaf = slash ? slash + 1 : rel;
    if (!slash) return fd;
    if (rel[0] == '/' || strstr(rel, "..")) return -1;
    char *dirs = xstrdup(rel);
    dirs[slash - rel] = 0;
    int cur = fd;
    for (char *save = NULL, *c = strtok_r(dirs, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        int next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cur != fd) close(cur);
        cur = next;
        if (cur < 0) break;
    }
    free(dirs);
    return cur;
}

/* Delete from dir exactly what its manifest lists (files, then listed folders
 * deepest first), then the manifest and dir itself. A name that is now a link
 * is unlinked, never followed. 0 if dir is gone, -1 if something else is left. */
static int remove_owned(const char *dir) {
    StrList listed = {0};
    if (manifest_read(dir, &listed) != 1) {
        strlist_free(&listed);
        return rmdir(dir) == 0 ? 0 : -1;   /* the empty folder the run started from */
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        strlist_free(&listed);
        return -1;
    }
    for (size_t i = 0; i < listed.n; i++) {
        const char *n = listed.v[i];
        size_t len = strlen(n);
        if (!len || n[len - 1] == '/') continue;
        const char *leaf;
        int pfd = open_parent(fd, n, &leaf);
        if (pfd >= 0) unlinkat(pfd, leaf, 0);
        if (pfd >= 0 && pfd != fd) close(pfd);
    }
    for (size_t i = listed.n; i-- > 0;) {   /* sorted: "a/b/" after "a/", so reversed is deepest first */
        char *n = listed.v[i];
        size_t len = strlen(n);
        if (len < 2 || n[len - 1] != '/') continue;
        n[len - 1] = 0;
        const char *leaf;
        int pfd = open_parent(fd, n, &leaf);
        if (pfd >= 0) unlinkat(pfd, leaf, AT_REMOVEDIR);
        if (pfd >= 0 && pfd != fd) close(pfd);
    }
    unlinkat(fd, DIR_MANIFEST, 0);
    close(fd);
    strlist_free(&listed);
    return rmdir(dir) == 0 ? 0 : -1;
}

/* ---- begin / commit / abort ---------------------------------------------------- */

static unsigned current_umask(void) {
    unsigned m = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[128];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Umask: %o", &m) == 1) break;
        fclose(f);
    }
    return m;
}

/* 1 if dir is a mount point: another device than its parent, or listed in
 * /proc/self/mountinfo (a bind mount of the same file system). */
static int is_mount_point(const char *dir, const char *parent) {
    struct stat st, pst;
    if (stat(dir, &st) == 0 && stat(parent, &pst) == 0 && (st.st_dev != pst.st_dev || st.st_ino == pst.st_ino))
        return 1;
    char *real = realpath(dir, NULL);
    if (!real) return 0;
    int found = 0;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    while (f && !found && fgets(line, sizeof line, f)) {
        /* "36 35 98:0 /mnt1 /mnt2 rw,..." : the 5th field, spaces written as \040 */
        char *save = NULL, *fld = strtok_r(line, " ", &save);
        for (int i = 1; fld && i < 5; i++) fld = strtok_r(NULL, " ", &save);
        if (!fld) continue;
        char mp[4096];
        size_t o = 0;
        for (const char *c = fld; *c && o + 1 < sizeof mp; c++) {
            if (c[0] == '\\' && c[1] >= '0' && c[1] <= '7' && c[2] >= '0' && c[2] <= '7' && c[3] >= '0' && c[3] <= '7') {
                mp[o++] = (char)((c[1] - '0') * 64 + (c[2] - '0') * 8 + (c[3] - '0'));
                c += 3;
            } else {
                mp[o++] = *c;
            }
        }
        mp[o] = 0;
        found = strcmp(mp, real) == 0;
    }
    if (f) fclose(f);
    free(real);
    return found;
}

static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int dir_begin(DirTxn *t, const char *final_in) {
    memset(t, 0, sizeof *t);
    if (!final_in || !*final_in) return err_set("output folder '': an empty name (give a folder with --out DIR)");
    char *final = xstrdup(final_in);
    size_t n = strlen(final);
    while (n > 1 && final[n - 1] == '/') final[--n] = 0;
    struct stat st;
    int rc = 0;
    char *parent = NULL, *base = NULL, *tmp = NULL;
    /* a link to a folder: the folder it points to is the one replaced (the link stays as it is) */
    if (lstat(final, &st) == 0 && S_ISLNK(st.st_mode)) {
        char *real = realpath(final, NULL);
        if (!real || !path_is_dir(real)) {
            rc = err_set("output folder %s is a symbolic link to something that is not a folder: not replacing "
                         "the link (give another folder with --out DIR)",
                         final_in);
            free(real);
            goto out;
        }
        free(final);
        final = real;
    }
    parent = path_dir(final);
    base = path_base(final);
    if (!strcmp(base, "/") || !strcmp(base, ".") || !strcmp(base, "..")) {
        rc = err_set("output folder %s: cannot be replaced as a whole (give a named folder, e.g. --out %s/run)",
                     final_in, final_in);
        goto out;
    }
    if (path_mkdirs(parent) != 0) {
        rc = err_prefix("output folder %s: cannot create its parent (use --out DIR to write elsewhere)", final_in);
        goto out;
    }
    if (lstat(final, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            rc = err_set("output folder %s: a file of that name exists (use --out DIR)", final_in);
            goto out;
        }
        if (is_mount_point(final, parent)) {
            rc = err_set("output folder %s is a mount point: it cannot be swapped as one unit "
                         "(give a folder inside it, e.g. --out %s/run)",
                         final_in, final_in);
            goto out;
        }
        if (check_owned(final) != 0) {
            rc = -1;
            goto out;
        }
    }
    /* staging folders of runs that were killed (their pid is gone) */
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, ".%s.tmp-", base);
    cleanup_stale_sweep(parent, prefix, 6, 1);
    tmp = xmalloc(strlen(parent) + strlen(base) + 64);
    sprintf(tmp, "%s/.%s.tmp-%ld.XXXXXX", parent, base, (long)getpid());
    if (!mkdtemp(tmp)) {
        rc = err_set("output folder %s: cannot write in %s: %s (use --out DIR to write elsewhere)", final_in, parent,
                     strerror(errno));
        goto out;
    }
    chmod(tmp, 0755 & ~current_umask());
    cleanup_add_path(tmp, CLEANUP_DIR);
    t->final = final;
    t->tmp = tmp;
    final = tmp = NULL;
out:
    free(final);
    free(tmp);
    free(parent);
    free(base);
    return rc;
}

/* The folder changed under us: keep the new results under a visible name beside it. */
static int keep_beside(DirTxn *t, const char *why) {
    char *keep = xmalloc(strlen(t->final) + 48);
    int kept = 0;
    for (int i = 0; i < 100 && !kept; i++) {
        if (i == 0) sprintf(keep, "%s.new", t->final);
        else sprintf(keep, "%s.new-%ld-%d", t->final, (long)getpid(), i);
        kept = renameat2(AT_FDCWD, t->tmp, AT_FDCWD, keep, RENAME_NOREPLACE) == 0;
    }
    int rc;
    if (kept) {
        cleanup_remove_path(t->tmp);
        free(t->tmp);
        t->tmp = NULL;
        rc = err_set("%s; the new results are kept in %s", why, keep);
    } else {
        rc = err_set("%s; the new results are in %s", why, t->tmp);
    }
    free(keep);
    return rc;
}

/* Check final again and swap the staging folder in (see dir_commit). */
static int swap_in(DirTxn *t) {
    for (int attempt = 0; attempt < 4; attempt++) {
        struct stat st;
        if (lstat(t->final, &st) != 0) {
            /* nothing there: move in, unless a concurrent run got there first (then check it, as below) */
            cleanup_remove_path(t->tmp);
            if (renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->final, RENAME_NOREPLACE) == 0) goto done;
            int e = errno;
            cleanup_add_path(t->tmp, CLEANUP_DIR);
            if (e == EEXIST || e == ENOTEMPTY) continue;
            if (e != EINVAL && e != ENOSYS)
                return err_set("cannot move %s to %s: %s", t->tmp, t->final, strerror(e));
            if (rename(t->tmp, t->final) == 0) {   /* no RENAME_NOREPLACE on this file system */
                cleanup_remove_path(t->tmp);
                goto done;
            }
            return err_set("cannot move %s to %s: %s", t->tmp, t->final, strerror(errno));
        }
        char why[1200];
        if (!S_ISDIR(st.st_mode) || check_owned(t->final) != 0) {
            if (!S_ISDIR(st.st_mode))
                snprintf(why, sizeof why, "output folder %s was replaced by a file during the run", t->final);
            else
                snprintf(why, sizeof why, "during the run, %s", err_get());
            return keep_beside(t, why);
        }
        /* swap: the new folder takes the final name, the old one the staging name */
        cleanup_remove_path(t->tmp);
        if (renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->final, RENAME_EXCHANGE) == 0) {
            if (remove_owned(t->tmp) != 0) {
                /* files appeared in the old folder during the swap itself: keep them, visibly */
                char *old = xmalloc(strlen(t->final) + 48);
                sprintf(old, "%s.old-%ld", t->final, (long)getpid());
                if (renameat2(AT_FDCWD, t->tmp, AT_FDCWD, old, RENAME_NOREPLACE) != 0) { /* stays hidden */ }
                free(old);
            }
            goto done;
        }
        int e = errno;
        cleanup_add_path(t->tmp, CLEANUP_DIR);
        if (e != EINVAL && e != ENOSYS)
            return err_set("cannot replace %s with %s: %s", t->final, t->tmp, strerror(e));
        /* no RENAME_EXCHANGE on this file system: two renames (a short moment without the folder) */
        char *old = xmalloc(strlen(t->tmp) + 8);
        sprintf(old, "%s.old", t->tmp);
        if (rename(t->final, old) != 0) {
            e = errno;
            free(old);
            return err_set("cannot replace %s: %s", t->final, strerror(e));
        }
        if (rename(t->tmp, t->final) != 0) {
            e = errno;
            rename(old, t->final);
            free(old);
            return err_set("cannot move %s to %s: %s", t->tmp, t->final, strerror(e));
        }
        cleanup_remove_path(t->tmp);
        remove_owned(old);
        free(old);
        goto done;
    }
    return err_set("output folder %s: another run keeps replacing it; the new results are in %s", t->final, t->tmp);
done:
    {
        char *parent = path_dir(t->final);
        sync_dir(parent);
        free(parent);
    }
    free(t->tmp);
    t->tmp = NULL;
    return 0;
}

int dir_commit(DirTxn *t) {
    if (!t->tmp) return err_set("output folder %s: nothing to commit", t->final ? t->final : "?");
    if (manifest_write(t->tmp) != 0)
        return err_prefix("output folder %s: not replaced, the old one is unchanged", t->final);
    /* SIGINT/SIGTERM/SIGHUP wait until the swap is done: the handler never sees the
     * staging name holding the old folder, nor a half-finished swap */
    sigset_t old;
    cleanup_hold_signals(&old);
    int rc = swap_in(t);
    cleanup_release_signals(&old);
    return rc;
}

void dir_abort(DirTxn *t) {
    if (t->tmp) {
        cleanup_remove_tree(t->tmp);
        cleanup_remove_path(t->tmp);
    }
    free(t->tmp);
    free(t->final);
    t->tmp = t->final = NULL;
}
