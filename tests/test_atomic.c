/*
 * tests/test_atomic.c - every atomic writer against planted links and
 * leftovers: file_begin/file_commit, file_write_atomic, the .npy writers, the
 * safetensors writer, sae_save, and the output folder's dir_begin/dir_commit.
 *
 * Planted: a symbolic link at the final name, links at the names a
 * temporary of this process or of a dead one would have (the old guessable
 * names and the exact new pattern), stale temporaries of a dead process and
 * of a live one, a link inside the folder being replaced, a user's file added
 * during the run, an --out that is itself a link, a mount point, ''. Also:
 * a full disk (RLIMIT_FSIZE) mid-write and at commit, and SIGINT/SIGTERM/
 * SIGHUP during a write (the temporaries are removed, the old output stays).
 * "victim" is a folder with a file the engine must never touch.
 */
#include "core/cleanup.h"
#include "core/dir.h"
#include "core/util.h"
#include "sae/sae.h"
#include "weights/npy.h"
#include "weights/safetensors.h"

#include "tests/test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[256], victim[300], vfile[320];

static char *P(const char *rel) {   /* root/rel; a ring of buffers, enough for one check */
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 1024, "%s/%s", root, rel);
    return b;
}

static int victim_ok(void) {
    char *t = NULL;
    size_t n = 0;
    int ok = file_read_all(vfile, &t, &n) == 0 && n == 6 && !memcmp(t, "VICTIM", 6);
    free(t);
    struct stat st;
    return ok && lstat(victim, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_link(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

static int exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

static int has_text(const char *p, const char *want) {
    char *t = NULL;
    size_t n = 0;
    int ok = file_read_all(p, &t, &n) == 0 && n == strlen(want) && !memcmp(t, want, n);
    free(t);
    return ok;
}


/* A pid that is surely not alive: a child that has exited and been reaped. */
static long dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

static void plant_link(const char *at, const char *to) {
    unlink(at);
    if (symlink(to, at) != 0) perror(at);
}

/* ---- single files ------------------------------------------------------------ */

static void test_files(void) {
    char f[600], tmp[4096];
    snprintf(f, sizeof f, "%.500s", P("f.txt"));
    long me = (long)getpid(), dead = dead_pid();
    char guess[1024];

    /* the name the old file_begin used: a link there must not be written through */
    snprintf(guess, sizeof guess, "%s.tmp.%ld", f, me);
    plant_link(guess, vfile);
    CHECK(file_write_atomic(f, "new", 3) == 0 && has_text(f, "new"), "file_write_atomic with a link at %s.tmp.PID",
          "f.txt");
    CHECK(victim_ok() && is_link(guess), "... the link's target is untouched, the link left alone");
    unlink(guess);

    /* a link at the final name: refused, neither the link nor its target replaced */
    plant_link(P("l.txt"), vfile);
    CHECK(file_write_atomic(P("l.txt"), "x", 1) == -1 && strstr(err_get(), "symbolic link"),
          "file_write_atomic onto a link is refused: %s", err_get());
    CHECK(is_link(P("l.txt")) && victim_ok(), "... the link and its target are unchanged");
    FILE *w = file_begin(P("l.txt"), tmp, sizeof tmp);
    CHECK(!w && strstr(err_get(), "symbolic link"), "file_begin onto a link is refused");

    /* a link planted at the final name while the file is being written */
    w = file_begin(P("late.txt"), tmp, sizeof tmp);
    plant_link(P("late.txt"), vfile);
    CHECK(w && file_commit(w, tmp, P("late.txt")) == -1 && is_link(P("late.txt")) && victim_ok() && !exists(tmp),
          "a link planted during the write: commit refuses, target untouched, temporary gone");

    /* stale temporaries: a dead pid's are swept (a file and a link, never the link's target);
     * a live pid's, names that do not match exactly, and other files' are kept */
    char s1[1024], s2[1024], s3[1024], s4[1024], s5[1024], s6[1024];
    snprintf(s1, sizeof s1, "%s.tmp.%ld.aB3dE9", f, dead);
    snprintf(s2, sizeof s2, "%s.tmp.%ld.Zz0000", f, dead);
    snprintf(s3, sizeof s3, "%s.tmp.%ld.aB3dE9", f, (long)getppid());
    snprintf(s4, sizeof s4, "%s.tmp.%ld.aB3dE", f, dead);      /* 5 characters: not ours */
    snprintf(s5, sizeof s5, "%s.tmp.%ld.aB3dE9x", f, dead);    /* 7 */
    snprintf(s6, sizeof s6, "%s/g.txt.tmp.%ld.aB3dE9", root, dead); /* another file's */
    file_write_atomic(s1, "stale", 5);
    plant_link(s2, victim);
    file_write_atomic(s3, "live", 4);
    file_write_atomic(s4, "odd", 3);
    file_write_atomic(s5, "odd", 3);
    file_write_atomic(s6, "other", 5);
    CHECK(file_write_atomic(f, "newer", 5) == 0 && has_text(f, "newer"), "a write beside planted temporaries %s",
          err_get());
    CHECK(!exists(s1) && !exists(s2) && victim_ok(), "... a dead process's temporary and link are removed, "
                                                     "the link's target kept");
    CHECK(exists(s3) && exists(s4) && exists(s5) && exists(s6),
          "... a live process's, near-misses of the pattern and another file's are kept");
    unlink(s3), unlink(s4), unlink(s5), unlink(s6);

    /* the new temporary: exclusive, named PATH.tmp.PID.XXXXXX, registered and removed by abort */
    w = file_begin(f, tmp, sizeof tmp);
    char want[1024];
    snprintf(want, sizeof want, "%s.tmp.%ld.", f, me);
    CHECK(w && !strncmp(tmp, want, strlen(want)) && strlen(tmp) == strlen(want) + FILE_TEMP_RAND,
          "the temporary is %s", tmp + strlen(root) + 1);
    file_abort(w, tmp);
    CHECK(!exists(tmp) && has_text(f, "newer"), "file_abort removes it, the old file stays");

    /* .npy writers, the streaming one, and the safetensors writer onto a link */
    float v[4] = {1, 2, 3, 4};
    plant_link(P("a.npy"), vfile);
    CHECK(npy_write_f32(P("a.npy"), v, (int64_t[]){2, 2}, 2) == -1 && is_link(P("a.npy")) && victim_ok(),
          "npy_write_f32 onto a link: refused, target untouched (%s)", err_get());
    NpyWriter nw;
    CHECK(npy_writer_begin(&nw, P("a.npy"), (int64_t[]){4}, 1) == -1 && victim_ok(),
          "npy_writer_begin onto a link: refused");
    snprintf(guess, sizeof guess, "%s.tmp.%ld", P("b.npy"), me);
    plant_link(guess, vfile);
    CHECK(npy_writer_begin(&nw, P("b.npy"), (int64_t[]){4}, 1) == 0 && npy_writer_put(&nw, v, 4) == 0 &&
              npy_writer_end(&nw) == 0 && victim_ok() && !is_link(P("b.npy")),
          "the streaming .npy writer with a link at the old temporary name: written, target untouched");
    unlink(guess);
    STWriter sw;
    st_writer_init(&sw);
    st_writer_add(&sw, "x", (int64_t[]){4}, 1, v);
    plant_link(P("m.safetensors"), vfile);
    CHECK(st_writer_write(&sw, P("m.safetensors")) == -1 && victim_ok() && is_link(P("m.safetensors")),
          "st_writer_write onto a link: refused, target untouched");
    unlink(P("m.safetensors"));
    snprintf(guess, sizeof guess, "%s.tmp.%ld", P("m.safetensors"), me);
    plant_link(guess, vfile);
    CHECK(st_writer_write(&sw, P("m.safetensors")) == 0 && victim_ok(),
          "st_writer_write with a link at the old temporary name: written, target untouched");
    unlink(guess);
    st_writer_free(&sw);

    /* sae_save: both of its files */
    SAE sae;
    SAEParams sp = sae_default_params();
    sp.latents = 8;
    sp.k = 2;
    if (sae_init(&sae, 4, &sp) == 0) {
        mkdir(P("sae"), 0755);
        plant_link(P("sae/cfg.json"), vfile);
        CHECK(sae_save(&sae, P("sae"), &sp, NULL, NULL) == -1 && victim_ok() && is_link(P("sae/cfg.json")),
              "sae_save with cfg.json a link: refused, target untouched");
        unlink(P("sae/cfg.json"));
        CHECK(sae_save(&sae, P("sae"), &sp, NULL, NULL) == 0 && test_count_named(P("sae"), ".tmp.") == 0,
              "sae_save writes, no temporaries left");
        sae_free(&sae);
    } else {
        CHECK(0, "sae_init: %s", err_get());
    }
    CHECK(test_count_named(root, ".tmp.") == 0, "no temporaries left in the folder");
}

/* ---- folders ------------------------------------------------------------------ */

/* One run writing `text` into a.txt and b.txt of folder out. */
static int write_run(const char *out, const char *text) {
    DirTxn t;
    if (dir_begin(&t, out) != 0) return -1;
    char *a = path_join(t.tmp, "a.txt"), *b = path_join(t.tmp, "b.txt");
    int rc = file_write_atomic(a, text, strlen(text)) | file_write_atomic(b, text, strlen(text));
    free(a);
    free(b);
    if (rc == 0) rc = dir_commit(&t);
    dir_abort(&t);
    return rc;
}

static void test_dirs(void) {
    char out[1024];
    snprintf(out, sizeof out, "%s", P("out"));
    CHECK(write_run(out, "one") == 0 && has_text(P("out/a.txt"), "one"), "a new output folder");
    CHECK(has_text(P("out/" DIR_MANIFEST), "gpt2sae manifest 1\na.txt\nb.txt\n"),
          "its manifest lists what the run wrote");
    CHECK(write_run(out, "two") == 0 && has_text(P("out/b.txt"), "two"), "an owned folder is replaced");
    CHECK(test_count_named(root, ".out.tmp-") == 0, "no staging folder left");

    /* a user's file in it: refused by dir_begin, nothing deleted */
    file_write_atomic(P("out/logo.svg"), "mine", 4);
    CHECK(write_run(out, "three") == -1 && strstr(err_get(), "logo.svg"), "a user's logo.svg: refused: %s",
          err_get());
    CHECK(has_text(P("out/logo.svg"), "mine") && has_text(P("out/a.txt"), "two"), "... the folder is unchanged");
    unlink(P("out/logo.svg"));

    /* a link added into the old folder: refused, the victim untouched */
    plant_link(P("out/sub"), victim);
    CHECK(write_run(out, "three") == -1 && victim_ok() && is_link(P("out/sub")),
          "a link inside the old folder: refused, its target untouched: %s", err_get());
    unlink(P("out/sub"));

    /* a file added during the run: commit refuses, new results kept beside it */
    DirTxn t;
    CHECK(dir_begin(&t, out) == 0, "dir_begin on an owned folder");
    char *a = path_join(t.tmp, "a.txt");
    file_write_atomic(a, "four", 4);
    free(a);
    file_write_atomic(P("out/cfg.json"), "{}", 2);
    CHECK(dir_commit(&t) == -1 && strstr(err_get(), "cfg.json") && strstr(err_get(), "out.new"),
          "a cfg.json added during the run: commit refuses: %s", err_get());
    dir_abort(&t);
    CHECK(has_text(P("out/cfg.json"), "{}") && has_text(P("out/a.txt"), "two") && has_text(P("out.new/a.txt"), "four"),
          "... the old folder is intact, the new results are in out.new");
    cleanup_remove_tree(P("out.new"));
    unlink(P("out/cfg.json"));

    /* an older version's folder: no manifest */
    mkdir(P("old"), 0755);
    file_write_atomic(P("old/report.html"), "x", 1);
    file_write_atomic(P("old/latents.npy"), "x", 1);
    CHECK(write_run(P("old"), "n") == -1 && strstr(err_get(), "older version") && has_text(P("old/report.html"), "x"),
          "a folder without a manifest (older version): refused: %s", err_get());
    mkdir(P("empty"), 0755);
    CHECK(write_run(P("empty"), "e") == 0 && has_text(P("empty/a.txt"), "e"), "an empty folder is filled");

    /* --out that is a link to a folder: the folder behind it is replaced, the link kept */
    mkdir(P("real"), 0755);
    plant_link(P("lnk"), "real");
    CHECK(write_run(P("lnk"), "via") == 0 && is_link(P("lnk")) && has_text(P("real/a.txt"), "via") &&
              has_text(P("lnk/a.txt"), "via"),
          "--out a link to a folder: written into the folder it points to, the link kept");
    plant_link(P("lnk2"), vfile);
    CHECK(write_run(P("lnk2"), "x") == -1 && is_link(P("lnk2")) && victim_ok(),
          "--out a link to a file: refused, nothing touched: %s", err_get());
    plant_link(P("lnkv"), victim);
    CHECK(write_run(P("lnkv"), "x") == -1 && victim_ok(), "--out a link to a folder of someone else's: refused");

    /* names that cannot be swapped */
    CHECK(dir_begin(&t, "") == -1 && strstr(err_get(), "empty name"), "--out '': %s", err_get());
    CHECK(dir_begin(&t, "/proc") == -1 && strstr(err_get(), "mount point"), "--out /proc (a mount point): %s",
          err_get());
    CHECK(dir_begin(&t, "/") == -1, "--out /: %s", err_get());
    file_write_atomic(P("afile"), "f", 1);
    CHECK(dir_begin(&t, P("afile")) == -1 && has_text(P("afile"), "f"), "--out a file: refused");

    /* the staging name: a link planted where a dead process's staging folder would be */
    char st[1024];
    long dead = dead_pid();
    snprintf(st, sizeof st, "%s/.out.tmp-%ld.Ab12Cd", root, dead);
    plant_link(st, victim);
    char st2[1024];
    snprintf(st2, sizeof st2, "%s/.out.tmp-%ld.Xy34Zw", root, dead);
    mkdir(st2, 0700);
    char *inner = path_join(st2, "activations.npy");
    file_write_atomic(inner, "big", 3);
    char *inlink = path_join(st2, "link");
    plant_link(inlink, victim);
    char st3[1024];
    snprintf(st3, sizeof st3, "%s/.out.tmp-%ld", root, (long)getpid());   /* the old guessable name */
    plant_link(st3, victim);
    CHECK(write_run(out, "five") == 0 && has_text(P("out/a.txt"), "five"), "a run beside planted staging names");
    CHECK(!exists(st) && !exists(st2) && victim_ok(),
          "... a dead process's staging folder and a link at such a name are removed, the link's target kept");
    CHECK(is_link(st3), "... a link at the old guessable staging name is not ours: left alone");
    unlink(st3);
    free(inner);
    free(inlink);

    /* dir_remove_tree never goes through a link */
    mkdir(P("tree"), 0755);
    mkdir(P("tree/d"), 0755);
    plant_link(P("tree/d/v"), victim);
    plant_link(P("tree/vf"), vfile);
    dir_remove_tree(P("tree"));
    CHECK(!exists(P("tree")) && victim_ok(), "dir_remove_tree removes links, not what they point to");
    plant_link(P("tlink"), victim);
    dir_remove_tree(P("tlink"));
    CHECK(!exists(P("tlink")) && victim_ok(), "dir_remove_tree on a link removes only the link");
}

/* ---- a full disk ------------------------------------------------------------- */

/* In a child (so the limit does not stay): RLIMIT_FSIZE = limit bytes, SIGXFSZ
 * ignored, so a write past it fails with EFBIG like a full disk. */
static int run_limited(const char *out, long limit, const char *text, int at_commit) {
    pid_t p = fork();
    if (p == 0) {
        signal(SIGXFSZ, SIG_IGN);
        DirTxn t;
        if (dir_begin(&t, out) != 0) _exit(3);
        struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
        if (!at_commit) setrlimit(RLIMIT_FSIZE, &rl);
        char *a = path_join(t.tmp, "a.txt"), *b = path_join(t.tmp, "b.txt");
        int rc = file_write_atomic(a, text, strlen(text));
        if (rc == 0) rc = file_write_atomic(b, text, strlen(text));
        if (at_commit) setrlimit(RLIMIT_FSIZE, &rl);   /* the data fit; the manifest does not */
        if (rc == 0) rc = dir_commit(&t);
        dir_abort(&t);
        _exit(rc == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static void test_full_disk(void) {
    char out[1024];
    snprintf(out, sizeof out, "%s", P("full"));
    write_run(out, "old");
    char big[4096];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(run_limited(out, 1000, big, 0) == 1, "a run whose write fills the disk fails");
    CHECK(has_text(P("full/a.txt"), "old") && has_text(P("full/b.txt"), "old") && test_count_named(root, ".full.tmp-") == 0,
          "... the old folder is whole, no staging folder left");
    CHECK(run_limited(out, 0, "new", 1) == 1, "a run whose manifest cannot be written fails at commit");
    CHECK(has_text(P("full/a.txt"), "old") && has_text(P("full/b.txt"), "old") && test_count_named(root, ".full.tmp-") == 0,
          "... the old folder is whole (no mix of old and new), no staging folder left");
}

/* Two processes replacing the same folder over and over: every state seen is
 * one run's whole output, never a mix (a.txt and b.txt always agree). */
static void test_concurrent(void) {
    char out[1024];
    snprintf(out, sizeof out, "%s", P("both"));
    write_run(out, "A");
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            int bad = 0;
            for (int i = 0; i < 30; i++) bad += write_run(out, k ? "B" : "A") != 0;
            _exit(bad ? 1 : 0);
        }
    }
    int mixed = 0, looks = 0;
    for (int i = 0; i < 200; i++) {
        /* one folder (by its fd, as a reader holding it open sees it): its two files must agree */
        int dfd = open(out, O_RDONLY | O_DIRECTORY);
        int fa = dfd >= 0 ? openat(dfd, "a.txt", O_RDONLY) : -1, fb = dfd >= 0 ? openat(dfd, "b.txt", O_RDONLY) : -1;
        char a[8] = "", b[8] = "";
        if (fa >= 0 && fb >= 0 && read(fa, a, sizeof a - 1) > 0 && read(fb, b, sizeof b - 1) > 0) {
            looks++;
            mixed += strcmp(a, b) != 0;
        }
        if (fa >= 0) close(fa);
        if (fb >= 0) close(fb);
        if (dfd >= 0) close(dfd);
    }
    int ok = 1;
    for (int k = 0; k < 2; k++) {
        int st = 0;
        waitpid(kids[k], &st, 0);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    CHECK(ok, "two processes replacing one folder 30 times each: every run succeeds");
    CHECK(mixed == 0 && (has_text(P("both/a.txt"), "A") || has_text(P("both/a.txt"), "B")) &&
              test_count_named(root, ".both.tmp-") == 0 && test_count_named(root, "both.") == 0,
          "... never a mix of two runs (%d mixed in %d looks), no staging or kept folder left", mixed, looks);
}

/* ---- signals ------------------------------------------------------------------ */

/* A child starts a file write and a folder run, then is sent sig. */
static void test_signal(int sig, const char *name) {
    char out[1024];
    snprintf(out, sizeof out, "%s", P("sig"));
    write_run(out, "old");
    file_write_atomic(P("sigfile"), "old", 3);
    int pfd[2];
    if (pipe(pfd) != 0) return;
    pid_t p = fork();
    if (p == 0) {
        close(pfd[0]);
        DirTxn t;
        char tmp[4096];
        if (dir_begin(&t, out) != 0) _exit(3);
        char *a = path_join(t.tmp, "a.txt");
        file_write_atomic(a, "new", 3);
        FILE *f = file_begin(P("sigfile"), tmp, sizeof tmp);
        fputs("half", f);
        fflush(f);
        if (write(pfd[1], "r", 1) != 1) _exit(4);
        for (;;) pause();
    }
    close(pfd[1]);
    char c;
    int ready = read(pfd[0], &c, 1) == 1;
    close(pfd[0]);
    kill(p, sig);
    int st = 0;
    waitpid(p, &st, 0);
    CHECK(ready && WIFSIGNALED(st) && WTERMSIG(st) == sig, "%s during a write: the process dies of %s", name, name);
    CHECK(test_count_named(root, ".sig.tmp-") == 0 && test_count_named(root, "sigfile.tmp.") == 0,
          "... its staging folder and temporary file are removed");
    CHECK(has_text(P("sig/a.txt"), "old") && has_text(P("sigfile"), "old"), "... the old outputs are intact");
}

int main(void) {
    /* a test run in the background may start with these ignored; a user's terminal does not */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    snprintf(root, sizeof root, "/tmp/test_atomic.%ld", (long)getpid());
    cleanup_remove_tree(root);
    mkdir(root, 0755);
    snprintf(victim, sizeof victim, "%s/victim", root);
    snprintf(vfile, sizeof vfile, "%s/victim/precious.txt", root);
    mkdir(victim, 0755);
    file_write_atomic(vfile, "VICTIM", 6);

    test_files();
    test_dirs();
    test_full_disk();
    test_concurrent();
    test_signal(SIGINT, "SIGINT");
    test_signal(SIGTERM, "SIGTERM");
    test_signal(SIGHUP, "SIGHUP");

    cleanup_remove_tree(root);
    return test_finish();
}
