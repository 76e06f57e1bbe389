/* sources.c - streaming readers for .npy, IDX, CIFAR and raw files, plain or gzipped.
 *
 * Every file goes through a `stream`: a plain file descriptor or a zlib gzFile, plus a small
 * peek buffer so the first bytes can be inspected before the format is known (gzip streams
 * cannot seek back cheaply). A source opens each of its files twice: once in tcs_open() to read
 * the header (so N is known before anything is written) and once, in turn, while samples are
 * streamed; the second probe must find the same geometry, so a file changed in between is an
 * error rather than a silent mismatch. */
#include "sources.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define PEEK_MAX 64
#define NPY_MAX_HEADER (1u << 20) /* NumPy itself refuses headers over 10000 bytes by default */
#define NPY_MAX_DIMS 64
#define CIFAR_PIXELS 3072u
#define CIFAR_SIDE 32u
#define CIFAR_GUESS_RECORDS 16u
#define CIFAR_SUBCHUNK 256u
#define GZ_BUFFER (256u << 10)
#define READ_MAX (1u << 30)
#define CHUNK_BYTES (8u << 20)
#define CHUNK_MAX_SAMPLES 65536u

/* ---------------------------------------------------------------------------------------------
 * streams
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    int fd;
    gzFile gz;
    uint64_t size; /* plain files: size in bytes */
    uint64_t pos;  /* bytes delivered so far (decompressed bytes for gzip) */
    uint8_t peek[PEEK_MAX];
    size_t peek_len, peek_off;
    bool peeked;
} stream;

static int gz_fail(const stream *st, tc_error *err)
{
    int errnum = Z_OK;
    const char *msg = gzerror(st->gz, &errnum);
    if (errnum == Z_ERRNO)
        return tct_fail(err, TC_ERR_IO, errno, "%s: read error: %s", st->path, strerror(errno));
    if (errnum == Z_MEM_ERROR)
        return tct_fail(err, TC_ERR_NOMEM, 0, "%s: out of memory in zlib", st->path);
    /* zlib prefixes its message with the descriptor name ("<fd:3>: "): drop that. */
    if (msg && strncmp(msg, "<fd:", 4) == 0 && strstr(msg, ": "))
        msg = strstr(msg, ": ") + 2;
    return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: corrupt or truncated gzip data: %s",
                    st->path, msg && *msg ? msg : "unknown zlib error");
}

static int st_open(stream *st, const char *path, tc_error *err)
{
    *st = (stream){.path = path, .fd = -1};
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (st->fd < 0)
        return tct_fail(err, TC_ERR_IO, errno, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(st->fd, &sb) != 0) {
        int e = errno;
        close(st->fd);
        return tct_fail(err, TC_ERR_IO, e, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(st->fd);
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0, "%s: not a regular file", path);
    }
    st->size = (uint64_t)sb.st_size;
    uint8_t magic[2];
    ssize_t r = pread(st->fd, magic, 2, 0);
    if (r < 0) {
        int e = errno;
        close(st->fd);
        return tct_fail(err, TC_ERR_IO, e, "%s: read error: %s", path, strerror(e));
    }
    if (r == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        st->gz = gzdopen(st->fd, "rb");
        if (!st->gz) {
            close(st->fd);
            return tct_fail(err, TC_ERR_NOMEM, 0, "%s: cannot start zlib", path);
        }
        gzbuffer(st->gz, GZ_BUFFER);
    }
    return TC_OK;
}

static void st_close(stream *st)
{
    if (st->gz)
        gzclose(st->gz);
    else if (st->fd >= 0)
        close(st->fd);
    st->gz = NULL;
    st->fd = -1;
}

/* Reads up to n bytes from the file itself (below the peek buffer); short only at the end. */
static int st_read_raw(stream *st, uint8_t *buf, size_t n, size_t *got, tc_error *err)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < READ_MAX ? n - done : READ_MAX;
        if (st->gz) {
            int r = gzread(st->gz, buf + done, (unsigned)want);
            if (r < 0)
                return gz_fail(st, err);
            if (r == 0) {
                int errnum = Z_OK;
                gzerror(st->gz, &errnum);
                if (errnum != Z_OK) /* Z_BUF_ERROR: the stream ends before its trailer */
                    return gz_fail(st, err);
                break;
            }
            done += (size_t)r;
        } else {
            ssize_t r = read(st->fd, buf + done, want);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return tct_fail(err, TC_ERR_IO, errno, "%s: read error: %s", st->path,
                                strerror(errno));
            if (r == 0)
                break;
            done += (size_t)r;
        }
    }
    *got = done;
    return TC_OK;
}

