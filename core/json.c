/* core/json.c - strict recursive-descent JSON parser. See json.h. */
#include "core/json.h"
#include "core/utf8.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct {
    const char *s;
    size_t n, i;
} Parser;

static int fail(Parser *p, const char *what) {
    return err_set("invalid JSON at byte %zu: %s", p->i, what);
}

static void skip_ws(Parser *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static int hex4(Parser *p, unsigned *out) {
    if (p->n - p->i < 4) return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

/* p->i is at the opening quote. */
static int parse_string(Parser *p, char **out, size_t *out_len) {
    p->i++;
    /* decoded text is never longer than the source */
    size_t start = p->i, cap;
    while (p->i < p->n && p->s[p->i] != '"') { if (p->s[p->i] == '\\') p->i++; p->i++; }
    cap = (p->i > start ? p->i - start : 0) + 1;
    p->i = start;
    char *buf = xmalloc(cap + 4);
    size_t o = 0;
    for (;;) {
        if (p->i >= p->n) { free(buf); return fail(p, "unterminated string"); }
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') { p->i++; break; }
        if (c < 0x20) { free(buf); return fail(p, "control character in string"); }
        if (c == '\\') {
            p->i++;
            if (p->i >= p->n) { free(buf); return fail(p, "unterminated escape"); }
            char e = p->s[p->i++];
            switch (e) {
            case '"': buf[o++] = '"'; break;
            case '\\': buf[o++] = '\\'; break;
            case '/': buf[o++] = '/'; break;
            case 'b': buf[o++] = '\b'; break;
            case 'f': buf[o++] = '\f'; break;
            case 'n': buf[o++] = '\n'; break;
            case 'r': buf[o++] = '\r'; break;
            case 't': buf[o++] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (hex4(p, &cp)) { free(buf); return -1; }
                if (cp >= 0xDC00 && cp <= 0xDFFF) { free(buf); return fail(p, "unpaired low surrogate"); }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                        free(buf); return fail(p, "unpaired high surrogate");
                    }
                    p->i += 2;
                    if (hex4(p, &lo)) { free(buf); return -1; }
                    if (lo < 0xDC00 || lo > 0xDFFF) { free(buf); return fail(p, "bad low surrogate"); }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                o += utf8_encode(cp, buf + o); /* cp is a scalar value here: never 0 bytes */
                break;
            }
            default: free(buf); return fail(p, "unknown escape");
            }
        } else {
            uint32_t cp;
            size_t l = utf8_decode((const uint8_t *)p->s, p->n, p->i, &cp);
            if (!l) { free(buf); return fail(p, "invalid UTF-8 in string"); }
            memcpy(buf + o, p->s + p->i, l);
            o += l;
            p->i += l;
        }
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return 0;
}

static int parse_number(Parser *p, double *out) {
    size_t start = p->i;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i >= p->n) return fail(p, "truncated number");
    if (p->s[p->i] == '0') {
        p->i++;
    } else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    } else {
        return fail(p, "bad number");
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return fail(p, "bad fraction");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return fail(p, "bad exponent");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    char tmp[64];
    size_t len = p->i - start;
    if (len >= sizeof tmp) {
        /* long numbers: strtod on a heap copy */
        char *h = xmalloc(len + 1);
        memcpy(h, p->s + start, len);
        h[len] = 0;
        *out = strtod(h, NULL);
        free(h);
    } else {
        memcpy(tmp, p->s + start, len);
        tmp[len] = 0;
        *out = strtod(tmp, NULL);
    }
    if (!isfinite(*out)) return fail(p, "number out of range");
    return 0;
}

static int parse_value(Parser *p, JSON *v, int depth);

