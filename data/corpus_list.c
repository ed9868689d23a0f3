/*
 * data/corpus_list.c - the files a corpus's inputs stand for: files as given,
 * folders walked recursively (text names only, or any name), sorted by path.
 * The one folder walker of the engine (tokenize, the pipeline, eval). See corpus.h.
 */
#include "data/corpus.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int has_ext(const char *name, const char *ext) {
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcmp(name + n - e, ext) == 0;
}

static int is_text_name(const char *name) {
    return has_ext(name, ".txt") || has_ext(name, ".text") || has_ext(name, ".md") ||
           has_ext(name, ".jsonl") || has_ext(name, ".ndjson");
}

/* Append the files under dir (recursively) that names admits to out, unsorted. */
static int walk(const char *dir, CorpusNames names, StrList *out, size_t *skipped, int depth) {
    if (depth > 64) return err_set("%s: folders nested more than 64 deep", dir);
    DIR *d = opendir(dir);
    if (!d) return err_set("%s: cannot read the folder: %s", dir, strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue; /* ".", "..", hidden files and folders */
        char *p = path_join(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) {
            rc = err_set("%s: %s", p, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(p, names, out, skipped, depth + 1);
        } else if ((S_ISREG(st.st_mode) || (S_ISLNK(st.st_mode) && path_is_file(p))) &&
                   (names == CORPUS_ANY_NAME || is_text_name(e->d_name))) {
            strlist_push(out, p);
            continue;
        } else {
            (*skipped)++; /* another kind of file, or a link to a folder (never followed) */
        }
        free(p);
    }
    closedir(d);
    return rc;
}

int corpus_list_names(const char *const *inputs, int n, CorpusNames names, char ***files, size_t *n_files,
                      size_t *skipped) {
    StrList out = {0};
    *skipped = 0;
    for (int i = 0; i < n; i++) {
        const char *in = inputs[i];
        if (path_is_dir(in)) {
            size_t first = out.n;
            if (walk(in, names, &out, skipped, 0) != 0) goto fail;
            if (out.n == first) {
                if (names == CORPUS_TEXT_NAMES)
                    err_set("%s: no text files in the folder (names ending .txt, .text, .md or .jsonl)", in);
                else
                    err_set("%s: the folder has no files to read (hidden files are passed over)", in);
                goto fail;
            }
            strlist_sort(&out, first);
        } else if (path_is_file(in)) {
            strlist_push(&out, xstrdup(in));
        } else {
            struct stat st;
            if (stat(in, &st) != 0) err_set("%s: %s: give text files or folders", in, strerror(errno));
            else err_set("%s: not a regular file or a folder: give text files or folders", in);
            goto fail;
        }
    }
    *files = out.v;
    *n_files = out.n;
    return 0;
fail:
    strlist_free(&out);
    return -1;
}

int corpus_list(const char *const *inputs, int n, char ***files, size_t *n_files, size_t *skipped) {
    return corpus_list_names(inputs, n, CORPUS_TEXT_NAMES, files, n_files, skipped);
}