/* Reads up to n bytes; *got < n only at the end of the data. */
static int st_read(stream *st, void *buf, size_t n, size_t *got, tc_error *err)
{
    uint8_t *p = buf;
    size_t from_peek = 0;
    if (st->peek_off < st->peek_len) {
        from_peek = st->peek_len - st->peek_off;
        if (from_peek > n)
            from_peek = n;
        memcpy(p, st->peek + st->peek_off, from_peek);
        st->peek_off += from_peek;
    }
    size_t rest = 0;
    int rc = TC_OK;
    if (from_peek < n)
        rc = st_read_raw(st, p + from_peek, n - from_peek, &rest, err);
    *got = from_peek + rest;
    st->pos += *got;
    return rc;
}

/* The first bytes of the stream, without consuming them. Only valid at position 0. */
static int st_peek(stream *st, const uint8_t **data, size_t *n, tc_error *err)
{
    if (!st->peeked) {
        int rc = st_read_raw(st, st->peek, PEEK_MAX, &st->peek_len, err);
        if (rc)
            return rc;
        st->peeked = true;
        st->peek_off = 0;
    }
    *data = st->peek;
    *n = st->peek_len;
    return TC_OK;
}

static int st_rewind(stream *st, tc_error *err)
{
    if (st->gz ? gzrewind(st->gz) != 0 : lseek(st->fd, 0, SEEK_SET) != 0)
        return tct_fail(err, TC_ERR_IO, errno, "%s: cannot rewind", st->path);
    st->pos = 0;
    st->peek_len = st->peek_off = 0;
    st->peeked = false;
    return TC_OK;
}

/* Reads exactly n bytes of a header; a short read is a truncated header. */
static int st_read_header(stream *st, void *buf, size_t n, const char *what, tc_error *err)
{
    size_t got;
    int rc = st_read(st, buf, n, &got, err);
    if (rc)
        return rc;
    if (got != n)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: truncated %s (%zu of %zu bytes)",
                        st->path, what, got, n);
    return TC_OK;
}

/* Total (decompressed) size of the stream: the file size, or one pass through the gzip data;
 * leaves the stream rewound to position 0. */
static int st_total(stream *st, uint64_t *total, tc_error *err)
{
    if (!st->gz) {
        *total = st->size;
        return TC_OK;
    }
    int rc = st_rewind(st, err);
    uint8_t *buf = rc ? NULL : malloc(GZ_BUFFER);
    if (!rc && !buf)
        rc = tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    uint64_t n = 0;
    while (!rc) {
        size_t got;
        rc = st_read_raw(st, buf, GZ_BUFFER, &got, err);
        n += got;
        if (got < GZ_BUFFER)
            break;
    }
    free(buf);
    if (!rc)
        rc = st_rewind(st, err);
    *total = n;
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * per-file geometry
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    char *path;
    tcs_format forced;      /* from the spec's prefix; TCS_AUTO if none */
    tcs_format format;      /* as probed */
    bool gz;
    int dtype;              /* npy/idx/raw: element type */
    uint32_t rank;          /* npy/idx/raw: per-sample rank and shape */
    uint64_t shape[TC_MAX_RANK];
    uint64_t count;         /* samples in this file */
    uint64_t header_bytes;  /* bytes before the data in the (decompressed) stream */
    uint64_t data_bytes;    /* bytes of data the header promises */
    uint64_t record_bytes;  /* bytes per sample in the stream */
    size_t swap;            /* itemsize to byte-swap (big-endian data), or 0 */
    bool fortran;
    uint64_t total;         /* decompressed size when known, else UINT64_MAX */
} tcs_file;

struct tcs_source {
    tcs_file *files;
    uint32_t nfiles;
    tcs_options opt;
    uint32_t noutputs;
    tcs_output out[TCS_MAX_OUTPUTS];
    uint64_t count;
    char desc[64];
    /* streaming state */
    uint32_t cur;      /* file being read; nfiles when every file has been checked */
    bool open;
    stream st;
    uint64_t left;     /* samples not yet read from files[cur] */
    uint64_t next;     /* index within files[cur] of the next sample */
    uint8_t *map;      /* Fortran-order files: the whole file, mapped */
    size_t map_len;
    uint8_t *scratch;
    size_t scratch_cap;
};

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

static int idx_dtype(uint8_t type)
{
    switch (type) {
    case 0x08: return TC_DTYPE_U8;
    case 0x09: return TC_DTYPE_I8;
    case 0x0B: return TC_DTYPE_I16;
    case 0x0C: return TC_DTYPE_I32;
    case 0x0D: return TC_DTYPE_F32;
    case 0x0E: return TC_DTYPE_F64;
    default: return 0;
    }
}

static bool looks_idx(const uint8_t *m, size_t n)
{
    return n >= 4 && m[0] == 0 && m[1] == 0 && idx_dtype(m[2]) != 0 && m[3] >= 1;
}

