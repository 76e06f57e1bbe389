/* writer.c - the streaming writer.
 *
 * Memory does not grow with N: every field's bytes stream out through a small buffer as they are
 * appended. Because N is not known in advance and each fixed-shape field must end up as ONE
 * contiguous region, only one field can be written in place; the writer streams the field with
 * the largest samples straight into the output file (at offset 4096) and the others into
 * unnamed spill files, which finish() appends with copy_file_range (in-kernel, no user copy).
 *
 * Publishing is atomic and follows the output policy of output.c (which file may be replaced,
 * which never): the output is an unnamed O_TMPFILE in the target's directory (a hidden named
 * temporary where O_TMPFILE is unsupported) until finish() has written it; then output.c fsyncs
 * it, gives it a temporary name, renames it onto the target, and fsyncs the directory. A crash
 * before that leaves nothing behind; a crash between naming and renaming leaves a
 * `.NAME.tctmp.PID.*` file that the next writer to the same target removes. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define TC_DIRECT_BUF (1u << 20)
#define TC_SPILL_BUF (64u << 10)
#define TC_DEFAULT_BLOCK_BYTES (256u << 10)

/* A buffered, hashed output stream: a field's data or index region. */
typedef struct {
    int fd;
    uint64_t base;    /* file offset where the stream starts */
    uint64_t flushed; /* bytes written to the file */
    uint8_t *buf;
    size_t cap, len;
    XXH3_state_t *hash;
} tc_ostream;

typedef struct {
    tc_field_entry e;
    tc_ostream data, index;
    bool direct;      /* data streams straight into the output file */
    uint8_t *block;   /* lz4: raw samples of the block being filled */
    uint64_t block_fill;
    char *cbuf;       /* lz4: compressed block */
    int cbound;
} tc_wfield;

enum { W_DECLARING, W_APPENDING, W_FAILED };

struct tc_writer {
    tc_output *out; /* where the cache goes (output.c) */
    int fd;         /* its temporary */
    tc_wfield *fields;
    uint32_t nfields;
    uint8_t *meta;
    size_t meta_size;
    uint64_t count, bytes;
    int state;
    tc_error failure; /* why the writer is W_FAILED */
};

/* ---- low-level I/O ---- */

