/* src_npy.c - .npy headers (format 1.0, 2.0, 3.0): magic, version, the header dict, dtype. */
#include "sources_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_HEADER (1u << 20) /* NumPy itself refuses headers over 10000 bytes by default */
#define NPY_MAX_DIMS 64

/* ---- .npy ---- */

typedef struct {
    char descr[40];
    bool fortran;
    uint32_t ndim;
    uint64_t shape[NPY_MAX_DIMS];
} npy_header;

typedef struct {
    const char *s;
    size_t n, i;
} npy_lex;

static void lx_ws(npy_lex *l)
{
    while (l->i < l->n &&
           (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n' || l->s[l->i] == '\r'))
        l->i++;
}

static bool lx_is(npy_lex *l, char c) { return l->i < l->n && l->s[l->i] == c; }

/* A Python string literal without escapes, copied to out (capacity cap). */
static bool lx_string(npy_lex *l, char *out, size_t cap)
{
    if (!lx_is(l, '\'') && !lx_is(l, '"'))
        return false;
    char q = l->s[l->i++];
    size_t k = 0;
    while (l->i < l->n && l->s[l->i] != q) {
        if (l->s[l->i] == '\\' || k + 1 >= cap)
            return false;
        out[k++] = l->s[l->i++];
    }
    if (l->i >= l->n)
        return false;
    l->i++;
    out[k] = 0;
    return true;
}

static bool lx_word(npy_lex *l, const char *w)
{
    size_t k = strlen(w);
    if (l->n - l->i < k || memcmp(l->s + l->i, w, k) != 0)
        return false;
    l->i += k;
    return true;
}

/* A non-negative Python int; Python 2 files may carry an 'L' suffix. */
static bool lx_int(npy_lex *l, uint64_t *v)
{
    size_t start = l->i;
    uint64_t x = 0;
    while (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9') {
        if (!tct_mul(x, 10, &x) || !tct_add(x, (uint64_t)(l->s[l->i] - '0'), &x))
            return false;
        l->i++;
    }
    if (l->i == start)
        return false;
    if (lx_is(l, 'L') || lx_is(l, 'l'))
        l->i++;
    *v = x;
    return true;
}

/* "(a, b, c)" with Python's tuple rules: "()" is empty, "(a,)" has one element, "(a)" is not a
 * tuple. */
static bool lx_tuple(npy_lex *l, npy_header *h, const char **why)
{
    h->ndim = 0;
    if (!lx_is(l, '(')) {
        *why = "'shape' is not a tuple";
        return false;
    }
    l->i++;
    lx_ws(l);
    if (lx_is(l, ')')) {
        l->i++;
        return true;
    }
    bool comma = false;
    for (;;) {
        uint64_t v;
        if (!lx_int(l, &v)) {
            *why = "'shape' must hold non-negative integers";
            return false;
        }
        if (h->ndim == NPY_MAX_DIMS) {
            *why = "'shape' has too many dimensions";
            return false;
        }
        h->shape[h->ndim++] = v;
        lx_ws(l);
        comma = false;
        if (lx_is(l, ',')) {
            l->i++;
            comma = true;
            lx_ws(l);
        }
        if (lx_is(l, ')')) {
            l->i++;
            if (h->ndim == 1 && !comma) {
                *why = "'shape' is not a tuple (one element needs a trailing comma)";
                return false;
            }
            return true;
        }
        if (!comma) {
            *why = "'shape': expected ',' or ')'";
            return false;
        }
    }
}

/* Parses the value of key number k (0 descr, 1 fortran_order, 2 shape) at the cursor. */
static int npy_parse_value(npy_lex *l, int k, npy_header *h, const char **why)
{
    if (k == 0 && (lx_is(l, '[') || lx_is(l, '{'))) {
        *why = "structured dtypes (records) are not supported";
        return TCT_ERR_SOURCE_UNSUPPORTED;
    }
    if (k == 0 && !lx_string(l, h->descr, sizeof h->descr)) {
        *why = "'descr' is not a valid dtype string";
        return TCT_ERR_SOURCE_FORMAT;
    }
    if (k == 1) {
        h->fortran = lx_word(l, "True");
        if (!h->fortran && !lx_word(l, "False")) {
            *why = "'fortran_order' is not True or False";
            return TCT_ERR_SOURCE_FORMAT;
        }
    }
    if (k == 2 && !lx_tuple(l, h, why))
        return TCT_ERR_SOURCE_FORMAT;
    return TC_OK;
}

/* Parses one `'key': value` entry; seen[] records the keys met so far. */
static int npy_parse_entry(npy_lex *l, npy_header *h, bool seen[3], const char **why)
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    char key[32];
    if (!lx_string(l, key, sizeof key)) {
        *why = "header dict: expected a string key";
        return TCT_ERR_SOURCE_FORMAT;
    }
    lx_ws(l);
    if (!lx_is(l, ':')) {
        *why = "header dict: expected ':'";
        return TCT_ERR_SOURCE_FORMAT;
    }
    l->i++;
    lx_ws(l);
    int k = 0;
    while (k < 3 && strcmp(key, keys[k]) != 0)
        k++;
    if (k == 3) {
        *why = "header dict: unexpected key (allowed: descr, fortran_order, shape)";
        return TCT_ERR_SOURCE_FORMAT;
    }
    if (seen[k]) {
        *why = "header dict: duplicate key";
        return TCT_ERR_SOURCE_FORMAT;
    }
    seen[k] = true;
    return npy_parse_value(l, k, h, why);
}

/* Parses the header dict {'descr': ..., 'fortran_order': ..., 'shape': (...)} (each key once,
 * any order, an optional trailing comma). @return TC_OK, TCT_ERR_SOURCE_FORMAT or
 * TCT_ERR_SOURCE_UNSUPPORTED with *why set. */
static int npy_parse_dict(const char *s, size_t n, npy_header *h, const char **why)
{
    npy_lex l = {s, n, 0};
    bool seen[3] = {false, false, false};
    lx_ws(&l);
    if (!lx_is(&l, '{')) {
        *why = "header is not a dict";
        return TCT_ERR_SOURCE_FORMAT;
    }
    l.i++;
    for (lx_ws(&l); !lx_is(&l, '}'); lx_ws(&l)) {
        int rc = npy_parse_entry(&l, h, seen, why);
        if (rc)
            return rc;
        lx_ws(&l);
        if (lx_is(&l, ','))
            l.i++;
        else if (!lx_is(&l, '}')) {
            *why = "header dict: expected ',' or '}'";
            return TCT_ERR_SOURCE_FORMAT;
        }
    }
    l.i++; /* '}' */
    lx_ws(&l);
    if (l.i != l.n) {
        *why = "unexpected text after the header dict";
        return TCT_ERR_SOURCE_FORMAT;
    }
    if (!seen[0] || !seen[1] || !seen[2]) {
        *why = !seen[0] ? "header dict lacks 'descr'"
             : !seen[1] ? "header dict lacks 'fortran_order'" : "header dict lacks 'shape'";
        return TCT_ERR_SOURCE_FORMAT;
    }
    return TC_OK;
}

/* Maps a NumPy type string to a dtype. @return the dtype, or 0 if unsupported; *big set for
 * big-endian data. */
static int npy_dtype(const char *descr, bool *big)
{
    static const struct {
        const char *code;
        int dtype;
    } types[] = {
        {"b1", TC_DTYPE_BOOL}, {"?", TC_DTYPE_BOOL}, {"u1", TC_DTYPE_U8},  {"i1", TC_DTYPE_I8},
        {"u2", TC_DTYPE_U16},  {"i2", TC_DTYPE_I16}, {"u4", TC_DTYPE_U32}, {"i4", TC_DTYPE_I32},
        {"u8", TC_DTYPE_U64},  {"i8", TC_DTYPE_I64}, {"f2", TC_DTYPE_F16}, {"f4", TC_DTYPE_F32},
        {"f8", TC_DTYPE_F64},
    };
    const char *code = descr;
    *big = false;
    if (*code == '<' || *code == '|' || *code == '=') {
        code++;
    } else if (*code == '>' || *code == '!') {
        *big = true;
        code++;
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(code, types[i].code) == 0)
            return types[i].dtype;
    return 0;
}

int tcs_parse_npy(tcs_file *f, stream *st, tc_error *err)
{
    uint8_t pre[12];
    int rc = st_read_header(st, pre, 8, ".npy header", err);
    if (rc)
        return rc;
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: not a .npy file: bad magic (expected \\x93NUMPY)", st->path);
    unsigned major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: .npy format version %u.%u is not supported (1.0, 2.0, 3.0)",
                        st->path, major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    rc = st_read_header(st, pre + 8, lenbytes, ".npy header", err);
    if (rc)
        return rc;
    uint32_t hlen = major == 1 ? (uint32_t)(pre[8] | pre[9] << 8)
                               : (uint32_t)pre[8] | (uint32_t)pre[9] << 8 |
                                     (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: .npy header length %u exceeds the limit of %u bytes", st->path,
                        hlen, NPY_MAX_HEADER);
    char *text = malloc((size_t)hlen + 1);
    if (!text)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    rc = st_read_header(st, text, hlen, ".npy header", err);
    npy_header h = {0};
    const char *why = NULL;
    if (rc == TC_OK) {
        text[hlen] = 0;
        /* Versions 1 and 2 are latin-1, version 3 UTF-8; every valid header of a supported
         * dtype is ASCII, so both are just bytes to the parser. */
        if (memchr(text, 0, hlen))
            rc = tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: NUL byte in the .npy header",
                          st->path);
        else if ((rc = npy_parse_dict(text, hlen, &h, &why)) != TC_OK)
            rc = tct_fail(err, rc, 0, "%s: bad .npy header: %s", st->path, why);
    }
    free(text);
    if (rc)
        return rc;
    f->header_bytes = 8 + lenbytes + hlen;
    bool big;
    f->dtype = npy_dtype(h.descr, &big);
    if (!f->dtype)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: dtype '%s' is not supported (supported: bool, u8, i8, u16, i16, "
                        "u32, i32, u64, i64, f16, f32, f64)",
                        st->path, h.descr);
    size_t isz = tc_dtype_size(f->dtype);
    f->swap = big && isz > 1 ? isz : 0;
    f->fortran = h.fortran && h.ndim > 1;
    if (f->fortran && st->gz)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: Fortran-order arrays are supported only in uncompressed .npy files "
                        "(they are read through a mapping); decompress it first",
                        st->path);
    rc = tcs_set_array_geometry(f, st, h.shape, h.ndim, "array", err);
    return rc ? rc : tcs_check_plain_size(st, f, err);
}