/* Checks the data size of a plain file against what the header promises. */
static int check_plain_size(const stream *st, const tcs_file *f, tc_error *err)
{
    if (st->gz)
        return TC_OK;
    uint64_t avail = st->size - f->header_bytes; /* the header was read, so size >= it */
    if (avail < f->data_bytes)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: truncated: expected %llu bytes of data, found %llu", st->path,
                        (unsigned long long)f->data_bytes, (unsigned long long)avail);
    if (avail > f->data_bytes)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: size mismatch: expected %llu bytes of data, found %llu "
                        "(%llu trailing bytes)",
                        st->path, (unsigned long long)f->data_bytes, (unsigned long long)avail,
                        (unsigned long long)(avail - f->data_bytes));
    return TC_OK;
}

/* Sets count/record_bytes/data_bytes from a full shape (shape[0] = N). */
static int set_array_geometry(tcs_file *f, const stream *st, const uint64_t *full, uint32_t ndim,
                              const char *what, tc_error *err)
{
    if (ndim == 0)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: a 0-d %s has no sample axis (need at least 1 dimension)", st->path,
                        what);
    if (ndim - 1 > TC_MAX_RANK)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: %u-d %s: at most %d dimensions per sample are supported", st->path,
                        ndim, what, TC_MAX_RANK);
    f->count = full[0];
    f->rank = ndim - 1;
    memset(f->shape, 0, sizeof f->shape);
    for (uint32_t d = 1; d < ndim; d++)
        f->shape[d - 1] = full[d];
    size_t isz = tc_dtype_size(f->dtype);
    if (!tct_shape_bytes(f->shape, f->rank, isz, &f->record_bytes) ||
        !tct_mul(f->record_bytes, f->count, &f->data_bytes) ||
        !tct_add(f->data_bytes, f->header_bytes, &(uint64_t){0}))
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: %s size overflows 64 bits", st->path,
                        what);
    return TC_OK;
}

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

/* Parses the header dict strictly: exactly the keys descr, fortran_order and shape.
 * @return TC_OK, TCT_ERR_SOURCE_FORMAT or TCT_ERR_SOURCE_UNSUPPORTED with *why set. */
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
    for (;;) {
        lx_ws(&l);
        if (lx_is(&l, '}'))
            break;
        char key[32];
        if (!lx_string(&l, key, sizeof key)) {
            *why = "header dict: expected a string key";
            return TCT_ERR_SOURCE_FORMAT;
        }
        lx_ws(&l);
        if (!lx_is(&l, ':')) {
            *why = "header dict: expected ':'";
            return TCT_ERR_SOURCE_FORMAT;
        }
        l.i++;
        lx_ws(&l);
        int k = strcmp(key, "descr") == 0 ? 0 : strcmp(key, "fortran_order") == 0 ? 1
              : strcmp(key, "shape") == 0 ? 2 : -1;
        if (k < 0) {
            *why = "header dict: unexpected key (allowed: descr, fortran_order, shape)";
            return TCT_ERR_SOURCE_FORMAT;
        }
        if (seen[k]) {
            *why = "header dict: duplicate key";
            return TCT_ERR_SOURCE_FORMAT;
        }
        seen[k] = true;
        if (k == 0) {
            if (lx_is(&l, '[') || lx_is(&l, '{')) {
                *why = "structured dtypes (records) are not supported";
                return TCT_ERR_SOURCE_UNSUPPORTED;
            }
            if (!lx_string(&l, h->descr, sizeof h->descr)) {
                *why = "'descr' is not a valid dtype string";
                return TCT_ERR_SOURCE_FORMAT;
            }
        } else if (k == 1) {
            if (lx_word(&l, "True"))
                h->fortran = true;
            else if (lx_word(&l, "False"))
                h->fortran = false;
            else {
                *why = "'fortran_order' is not True or False";
                return TCT_ERR_SOURCE_FORMAT;
            }
        } else if (!lx_tuple(&l, h, why)) {
            return TCT_ERR_SOURCE_FORMAT;
        }
        lx_ws(&l);
        if (lx_is(&l, ',')) {
            l.i++;
            continue;
        }
        if (lx_is(&l, '}'))
            break;
        *why = "header dict: expected ',' or '}'";
        return TCT_ERR_SOURCE_FORMAT;
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

static int parse_npy(tcs_file *f, stream *st, tc_error *err)
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
    rc = set_array_geometry(f, st, h.shape, h.ndim, "array", err);
    return rc ? rc : check_plain_size(st, f, err);
}

/* ---- IDX ---- */

