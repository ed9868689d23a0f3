/*
 * core/cleanup.c - temporaries removed on SIGINT/SIGTERM/SIGHUP, a clear
 * message instead of SIGBUS on a truncated mapped input, and the sweep of
 * temporaries left by killed processes. See cleanup.h.
 *
 * The tables are written by the registering thread and read by the signal
 * handler: a slot is claimed with a compare-and-swap (0 -> 2), filled, then
 * published (-> 1); the handler looks only at published slots. Everything the
 * handler calls is async-signal-safe (unlink, openat, getdents64, unlinkat,
 * write, sigaction, raise, _exit).
 */
#include "core/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
    atomic_int state;   /* 0 free, 2 being filled, 1 in use */
    int kind;           /* CleanupKind */
    char path[4096];
} PathSlot;

typedef struct {
    atomic_int state;
    const char *addr;
    size_t len;
    char path[1024];
} MapSlot;

#define MAP_MAX 32
#define CHILD_MAX 8

static PathSlot paths[CLEANUP_MAX];
static MapSlot maps[MAP_MAX];
static atomic_int children[CHILD_MAX];
static atomic_int handlers_installed, bus_installed;

/* ---- removal without following links (async-signal-safe) ------------------- */

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Empty the folder open as fd (its entries, recursively), never through a link. */
static int empty_dir_fd(int fd, int depth) {
    char buf[4096] __attribute__((aligned(8)));
    int rc = 0;
    for (int pass = 0; pass < 4; pass++) {
        int removed = 0, left = 0;
        lseek(fd, 0, SEEK_SET);
        for (;;) {
            long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
            if (n <= 0) break;
            for (long off = 0; off < n;) {
                struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + off);
                off += e->d_reclen;
                const char *nm = e->d_name;
                if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
                if (unlinkat(fd, nm, 0) == 0) {
                    removed++;
                    continue;
                }
                if (errno != EISDIR && errno != EPERM) {
                    left++;
                    continue;
                }
                /* a folder: O_NOFOLLOW|O_DIRECTORY, so a link swapped in meanwhile is refused */
                int sub = depth < 64 ? openat(fd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
                if (sub < 0) {
                    left++;
                    continue;
                }
                if (empty_dir_fd(sub, depth + 1) != 0) rc = -1;
                close(sub);
                if (unlinkat(fd, nm, AT_REMOVEDIR) == 0) removed++;
                else left++;
            }
        }
        if (!left || !removed) {
            if (left) rc = -1;
            break;
        }
    }
    return rc;
}

int cleanup_remove_tree(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(dir);   /* a link (or a file): only the name goes */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = empty_dir_fd(fd, 0);
    close(fd);
    if (rmdir(dir) != 0) rc = -1;
    return rc;
}

/* ---- the signal handlers --------------------------------------------------- */

static void remove_registered(void) {
    for (int i = 0; i < CLEANUP_MAX; i++) {
        if (atomic_load(&paths[i].state) != 1) continue;
        if (paths[i].kind == CLEANUP_DIR) cleanup_remove_tree(paths[i].path);
        else unlink(paths[i].path);
    }
}

/* Back to the signal's default action (async-signal-safe). */
static void default_action(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void cleanup_hold_signals(sigset_t *old) {
    sigset_t hold;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigaddset(&hold, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hold, old);
}

void cleanup_release_signals(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

static void on_signal(int sig) {
    int saved = errno;
    for (int i = 0; i < CHILD_MAX; i++) {
        int pid = atomic_load(&children[i]);
        if (pid > 0) kill((pid_t)pid, sig);
    }
    remove_registered();
    default_action(sig);
    errno = saved;
    raise(sig);   /* delivered on return from this handler: the default action, the right exit status */
}

static void say(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0) break;
        s += w;
        n -= (size_t)w;
    }
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx) {
    (void)uctx;
    const char *a = si ? (const char *)si->si_addr : NULL;
    for (int i = 0; a && i < MAP_MAX; i++) {
        if (atomic_load(&maps[i].state) != 1) continue;
        if (a < maps[i].addr || a >= maps[i].addr + maps[i].len) continue;
        remove_registered();
        say("gpt2sae: ");
        say(maps[i].path);
        say(": the file shrank while it was being read (truncated or rewritten by another program?); "
            "stopped, nothing was written. Run again once the file is complete.\n");
        _exit(1);
    }
    /* not one of ours: a real bus error. Clean up, then let it happen again with the default action. */
    remove_registered();
    default_action(sig);
}

