/*
 * core/cleanup.h - what an interrupted run must not leave behind.
 *
 *   cleanup_add_path(tmp, CLEANUP_FILE);     // a temporary is being written
 *   ... write it; Ctrl-C here removes it ...
 *   rename(tmp, final);
 *   cleanup_remove_path(tmp);                // it is the real file now
 *
 * Signals. The first registration installs a handler for SIGINT, SIGTERM and
 * SIGHUP (only where the signal is not ignored: `nohup` keeps working). The
 * handler, using only async-signal-safe calls, unlinks every registered file,
 * removes every registered folder (never through a symbolic link), then
 * re-raises the signal with its default action, so the exit status still
 * says "killed by SIGINT".
 *
 * Mapped inputs. A file that is mapped (npy_map, safetensors_open) and then
 * truncated by someone else makes the next read of a lost page raise SIGBUS.
 * cleanup_add_map registers the mapping; the SIGBUS handler, when the fault
 * lies inside a registered mapping, removes the temporaries, prints
 * "gpt2sae: FILE: the file shrank while it was being read ..." and exits
 * with status 1. (A handler rather than sigsetjmp around each read: mapped
 * data is read deep inside kernels, on worker threads, where a longjmp out
 * would leave locks and buffers behind; and a size check before each pass
 * still races with the truncation. Stopping the process cleanly is the one
 * answer that holds everywhere.)
 *
 * After SIGKILL nothing runs: temporaries carry the writer's pid in their
 * name, and cleanup_stale_sweep removes those of processes no longer alive
 * (called by the writers themselves before they make a new one).
 *
 * The registry is a fixed table (CLEANUP_MAX entries); registering more is
 * not an error, the extra paths are simply not removed on a signal.
 */
#ifndef CORE_CLEANUP_H
#define CORE_CLEANUP_H

#include <signal.h>
#include <stddef.h>

#define CLEANUP_MAX 64

typedef enum { CLEANUP_FILE, CLEANUP_DIR } CleanupKind;

/* Remove path (a file, or a folder and its contents) if the process is
 * stopped by SIGINT/SIGTERM/SIGHUP before cleanup_remove_path(path). */
void cleanup_add_path(const char *path, CleanupKind kind);
/* Forget path (it was renamed into place, or removed by its owner). */
void cleanup_remove_path(const char *path);
/* A child process (e.g. curl writing a registered file) to be sent the same
 * signal first, so it does not outlive us. */
void cleanup_add_child(int pid);
void cleanup_remove_child(int pid);
/* Register / forget a read-only mapping of `path` (for the SIGBUS message). */
void cleanup_add_map(const void *addr, size_t len, const char *path);
void cleanup_remove_map(const void *addr);

/* Remove, in folder dir, the entries named prefix + PID + suffix where PID
 * is decimal digits of a process that is not alive and suffix is exactly
 * `rand_len` characters of [A-Za-z0-9] (0: nothing after the pid). The
 * current process's pid is never matched. Files and links are unlinked;
 * folders (only when dirs is 1) are removed without following links.
 * Returns how many entries were removed. */
int cleanup_stale_sweep(const char *dir, const char *prefix, int rand_len, int dirs);

/* Hold SIGINT, SIGTERM and SIGHUP back (they stay pending, this thread's
 * previous mask goes to *old) for a step that must not be cut in two (a
 * group of renames, a folder swap); cleanup_release_signals(old) lets them
 * through again. */
void cleanup_hold_signals(sigset_t *old);
void cleanup_release_signals(const sigset_t *old);

/* Remove a folder and what is in it without following any symbolic link
 * (a link is unlinked; its target is untouched). Async-signal-safe. Returns
 * 0, or -1 if something could not be removed (errno set). */
int cleanup_remove_tree(const char *dir);

#endif