static int pwrite_full(int fd, const void *p, size_t n, uint64_t off, tc_error *err)
{
    const uint8_t *q = p;
    while (n) {
        ssize_t r = pwrite(fd, q, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return tc__fail(err, tc__write_errcode(e), e, "write of %zu bytes at offset %llu failed",
                            n, (unsigned long long)off);
        }
        q += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return TC_OK;
}

static int os_init(tc_ostream *s, int fd, uint64_t base, size_t cap, tc_error *err)
{
    s->fd = fd;
    s->base = base;
    s->cap = cap;
    s->buf = malloc(cap);
    s->hash = XXH3_createState();
    if (!s->buf || !s->hash)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory for write buffers");
    XXH3_64bits_reset(s->hash);
    return TC_OK;
}

static void os_free(tc_ostream *s)
{
    free(s->buf);
    XXH3_freeState(s->hash);
    if (s->fd >= 0)
        close(s->fd);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

static uint64_t os_size(const tc_ostream *s) { return s->flushed + s->len; }

static int os_flush(tc_ostream *s, tc_error *err)
{
    int rc = pwrite_full(s->fd, s->buf, s->len, s->base + s->flushed, err);
    if (rc == TC_OK)
        s->flushed += s->len, s->len = 0;
    return rc;
}

static int os_write(tc_ostream *s, const void *p, size_t n, tc_error *err)
{
    if (n == 0)
        return TC_OK;
    XXH3_64bits_update(s->hash, p, n);
    if (s->len + n > s->cap) {
        int rc = os_flush(s, err);
        if (rc)
            return rc;
        if (n >= s->cap) { /* large writes bypass the buffer */
            rc = pwrite_full(s->fd, p, n, s->base + s->flushed, err);
            if (rc == TC_OK)
                s->flushed += n;
            return rc;
        }
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return TC_OK;
}

static int os_zeros(tc_ostream *s, uint64_t n, tc_error *err)
{
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        int rc = os_write(s, zeros, k, err);
        if (rc)
            return rc;
        n -= k;
    }
    return TC_OK;
}

/* ---- create / declare ---- */

static int new_writer(tc_writer **out, tc_writer **w, tc_error *err)
{
    if (!out)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_writer_create: NULL argument");
    *out = NULL;
    *w = calloc(1, sizeof **w);
    if (!*w)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    (*w)->fd = -1;
    return TC_OK;
}

/* Hands out w once its output is open, or frees it. */
static int writer_ready(tc_writer **out, tc_writer *w, int rc)
{
    if (rc) {
        tc_writer_abort(w);
        return rc;
    }
    w->fd = tc_output_fd(w->out);
    *out = w;
    return TC_OK;
}

int tc_writer_create_ex(tc_writer **out, const char *path, unsigned flags,
                        const char *const *inputs, size_t ninputs, tc_error *err)
{
    tc_writer *w;
    int rc = new_writer(out, &w, err);
    return rc ? rc
              : writer_ready(out, w, tc_output_open(&w->out, path, flags, inputs, ninputs, err));
}

int tc_writer_create(tc_writer **out, const char *path, tc_error *err)
{
    return tc_writer_create_ex(out, path, TC_WRITE_OVERWRITE, NULL, 0, err);
}

int tc_writer_create_on(tc_writer **out, tc_output *o, tc_error *err)
{
    tc_writer *w;
    int rc = o ? TC_OK : tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_writer_create_on: NULL output");
    if (rc == TC_OK)
        rc = new_writer(out, &w, err);
    if (rc) {
        tc_output_abort(o);
        return rc;
    }
    w->out = o;
    return writer_ready(out, w, TC_OK);
}

static int check_spec(const tc_writer *w, const tc_field_spec *s, tc_error *err)
{
    size_t len = s->name ? strlen(s->name) : 0;
    if (len < 1 || len > TC_MAX_NAME || !tc__utf8_valid((const uint8_t *)s->name, len))
        return tc__fail(err, TC_ERR_NAME, 0, "field name must be 1..%d bytes of valid UTF-8",
                        TC_MAX_NAME);
    for (uint32_t k = 0; k < w->nfields; k++)
        if (strcmp(w->fields[k].e.name, s->name) == 0)
            return tc__fail(err, TC_ERR_DUPLICATE_NAME, 0, "field '%s' is declared twice", s->name);
    if (tc_dtype_size(s->dtype) == 0)
        return tc__fail(err, TC_ERR_DTYPE, 0, "field '%s': unknown dtype %d", s->name, s->dtype);
    if (s->rank > TC_MAX_RANK)
        return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': rank %u exceeds %d", s->name, s->rank,
                        TC_MAX_RANK);
    const char *lay = s->layout ? s->layout : "";
    if (strlen(lay) > TC_MAX_LAYOUT || tc__check_layout_tag(lay, strlen(lay), s->rank))
        return tc__fail(err, TC_ERR_LAYOUT, 0,
                        "field '%s': layout '%s' must be empty or %u letters A-Z", s->name, lay,
                        s->rank + 1);
    if (s->codec != TC_CODEC_NONE && s->codec != TC_CODEC_LZ4)
        return tc__fail(err, TC_ERR_CODEC, 0, "field '%s': unknown codec %d", s->name, s->codec);
    if (s->align > 1 && (s->align & (s->align - 1)))
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "field '%s': align %llu is not a power of two",
                        s->name, (unsigned long long)s->align);
    if (s->align > (1u << 30))
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "field '%s': align exceeds 1 GiB", s->name);
    return TC_OK;
}

