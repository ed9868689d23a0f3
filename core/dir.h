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
 * Ownership. The engine replaces an existing folder only if it made it: the
 * manifest (DIR_MANIFEST, written by dir_commit) lists every file and folder
 * it wrote there. An empty folder counts as ours. Anything else in it (a
 * user's logo.svg, a link, a folder not listed) makes dir_begin refuse, naming
 * it; a folder of outputs without a manifest (an older version wrote it) is
 * refused with a message saying to check and delete it by hand. dir_commit
 * checks again just before the swap: if something was added meanwhile, the
 * new results are kept beside it as FINAL.new (the message says where) and
 * the old folder is left as it was. The old folder is then emptied of exactly
 * what its manifest lists, so even a file added during the swap survives
 * (the folder is then kept as FINAL.old-PID).
 *
 * Refused up front, with a message: an empty name, "/", ".", "..", a mount
 * point (it cannot be renamed), a file of that name. FINAL that is a symbolic
 * link to a folder: the folder it points to is the one replaced (same rules;
 * the link itself is kept and still points to the new folder). A link to
 * anything else is refused.
 *
 * Links and interrupts. Nothing is ever deleted or written through a
 * symbolic link the engine did not make: the staging folder
 * ".BASE.tmp-PID.XXXXXX" is made with mkdtemp beside FINAL, and removal uses
 * openat/unlinkat with O_NOFOLLOW, never descending through a link. The
 * staging folder is registered with core/cleanup.h, so SIGINT/SIGTERM/SIGHUP
 * remove it; staging folders of killed processes (pid not alive, the name
 * matching exactly) are removed by the next dir_begin on the same FINAL.
 * A failed write (disk full) makes the caller abort: the old folder is
 * untouched and the staging folder removed.
 */
#ifndef CORE_DIR_H
#define CORE_DIR_H

/* The manifest file the engine writes into every folder it owns. */
#define DIR_MANIFEST ".gpt2sae-manifest"

typedef struct {
    char *final;   /* the folder's final path (owned; a link's target when FINAL was a link) */
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
 * symbolic link (a link is removed, never what it points to; a dir that is
 * itself a link: only the link is removed). */
void dir_remove_tree(const char *dir);

#endif