static int parse_idx(tcs_file *f, stream *st, tc_error *err)
{
    uint8_t m[4];
    int rc = st_read_header(st, m, 4, "IDX header", err);
    if (rc)
        return rc;
    if (m[0] != 0 || m[1] != 0 || idx_dtype(m[2]) == 0 || m[3] == 0)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: bad IDX magic %02x %02x %02x %02x (expected 00 00, a type byte "
                        "08/09/0b/0c/0d/0e and a dimension count >= 1)",
                        st->path, m[0], m[1], m[2], m[3]);
    if (m[3] > TC_MAX_RANK + 1)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: IDX file with %u dimensions: at most %d are supported", st->path,
                        m[3], TC_MAX_RANK + 1);
    uint32_t ndim = m[3];
    uint8_t dimbuf[4 * (TC_MAX_RANK + 1)];
    rc = st_read_header(st, dimbuf, 4u * ndim, "IDX header", err);
    if (rc)
        return rc;
    uint64_t full[TC_MAX_RANK + 1];
    for (uint32_t d = 0; d < ndim; d++) {
        const uint8_t *p = dimbuf + 4 * d;
        full[d] = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    }
    f->dtype = idx_dtype(m[2]);
    size_t isz = tc_dtype_size(f->dtype);
    f->swap = isz > 1 ? isz : 0;
    f->header_bytes = 4 + 4 * (uint64_t)ndim;
    rc = set_array_geometry(f, st, full, ndim, "IDX array", err);
    return rc ? rc : check_plain_size(st, f, err);
}

/* ---- CIFAR ---- */

static uint64_t cifar_record(tcs_format fmt) { return fmt == TCS_CIFAR10 ? 3073 : 3074; }

static int cifar_geometry(tcs_file *f, stream *st, tcs_format fmt, tc_error *err)
{
    if (f->total == UINT64_MAX) {
        int rc = st_total(st, &f->total, err);
        if (rc)
            return rc;
    }
    uint64_t rec = cifar_record(fmt);
    if (f->total % rec != 0)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: size %llu is not a multiple of the %llu-byte %s record", st->path,
                        (unsigned long long)f->total, (unsigned long long)rec,
                        fmt == TCS_CIFAR10 ? "CIFAR-10" : "CIFAR-100");
    f->count = f->total / rec;
    f->record_bytes = rec;
    f->data_bytes = f->total;
    f->header_bytes = 0;
    f->dtype = TC_DTYPE_U8;
    return TC_OK;
}

/* The content heuristic: a size that is a whole number of records and plausible labels in the
 * first records. @return TC_OK with *fmt set, or an error when neither or both fit. */
static int cifar_guess(tcs_file *f, stream *st, tcs_format *fmt, tc_error *err)
{
    *fmt = TCS_AUTO;
    int rc = st_total(st, &f->total, err);
    if (rc)
        return rc;
    size_t want = CIFAR_GUESS_RECORDS * 3074;
    uint8_t *buf = malloc(want);
    if (!buf)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    size_t got;
    rc = st_read(st, buf, want, &got, err);
    if (rc == TC_OK)
        rc = st_rewind(st, err);
    if (rc) {
        free(buf);
        return rc;
    }
    bool c10 = f->total > 0 && f->total % 3073 == 0;
    bool c100 = f->total > 0 && f->total % 3074 == 0;
    for (size_t k = 0; k < CIFAR_GUESS_RECORDS; k++) {
        if ((k + 1) * 3073 <= got && buf[k * 3073] >= 10)
            c10 = false;
        if ((k + 1) * 3074 <= got && (buf[k * 3074] >= 20 || buf[k * 3074 + 1] >= 100))
            c100 = false;
    }
    free(buf);
    if (c10 && c100)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: could be CIFAR-10 or CIFAR-100; say which with the prefix "
                        "cifar10: or cifar100:",
                        st->path);
    *fmt = c10 ? TCS_CIFAR10 : c100 ? TCS_CIFAR100 : TCS_AUTO;
    return TC_OK;
}

/* ---- raw ---- */

