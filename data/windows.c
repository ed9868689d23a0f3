/*
 * data/windows.c - training examples: fixed windows of ctx tokens cut from a
 * token file, an optional BOS first, and the mask of positions holding
 * <|endoftext|>. See data.h for the layout and for why windows cross
 * document boundaries.
 */
#include "data/data.h"
#include "core/util.h"

#include <string.h>

int data_windows_init(DataWindows *w, const TokFile *tf, int ctx, int prepend_bos) {
    memset(w, 0, sizeof *w);
    if (ctx < 1 + (prepend_bos != 0))
        return err_set("%s: a window of %d tokens%s is too short: give --ctx %d or more", tf->path, ctx,
                       prepend_bos ? " with a BOS first" : "", 1 + (prepend_bos != 0));
    w->tf = tf;
    w->ctx = ctx;
    w->bos = prepend_bos != 0;
    w->stride = (size_t)(ctx - w->bos);
    w->n = tf->n / w->stride;
    if (w->n == 0)
        return err_set("%s: %zu tokens, fewer than one window of %zu: give a larger corpus or a "
                       "smaller --ctx",
                       tf->path, tf->n, w->stride);
    return 0;
}

size_t data_windows_count(const DataWindows *w) { return w->n; }

int data_windows_get(const DataWindows *w, size_t i, int32_t *tokens, uint8_t *mask) {
    if (i >= w->n) return err_set("%s: window %zu of %zu: out of range", w->tf->path, i, w->n);
    const TokFile *tf = w->tf;
    size_t s0 = i * w->stride;
    if (tokfile_check_range(tf, s0, s0 + w->stride) != 0) return -1;
    if (w->bos) tokens[0] = DATA_EOT;
    const uint16_t *src = tf->tokens + s0;
    for (size_t t = 0; t < w->stride; t++) tokens[w->bos + t] = src[t];
    if (mask)
        for (int t = 0; t < w->ctx; t++) mask[t] = tokens[t] != DATA_EOT;
    return 0;
}