/* Fills the derived parts of a declared field's entry. */
static int derive_entry(tc_field_entry *e, const tc_field_spec *s, tc_error *err)
{
    bool variable = false;
    for (uint32_t d = 0; d < e->rank; d++)
        variable |= e->shape[d] == TC_DIM_VARIABLE;
    e->kind = variable ? TC_KIND_VARIABLE : TC_KIND_FIXED;
    if (variable && e->codec != TC_CODEC_NONE)
        return tc__fail(err, TC_ERR_CODEC, 0, "field '%s': LZ4 is only for fixed-shape fields",
                        e->name);
    if (variable) {
        e->entry_size = 16 + 8ull * e->rank;
        return TC_OK;
    }
    if (tc_shape_bytes(e->shape, e->rank, e->itemsize, &e->sample_bytes, NULL) != TC_OK)
        return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s': sample size overflows 64 bits",
                        e->name);
    if (e->codec == TC_CODEC_LZ4) {
        if (e->sample_bytes > TC_LZ4_MAX_RAW)
            return tc__fail(err, TC_ERR_CODEC, 0, "field '%s': samples over %u bytes cannot be "
                            "LZ4-compressed", e->name, TC_LZ4_MAX_RAW);
        uint64_t target = s->block_bytes ? s->block_bytes : TC_DEFAULT_BLOCK_BYTES;
        if (target > TC_LZ4_MAX_RAW)
            target = TC_LZ4_MAX_RAW;
        e->block_samples = e->sample_bytes ? target / e->sample_bytes : target;
        if (e->block_samples == 0)
            e->block_samples = 1;
        e->entry_size = TC_LZ4_ENTRY_SIZE;
        return TC_OK;
    }
    uint64_t a = s->align > 1 ? s->align : 1;
    if (e->sample_bytes > UINT64_MAX - a)
        return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s': stride overflows", e->name);
    e->stride = tc_align_up(e->sample_bytes, a);
    return TC_OK;
}

/* Prefixes err's message with the target path, so that "no space left" says for what. */
static void name_target(const tc_writer *w, tc_error *err)
{
    if (!err || !w->out)
        return;
    char msg[sizeof err->message];
    int n = snprintf(msg, sizeof msg, "%.240s: ", tc__output_name(w->out));
    if (n > 0 && (size_t)n < sizeof msg) {
        size_t room = sizeof msg - (size_t)n - 1, len = strnlen(err->message, room);
        memcpy(msg + n, err->message, len); /* truncation is fine: the detail comes last */
        msg[(size_t)n + len] = '\0';
        memcpy(err->message, msg, sizeof msg);
    }
}

static int fail_writer(tc_writer *w, tc_error *err, int rc)
{
    name_target(w, err);
    /* Poisoned: a caller who ignores an append error must not publish a dataset that silently
     * lacks a sample, so finish() reports this error and publishes nothing. */
    w->state = W_FAILED;
    if (err)
        w->failure = *err;
    else
        w->failure = (tc_error){.code = rc, .message = "an earlier call failed"};
    return rc;
}

int tc_writer_add_field(tc_writer *w, const tc_field_spec *s, tc_error *err)
{
    if (!w || !s)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_writer_add_field: NULL argument");
    if (w->state != W_DECLARING)
        return tc__fail(err, TC_ERR_STATE, 0, "fields must be declared before the first append");
    if (w->nfields >= TC_MAX_FIELDS)
        return tc__fail(err, TC_ERR_FIELD_COUNT, 0, "more than %d fields", TC_MAX_FIELDS);
    int rc = check_spec(w, s, err);
    if (rc)
        return rc;
    tc_wfield *nf = realloc(w->fields, (w->nfields + 1) * sizeof *nf);
    if (!nf)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    w->fields = nf;
    tc_wfield *f = &nf[w->nfields];
    memset(f, 0, sizeof *f);
    f->data.fd = f->index.fd = -1;
    tc_field_entry *e = &f->e;
    e->name_len = (uint32_t)strlen(s->name);
    memcpy(e->name, s->name, e->name_len);
    e->dtype = (uint8_t)s->dtype;
    e->itemsize = tc_dtype_size(s->dtype);
    e->rank = (uint8_t)s->rank;
    memcpy(e->shape, s->shape, s->rank * sizeof s->shape[0]);
    e->codec = (uint8_t)s->codec;
    if (s->layout)
        memcpy(e->layout, s->layout, strlen(s->layout));
    if ((rc = derive_entry(e, s, err)))
        return rc;
    w->nfields++;
    return TC_OK;
}