static int raw_geometry(tcs_file *f, stream *st, const tcs_options *opt, tc_error *err)
{
    if (!opt || !opt->dtype)
        return tct_fail(err, TCT_ERR_USAGE, 0,
                        "%s: a raw source needs --dtype (and --shape for non-scalar samples)",
                        st->path);
    f->dtype = opt->dtype;
    f->rank = opt->shape_set ? opt->rank : 0;
    memset(f->shape, 0, sizeof f->shape);
    for (uint32_t d = 0; d < f->rank; d++)
        f->shape[d] = opt->shape[d];
    if (!tct_shape_bytes(f->shape, f->rank, tc_dtype_size(f->dtype), &f->record_bytes))
        return tct_fail(err, TC_ERR_OVERFLOW, 0, "%s: --shape overflows 64 bits", st->path);
    if (f->record_bytes == 0)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: raw samples of 0 bytes (a 0 in --shape) cannot be counted",
                        st->path);
    if (f->total == UINT64_MAX) {
        int rc = st_total(st, &f->total, err);
        if (rc)
            return rc;
    }
    if (f->total % f->record_bytes != 0) {
        char shape[TC_MAX_RANK * 21 + 8] = "";
        size_t k = 0;
        for (uint32_t d = 0; d < f->rank; d++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%llu", d ? "," : "",
                                  (unsigned long long)f->shape[d]);
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: size %llu is not a multiple of the %llu-byte raw sample "
                        "(--dtype %s --shape '%s')",
                        st->path, (unsigned long long)f->total,
                        (unsigned long long)f->record_bytes, tc_dtype_name(f->dtype), shape);
    }
    f->count = f->total / f->record_bytes;
    f->data_bytes = f->total;
    f->header_bytes = 0;
    f->swap = 0;
    return TC_OK;
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
    if (looks_idx(m, n)) {
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
    rc = cifar_guess(f, st, fmt, err);
    if (rc || *fmt != TCS_AUTO)
        return rc;
    return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                    "%s: unrecognised content (not .npy, IDX, gzip or CIFAR); for raw arrays use "
                    "raw:FILE with --dtype and --shape",
                    st->path);
}

/* Reads the header of f (stream at position 0) and leaves the stream at the first data byte. */
static int probe(tcs_file *f, stream *st, const tcs_options *opt, tc_error *err)
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
    case TCS_NPY: return parse_npy(f, st, err);
    case TCS_IDX: return parse_idx(f, st, err);
    case TCS_CIFAR10:
    case TCS_CIFAR100: return cifar_geometry(f, st, fmt, err);
    case TCS_RAW: return raw_geometry(f, st, opt, err);
    default: return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0, "%s: unknown format", st->path);
    }
}

/* ---------------------------------------------------------------------------------------------
 * sources
 * ------------------------------------------------------------------------------------------- */

static const char *format_name(tcs_format f)
{
    switch (f) {
    case TCS_NPY: return "npy";
    case TCS_IDX: return "idx";
    case TCS_CIFAR10: return "cifar10";
    case TCS_CIFAR100: return "cifar100";
    case TCS_RAW: return "raw";
    default: return "auto";
    }
}

/* Strips a known "PREFIX:" from *p. @return the format it names, or TCS_AUTO. */
static tcs_format take_prefix(const char **p)
{
    static const struct {
        const char *prefix;
        tcs_format fmt;
    } prefixes[] = {{"npy:", TCS_NPY},         {"idx:", TCS_IDX}, {"cifar10:", TCS_CIFAR10},
                    {"cifar100:", TCS_CIFAR100}, {"raw:", TCS_RAW}};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t l = strlen(prefixes[i].prefix);
        if (strncmp(*p, prefixes[i].prefix, l) == 0) {
            *p += l;
            return prefixes[i].fmt;
        }
    }
    return TCS_AUTO;
}

static int add_file(tcs_source *s, const char *path, size_t len, tcs_format fmt, tc_error *err)
{
    if (len == 0)
        return tct_fail(err, TCT_ERR_USAGE, 0, "empty file name in source list");
    tcs_file *files = realloc(s->files, (s->nfiles + 1) * sizeof *files);
    if (!files)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    s->files = files;
    tcs_file *f = &files[s->nfiles];
    *f = (tcs_file){.forced = fmt, .total = UINT64_MAX};
    f->path = strndup(path, len);
    if (!f->path)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    s->nfiles++;
    return TC_OK;
}

static int parse_spec(tcs_source *s, const char *spec, tc_error *err)
{
    const char *p = spec;
    tcs_format fmt = take_prefix(&p);
    struct stat sb;
    if (!strchr(p, ',') || stat(p, &sb) == 0)
        return add_file(s, p, strlen(p), fmt, err);
    for (;;) {
        tcs_format own = take_prefix(&p);
        if (own != TCS_AUTO)
            fmt = own;
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int rc = add_file(s, p, len, fmt, err);
        if (rc || !comma)
            return rc;
        p = comma + 1;
    }
}