static int parse_container(Parser *p, JSON *v, int depth, int is_obj) {
    char close = is_obj ? '}' : ']';
    size_t cap = 0;
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? cap * 2 : 8;
            v->items = xrealloc(v->items, cap * sizeof *v->items);
            if (is_obj) {
                v->keys = xrealloc(v->keys, cap * sizeof *v->keys);
                v->key_lens = xrealloc(v->key_lens, cap * sizeof *v->key_lens);
            }
        }
        if (is_obj) {
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a string key");
            char *key;
            size_t klen;
            if (parse_string(p, &key, &klen)) return -1;
            v->keys[v->n] = key;
            v->key_lens[v->n] = klen;
            memset(&v->items[v->n], 0, sizeof(JSON));
            v->n++; /* counted now so json_free releases the key on failure */
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return fail(p, "expected ':'");
            p->i++;
            if (parse_value(p, &v->items[v->n - 1], depth + 1)) return -1;
        } else {
            memset(&v->items[v->n], 0, sizeof(JSON));
            v->n++;
            if (parse_value(p, &v->items[v->n - 1], depth + 1)) return -1;
        }
        skip_ws(p);
        if (p->i >= p->n) return fail(p, is_obj ? "unterminated object" : "unterminated array");
        if (p->s[p->i] == ',') { p->i++; continue; }
        if (p->s[p->i] == close) { p->i++; break; }
        return fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    if (is_obj && v->n > 1) {
        /* reject duplicate keys; a hash set keeps this O(n) for 50k-key vocabularies */
        size_t n = v->n;
        size_t hcap = 1;
        while (hcap < 2 * n) hcap <<= 1;
        size_t *tab = xmalloc(hcap * sizeof *tab);
        for (size_t k = 0; k < hcap; k++) tab[k] = (size_t)-1;
        int dup = 0;
        for (size_t k = 0; k < n && !dup; k++) {
            uint64_t h = 1469598103934665603ull;
            for (size_t b = 0; b < v->key_lens[k]; b++) h = (h ^ (unsigned char)v->keys[k][b]) * 1099511628211ull;
            size_t slot = (size_t)h & (hcap - 1);
            while (tab[slot] != (size_t)-1) {
                size_t o = tab[slot];
                if (v->key_lens[o] == v->key_lens[k] && memcmp(v->keys[o], v->keys[k], v->key_lens[k]) == 0) {
                    dup = 1;
                    break;
                }
                slot = (slot + 1) & (hcap - 1);
            }
            tab[slot] = k;
        }
        free(tab);
        if (dup) return fail(p, "duplicate key in object");
    }
    return 0;
}

static int parse_value(Parser *p, JSON *v, int depth) {
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "unexpected end of input");
    char c = p->s[p->i];
    memset(v, 0, sizeof *v);
    /* depth counts containers: the outermost is at 0, so 64 may nest, whatever is innermost */
    if ((c == '{' || c == '[') && depth >= JSON_MAX_DEPTH) return fail(p, "nested too deeply");
    if (c == '{') { v->type = JSON_OBJECT; return parse_container(p, v, depth, 1); }
    if (c == '[') { v->type = JSON_ARRAY; return parse_container(p, v, depth, 0); }
    if (c == '"') { v->type = JSON_STRING; return parse_string(p, &v->str, &v->str_len); }
    if (c == '-' || (c >= '0' && c <= '9')) { v->type = JSON_NUMBER; return parse_number(p, &v->number); }
    if (p->n - p->i >= 4 && memcmp(p->s + p->i, "true", 4) == 0) { v->type = JSON_BOOL; v->boolean = 1; p->i += 4; return 0; }
    if (p->n - p->i >= 5 && memcmp(p->s + p->i, "false", 5) == 0) { v->type = JSON_BOOL; p->i += 5; return 0; }
    if (p->n - p->i >= 4 && memcmp(p->s + p->i, "null", 4) == 0) { v->type = JSON_NULL; p->i += 4; return 0; }
    return fail(p, "unexpected character");
}

int json_parse(JSON *out, const char *text, size_t len) {
    Parser p = {text, len, 0};
    memset(out, 0, sizeof *out);
    if (parse_value(&p, out, 0) != 0) { json_free(out); return -1; }
    skip_ws(&p);
    if (p.i != p.n) { json_free(out); return fail(&p, "trailing characters after the value"); }
    return 0;
}

int json_parse_file(JSON *out, const char *path) {
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len) != 0) return -1;
    int rc = json_parse(out, text, len);
    free(text);
    return rc != 0 ? err_prefix("%s", path) : 0;
}

void json_free(JSON *j) {
    if (!j) return;
    for (size_t k = 0; k < j->n; k++) {
        json_free(&j->items[k]);
        if (j->keys) free(j->keys[k]);
    }
    free(j->items);
    free(j->keys);
    free(j->key_lens);
    free(j->str);
    memset(j, 0, sizeof *j);
}

const JSON *json_get(const JSON *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    size_t kl = strlen(key);
    for (size_t k = 0; k < obj->n; k++)
        if (obj->key_lens[k] == kl && memcmp(obj->keys[k], key, kl) == 0) return &obj->items[k];
    return NULL;
}

int json_as_int(const JSON *j, long long *out) {
    if (!j || j->type != JSON_NUMBER) return -1;
    double v = j->number;
    if (v != floor(v) || fabs(v) > 9007199254740992.0) return -1;
    *out = (long long)v;
    return 0;
}

void json_write_string(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)s[k];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}