int tc_writer_set_metadata(tc_writer *w, const void *data, size_t size, tc_error *err)
{
    if (!w || (!data && size))
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_writer_set_metadata: NULL argument");
    if (w->state == W_FAILED)
        return tc__fail(err, TC_ERR_STATE, 0, "the writer has failed: %s", w->failure.message);
    if (size > TC_MAX_METADATA)
        return tc__fail(err, TC_ERR_METADATA, 0, "metadata of %zu bytes exceeds the %u-byte limit",
                        size, TC_MAX_METADATA);
    if (!tc__utf8_valid(data, size))
        return tc__fail(err, TC_ERR_METADATA, 0, "metadata is not valid UTF-8");
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    if (size)
        memcpy(copy, data, size);
    free(w->meta);
    w->meta = copy;
    w->meta_size = size;
    return TC_OK;
}

/* ---- appending ---- */

/* The field whose data goes straight into the output file: the largest fixed samples, unless a
 * variable-shape field exists and no fixed field has samples of 4 KiB or more. */
static uint32_t pick_direct_field(const tc_writer *w)
{
    uint32_t best = 0;
    uint64_t best_bytes = 0;
    int first_var = -1;
    for (uint32_t k = 0; k < w->nfields; k++) {
        const tc_field_entry *e = &w->fields[k].e;
        if (e->kind == TC_KIND_VARIABLE && first_var < 0)
            first_var = (int)k;
        if (e->kind == TC_KIND_FIXED && e->sample_bytes > best_bytes)
            best = k, best_bytes = e->sample_bytes;
    }
    return (first_var >= 0 && best_bytes < 4096) ? (uint32_t)first_var : best;
}

static int start_streams(tc_writer *w, tc_error *err)
{
    if (w->nfields == 0)
        return tc__fail(err, TC_ERR_FIELD_COUNT, 0, "no fields were declared");
    uint32_t direct = pick_direct_field(w);
    for (uint32_t k = 0; k < w->nfields; k++) {
        tc_wfield *f = &w->fields[k];
        int rc, fd = -1;
        f->direct = k == direct;
        if (f->direct) {
            rc = os_init(&f->data, -1, TC_DATA_ALIGN, TC_DIRECT_BUF, err);
            f->data.fd = w->fd; /* shared with the writer: never closed through the stream */
        } else {
            rc = tc__output_temp(w->out, &fd, err);
            if (rc == TC_OK)
                rc = os_init(&f->data, fd, 0, TC_SPILL_BUF, err);
        }
        if (rc == TC_OK && f->e.entry_size) {
            fd = -1;
            rc = tc__output_temp(w->out, &fd, err);
            if (rc == TC_OK)
                rc = os_init(&f->index, fd, 0, TC_SPILL_BUF, err);
        }
        if (rc == TC_OK && f->e.codec == TC_CODEC_LZ4) {
            uint64_t raw = f->e.block_samples * f->e.sample_bytes; /* <= TC_LZ4_MAX_RAW */
            f->cbound = LZ4_compressBound((int)raw);
            f->block = malloc(raw + 1);
            f->cbuf = malloc((size_t)f->cbound);
            if (!f->block || !f->cbuf)
                rc = tc__fail(err, TC_ERR_NOMEM, 0, "out of memory for an LZ4 block");
        }
        if (rc)
            return rc;
    }
    w->state = W_APPENDING;
    return TC_OK;
}

static int mismatch(tc_error *err, const tc_field_entry *e, uint64_t sample, const char *what)
{
    return tc__fail(err, TC_ERR_SAMPLE_MISMATCH, 0, "field '%s', sample %llu: %s", e->name,
                    (unsigned long long)sample, what);
}