static void set_outputs(tcs_source *s)
{
    const tcs_file *f = &s->files[0];
    memset(s->out, 0, sizeof s->out);
    if (f->format == TCS_CIFAR10 || f->format == TCS_CIFAR100) {
        tcs_output *img = &s->out[0];
        *img = (tcs_output){.suffix = "", .dtype = TC_DTYPE_U8, .rank = 3,
                            .shape = {CIFAR_SIDE, CIFAR_SIDE, 3}, .sample_bytes = CIFAR_PIXELS,
                            .layout = "NHWC", .conversion = "NCHW->NHWC"};
        static const char *const names10[] = {"_label"};
        static const char *const names100[] = {"_coarse_label", "_fine_label"};
        uint32_t nl = f->format == TCS_CIFAR10 ? 1 : 2;
        for (uint32_t k = 0; k < nl; k++)
            s->out[1 + k] = (tcs_output){
                .suffix = nl == 1 ? names10[k] : names100[k], .dtype = TC_DTYPE_U8, .rank = 0,
                .sample_bytes = 1, .layout = ""};
        s->noutputs = 1 + nl;
    } else {
        tcs_output *o = &s->out[0];
        *o = (tcs_output){.suffix = "", .dtype = f->dtype, .rank = f->rank,
                          .sample_bytes = f->record_bytes, .layout = ""};
        memcpy(o->shape, f->shape, sizeof o->shape);
        s->noutputs = 1;
    }
    snprintf(s->desc, sizeof s->desc, "%s%s%s%s", format_name(f->format), f->gz ? "+gzip" : "",
             f->swap ? " (big-endian)" : "", f->fortran ? " (Fortran order)" : "");
}

static void shape_str(char *buf, size_t cap, const uint64_t *shape, uint32_t rank)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (uint32_t d = 0; d < rank && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%llu", d ? ", " : "",
                              (unsigned long long)shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, ")");
}

/* Files after the first must deliver the same outputs. */
static int check_same_geometry(const tcs_file *a, const tcs_file *b, tc_error *err)
{
    bool cifar_a = a->format == TCS_CIFAR10 || a->format == TCS_CIFAR100;
    bool cifar_b = b->format == TCS_CIFAR10 || b->format == TCS_CIFAR100;
    bool same = cifar_a || cifar_b ? a->format == b->format
                                   : a->dtype == b->dtype && a->rank == b->rank &&
                                         memcmp(a->shape, b->shape, sizeof a->shape) == 0;
    if (same)
        return TC_OK;
    char sa[200], sb[200];
    shape_str(sa, sizeof sa, a->shape, a->rank);
    shape_str(sb, sizeof sb, b->shape, b->rank);
    return tct_fail(err, TC_ERR_SAMPLE_MISMATCH, 0,
                    "%s: samples are %s %s %s, but %s has %s %s %s; files concatenated into "
                    "one field must agree",
                    b->path, format_name(b->format), tc_dtype_name(b->dtype), sb, a->path,
                    format_name(a->format), tc_dtype_name(a->dtype), sa);
}

int tcs_open(tcs_source **out, const char *spec, const tcs_options *opt, tc_error *err)
{
    *out = NULL;
    tcs_source *s = calloc(1, sizeof *s);
    if (!s)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    s->st.fd = -1;
    if (opt)
        s->opt = *opt;
    int rc = parse_spec(s, spec, err);
    for (uint32_t i = 0; rc == TC_OK && i < s->nfiles; i++) {
        tcs_file *f = &s->files[i];
        stream st;
        rc = st_open(&st, f->path, err);
        if (rc)
            break;
        rc = probe(f, &st, &s->opt, err);
        st_close(&st);
        if (rc == TC_OK && i > 0)
            rc = check_same_geometry(&s->files[0], f, err);
        if (rc == TC_OK && !tct_add(s->count, f->count, &s->count))
            rc = tct_fail(err, TC_ERR_OVERFLOW, 0, "%s: sample count overflows", f->path);
    }
    if (rc) {
        tcs_close(s);
        return rc;
    }
    set_outputs(s);
    *out = s;
    return TC_OK;
}

static void unmap_file(tcs_source *s)
{
    if (s->map)
        munmap(s->map, s->map_len);
    s->map = NULL;
    s->map_len = 0;
}

void tcs_close(tcs_source *s)
{
    if (!s)
        return;
    if (s->open)
        st_close(&s->st);
    unmap_file(s);
    for (uint32_t i = 0; i < s->nfiles; i++)
        free(s->files[i].path);
    free(s->files);
    free(s->scratch);
    free(s);
}

uint64_t tcs_count(const tcs_source *s) { return s->count; }
uint32_t tcs_num_outputs(const tcs_source *s) { return s->noutputs; }
const tcs_output *tcs_output_info(const tcs_source *s, uint32_t k)
{
    return k < s->noutputs ? &s->out[k] : NULL;
}
uint32_t tcs_num_files(const tcs_source *s) { return s->nfiles; }
const char *tcs_file_path(const tcs_source *s, uint32_t i)
{
    return i < s->nfiles ? s->files[i].path : NULL;
}
const char *tcs_format_desc(const tcs_source *s) { return s->desc; }

uint64_t tcs_chunk_samples(uint64_t total_sample_bytes)
{
    if (total_sample_bytes == 0)
        return CHUNK_MAX_SAMPLES;
    uint64_t n = CHUNK_BYTES / total_sample_bytes;
    return n < 1 ? 1 : n > CHUNK_MAX_SAMPLES ? CHUNK_MAX_SAMPLES : n;
}

