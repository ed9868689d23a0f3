/*
 * core/dir.h - an output folder written as one unit: staged beside its final
 * place, then swapped in whole, so a failure or an interrupt never leaves a
 * half-written folder, and a good old one survives until the new one is done.
 *
 *   DirTxn t;
 *   if (dir_begin(&t, "out/palinka") != 0) return -1;     // err_get() says why
 *   char *p = path_join(t.tmp, "report.html");            // write into t.tmp
 *   ... write files ...
 *   if (dir_commit(&t) != 0) { dir_abort(&t); return -1; } // swap in, old one removed
 *   dir_abort(&t);                                        // no-op after a commit
 *
 * Ownership. The engine replaces an existing folder only if it made it: a
 * manifest (DIR_MANIFEST) lists every file it wrote there. An empty folder
 * counts as ours. Anything else in it (a user's file, a link, a folder) makes
 * dir_begin refuse, and dir_commit checks again just before the swap.
 *
 * Links. Nothing is ever deleted or written through a symbolic link the
 * engine did not make: the staging folder is made with mkdtemp, removal uses
 * lstat/unlinkat and never descends through a link.
 */
#ifndef CORE_DIR_H
#define CORE_DIR_H

/* The manifest file the engine writes into every folder it owns. */
#define DIR_MANIFEST ".gpt2sae-manifest"

typedef struct {
    char *final;   /* the folder's final path (owned) */
    char *tmp;     /* the staging folder beside it, to write into (owned); NULL once committed */
} DirTxn;

/* Check that final can be replaced (absent, empty, or ours by its manifest)
 * and make the staging folder beside it. Returns 0, or -1 with err_set()
 * naming the folder and what to do. */
int dir_begin(DirTxn *t, const char *final);
/* Write the manifest of what t->tmp holds, check final is still ours, and swap
 * the staging folder into place; the old folder is then removed. Returns 0,
 * or -1 with err_set() (the staging folder is kept: its path is in the message). */
int dir_commit(DirTxn *t);
/* Remove the staging folder (if not committed) and free t. Safe to call twice,
 * and on a zeroed DirTxn. */
void dir_abort(DirTxn *t);

/* Remove a folder the engine made, and what is in it, without following any
 * symbolic link (a link is removed, never what it points to). */
void dir_remove_tree(const char *dir);

#endif