static int check_bools(const tc_field_entry *e, const uint8_t *p, uint64_t n, uint64_t sample,
                       tc_error *err)
{
    if (e->dtype != TC_DTYPE_BOOL)
        return TC_OK;
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return mismatch(err, e, sample, "bool value other than 0 or 1");
    return TC_OK;
}

static int check_var_value(const tc_field_entry *e, const tc_value *v, uint64_t sample,
                           tc_error *err)
{
    uint64_t nb;
    if (!v->shape)
        return mismatch(err, e, sample, "variable-shape value without a shape");
    for (uint32_t d = 0; d < e->rank; d++) {
        if (v->shape[d] == TC_DIM_VARIABLE)
            return mismatch(err, e, sample, "dimension equals the VARIABLE marker");
        if (e->shape[d] != TC_DIM_VARIABLE && v->shape[d] != e->shape[d])
            return mismatch(err, e, sample, "shape differs from the declared fixed dimensions");
    }
    if (tc_shape_bytes(v->shape, e->rank, e->itemsize, &nb, NULL) != TC_OK)
        return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s', sample %llu: shape overflows",
                        e->name, (unsigned long long)sample);
    if (nb != v->nbytes)
        return mismatch(err, e, sample, "nbytes does not match the shape");
    if (nb && !v->data)
        return mismatch(err, e, sample, "data is NULL");
    return check_bools(e, v->data, nb, sample, err);
}

/* Validates every value of a batch before anything is written. */
static int check_batch(const tc_writer *w, uint64_t n, const tc_value *values, tc_error *err)
{
    for (uint32_t k = 0; k < w->nfields; k++) {
        const tc_field_entry *e = &w->fields[k].e;
        if (e->kind == TC_KIND_VARIABLE) {
            const tc_value *vs = values[k].data;
            if (n && !vs)
                return mismatch(err, e, w->count, "no per-sample values for a variable field");
            for (uint64_t i = 0; i < n; i++) {
                int rc = check_var_value(e, &vs[i], w->count + i, err);
                if (rc)
                    return rc;
            }
            continue;
        }
        uint64_t want;
        if (!tc_mul(n, e->sample_bytes, &want))
            return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s': batch size overflows", e->name);
        if (values[k].nbytes != want) {
            char msg[96];
            snprintf(msg, sizeof msg, "got %llu bytes, expected %llu",
                     (unsigned long long)values[k].nbytes, (unsigned long long)want);
            return mismatch(err, e, w->count, msg);
        }
        if (want && !values[k].data)
            return mismatch(err, e, w->count, "data is NULL");
        int rc = check_bools(e, values[k].data, want, w->count, err);
        if (rc)
            return rc;
    }
    return TC_OK;
}

static int flush_block(tc_wfield *f, tc_error *err)
{
    if (f->block_fill == 0)
        return TC_OK;
    int raw = (int)(f->block_fill * f->e.sample_bytes);
    int csize = LZ4_compress_default((const char *)f->block, f->cbuf, raw, f->cbound);
    if (csize <= 0)
        return tc__fail(err, TC_ERR_CODEC, 0, "field '%s': LZ4 compression failed", f->e.name);
    uint8_t entry[TC_LZ4_ENTRY_SIZE];
    tc_put64(entry, os_size(&f->data));
    tc_put64(entry + 8, (uint64_t)csize);
    tc_put64(entry + 16, tc__checksum(f->cbuf, (size_t)csize));
    int rc = os_write(&f->index, entry, sizeof entry, err);
    if (rc == TC_OK)
        rc = os_write(&f->data, f->cbuf, (size_t)csize, err);
    f->block_fill = 0;
    return rc;
}

static int append_compressed(tc_wfield *f, const uint8_t *p, uint64_t n, tc_error *err)
{
    const uint64_t sb = f->e.sample_bytes;
    while (n) {
        uint64_t take = f->e.block_samples - f->block_fill;
        if (take > n)
            take = n;
        memcpy(f->block + f->block_fill * sb, p, take * sb);
        f->block_fill += take, p += take * sb, n -= take;
        if (f->block_fill == f->e.block_samples) {
            int rc = flush_block(f, err);
            if (rc)
                return rc;
        }
    }
    return TC_OK;
}