/* ---- streaming ---- */

/* Opens files[cur] for reading and checks it still has the geometry tcs_open() saw. */
static int file_begin(tcs_source *s, tc_error *err)
{
    tcs_file *f = &s->files[s->cur];
    tcs_file again = *f;
    again.forced = f->format;
    int rc = st_open(&s->st, f->path, err);
    if (rc)
        return rc;
    s->open = true;
    rc = probe(&again, &s->st, &s->opt, err);
    if (rc)
        return rc;
    if (again.count != f->count || again.dtype != f->dtype || again.rank != f->rank ||
        memcmp(again.shape, f->shape, sizeof f->shape) != 0 ||
        again.header_bytes != f->header_bytes || again.gz != f->gz)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: file changed while being read",
                        f->path);
    s->left = f->count;
    s->next = 0;
    if (f->fortran && f->data_bytes > 0) {
        uint64_t len = f->header_bytes + f->data_bytes;
        if (len > SIZE_MAX)
            return tct_fail(err, TC_ERR_OVERFLOW, 0, "%s: too large to map", f->path);
        void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, s->st.fd, 0);
        if (p == MAP_FAILED)
            return tct_fail(err, TC_ERR_IO, errno, "%s: cannot map the Fortran-order array: %s",
                            f->path, strerror(errno));
        s->map = p;
        s->map_len = (size_t)len;
    }
    return TC_OK;
}

/* Checks that nothing follows the data (and that a gzip trailer is intact), closes the file. */
static int file_end(tcs_source *s, tc_error *err)
{
    tcs_file *f = &s->files[s->cur];
    int rc = TC_OK;
    if (!f->fortran || f->data_bytes == 0) {
        uint8_t extra[64];
        size_t got;
        rc = st_read(&s->st, extra, sizeof extra, &got, err);
        if (rc == TC_OK && got)
            rc = tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                          "%s: size mismatch: trailing bytes after the %llu bytes of data",
                          f->path, (unsigned long long)f->data_bytes);
    }
    unmap_file(s);
    st_close(&s->st);
    s->open = false;
    s->cur++;
    return rc;
}

static void byteswap(uint8_t *p, uint64_t nbytes, size_t isz)
{
    for (uint64_t i = 0; i + isz <= nbytes; i += isz)
        for (size_t a = 0, b = isz - 1; a < b; a++, b--) {
            uint8_t t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

/* Gathers samples [n0, n0+m) of an F-order array (N, d0..d_{r-1}) into C-order samples.
 * In F order the sample axis varies fastest, so for each per-sample element the m wanted
 * values are contiguous in the file: one sequential run per element. */
static void fortran_gather(uint8_t *dst, const uint8_t *base, const tcs_file *f, uint64_t n0,
                           uint64_t m)
{
    size_t isz = tc_dtype_size(f->dtype);
    uint64_t elems = f->record_bytes / isz, N = f->count;
    uint64_t idx[TC_MAX_RANK] = {0}, cstride[TC_MAX_RANK];
    for (uint32_t d = f->rank; d-- > 0;)
        cstride[d] = d + 1 == f->rank ? 1 : cstride[d + 1] * f->shape[d + 1];
    uint64_t c = 0; /* C-order position of the element with F-order position e */
    for (uint64_t e = 0; e < elems; e++) {
        const uint8_t *src = base + (n0 + N * e) * isz;
        uint8_t *out = dst + c * isz;
        for (uint64_t j = 0; j < m; j++)
            memcpy(out + j * f->record_bytes, src + j * isz, isz);
        for (uint32_t d = 0; d < f->rank; d++) {
            idx[d]++;
            c += cstride[d];
            if (idx[d] < f->shape[d])
                break;
            c -= idx[d] * cstride[d];
            idx[d] = 0;
        }
    }
}

static int ensure_scratch(tcs_source *s, size_t n, tc_error *err)
{
    if (n <= s->scratch_cap)
        return TC_OK;
    uint8_t *p = realloc(s->scratch, n);
    if (!p)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    s->scratch = p;
    s->scratch_cap = n;
    return TC_OK;
}

static int read_data(tcs_source *s, tcs_file *f, void *buf, uint64_t nbytes, tc_error *err)
{
    if (nbytes > SIZE_MAX)
        return tct_fail(err, TC_ERR_OVERFLOW, 0, "%s: read too large", f->path);
    size_t got;
    uint64_t before = s->st.pos - f->header_bytes;
    int rc = st_read(&s->st, buf, (size_t)nbytes, &got, err);
    if (rc)
        return rc;
    if (got != nbytes)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: truncated: expected %llu bytes of data, found %llu", f->path,
                        (unsigned long long)f->data_bytes, (unsigned long long)(before + got));
    return TC_OK;
}

static int read_cifar(tcs_source *s, tcs_file *f, uint64_t m, void *const dst[], uint64_t off,
                      tc_error *err)
{
    uint32_t nl = f->format == TCS_CIFAR10 ? 1 : 2;
    uint32_t limits[2] = {nl == 1 ? 10 : 20, 100};
    int rc = ensure_scratch(s, CIFAR_SUBCHUNK * f->record_bytes, err);
    for (uint64_t done = 0; rc == TC_OK && done < m;) {
        uint64_t k = m - done < CIFAR_SUBCHUNK ? m - done : CIFAR_SUBCHUNK;
        rc = read_data(s, f, s->scratch, k * f->record_bytes, err);
        for (uint64_t j = 0; rc == TC_OK && j < k; j++) {
            const uint8_t *rec = s->scratch + j * f->record_bytes;
            uint64_t i = off + done + j;
            for (uint32_t l = 0; l < nl; l++) {
                if (rec[l] >= limits[l])
                    return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                                    "%s: record %llu: %slabel %u out of range 0..%u (is this "
                                    "really a %s batch?)",
                                    f->path, (unsigned long long)(s->next + done + j),
                                    nl == 1 ? "" : l == 0 ? "coarse " : "fine ", rec[l],
                                    limits[l] - 1, nl == 1 ? "CIFAR-10" : "CIFAR-100");
                ((uint8_t *)dst[1 + l])[i] = rec[l];
            }
            tcs_hwc_from_chw((uint8_t *)dst[0] + i * CIFAR_PIXELS, rec + nl, 1, 3, CIFAR_SIDE,
                             CIFAR_SIDE, 1);
        }
        done += k;
    }
    return rc;
}

