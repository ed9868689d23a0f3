/*
 * tests/test_download.c - weights/download.c without a network: its messages
 * go to the callback set with download_set_notify (not to stderr), and its
 * .part temporary is made exclusively: a link planted at the old guessable
 * name "<final>.part.<pid>" is never written through, a dead process's
 * .part files are swept, a live one's are kept, and a failed download leaves
 * no .part behind. The URL is a closed port on loopback (curl fails at once);
 * without curl the checks that need it are skipped.
 */
#include "core/cleanup.h"
#include "core/util.h"
#include "weights/download.h"

#include "tests/test.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char lines[8][512];
static int n_lines;

static void collect(const char *line, void *ctx) {
    (void)ctx;
    if (n_lines < 8) snprintf(lines[n_lines++], sizeof lines[0], "%s", line);
}


int main(void) {
    char root[256], final[320], victim[320], guess[400], stale[400], live[400];
    snprintf(root, sizeof root, "/tmp/test_download.%ld", (long)getpid());
    cleanup_remove_tree(root);
    mkdir(root, 0755);

    download_set_notify(collect, NULL);
    download_notify("hello %d", 42);
    CHECK(n_lines == 1 && !strcmp(lines[0], "hello 42"), "download_notify reaches the callback: '%s'", lines[0]);

    if (system("command -v curl >/dev/null 2>&1") != 0) {
        SKIP("download_file: the curl program is not installed");
        cleanup_remove_tree(root);
        return test_finish();
    }
    snprintf(final, sizeof final, "%s/model.bin", root);
    snprintf(victim, sizeof victim, "%s/victim.txt", root);
    file_write_atomic(victim, "VICTIM", 6);
    snprintf(guess, sizeof guess, "%s.part.%ld", final, (long)getpid());
    if (symlink(victim, guess) != 0) perror(guess);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    snprintf(stale, sizeof stale, "%s.part.%ld.Ab12Cd", final, (long)dead);
    snprintf(live, sizeof live, "%s.part.%ld.Ab12Cd", final, (long)getppid());
    file_write_atomic(stale, "stale", 5);
    file_write_atomic(live, "live", 4);

    n_lines = 0;
    setenv("GPT2SAE_CONNECT_TIMEOUT", "2", 1);
    DownloadExpect ex = {0};
    int rc = download_file("http://127.0.0.1:9/model.bin", final, &ex);
    CHECK(rc == -1 && strstr(err_get(), "127.0.0.1:9"), "a closed port fails: %s", err_get());
    CHECK(n_lines >= 1 && strstr(lines[0], "downloading http://127.0.0.1:9/model.bin"),
          "the 'downloading' line went to the callback: '%s'", n_lines ? lines[0] : "");
    char *v = NULL;
    size_t n = 0;
    CHECK(file_read_all(victim, &v, &n) == 0 && n == 6 && !memcmp(v, "VICTIM", 6),
          "a link at the old .part.PID name: its target untouched");
    free(v);
    struct stat st;
    CHECK(lstat(stale, &st) != 0, "a dead process's .part file is swept");
    CHECK(lstat(live, &st) == 0 && lstat(guess, &st) == 0, "a live process's, and a name not of the pattern, are kept");
    unlink(live);
    unlink(guess);
    CHECK(test_count_named(root, ".part.") == 0 && lstat(final, &st) != 0, "no .part file left, nothing at the final name");
    cleanup_remove_tree(root);
    return test_finish();
}