static int append_fixed(tc_wfield *f, const uint8_t *p, uint64_t n, tc_error *err)
{
    const tc_field_entry *e = &f->e;
    if (e->codec == TC_CODEC_LZ4)
        return append_compressed(f, p, n, err);
    if (e->stride == e->sample_bytes)
        return os_write(&f->data, p, n * e->sample_bytes, err);
    for (uint64_t i = 0; i < n; i++) {
        int rc = os_write(&f->data, p + i * e->sample_bytes, e->sample_bytes, err);
        if (rc == TC_OK)
            rc = os_zeros(&f->data, e->stride - e->sample_bytes, err);
        if (rc)
            return rc;
    }
    return TC_OK;
}

static int append_variable(tc_wfield *f, const tc_value *v, tc_error *err)
{
    uint64_t pos = os_size(&f->data);
    int rc = os_zeros(&f->data, tc_align_up(pos, TC_SAMPLE_ALIGN) - pos, err);
    if (rc)
        return rc;
    uint8_t entry[16 + 8 * TC_MAX_RANK];
    tc_put64(entry, os_size(&f->data));
    tc_put64(entry + 8, v->nbytes);
    for (uint32_t d = 0; d < f->e.rank; d++)
        tc_put64(entry + 16 + 8 * d, v->shape[d]);
    rc = os_write(&f->data, v->data, v->nbytes, err);
    return rc ? rc : os_write(&f->index, entry, f->e.entry_size, err);
}

static uint64_t batch_payload(const tc_writer *w, uint64_t n, const tc_value *values)
{
    uint64_t total = 0;
    for (uint32_t k = 0; k < w->nfields; k++) {
        if (w->fields[k].e.kind == TC_KIND_FIXED) {
            total += values[k].nbytes;
        } else {
            const tc_value *vs = values[k].data;
            for (uint64_t i = 0; i < n; i++)
                total += vs[i].nbytes;
        }
    }
    return total;
}

static int ready_to_append(tc_writer *w, const tc_value *values, tc_error *err)
{
    if (!w || !values)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "append: NULL argument");
    if (w->state == W_FAILED)
        return tc__fail(err, TC_ERR_STATE, 0, "the writer has failed: %s", w->failure.message);
    if (w->state == W_DECLARING) {
        int rc = start_streams(w, err);
        if (rc)
            return fail_writer(w, err, rc);
    }
    return TC_OK;
}

int tc_writer_append_batch(tc_writer *w, uint64_t n, const tc_value *values, tc_error *err)
{
    int rc = ready_to_append(w, values, err);
    if (rc)
        return rc;
    if (n > UINT64_MAX - w->count)
        return fail_writer(w, err, tc__fail(err, TC_ERR_OVERFLOW, 0, "sample count overflows"));
    if ((rc = check_batch(w, n, values, err)))
        return fail_writer(w, err, rc);
    for (uint32_t k = 0; k < w->nfields && rc == TC_OK; k++) {
        tc_wfield *f = &w->fields[k];
        if (f->e.kind == TC_KIND_FIXED) {
            rc = append_fixed(f, values[k].data, n, err);
        } else {
            const tc_value *vs = values[k].data;
            for (uint64_t i = 0; i < n && rc == TC_OK; i++)
                rc = append_variable(f, &vs[i], err);
        }
    }
    if (rc)
        return fail_writer(w, err, rc);
    w->bytes += batch_payload(w, n, values);
    w->count += n;
    return TC_OK;
}

