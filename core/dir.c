/*
 * core/dir.c - an output folder written as one unit (see core/dir.h).
 */
#include "core/dir.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void dir_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = path_join(dir, e->d_name);
            if (path_is_dir(p)) dir_remove_tree(p);
            else unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* 1 if dir holds only what a run writes (so replacing it loses nothing else). */
static int is_output_dir(const char *dir) {
    static const char *names[] = {"report.html", "summary.json", "sae.safetensors", "cfg.json", "latents.npy",
                                  "activations.npy", "losses.csv"};
    DIR *d = opendir(dir);
    if (!d) return 0;
    int ok = 1;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
        char *p = path_join(dir, n);
        int known = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) known |= !strcmp(n, names[i]);
        size_t len = strlen(n);
        known |= len > 4 && !strcmp(n + len - 4, ".svg");
        ok = known && path_is_file(p);
        free(p);
    }
    closedir(d);
    return ok;
}

int dir_begin(DirTxn *t, const char *final) {
    memset(t, 0, sizeof *t);
    char *parent = xstrdup(final);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/') parent[--n] = 0;
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : parent;
    char *dir = slash ? (slash == parent ? "/" : (*slash = 0, parent)) : ".";
    char *tmp = xmalloc(strlen(dir) + strlen(base) + 48);
    sprintf(tmp, "%s/.%s.tmp-%ld", dir, base, (long)getpid());
    int rc = 0;
    if (path_mkdirs(dir) != 0) {
        rc = err_prefix("output folder %s: cannot create its parent (use --out DIR to write elsewhere)", final);
    } else if (path_is_dir(final) && !is_output_dir(final)) {
        rc = err_set("output folder %s exists and holds files a run does not write: not replacing it "
                     "(give a new or empty folder with --out DIR)", final);
    } else if (path_is_file(final)) {
        rc = err_set("output folder %s: a file of that name exists (use --out DIR)", final);
    } else {
        dir_remove_tree(tmp);
        if (mkdir(tmp, 0755) != 0)
            rc = err_set("output folder %s: cannot write in %s: %s (use --out DIR to write elsewhere)", final, dir,
                         strerror(errno));
    }
    free(parent);
    if (rc != 0) {
        free(tmp);
        return rc;
    }
    t->final = xstrdup(final);
    t->tmp = tmp;
    return 0;
}

int dir_commit(DirTxn *t) {
    const char *tmp = t->tmp, *final = t->final;
    if (!path_is_dir(final)) {
        if (rename(tmp, final) != 0) return err_set("cannot move %s to %s: %s", tmp, final, strerror(errno));
        goto done;
    }
#ifdef RENAME_EXCHANGE
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
        dir_remove_tree(tmp); /* now holds the old folder */
        goto done;
    }
#endif
    {
        char *old = xmalloc(strlen(tmp) + 8);
        sprintf(old, "%s.old", tmp);
        if (rename(final, old) != 0) {
            free(old);
            return err_set("cannot replace %s: %s", final, strerror(errno));
        }
        if (rename(tmp, final) != 0) {
            int e = errno;
            rename(old, final);
            free(old);
            return err_set("cannot move %s to %s: %s", tmp, final, strerror(e));
        }
        dir_remove_tree(old);
        free(old);
    }
done:
    free(t->tmp);
    t->tmp = NULL;
    return 0;
}

void dir_abort(DirTxn *t) {
    if (t->tmp) dir_remove_tree(t->tmp);
    free(t->tmp);
    free(t->final);
    t->tmp = t->final = NULL;
}
