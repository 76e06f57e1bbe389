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

static int gz_fail(const stream *st, tc_error *err)
{
    int errnum = Z_OK;
    const char *msg = gzerror(st->gz, &errnum);
    if (errnum == Z_ERRNO)
        return tct_fail(err, TC_ERR_IO, errno, "%s: read error", st->path);
    if (errnum == Z_MEM_ERROR)
        return tct_fail(err, TC_ERR_NOMEM, 0, "%s: out of memory in zlib", st->path);
    /* zlib prefixes its message with the descriptor name ("<fd:3>: "): drop that. */
    if (msg && strncmp(msg, "<fd:", 4) == 0 && strstr(msg, ": "))
        msg = strstr(msg, ": ") + 2;
    return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: corrupt or truncated gzip data: %s",
                    st->path, msg && *msg ? msg : "unknown zlib error");
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
        st->gz = gzdopen(st->fd, "rb");
        if (!st->gz) {
            close(st->fd);
            return tct_fail(err, TC_ERR_NOMEM, 0, "%s: cannot start zlib", path);
        }
        gzbuffer(st->gz, GZ_BUFFER);
    }
    return TC_OK;
}

void st_close(stream *st)
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
    if (st->gz ? gzrewind(st->gz) != 0 : lseek(st->fd, 0, SEEK_SET) != 0)
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