int tc_writer_append(tc_writer *w, const tc_value *values, tc_error *err)
{
    if (!w || !values)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "append: NULL argument");
    /* One sample is a batch of one; variable fields take their value through a pointer. */
    tc_value stack[16] = {{0}};
    tc_value *batch = w->nfields <= 16 ? stack : malloc(w->nfields * sizeof *batch);
    if (!batch)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    for (uint32_t k = 0; k < w->nfields; k++) {
        batch[k] = values[k];
        if (w->fields[k].e.kind == TC_KIND_VARIABLE)
            batch[k].data = &values[k];
    }
    int rc = tc_writer_append_batch(w, 1, batch, err);
    if (batch != stack)
        free(batch);
    return rc;
}

uint64_t tc_writer_count(const tc_writer *w) { return w ? w->count : 0; }
uint64_t tc_writer_bytes(const tc_writer *w) { return w ? w->bytes : 0; }

/* ---- finish ---- */

/* Appends spill file `src` (size bytes) into the output at `off`, in the kernel when possible. */
static int copy_spill(int src, int dst, uint64_t off, uint64_t size, tc_error *err)
{
    loff_t in = 0, outp = (loff_t)off;
    while (size) {
        ssize_t r = copy_file_range(src, &in, dst, &outp, size, 0);
        if (r > 0) {
            size -= (uint64_t)r;
            continue;
        }
        if (r == 0)
            return tc__fail(err, TC_ERR_IO, 0, "spill file ended early");
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            return tc__fail(err, tc__write_errcode(errno), errno, "copying a spill file failed");
        break; /* fall back to read/write below */
    }
    uint8_t *buf = size ? malloc(TC_DIRECT_BUF) : NULL;
    if (size && !buf)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    int rc = TC_OK;
    while (size && rc == TC_OK) {
        ssize_t r = pread(src, buf, size < TC_DIRECT_BUF ? size : TC_DIRECT_BUF, in);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            rc = tc__fail(err, TC_ERR_IO, r < 0 ? errno : 0, "reading a spill file failed");
            break;
        }
        rc = pwrite_full(dst, buf, (size_t)r, (uint64_t)outp, err);
        in += r, outp += r, size -= (uint64_t)r;
    }
    free(buf);
    return rc;
}

/* Flushes every stream and records region sizes and checksums. */
static int close_streams(tc_writer *w, tc_error *err)
{
    for (uint32_t k = 0; k < w->nfields; k++) {
        tc_wfield *f = &w->fields[k];
        int rc = TC_OK;
        if (f->e.codec == TC_CODEC_LZ4)
            rc = flush_block(f, err);
        if (rc == TC_OK && f->e.kind == TC_KIND_VARIABLE) {
            uint64_t pos = os_size(&f->data);
            rc = os_zeros(&f->data, tc_align_up(pos, TC_SAMPLE_ALIGN) - pos, err);
        }
        if (rc == TC_OK)
            rc = os_flush(&f->data, err);
        if (rc == TC_OK && f->index.buf)
            rc = os_flush(&f->index, err);
        if (rc)
            return rc;
        f->e.data_size = f->data.flushed;
        f->e.data_checksum = XXH3_64bits_digest(f->data.hash);
        f->e.index_size = f->index.buf ? f->index.flushed : 0;
        f->e.index_checksum = f->index.buf ? XXH3_64bits_digest(f->index.hash) : tc__checksum("", 0);
    }
    return TC_OK;
}

