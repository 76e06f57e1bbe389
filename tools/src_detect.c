/* src_detect.c - recognising a file's format by content, and tcs_probe(), which reads the
 * header with the parser of that format. */
#include "sources_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_ends_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcmp(path + n - m, suffix) == 0;
}

/* The name is never used to choose a format; it only sharpens the error for a file whose
 * content is not what its name promises. */
static bool name_says_npy(const char *path)
{
    return name_ends_with(path, ".npy") || name_ends_with(path, ".npy.gz");
}

static bool name_says_idx(const char *path)
{
    const char *base = tct_basename(path);
    if (strstr(base, "-ubyte") || name_ends_with(base, ".idx") || name_ends_with(base, ".idx.gz"))
        return true;
    for (const char *p = strstr(base, "idx"); p; p = strstr(p + 1, "idx"))
        if (p[3] >= '1' && p[3] <= '9')
            return true;
    return false;
}

/* ---- detection ---- */

static int detect(tcs_file *f, stream *st, const tcs_options *opt, tcs_format *fmt,
                  tc_error *err)
{
    const uint8_t *m;
    size_t n;
    int rc = st_peek(st, &m, &n, err);
    if (rc)
        return rc;
    if (n == 0)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: empty %s", st->path,
                        st->gz ? "gzip stream" : "file");
    if (n >= 6 && memcmp(m, "\x93NUMPY", 6) == 0) {
        *fmt = TCS_NPY;
        return TC_OK;
    }
    if (tcs_looks_idx(m, n)) {
        *fmt = TCS_IDX;
        return TC_OK;
    }
    if (name_says_npy(st->path))
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: not a .npy file: bad magic %02x %02x %02x %02x %02x %02x "
                        "(expected \\x93NUMPY)",
                        st->path, m[0], n > 1 ? m[1] : 0, n > 2 ? m[2] : 0, n > 3 ? m[3] : 0,
                        n > 4 ? m[4] : 0, n > 5 ? m[5] : 0);
    if (name_says_idx(st->path))
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: bad IDX magic %02x %02x %02x %02x (expected 00 00, a type byte "
                        "08/09/0b/0c/0d/0e and a dimension count 1..%d)",
                        st->path, m[0], n > 1 ? m[1] : 0, n > 2 ? m[2] : 0, n > 3 ? m[3] : 0,
                        TC_MAX_RANK + 1);
    if (opt && opt->dtype) {
        *fmt = TCS_RAW;
        return TC_OK;
    }
    rc = tcs_cifar_guess(f, st, fmt, err);
    if (rc || *fmt != TCS_AUTO)
        return rc;
    return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                    "%s: unrecognised content (not .npy, IDX, gzip or CIFAR); for raw arrays use "
                    "raw:FILE with --dtype and --shape",
                    st->path);
}

/* Reads the header of f (stream at position 0) and leaves the stream at the first data byte. */
int tcs_probe(tcs_file *f, stream *st, const tcs_options *opt, tc_error *err)
{
    f->gz = st->gz != NULL;
    f->swap = 0;
    f->fortran = false;
    f->rank = 0;
    memset(f->shape, 0, sizeof f->shape);
    tcs_format fmt = f->forced;
    int rc = TC_OK;
    if (fmt == TCS_AUTO)
        rc = detect(f, st, opt, &fmt, err);
    if (rc)
        return rc;
    f->format = fmt;
    switch (fmt) {
    case TCS_NPY: return tcs_parse_npy(f, st, err);
    case TCS_IDX: return tcs_parse_idx(f, st, err);
    case TCS_CIFAR10:
    case TCS_CIFAR100: return tcs_cifar_geometry(f, st, fmt, err);
    case TCS_RAW: return tcs_raw_geometry(f, st, opt, err);
    default: return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0, "%s: unknown format", st->path);
    }
}
