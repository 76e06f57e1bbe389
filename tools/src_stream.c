/* src_stream.c - plain and gzip streams with a peek buffer, and the size checks every
 * array format (npy, IDX) shares. */
#include "sources_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GZ_BUFFER (256u << 10)
#define READ_MAX (1u << 30)

/* A gzip file is one or more complete gzip members and nothing else: a cut member and bytes
 * after the last one (which zlib's gzread would silently ignore) are both SOURCE_FORMAT. */
struct gz_decoder {
    z_stream zs;
    uint8_t in[GZ_BUFFER];
    bool member_end; /* the last member ended: only another member or the file's end may follow */
    bool eof;        /* the file ended right after a member */
};

static int gz_corrupt(const stream *st, const char *why, tc_error *err)
{
    return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: corrupt or truncated gzip data: %s",
                    st->path, why);
}

static int gz_start(stream *st, tc_error *err)
{
    st->gz = calloc(1, sizeof *st->gz);
    if (!st->gz || inflateInit2(&st->gz->zs, 16 + MAX_WBITS) != Z_OK) {
        free(st->gz);
        st->gz = NULL;
        return tct_fail(err, TC_ERR_NOMEM, 0, "%s: cannot start zlib", st->path);
    }
    return TC_OK;
}

static void gz_end(stream *st)
{
    inflateEnd(&st->gz->zs);
    free(st->gz);
    st->gz = NULL;
}

/* Refills the decoder's input; *more = false at the end of the file. */
static int gz_fill(stream *st, bool *more, tc_error *err)
{
    gz_decoder *g = st->gz;
    ssize_t r;
    do
        r = read(st->fd, g->in, sizeof g->in);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return tct_fail(err, TC_ERR_IO, errno, "%s: read error: %s", st->path, strerror(errno));
    g->zs.next_in = g->in;
    g->zs.avail_in = (uInt)r;
    *more = r > 0;
    return TC_OK;
}

/* Decodes up to n bytes into buf; *got < n only at the end of the last member. */
static int gz_read(stream *st, uint8_t *buf, size_t n, size_t *got, tc_error *err)
{
    gz_decoder *g = st->gz;
    g->zs.next_out = buf;
    g->zs.avail_out = (uInt)n; /* n <= READ_MAX < 4 GiB */
    int rc = TC_OK;
    while (rc == TC_OK && g->zs.avail_out > 0 && !g->eof) {
        bool more = true;
        if (g->zs.avail_in == 0 && (rc = gz_fill(st, &more, err)) != TC_OK)
            break;
        if (!more) {
            if (g->member_end)
                g->eof = true;
            else
                rc = gz_corrupt(st, "unexpected end of file", err);
            break;
        }
        if (g->member_end) { /* bytes after a member: another member, or trailing garbage */
            if (g->zs.next_in[0] != 0x1f)
                rc = gz_corrupt(st, "trailing data after the end of the gzip stream", err);
            else if (inflateReset(&g->zs) != Z_OK)
                rc = gz_corrupt(st, "cannot restart zlib", err);
            g->member_end = false;
            continue;
        }
        int z = inflate(&g->zs, Z_NO_FLUSH);
        if (z == Z_STREAM_END)
            g->member_end = true;
        else if (z == Z_MEM_ERROR)
            rc = tct_fail(err, TC_ERR_NOMEM, 0, "%s: out of memory in zlib", st->path);
        else if (z != Z_OK && z != Z_BUF_ERROR)
            rc = gz_corrupt(st, g->zs.msg ? g->zs.msg : "invalid data", err);
    }
    *got = n - g->zs.avail_out;
    return rc;
}

static int gz_rewind(stream *st)
{
    gz_decoder *g = st->gz;
    if (lseek(st->fd, 0, SEEK_SET) != 0 || inflateReset(&g->zs) != Z_OK)
        return -1;
    g->zs.avail_in = 0;
    g->member_end = g->eof = false;
    return 0;
}

int st_open(stream *st, const char *path, tc_error *err)
{
    *st = (stream){.path = path, .fd = -1};
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (st->fd < 0)
        return tct_fail(err, TC_ERR_IO, errno, "%s: cannot open", path);
    struct stat sb;
    if (fstat(st->fd, &sb) != 0) {
        int e = errno;
        close(st->fd);
        return tct_fail(err, TC_ERR_IO, e, "%s: cannot stat", path);
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
        return tct_fail(err, TC_ERR_IO, e, "%s: read error", path);
    }
    if (r == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        int rc = gz_start(st, err);
        if (rc) {
            close(st->fd);
            return rc;
        }
    }
    return TC_OK;
}

void st_close(stream *st)
{
    if (st->gz)
        gz_end(st);
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
}

/* Reads up to n bytes from the file itself (below the peek buffer); short only at the end. */
static int st_read_raw(stream *st, uint8_t *buf, size_t n, size_t *got, tc_error *err)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < READ_MAX ? n - done : READ_MAX;
        if (st->gz) {
            size_t r;
            int rc = gz_read(st, buf + done, want, &r, err);
            if (rc)
                return rc;
            done += r;
            if (r < want)
                break;
        } else {
            ssize_t r = read(st->fd, buf + done, want);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return tct_fail(err, TC_ERR_IO, errno, "%s: read error", st->path);
            if (r == 0)
                break;
            done += (size_t)r;
        }
    }
    *got = done;
    return TC_OK;
}

/* Reads up to n bytes; *got < n only at the end of the data. */
int st_read(stream *st, void *buf, size_t n, size_t *got, tc_error *err)
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
int st_peek(stream *st, const uint8_t **data, size_t *n, tc_error *err)
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

int st_rewind(stream *st, tc_error *err)
{
    if (st->gz ? gz_rewind(st) != 0 : lseek(st->fd, 0, SEEK_SET) != 0)
        return tct_fail(err, TC_ERR_IO, errno, "%s: cannot rewind", st->path);
    st->pos = 0;
    st->peek_len = st->peek_off = 0;
    st->peeked = false;
    return TC_OK;
}

/* Reads exactly n bytes of a header; a short read is a truncated header. */
int st_read_header(stream *st, void *buf, size_t n, const char *what, tc_error *err)
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
int st_total(stream *st, uint64_t *total, tc_error *err)
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


/* Checks the data size of a plain file against what the header promises. */
int tcs_check_plain_size(const stream *st, const tcs_file *f, tc_error *err)
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
int tcs_set_array_geometry(tcs_file *f, const stream *st, const uint64_t *full, uint32_t ndim,
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
    if (tc_shape_bytes(f->shape, f->rank, isz, &f->record_bytes, NULL) != TC_OK ||
        !tct_mul(f->record_bytes, f->count, &f->data_bytes) ||
        !tct_add(f->data_bytes, f->header_bytes, &(uint64_t){0}))
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: %s size overflows 64 bits", st->path,
                        what);
    return TC_OK;
}