/* Places every region (FORMAT.md §1) and copies the spilled ones into the output. */
static int lay_out(tc_writer *w, tc_header *h, tc_error *err)
{
    uint64_t pos = TC_HEADER_SIZE;
    for (uint32_t k = 0; k < w->nfields; k++) { /* the direct field sits at 4096 already */
        tc_wfield *f = &w->fields[k];
        if (f->direct && f->e.data_size) {
            f->e.data_offset = TC_DATA_ALIGN;
            pos = TC_DATA_ALIGN + f->e.data_size;
        }
    }
    for (uint32_t k = 0; k < w->nfields; k++) {
        tc_wfield *f = &w->fields[k];
        if (f->direct || !f->e.data_size)
            continue;
        f->e.data_offset = tc_align_up(pos, TC_DATA_ALIGN);
        int rc = copy_spill(f->data.fd, w->fd, f->e.data_offset, f->e.data_size, err);
        if (rc)
            return rc;
        pos = f->e.data_offset + f->e.data_size;
    }
    for (uint32_t k = 0; k < w->nfields; k++) {
        tc_wfield *f = &w->fields[k];
        if (!f->e.index_size)
            continue;
        f->e.index_offset = tc_align_up(pos, TC_INDEX_ALIGN);
        int rc = copy_spill(f->index.fd, w->fd, f->e.index_offset, f->e.index_size, err);
        if (rc)
            return rc;
        pos = f->e.index_offset + f->e.index_size;
    }
    h->ft_offset = tc_align_up(pos, TC_INDEX_ALIGN);
    h->ft_size = (uint64_t)w->nfields * TC_FIELD_ENTRY_SIZE;
    pos = h->ft_offset + h->ft_size;
    h->meta_size = w->meta_size;
    h->meta_offset = w->meta_size ? tc_align_up(pos, TC_META_ALIGN) : 0;
    h->file_size = w->meta_size ? h->meta_offset + h->meta_size : pos;
    return TC_OK;
}

static int write_tables(tc_writer *w, tc_header *h, tc_error *err)
{
    uint8_t *ft = calloc(w->nfields, TC_FIELD_ENTRY_SIZE);
    if (!ft)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    for (uint32_t k = 0; k < w->nfields; k++)
        tc__encode_field(ft + (size_t)k * TC_FIELD_ENTRY_SIZE, &w->fields[k].e);
    h->version_major = TC_FORMAT_MAJOR;
    h->version_minor = TC_FORMAT_MINOR;
    h->num_samples = w->count;
    h->num_fields = w->nfields;
    h->ft_checksum = tc__checksum(ft, h->ft_size);
    h->meta_checksum = tc__checksum(w->meta ? w->meta : (const uint8_t *)"", w->meta_size);
    uint8_t hb[TC_HEADER_SIZE];
    tc__encode_header(hb, h);
    int rc = pwrite_full(w->fd, ft, h->ft_size, h->ft_offset, err);
    free(ft);
    if (rc == TC_OK && w->meta_size)
        rc = pwrite_full(w->fd, w->meta, w->meta_size, h->meta_offset, err);
    if (rc == TC_OK)
        rc = pwrite_full(w->fd, hb, sizeof hb, 0, err);
    if (rc == TC_OK && ftruncate(w->fd, (off_t)h->file_size) != 0)
        rc = tc__fail(err, tc__write_errcode(errno), errno, "cannot size the output file");
    return rc;
}

int tc_writer_finish(tc_writer *w, tc_error *err)
{
    if (!w)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_writer_finish: NULL writer");
    int rc = TC_OK;
    if (w->state == W_FAILED) {
        rc = w->failure.code;
        if (err)
            *err = w->failure;
    } else if (w->state == W_DECLARING) {
        rc = start_streams(w, err); /* N = 0 */
    }
    tc_header h = {0};
    if (rc == TC_OK)
        rc = close_streams(w, err);
    if (rc == TC_OK)
        rc = lay_out(w, &h, err);
    if (rc == TC_OK)
        rc = write_tables(w, &h, err);
    if (rc && w->state != W_FAILED) /* a poisoned writer's message names the target already */
        name_target(w, err);
    if (rc == TC_OK) { /* fsync, publish (its messages name the target), free */
        rc = tc_output_commit(w->out, err);
        w->out = NULL;
    }
    tc_writer_abort(w);
    return rc;
}

void tc_writer_abort(tc_writer *w)
{
    if (!w)
        return;
    for (uint32_t k = 0; k < w->nfields; k++) {
        tc_wfield *f = &w->fields[k];
        if (f->direct)
            f->data.fd = -1; /* the writer's own fd, closed below */
        os_free(&f->data);
        os_free(&f->index);
        free(f->block);
        free(f->cbuf);
    }
    tc_output_abort(w->out); /* closes w->fd, unlinks a named temporary */
    free(w->fields);
    free(w->meta);
    free(w);
}