static void install(int sig) {
    struct sigaction old, sa;
    if (sigaction(sig, NULL, &old) != 0 || old.sa_handler != SIG_DFL) return;   /* ignored, or someone else's */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaction(sig, &sa, NULL);
}

static void install_handlers(void) {
    int zero = 0;
    if (!atomic_compare_exchange_strong(&handlers_installed, &zero, 1)) return;
    install(SIGINT);
    install(SIGTERM);
    install(SIGHUP);
}

/* ---- the registry ----------------------------------------------------------- */

void cleanup_add_path(const char *path, CleanupKind kind) {
    install_handlers();
    size_t n = strlen(path);
    if (n >= sizeof paths[0].path) return;
    for (int i = 0; i < CLEANUP_MAX; i++) {
        int zero = 0;
        if (!atomic_compare_exchange_strong(&paths[i].state, &zero, 2)) continue;
        memcpy(paths[i].path, path, n + 1);
        paths[i].kind = kind;
        atomic_store(&paths[i].state, 1);
        return;
    }
}

void cleanup_remove_path(const char *path) {
    for (int i = 0; i < CLEANUP_MAX; i++) {
        if (atomic_load(&paths[i].state) != 1 || strcmp(paths[i].path, path) != 0) continue;
        int one = 1;
        if (atomic_compare_exchange_strong(&paths[i].state, &one, 2)) {
            paths[i].path[0] = 0;
            atomic_store(&paths[i].state, 0);
        }
        return;
    }
}

void cleanup_add_child(int pid) {
    install_handlers();
    for (int i = 0; i < CHILD_MAX; i++) {
        int zero = 0;
        if (atomic_compare_exchange_strong(&children[i], &zero, pid)) return;
    }
}

void cleanup_remove_child(int pid) {
    for (int i = 0; i < CHILD_MAX; i++) {
        int p = pid;
        if (atomic_compare_exchange_strong(&children[i], &p, 0)) return;
    }
}

void cleanup_add_map(const void *addr, size_t len, const char *path) {
    int zero = 0;
    if (atomic_compare_exchange_strong(&bus_installed, &zero, 1)) {
        struct sigaction old, sa;
        if (sigaction(SIGBUS, NULL, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO)) {
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_sigbus;
            sa.sa_flags = SA_SIGINFO;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGBUS, &sa, NULL);
        }
    }
    for (int i = 0; i < MAP_MAX; i++) {
        zero = 0;
        if (!atomic_compare_exchange_strong(&maps[i].state, &zero, 2)) continue;
        maps[i].addr = addr;
        maps[i].len = len;
        size_t n = strlen(path);
        if (n >= sizeof maps[i].path) n = sizeof maps[i].path - 1;
        memcpy(maps[i].path, path, n);
        maps[i].path[n] = 0;
        atomic_store(&maps[i].state, 1);
        return;
    }
}

void cleanup_remove_map(const void *addr) {
    for (int i = 0; i < MAP_MAX; i++) {
        if (atomic_load(&maps[i].state) != 1 || maps[i].addr != addr) continue;
        int one = 1;
        if (atomic_compare_exchange_strong(&maps[i].state, &one, 2)) atomic_store(&maps[i].state, 0);
        return;
    }
}

/* ---- after SIGKILL: temporaries of processes that are gone ------------------ */

static int is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* The pid in name if it is exactly prefix + digits [+ '.' + rand_len alnum], else 0. */
static long stale_pid(const char *name, const char *prefix, int rand_len) {
    size_t np = strlen(prefix);
    if (strncmp(name, prefix, np) != 0) return 0;
    const char *s = name + np;
    long pid = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 10) pid = pid * 10 + (*s++ - '0'), digits++;
    if (!digits || pid <= 0) return 0;
    if (rand_len) {
        if (*s++ != '.') return 0;
        for (int k = 0; k < rand_len; k++, s++)
            if (!is_alnum(*s)) return 0;
    }
    return *s == 0 ? pid : 0;
}

int cleanup_stale_sweep(const char *dir, const char *prefix, int rand_len, int dirs) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    int removed = 0;
    long me = (long)getpid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = stale_pid(e->d_name, prefix, rand_len);
        if (!pid || pid == me) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;   /* alive (or not ours to judge) */
        struct stat st;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (!dirs) continue;
            int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) continue;
            empty_dir_fd(sub, 0);
            close(sub);
            if (unlinkat(fd, e->d_name, AT_REMOVEDIR) == 0) removed++;
        } else if (unlinkat(fd, e->d_name, 0) == 0) {
            removed++;
        }
    }
    closedir(d);
    return removed;
}