/* Reads m samples of files[cur] to position `off` of the outputs. */
static int read_samples(tcs_source *s, uint64_t m, void *const dst[], uint64_t off,
                        tc_error *err)
{
    tcs_file *f = &s->files[s->cur];
    if (f->format == TCS_CIFAR10 || f->format == TCS_CIFAR100)
        return read_cifar(s, f, m, dst, off, err);
    uint8_t *out = (uint8_t *)dst[0] + off * f->record_bytes;
    uint64_t nbytes = m * f->record_bytes; /* <= data_bytes: no overflow */
    if (f->fortran) {
        if (nbytes)
            fortran_gather(out, s->map + f->header_bytes, f, s->next, m);
    } else {
        int rc = read_data(s, f, out, nbytes, err);
        if (rc)
            return rc;
    }
    if (f->swap)
        byteswap(out, nbytes, f->swap);
    return TC_OK;
}

int tcs_read(tcs_source *s, uint64_t max, void *const dst[], uint64_t *got, tc_error *err)
{
    *got = 0;
    int rc = TC_OK;
    while (rc == TC_OK && *got < max && s->cur < s->nfiles) {
        if (!s->open) {
            rc = file_begin(s, err);
            continue;
        }
        if (s->left == 0) {
            rc = file_end(s, err);
            continue;
        }
        uint64_t m = max - *got < s->left ? max - *got : s->left;
        rc = read_samples(s, m, dst, *got, err);
        if (rc)
            break;
        *got += m;
        s->left -= m;
        s->next += m;
        if (s->left == 0)
            rc = file_end(s, err); /* report a bad file end as early as possible */
    }
    return rc;
}

int tcs_finish(tcs_source *s, tc_error *err)
{
    int rc = TC_OK;
    while (rc == TC_OK && s->cur < s->nfiles) {
        if (!s->open) {
            rc = file_begin(s, err);
            continue;
        }
        if (s->left != 0)
            return tct_fail(err, TC_ERR_STATE, 0, "%s: %llu samples were not read",
                            s->files[s->cur].path, (unsigned long long)s->left);
        rc = file_end(s, err);
    }
    return rc;
}

void tcs_hwc_from_chw(void *dst, const void *src, uint64_t n, uint64_t c, uint64_t h, uint64_t w,
                      size_t itemsize)
{
    uint8_t *d = dst;
    const uint8_t *sp = src;
    uint64_t plane = h * w, sample = plane * c;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *in = sp + i * sample * itemsize;
        uint8_t *o = d + i * sample * itemsize;
        if (itemsize == 1) {
            for (uint64_t p = 0; p < plane; p++)
                for (uint64_t ch = 0; ch < c; ch++)
                    o[p * c + ch] = in[ch * plane + p];
        } else {
            for (uint64_t p = 0; p < plane; p++)
                for (uint64_t ch = 0; ch < c; ch++)
                    memcpy(o + (p * c + ch) * itemsize, in + (ch * plane + p) * itemsize,
                           itemsize);
        }
    }
}
