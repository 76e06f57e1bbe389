/*
 * test_roundtrip.c - writer API -> reader API, compared byte for byte.
 *
 * Each test describes a dataset as a "model" (field specs plus every sample's bytes and shape,
 * generated from a fixed seed), writes it with the streaming writer, then checks it three ways:
 *   1. the raw bytes against FORMAT.md (tu_check_raw, independent of the reader);
 *   2. every read path of the reader against the model, with the mmap backend;
 *   3. the same with the pread backend (TC_OPEN_NO_MMAP) and with TC_OPEN_VERIFY.
 */
#include <pthread.h>

#include "testutil.h"

/* ---------------------------------------------------------------------------------------------
 * The model
 * ------------------------------------------------------------------------------------------- */
enum { CONTENT_RANDOM = 0, CONTENT_PATTERN = 1 };

typedef struct {
    tc_field_spec spec;
    char name[80];
    char layout[16];
    int content;     /* CONTENT_RANDOM or CONTENT_PATTERN (compressible) */
    uint64_t maxdim; /* variable fields: each VARIABLE dim is drawn from [0, maxdim] */
    /* generated */
    uint8_t **data;   /* data[i]: sample i */
    uint64_t *nbytes; /* nbytes[i] */
    uint64_t *shapes; /* shapes[i * 8 + d] */
} mfield;

#define MAX_MFIELDS 16

typedef struct {
    mfield f[MAX_MFIELDS];
    uint32_t nf;
    uint64_t n;
    const char *meta; /* NULL: no set_metadata call */
    size_t meta_size;
} model;

static int mf_variable(const mfield *mf)
{
    for (uint32_t d = 0; d < mf->spec.rank; d++)
        if (mf->spec.shape[d] == TC_DIM_VARIABLE)
            return 1;
    return 0;
}

static uint64_t mf_itemsize(const mfield *mf)
{
    return tc_dtype_size(mf->spec.dtype);
}

static uint64_t mf_sample_bytes(const mfield *mf)
{
    uint64_t b = mf_itemsize(mf);
    for (uint32_t d = 0; d < mf->spec.rank; d++)
        b *= mf->spec.shape[d];
    return b;
}

static uint64_t mf_stride(const mfield *mf)
{
    uint64_t sb = mf_sample_bytes(mf), a = mf->spec.align;
    if (mf->spec.codec == TC_CODEC_LZ4 || mf_variable(mf))
        return 0;
    if (a <= 1)
        return sb;
    return (sb + a - 1) / a * a;
}

/* Adds a field to the model; returns it so the caller can adjust the spec. */
static mfield *model_add(model *m, const char *name, int dtype, uint32_t rank, const uint64_t *shape)
{
    assert_true(m->nf < MAX_MFIELDS);
    mfield *mf = &m->f[m->nf++];
    memset(mf, 0, sizeof *mf);
    snprintf(mf->name, sizeof mf->name, "%s", name);
    mf->spec.name = mf->name;
    mf->spec.dtype = dtype;
    mf->spec.rank = rank;
    for (uint32_t d = 0; d < rank; d++)
        mf->spec.shape[d] = shape[d];
    mf->maxdim = 5;
    return mf;
}

static void mf_set_layout(mfield *mf, const char *layout)
{
    snprintf(mf->layout, sizeof mf->layout, "%s", layout);
    mf->spec.layout = mf->layout;
}

/* Generates every sample of every field from `seed`. */
static void model_generate(model *m, uint64_t n, uint64_t seed)
{
    uint64_t rng = seed;
    m->n = n;
    for (uint32_t k = 0; k < m->nf; k++) {
        mfield *mf = &m->f[k];
        mf->data = calloc(n ? n : 1, sizeof *mf->data);
        mf->nbytes = calloc(n ? n : 1, sizeof *mf->nbytes);
        mf->shapes = calloc(n ? n * 8 : 1, sizeof *mf->shapes);
        assert_non_null(mf->data);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t nb = mf_itemsize(mf);
            for (uint32_t d = 0; d < mf->spec.rank; d++) {
                uint64_t dim = mf->spec.shape[d];
                if (dim == TC_DIM_VARIABLE)
                    dim = tu_rand_below(&rng, mf->maxdim + 1);
                mf->shapes[i * 8 + d] = dim;
                nb *= dim;
            }
            mf->nbytes[i] = nb;
            mf->data[i] = malloc(nb ? nb : 1);
            if (mf->content == CONTENT_PATTERN) {
                for (uint64_t j = 0; j < nb; j++)
                    mf->data[i][j] = (uint8_t)((i / 3 + j / 16) & 0x7);
            } else {
                tu_fill_random(&rng, mf->data[i], nb);
            }
            if (mf->spec.dtype == TC_DTYPE_BOOL) /* writers must store bools as 0 or 1 */
                for (uint64_t j = 0; j < nb; j++)
                    mf->data[i][j] &= 1;
        }
    }
}

static void model_free(model *m)
{
    for (uint32_t k = 0; k < m->nf; k++) {
        for (uint64_t i = 0; i < m->n; i++)
            free(m->f[k].data[i]);
        free(m->f[k].data);
        free(m->f[k].nbytes);
        free(m->f[k].shapes);
    }
    m->nf = 0;
}

static void model_begin(const model *m, const char *path, tc_writer **out)
{
    tc_error err;
    TU_OK(tc_writer_create(out, path, &err), &err);
    for (uint32_t k = 0; k < m->nf; k++)
        TU_OK(tc_writer_add_field(*out, &m->f[k].spec, &err), &err);
    if (m->meta)
        TU_OK(tc_writer_set_metadata(*out, m->meta, m->meta_size, &err), &err);
}

static void model_value(const model *m, uint32_t k, uint64_t i, tc_value *v)
{
    const mfield *mf = &m->f[k];
    memset(v, 0, sizeof *v);
    v->data = mf->data[i];
    v->nbytes = mf->nbytes[i];
    if (mf_variable(mf))
        v->shape = &mf->shapes[i * 8];
}

/* Writes the model one sample at a time, checking tc_writer_count as it goes. */
static void model_write(const model *m, const char *path)
{
    tc_writer *w = NULL;
    tc_error err;
    model_begin(m, path, &w);
    tc_value vals[MAX_MFIELDS];
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < m->n; i++) {
        for (uint32_t k = 0; k < m->nf; k++) {
            model_value(m, k, i, &vals[k]);
            bytes += vals[k].nbytes;
        }
        TU_OK(tc_writer_append(w, vals, &err), &err);
        assert_int_equal(tc_writer_count(w), i + 1);
    }
    assert_int_equal(tc_writer_bytes(w), bytes);
    TU_OK(tc_writer_finish(w, &err), &err);
}

/* Writes the model in batches of random size (0 included), mixed with single appends. */
static void model_write_batches(const model *m, const char *path, uint64_t seed)
{
    tc_writer *w = NULL;
    tc_error err;
    uint64_t rng = seed;
    model_begin(m, path, &w);
    uint64_t i = 0;
    while (i < m->n) {
        uint64_t b = tu_rand_below(&rng, 40);
        if (b > m->n - i)
            b = m->n - i;
        tc_value vals[MAX_MFIELDS];
        uint8_t *packed[MAX_MFIELDS] = {0};
        tc_value *varvals[MAX_MFIELDS] = {0};
        for (uint32_t k = 0; k < m->nf; k++) {
            const mfield *mf = &m->f[k];
            memset(&vals[k], 0, sizeof vals[k]);
            if (mf_variable(mf)) {
                varvals[k] = calloc(b ? b : 1, sizeof(tc_value));
                for (uint64_t j = 0; j < b; j++)
                    model_value(m, k, i + j, &varvals[k][j]);
                vals[k].data = varvals[k];
                vals[k].nbytes = 0;
            } else {
                uint64_t sb = mf_sample_bytes(mf);
                packed[k] = malloc(b * sb + 1);
                for (uint64_t j = 0; j < b; j++)
                    memcpy(packed[k] + j * sb, mf->data[i + j], sb);
                vals[k].data = packed[k];
                vals[k].nbytes = b * sb;
            }
        }
        TU_OK(tc_writer_append_batch(w, b, vals, &err), &err);
        for (uint32_t k = 0; k < m->nf; k++) {
            free(packed[k]);
            free(varvals[k]);
        }
        i += b;
        assert_int_equal(tc_writer_count(w), i);
        if (i < m->n && tu_rand_below(&rng, 4) == 0) { /* a single append in between */
            for (uint32_t k = 0; k < m->nf; k++)
                model_value(m, k, i, &vals[k]);
            TU_OK(tc_writer_append(w, vals, &err), &err);
            i++;
        }
    }
    TU_OK(tc_writer_finish(w, &err), &err);
}

/* ---------------------------------------------------------------------------------------------
 * Checking a cache against the model
 * ------------------------------------------------------------------------------------------- */

/* C-order strides in bytes of `shape` (rank dims) with items of `item` bytes. */
static void c_strides(const uint64_t *shape, uint32_t rank, uint64_t item, int64_t *out)
{
    int64_t s = (int64_t)item;
    for (uint32_t d = rank; d-- > 0;) {
        out[d] = s;
        s *= (int64_t)shape[d];
    }
}

static void check_field_info(const model *m, tc_cache *c, uint32_t k, tc_field_info *fi)
{
    const mfield *mf = &m->f[k];
    uint32_t found = UINT32_MAX;
    TU_OK(tc_find_field(c, mf->name, &found, NULL), NULL);
    assert_int_equal(found, k);
    TU_OK(tc_describe_field(c, k, fi, NULL), NULL);
    assert_string_equal(fi->name, mf->name);
    assert_int_equal(fi->dtype, mf->spec.dtype);
    assert_int_equal(fi->itemsize, mf_itemsize(mf));
    assert_int_equal(fi->rank, mf->spec.rank);
    for (uint32_t d = 0; d < TC_MAX_RANK; d++)
        assert_true(fi->shape[d] == (d < mf->spec.rank ? mf->spec.shape[d] : 0));
    assert_int_equal(fi->variable, mf_variable(mf));
    assert_int_equal(fi->codec, mf->spec.codec);
    assert_string_equal(fi->layout, mf->spec.layout ? mf->spec.layout : "");
    assert_int_equal(fi->flags, 0);
    assert_true(fi->sample_bytes == (mf_variable(mf) ? 0 : mf_sample_bytes(mf)));
    assert_true(fi->stride == mf_stride(mf));
    assert_true(fi->data_offset % 4096 == 0);
    if (fi->data_size == 0)
        assert_true(fi->data_offset == 0);
    assert_true(fi->index_offset % 64 == 0);
    if (mf->spec.codec == TC_CODEC_LZ4) {
        uint64_t bs = fi->block_samples, target = mf->spec.block_bytes ? mf->spec.block_bytes
                                                                       : (UINT64_C(256) << 10);
        assert_true(bs >= 1);
        /* A block holds as many samples as fit in block_bytes, and at least one. */
        assert_true(bs == 1 || bs * fi->sample_bytes <= target);
        assert_true(fi->index_size == (m->n + bs - 1) / bs * 24);
    } else if (mf_variable(mf)) {
        assert_true(fi->block_samples == 0);
        assert_true(fi->index_size == m->n * (16 + 8 * (uint64_t)mf->spec.rank));
    } else {
        assert_true(fi->block_samples == 0);
        assert_true(fi->data_size == m->n * fi->stride);
        assert_true(fi->index_offset == 0 && fi->index_size == 0);
        assert_true(fi->index_checksum == TU_XXH3_EMPTY);
    }
}

/* tc_sample_nbytes + tc_read_sample of every sample, and the buffer-size edge. */
static void check_read_sample(const model *m, tc_cache *c, uint32_t k)
{
    const mfield *mf = &m->f[k];
    tc_error err;
    for (uint64_t i = 0; i < m->n; i++) {
        uint64_t nb = UINT64_MAX, shape[TC_MAX_RANK];
        memset(shape, 0xEE, sizeof shape);
        TU_OK(tc_sample_nbytes(c, k, i, &nb, shape, &err), &err);
        assert_true(nb == mf->nbytes[i]);
        for (uint32_t d = 0; d < mf->spec.rank; d++)
            assert_true(shape[d] == mf->shapes[i * 8 + d]);
        uint8_t *buf = malloc(nb + 8);
        memset(buf, 0xA5, nb + 8);
        uint64_t got = UINT64_MAX;
        TU_OK(tc_read_sample(c, k, i, buf, (size_t)nb, &got, &err), &err);
        assert_true(got == nb);
        assert_memory_equal(buf, mf->data[i], nb);
        for (unsigned b = 0; b < 8; b++) /* nothing written past the sample */
            assert_int_equal(buf[nb + b], 0xA5);
        if (nb > 0)
            TU_EXPECT(TC_ERR_BUFFER_TOO_SMALL,
                      tc_read_sample(c, k, i, buf, (size_t)nb - 1, NULL, &err), &err);
        free(buf);
    }
    uint8_t tiny[8];
    TU_EXPECT(TC_ERR_RANGE, tc_read_sample(c, k, m->n, tiny, sizeof tiny, NULL, &err), &err);
    TU_EXPECT(TC_ERR_RANGE, tc_read_sample(c, k, UINT64_MAX, tiny, sizeof tiny, NULL, &err),
              &err);
}

/* Zero-copy views (mmap backend, uncompressed fields). */
static void check_views(const model *m, tc_cache *c, uint32_t k, const tc_field_info *fi)
{
    const mfield *mf = &m->f[k];
    tc_error err;
    tc_view v;
    const uint8_t *first = NULL;
    for (uint64_t i = 0; i < m->n; i++) {
        memset(&v, 0, sizeof v);
        TU_OK(tc_sample(c, k, i, &v, &err), &err);
        assert_int_equal(v.dtype, mf->spec.dtype);
        assert_int_equal(v.ndim, mf->spec.rank);
        assert_int_equal(v.readonly, 1);
        assert_true(v.nbytes == mf->nbytes[i]);
        int64_t strides[TC_MAX_RANK];
        c_strides(&mf->shapes[i * 8], mf->spec.rank, mf_itemsize(mf), strides);
        for (uint32_t d = 0; d < mf->spec.rank; d++) {
            assert_true(v.shape[d] == mf->shapes[i * 8 + d]);
            /* a stride of a dimension next to a zero-size one is arbitrary */
            if (mf->nbytes[i] > 0)
                assert_true(v.strides[d] == strides[d]);
        }
        if (mf->nbytes[i] > 0) {
            assert_non_null(v.data);
            assert_memory_equal(v.data, mf->data[i], mf->nbytes[i]);
            if (fi->variable) /* samples start 64-aligned in a page-aligned region */
                assert_true((uintptr_t)v.data % 64 == 0);
        }
        if (!fi->variable) {
            if (i == 0)
                first = v.data;
            else if (fi->sample_bytes > 0)
                assert_ptr_equal(v.data, first + i * fi->stride);
        }
    }
    TU_EXPECT(TC_ERR_RANGE, tc_sample(c, k, m->n, &v, &err), &err);
    TU_EXPECT(TC_ERR_RANGE, tc_sample(c, k, UINT64_MAX, &v, &err), &err);
}

/* tc_field_span / tc_span_at / tc_range of a fixed uncompressed field (mmap backend). */
static void check_span_and_range(const model *m, tc_cache *c, uint32_t k, const tc_field_info *fi,
                                 uint64_t *rng)
{
    const mfield *mf = &m->f[k];
    tc_error err;
    tc_span span;
    TU_OK(tc_field_span(c, k, &span, &err), &err);
    assert_true(span.count == m->n);
    assert_true(span.stride == fi->stride);
    for (uint64_t i = 0; i < m->n; i++) {
        const uint8_t *p = tc_span_at(&span, i);
        assert_non_null(p);
        assert_memory_equal(p, mf->data[i], mf->nbytes[i]);
    }
    assert_null(tc_span_at(&span, m->n));
    assert_null(tc_span_at(&span, UINT64_MAX));

    tc_view v;
    for (int t = 0; t < 20; t++) {
        uint64_t start = tu_rand_below(rng, m->n + 1);
        uint64_t n = tu_rand_below(rng, m->n - start + 1);
        if (t == 0)
            start = 0, n = m->n; /* the whole field */
        if (t == 1)
            start = m->n, n = 0; /* empty, at the end */
        memset(&v, 0, sizeof v);
        TU_OK(tc_range(c, k, start, n, &v, &err), &err);
        assert_int_equal(v.ndim, mf->spec.rank + 1);
        assert_int_equal(v.dtype, mf->spec.dtype);
        assert_int_equal(v.readonly, 1);
        assert_true(v.shape[0] == n);
        for (uint32_t d = 0; d < mf->spec.rank; d++)
            assert_true(v.shape[d + 1] == mf->spec.shape[d]);
        if (fi->sample_bytes > 0 && n > 0) {
            int64_t strides[TC_MAX_RANK];
            c_strides(mf->spec.shape, mf->spec.rank, fi->itemsize, strides);
            assert_true(v.strides[0] == (int64_t)fi->stride);
            for (uint32_t d = 0; d < mf->spec.rank; d++)
                assert_true(v.strides[d + 1] == strides[d]);
            assert_ptr_equal(v.data, span.base + start * fi->stride);
            /* spanned bytes: packed fields exactly n samples; padded ones at least up to the
             * end of the last sample */
            if (fi->stride == fi->sample_bytes)
                assert_true(v.nbytes == n * fi->sample_bytes);
            else
                assert_true(v.nbytes == (n - 1) * fi->stride + fi->sample_bytes ||
                            v.nbytes == n * fi->stride);
            for (uint64_t j = 0; j < n; j++)
                assert_memory_equal((const uint8_t *)v.data + j * fi->stride,
                                    mf->data[start + j], fi->sample_bytes);
        } else {
            assert_true(v.nbytes == 0);
        }
    }
    TU_EXPECT(TC_ERR_RANGE, tc_range(c, k, m->n + 1, 0, &v, &err), &err);
    TU_EXPECT(TC_ERR_RANGE, tc_range(c, k, 0, m->n + 1, &v, &err), &err);
    TU_EXPECT(TC_ERR_RANGE, tc_range(c, k, 1, UINT64_MAX, &v, &err), &err); /* wraps */
    TU_EXPECT(TC_ERR_RANGE, tc_range(c, k, UINT64_MAX, 2, &v, &err), &err);
}

/* tc_gather of a fixed field: random indices with repeats, errors copy nothing. */
static void check_gather(const model *m, tc_cache *c, uint32_t k, const tc_field_info *fi,
                         uint64_t *rng)
{
    const mfield *mf = &m->f[k];
    tc_error err;
    uint64_t sb = fi->sample_bytes;
    enum { MAXG = 64 };
    uint64_t idx[MAXG + 1];
    size_t cap = (size_t)(sb * (MAXG + 1)) + 1;
    uint8_t *dst = malloc(cap), *want = malloc(cap);
    TU_OK(tc_gather(c, k, idx, 0, dst, 0, &err), &err); /* n = 0 */
    for (int t = 0; t < 8 && m->n > 0; t++) {
        size_t n = 1 + (size_t)tu_rand_below(rng, MAXG);
        for (size_t j = 0; j < n; j++)
            idx[j] = (j > 0 && tu_rand_below(rng, 4) == 0) ? idx[j - 1] /* repeats */
                                                           : tu_rand_below(rng, m->n);
        if (t == 0)
            idx[0] = m->n - 1;
        for (size_t j = 0; j < n; j++)
            memcpy(want + j * sb, mf->data[idx[j]], sb);
        memset(dst, 0x5A, cap);
        TU_OK(tc_gather(c, k, idx, n, dst, (size_t)(n * sb), &err), &err);
        assert_memory_equal(dst, want, n * sb);
        if (sb > 0) {
            /* one byte short: refused, nothing copied */
            memset(dst, 0x5A, cap);
            TU_EXPECT(TC_ERR_BUFFER_TOO_SMALL,
                      tc_gather(c, k, idx, n, dst, (size_t)(n * sb - 1), &err), &err);
            for (size_t b = 0; b < cap; b++)
                assert_int_equal(dst[b], 0x5A);
        }
        /* an index out of range at the end: refused before anything is copied */
        idx[n] = m->n + (uint64_t)t;
        memset(dst, 0x5A, cap);
        TU_EXPECT(TC_ERR_RANGE, tc_gather(c, k, idx, n + 1, dst, (size_t)((n + 1) * sb), &err),
                  &err);
        for (size_t b = 0; b < cap; b++)
            assert_int_equal(dst[b], 0x5A);
    }
    free(dst);
    free(want);
}

/* Everything about one open cache. `pread` says whether it was opened with TC_OPEN_NO_MMAP. */
static void check_open_cache(const model *m, tc_cache *c, const char *path, int pread_backend)
{
    tc_error err;
    uint64_t rng = 12345;
    assert_true(tc_num_samples(c) == m->n);
    assert_int_equal(tc_num_fields(c), m->nf);
    assert_true((int64_t)tc_file_size(c) == tu_file_size(path));
    assert_int_equal(tc_format_version(c), 100);

    const void *meta = (const void *)1;
    size_t meta_size = 12345;
    tc_metadata(c, &meta, &meta_size, NULL);
    assert_int_equal(meta_size, m->meta ? m->meta_size : 0);
    if (meta_size)
        assert_memory_equal(meta, m->meta, meta_size);

    for (uint32_t k = 0; k < m->nf; k++) {
        const mfield *mf = &m->f[k];
        tc_field_info fi;
        tc_view v;
        tc_span span;
        check_field_info(m, c, k, &fi);
        check_read_sample(m, c, k);
        int fixed_plain = !fi.variable && fi.codec == TC_CODEC_NONE;
        if (!pread_backend && fi.codec == TC_CODEC_NONE)
            check_views(m, c, k, &fi);
        if (!pread_backend && fixed_plain)
            check_span_and_range(m, c, k, &fi, &rng);
        if (!fi.variable)
            check_gather(m, c, k, &fi, &rng);
        if (fi.variable) {
            uint64_t idx[1] = {0};
            uint8_t dst[8];
            TU_EXPECT(TC_ERR_WRONG_KIND, tc_gather(c, k, idx, 1, dst, sizeof dst, &err), &err);
        }
        if (!pread_backend && !fixed_plain) {
            TU_EXPECT(TC_ERR_WRONG_KIND, tc_range(c, k, 0, 0, &v, &err), &err);
            TU_EXPECT(TC_ERR_WRONG_KIND, tc_field_span(c, k, &span, &err), &err);
        }
        if (!pread_backend && fi.codec == TC_CODEC_LZ4 && m->n > 0)
            TU_EXPECT(TC_ERR_WRONG_KIND, tc_sample(c, k, 0, &v, &err), &err);
        if (pread_backend) {
            /* No mapping: zero-copy calls refuse, per the header's documentation. */
            TU_EXPECT(TC_ERR_WRONG_KIND, tc_field_span(c, k, &span, &err), &err);
            if (m->n > 0)
                TU_EXPECT(TC_ERR_WRONG_KIND, tc_sample(c, k, 0, &v, &err), &err);
            TU_EXPECT(TC_ERR_WRONG_KIND, tc_range(c, k, 0, m->n, &v, &err), &err);
        }
        for (int a = TC_ADVICE_NORMAL; a <= TC_ADVICE_WILLNEED; a++)
            TU_OK(tc_advise(c, k, a, &err), &err);
        (void)mf;
    }
    for (int a = TC_ADVICE_NORMAL; a <= TC_ADVICE_WILLNEED; a++)
        TU_OK(tc_advise(c, TC_ALL_FIELDS, a, &err), &err);

    /* A field number past the end. */
    tc_field_info fi;
    tc_view v;
    uint8_t buf[8];
    uint32_t k = UINT32_MAX;
    assert_int_equal(tc_describe_field(c, m->nf, &fi, NULL), TC_ERR_NOT_FOUND);
    TU_EXPECT(TC_ERR_NOT_FOUND, tc_find_field(c, "no such field", &k, NULL), NULL);
    TU_EXPECT(TC_ERR_NOT_FOUND, tc_read_sample(c, m->nf, 0, buf, sizeof buf, NULL, &err), &err);
    if (!pread_backend)
        TU_EXPECT(TC_ERR_NOT_FOUND, tc_sample(c, m->nf, 0, &v, &err), &err);
    TU_OK(tc_verify(c, &err), &err);
}

/* The full check: raw layout, then default, pread, verify and pread+verify opens. */
static void model_check(const model *m, const char *path)
{
    static const unsigned flag_sets[] = {TC_OPEN_DEFAULT, TC_OPEN_NO_MMAP, TC_OPEN_VERIFY,
                                         TC_OPEN_VERIFY | TC_OPEN_NO_MMAP};
    tu_check_raw(path, m->n, m->nf);
    for (size_t s = 0; s < sizeof flag_sets / sizeof flag_sets[0]; s++) {
        tc_cache *c = NULL;
        tc_error err;
        TU_OK(tc_open(&c, path, flag_sets[s], &err), &err);
        check_open_cache(m, c, path, (flag_sets[s] & TC_OPEN_NO_MMAP) != 0);
        tc_close(c);
    }
}

/* Write (one by one) + check + free; the usual test body. */
static void model_roundtrip(model *m, const char *file, uint64_t n, uint64_t seed)
{
    char path[PATH_MAX];
    tu_path(path, sizeof path, file);
    model_generate(m, n, seed);
    model_write(m, path);
    model_check(m, path);
    model_free(m);
    unlink(path);
}

/* ---------------------------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------------------------- */

static void test_layout_facts(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "layout.tc");
    unsigned mask = TU_IMAGE | TU_LABEL | TU_TOKENS | TU_PACKED | TU_WIDE;
    tu_write_small(path, mask, 23, TU_SMALL_META);

    size_t size = 0;
    uint8_t *b = tu_read_file(path, &size);
    assert_non_null(b);
    assert_memory_equal(b, "\x89TCACHE\n", 8);
    assert_int_equal(tu_get_le(b + 8, 2), 1);
    assert_int_equal(tu_get_le(b + 10, 2), 0);
    assert_int_equal(tu_get_le(b + 12, 4), 128);
    assert_true(tu_get_le(b + 16, 8) == size);
    assert_true((int64_t)size == tu_file_size(path));
    assert_int_equal(tu_get_le(b + 24, 8), 23);
    assert_int_equal(tu_get_le(b + 32, 4), 5);
    assert_true(tu_get_le(b + 120, 8) == XXH3_64bits(b, 120));
    uint64_t ft = tu_get_le(b + 40, 8);
    assert_true(ft % 64 == 0);
    const char *names[5] = {"image", "label", "tokens", "packed", "wide"};
    for (int k = 0; k < 5; k++) {
        const uint8_t *e = b + ft + 256 * (uint64_t)k;
        assert_int_equal(tu_get_le(e + 64, 2), strlen(names[k]));
        assert_memory_equal(e, names[k], strlen(names[k]));
        uint64_t doff = tu_get_le(e + 160, 8);
        assert_true(doff % 4096 == 0 && doff >= 4096);
    }
    /* image: NHWC, (4,4,1), packed stride 16; wide: stride padded to 64 */
    assert_memory_equal(b + ft + 72, "NHWC\0\0\0\0", 8);
    assert_int_equal(tu_get_le(b + ft + 152, 8), 16);
    assert_int_equal(tu_get_le(b + ft + 4 * 256 + 152, 8), 64);
    /* packed: lz4, stride 0, 3 samples per block (block_bytes 90 / 30-byte samples) */
    assert_int_equal(b[ft + 3 * 256 + 69], 1);
    assert_int_equal(tu_get_le(b + ft + 3 * 256 + 152, 8), 0);
    assert_int_equal(tu_get_le(b + ft + 3 * 256 + 208, 8), 3);
    /* metadata */
    uint64_t mo = tu_get_le(b + 56, 8), ms = tu_get_le(b + 64, 8);
    assert_int_equal(ms, strlen(TU_SMALL_META));
    assert_memory_equal(b + mo, TU_SMALL_META, ms);
    free(b);

    tu_check_raw(path, 23, 5);
    tc_cache *c = NULL;
    tc_error err;
    TU_OK(tc_open(&c, path, TC_OPEN_VERIFY, &err), &err);
    tu_check_small(c, mask, 23);
    tc_close(c);
    unlink(path);
}

static void test_every_dtype(void **state)
{
    (void)state;
    model m = {0};
    static const char *names[] = {"", "bool", "u8", "i8", "u16", "i16", "u32", "i32",
                                  "u64", "i64", "f16", "bf16", "f32", "f64"};
    _Static_assert(sizeof names / sizeof names[0] == TC_DTYPE_MAX_CODE,
                   "TC_DTYPE_LIST changed: add the new dtype's name to names[] and count it "
                   "below (docs/HACKING.md, 'Adding a dtype')");
    for (int dt = TC_DTYPE_BOOL; dt < TC_DTYPE_MAX_CODE; dt++) {
        uint64_t shape[2] = {3, 2};
        model_add(&m, names[dt], dt, 2, shape);
        assert_string_equal(tc_dtype_name(dt), names[dt]);
    }
    assert_int_equal(m.nf, TC_DTYPE_MAX_CODE - 1);
    model_roundtrip(&m, "dtypes.tc", 17, 1);
}

static void test_n_zero(void **state)
{
    (void)state;
    model m = {0};
    uint64_t s3[3] = {4, 4, 3}, sv[2] = {TC_DIM_VARIABLE, 2}, s1[1] = {10};
    mf_set_layout(model_add(&m, "image", TC_DTYPE_U8, 3, s3), "NHWC");
    model_add(&m, "var", TC_DTYPE_F32, 2, sv);
    model_add(&m, "lz", TC_DTYPE_I16, 1, s1)->spec.codec = TC_CODEC_LZ4;
    model_add(&m, "padded", TC_DTYPE_U8, 1, s1)->spec.align = 64;
    model_roundtrip(&m, "nzero.tc", 0, 2);
}

static void test_n_one(void **state)
{
    (void)state;
    model m = {0};
    uint64_t s3[3] = {4, 4, 3}, sv[2] = {TC_DIM_VARIABLE, 2}, s1[1] = {10};
    mf_set_layout(model_add(&m, "image", TC_DTYPE_U8, 3, s3), "NHWC");
    model_add(&m, "var", TC_DTYPE_F32, 2, sv);
    model_add(&m, "lz", TC_DTYPE_I16, 1, s1)->spec.codec = TC_CODEC_LZ4;
    model_add(&m, "label", TC_DTYPE_I64, 0, NULL);
    model_roundtrip(&m, "none.tc", 1, 3);
}

static void test_odd_shapes(void **state)
{
    (void)state;
    model m = {0};
    uint64_t ones[3] = {1, 1, 1}, zero[3] = {3, 0, 2}, primes[2] = {7, 13};
    uint64_t r8[8] = {2, 1, 3, 1, 2, 1, 1, 2}, lead0[1] = {0};
    mf_set_layout(model_add(&m, "scalar", TC_DTYPE_F64, 0, NULL), "N");
    model_add(&m, "ones", TC_DTYPE_U8, 3, ones);
    model_add(&m, "zero", TC_DTYPE_I32, 3, zero); /* empty samples: data region of 0 bytes */
    model_add(&m, "empty1", TC_DTYPE_U8, 1, lead0);
    mf_set_layout(model_add(&m, "primes", TC_DTYPE_U16, 2, primes), "NHW");
    /* rank 8 cannot carry a layout (9 letters do not fit the 8-byte tag); rank 7 fills all 8
     * bytes of the tag, with no terminating zero in the file */
    model_add(&m, "rank8", TC_DTYPE_I8, 8, r8);
    mf_set_layout(model_add(&m, "rank7", TC_DTYPE_U8, 7, r8), "NABCDEFG");
    model_add(&m, "scalar_u8", TC_DTYPE_U8, 0, NULL);
    model_roundtrip(&m, "odd.tc", 11, 4);
}

static void test_variable_fields(void **state)
{
    (void)state;
    model m = {0};
    uint64_t seq[1] = {TC_DIM_VARIABLE}, boxes[2] = {TC_DIM_VARIABLE, 4};
    uint64_t img[3] = {TC_DIM_VARIABLE, TC_DIM_VARIABLE, 3}, fixed[1] = {5};
    uint64_t r8[8] = {1, TC_DIM_VARIABLE, 2, 1, 1, 1, 1, TC_DIM_VARIABLE};
    model_add(&m, "seq", TC_DTYPE_U8, 1, seq)->maxdim = 200;
    model_add(&m, "boxes", TC_DTYPE_F32, 2, boxes)->maxdim = 6;
    mf_set_layout(model_add(&m, "img", TC_DTYPE_U16, 3, img), "NHWC");
    model_add(&m, "fixed", TC_DTYPE_I32, 1, fixed);
    model_add(&m, "r8", TC_DTYPE_F64, 8, r8)->maxdim = 3;
    model_add(&m, "mostly_empty", TC_DTYPE_U8, 1, seq)->maxdim = 1;
    model_roundtrip(&m, "variable.tc", 200, 5);
}

static void test_alignment(void **state)
{
    (void)state;
    model m = {0};
    uint64_t s5[1] = {5}, s3[1] = {3}, s64[1] = {64}, s100[1] = {100};
    model_add(&m, "a64", TC_DTYPE_U8, 1, s5)->spec.align = 64;     /* stride 64 */
    model_add(&m, "a16", TC_DTYPE_F32, 1, s3)->spec.align = 16;    /* 12 -> 16 */
    model_add(&m, "a1", TC_DTYPE_U8, 1, s5)->spec.align = 1;       /* packed */
    model_add(&m, "exact", TC_DTYPE_U8, 1, s64)->spec.align = 64;  /* already aligned */
    model_add(&m, "a4096", TC_DTYPE_U8, 1, s100)->spec.align = 4096;
    model_add(&m, "scalar", TC_DTYPE_U16, 0, NULL)->spec.align = 8;
    model_roundtrip(&m, "align.tc", 37, 6);
}

static void test_lz4_fields(void **state)
{
    (void)state;
    static const uint64_t block_bytes[] = {0, 1, 60, 100, 4096, 1 << 20};
    /* 0 selects the default target (256 KiB) */
    for (int content = CONTENT_RANDOM; content <= CONTENT_PATTERN; content++) {
        model m = {0};
        uint64_t s2[2] = {10, 3}, s1[1] = {1000};
        for (size_t b = 0; b < sizeof block_bytes / sizeof block_bytes[0]; b++) {
            char name[32];
            snprintf(name, sizeof name, "lz_%llu", (unsigned long long)block_bytes[b]);
            mfield *mf = model_add(&m, name, TC_DTYPE_U16, 2, s2);
            mf->spec.codec = TC_CODEC_LZ4;
            mf->spec.block_bytes = block_bytes[b];
            mf->content = content;
        }
        mfield *big = model_add(&m, "big", TC_DTYPE_F32, 1, s1); /* 4000-byte samples */
        big->spec.codec = TC_CODEC_LZ4, big->spec.block_bytes = 10000, big->content = content;
        mfield *sc = model_add(&m, "scalar", TC_DTYPE_I64, 0, NULL);
        sc->spec.codec = TC_CODEC_LZ4, sc->spec.block_bytes = 24, sc->content = content;
        model_add(&m, "plain", TC_DTYPE_U8, 0, NULL); /* a neighbour without codec */
        model_roundtrip(&m, content ? "lz4_pattern.tc" : "lz4_random.tc", 1003, 7 + content);
    }
}

static void test_lz4_zero_size_samples(void **state)
{
    (void)state;
    model m = {0};
    uint64_t s0[2] = {4, 0};
    model_add(&m, "empty_lz", TC_DTYPE_U8, 2, s0)->spec.codec = TC_CODEC_LZ4;
    model_add(&m, "label", TC_DTYPE_U8, 0, NULL);
    model_roundtrip(&m, "lz4_empty.tc", 9, 9);
}

static void test_lz4_compresses(void **state)
{
    (void)state;
    /* A compressible field must take far fewer bytes than its raw size. */
    model m = {0};
    uint64_t s1[1] = {4096};
    mfield *mf = model_add(&m, "zeros", TC_DTYPE_U8, 1, s1);
    mf->spec.codec = TC_CODEC_LZ4, mf->content = CONTENT_PATTERN;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "lz4_small.tc");
    model_generate(&m, 256, 10);
    model_write(&m, path);
    assert_true(tu_file_size(path) < 256 * 4096 / 8);
    model_check(&m, path);
    model_free(&m);
    unlink(path);
}

static void test_append_thousands(void **state)
{
    (void)state;
    model m = {0};
    uint64_t s2[2] = {3, 3}, sv[1] = {TC_DIM_VARIABLE};
    model_add(&m, "fixed", TC_DTYPE_U8, 2, s2);
    model_add(&m, "var", TC_DTYPE_I16, 1, sv)->maxdim = 9;
    mfield *lz = model_add(&m, "lz", TC_DTYPE_U8, 2, s2);
    lz->spec.codec = TC_CODEC_LZ4, lz->spec.block_bytes = 1000;
    model_add(&m, "label", TC_DTYPE_I64, 0, NULL);
    model_roundtrip(&m, "thousands.tc", 5000, 11);
}

static void test_append_batch(void **state)
{
    (void)state;
    model m = {0};
    uint64_t s2[2] = {3, 5}, sv[2] = {TC_DIM_VARIABLE, 2};
    model_add(&m, "fixed", TC_DTYPE_U16, 2, s2);
    model_add(&m, "var", TC_DTYPE_F32, 2, sv)->maxdim = 7;
    mfield *lz = model_add(&m, "lz", TC_DTYPE_U16, 2, s2);
    lz->spec.codec = TC_CODEC_LZ4, lz->spec.block_bytes = 300;
    model_add(&m, "padded", TC_DTYPE_U8, 1, s2)->spec.align = 32;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "batch.tc");
    model_generate(&m, 777, 12);
    model_write_batches(&m, path, 99);
    model_check(&m, path);

    /* Same data written one sample at a time gives the identical file. */
    char path2[PATH_MAX];
    tu_path(path2, sizeof path2, "batch_single.tc");
    model_write(&m, path2);
    assert_true(tu_files_equal(path, path2));
    model_free(&m);
    unlink(path);
    unlink(path2);
}

static void test_metadata(void **state)
{
    (void)state;
    static const char json[] = "{\"classes\": [\"T-shirt/top\", \"Trouser\"], \"x\": \"\xe2\x82\xac\"}";
    uint64_t s1[1] = {2};
    struct {
        const char *meta;
        size_t size;
    } cases[] = {{json, sizeof json - 1}, {"", 0}, {NULL, 0}, {"not json at all", 15}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        model m = {0};
        model_add(&m, "x", TC_DTYPE_U8, 1, s1);
        m.meta = cases[t].meta;
        m.meta_size = cases[t].size;
        model_roundtrip(&m, "meta.tc", 3, 13);
    }
}

static void test_metadata_large(void **state)
{
    (void)state;
    /* 1 MiB of ASCII metadata with a multibyte character at the very end. */
    size_t n = (1u << 20) + 3;
    char *meta = malloc(n);
    memset(meta, 'a', n);
    memcpy(meta + n - 3, "\xe2\x82\xac", 3);
    model m = {0};
    uint64_t s1[1] = {2};
    model_add(&m, "x", TC_DTYPE_U8, 1, s1);
    m.meta = meta;
    m.meta_size = n;
    model_roundtrip(&m, "meta_large.tc", 2, 14);
    free(meta);
}

/* The error contract (include/tensorcache.h, "Conventions"): a failing call returns the code and
 * fills err with the same code and a message; a NULL handle is INVALID_ARG for calls returning a
 * code and 0 for getters. */
#define EXPECT_FILLED(want, expr)                                                                  \
    do {                                                                                           \
        tc_error e_;                                                                               \
        memset(&e_, 0, sizeof e_);                                                                 \
        int rc_ = (expr);                                                                          \
        if (rc_ != (want) || e_.code != (want) || e_.message[0] == 0)                              \
            fail_msg("%s: returned %s, err.code %s, message '%s'; expected %s with a message",    \
                     #expr, tc_error_name(rc_), tc_error_name(e_.code), e_.message,               \
                     tc_error_name(want));                                                         \
    } while (0)

static void test_error_contract(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "contract.tc");
    tu_write_small(path, TU_IMAGE | TU_LABEL, 4, NULL);
    tc_cache *c = NULL;
    tc_error err;
    TU_OK(tc_open(&c, path, 0, &err), &err);
    tc_field_info fi;
    tc_view v;
    tc_span sp;
    uint32_t k;
    uint64_t nb, idx = 0, shape[TC_MAX_RANK];
    uint8_t buf[64];
    const void *meta;
    size_t msize;
    EXPECT_FILLED(TC_ERR_NOT_FOUND, tc_find_field(c, "nope", &k, &e_));
    EXPECT_FILLED(TC_ERR_NOT_FOUND, tc_describe_field(c, 2, &fi, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_describe_field(c, 0, NULL, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_find_field(c, NULL, &k, &e_));
    TU_OK(tc_find_field(c, "label", NULL, &err), &err); /* field may be NULL */
    TU_OK(tc_metadata(c, NULL, NULL, &err), &err);
    /* NULL handle: INVALID_ARG from every call that returns a code ... */
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_find_field(NULL, "image", &k, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_describe_field(NULL, 0, &fi, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_metadata(NULL, &meta, &msize, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_sample(NULL, 0, 0, &v, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_range(NULL, 0, 0, 1, &v, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_field_span(NULL, 0, &sp, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_sample_nbytes(NULL, 0, 0, &nb, shape, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_read_sample(NULL, 0, 0, buf, sizeof buf, &nb, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_gather(NULL, 0, &idx, 1, buf, sizeof buf, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_advise(NULL, TC_ALL_FIELDS, TC_ADVICE_NORMAL, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_prefetch(NULL, 0, &idx, 1, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_verify(NULL, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_writer_add_field(NULL, NULL, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_writer_set_metadata(NULL, "{}", 2, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_writer_append(NULL, NULL, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_writer_append_batch(NULL, 1, NULL, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_writer_finish(NULL, &e_));
    tc_loader *ld = NULL;
    const tc_batch *batch;
    tc_order order = {0};
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_loader_create(&ld, NULL, NULL, NULL, &e_));
    assert_null(ld);
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_loader_next(NULL, &batch, 0, &e_));
    EXPECT_FILLED(TC_ERR_INVALID_ARG, tc_loader_restart(NULL, &order, &e_));
    /* ... 0 from the getters, nothing from the destructors. */
    assert_int_equal(tc_num_samples(NULL), 0);
    assert_int_equal(tc_num_fields(NULL), 0);
    assert_int_equal(tc_file_size(NULL), 0);
    assert_int_equal(tc_format_version(NULL), 0);
    assert_int_equal(tc_writer_count(NULL), 0);
    assert_int_equal(tc_writer_bytes(NULL), 0);
    assert_int_equal(tc_loader_num_batches(NULL), 0);
    assert_int_equal(tc_loader_num_threads(NULL), 0);
    tc_loader_release(NULL);
    tc_loader_close(NULL);
    tc_close(NULL);
    tc_writer_abort(NULL);
    /* err may be NULL on every path */
    assert_int_equal(tc_find_field(c, "nope", &k, NULL), TC_ERR_NOT_FOUND);
    assert_int_equal(tc_describe_field(NULL, 0, &fi, NULL), TC_ERR_INVALID_ARG);
    tc_close(c);
}

static void test_small_cache_all_paths(void **state)
{
    (void)state;
    /* The shared reference cache, through tu_check_small, with every open flag. */
    char path[PATH_MAX];
    tu_path(path, sizeof path, "small.tc");
    unsigned mask = TU_IMAGE | TU_LABEL | TU_TOKENS | TU_PACKED | TU_WIDE | TU_BOXES;
    tu_write_small(path, mask, 40, NULL);
    static const unsigned flags[] = {0, TC_OPEN_NO_MMAP, TC_OPEN_VERIFY,
                                     TC_OPEN_VERIFY | TC_OPEN_NO_MMAP};
    for (size_t f = 0; f < 4; f++) {
        tc_cache *c = NULL;
        tc_error err;
        TU_OK(tc_open(&c, path, flags[f], &err), &err);
        tu_check_small(c, mask, 40);
        uint32_t k;
        TU_OK(tc_find_field(c, "tokens", &k, NULL), NULL);
        assert_int_equal(k, 2);
        /* exact names only: no prefix, no case folding */
        TU_EXPECT(TC_ERR_NOT_FOUND, tc_find_field(c, "token", &k, NULL), NULL);
        TU_EXPECT(TC_ERR_NOT_FOUND, tc_find_field(c, "Image", &k, NULL), NULL);
        TU_EXPECT(TC_ERR_NOT_FOUND, tc_find_field(c, "", &k, NULL), NULL);
        TU_OK(tc_verify(c, &err), &err);
        tc_close(c);
    }
    tc_close(NULL); /* accepted */
    unlink(path);
}

/* tc_prefetch: every kind of field and both backends accept valid indices; an out-of-range index
 * is refused before anything is advised; the data read afterwards is unchanged. */
static void test_prefetch(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "prefetch.tc");
    unsigned mask = TU_IMAGE | TU_LABEL | TU_TOKENS | TU_PACKED | TU_WIDE | TU_BOXES;
    tu_write_small(path, mask, 40, NULL);
    static const unsigned flags[] = {0, TC_OPEN_NO_MMAP};
    const uint64_t idx[] = {39, 0, 7, 7, 21};
    const uint64_t bad[] = {1, 40};
    for (size_t fl = 0; fl < 2; fl++) {
        tc_cache *c = NULL;
        tc_error err;
        TU_OK(tc_open(&c, path, flags[fl], &err), &err);
        for (uint32_t k = 0; k < tc_num_fields(c); k++) {
            TU_OK(tc_prefetch(c, k, idx, 5, &err), &err);
            TU_OK(tc_prefetch(c, k, NULL, 0, &err), &err);
            TU_EXPECT(TC_ERR_RANGE, tc_prefetch(c, k, bad, 2, &err), &err);
            TU_EXPECT(TC_ERR_INVALID_ARG, tc_prefetch(c, k, NULL, 1, &err), &err);
        }
        TU_EXPECT(TC_ERR_NOT_FOUND, tc_prefetch(c, tc_num_fields(c), idx, 1, &err), &err);
        tu_check_small(c, mask, 40);
        tc_close(c);
    }
    unlink(path);
}

/* Concurrent readers: each thread reads every sample of every field (LZ4 included, which
 * exercises per-call decode buffers) and counts mismatches; asserts run on the main thread
 * because cmocka is not thread-safe. */
typedef struct {
    tc_cache *cache;
    unsigned mask;
    uint64_t n;
    int rounds;
    int errors;
} reader_job;

static void *reader_thread(void *arg)
{
    reader_job *job = arg;
    for (int r = 0; r < job->rounds; r++) {
        for (unsigned bit = 1; bit <= TU_LAST_FIELD; bit <<= 1) {
            if (!(job->mask & bit))
                continue;
            uint32_t k = tu_small_index(job->mask, bit);
            for (uint64_t i = 0; i < job->n; i++) {
                uint8_t want[128], got[128];
                uint64_t nb = 0;
                size_t wn = tu_small_sample(bit, i, want);
                if (tc_read_sample(job->cache, k, i, got, sizeof got, &nb, NULL) != TC_OK ||
                    nb != wn || memcmp(got, want, wn) != 0)
                    job->errors++;
            }
        }
        uint32_t k = tu_small_index(job->mask, TU_PACKED);
        uint64_t idx[4] = {job->n - 1, 0, 7, 7};
        uint8_t dst[4 * 30], want[30];
        if (tc_gather(job->cache, k, idx, 4, dst, sizeof dst, NULL) != TC_OK)
            job->errors++;
        for (int j = 0; j < 4; j++) {
            tu_small_sample(TU_PACKED, idx[j], want);
            if (memcmp(dst + 30 * j, want, 30) != 0)
                job->errors++;
        }
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "threads.tc");
    unsigned mask = TU_IMAGE | TU_LABEL | TU_TOKENS | TU_PACKED | TU_WIDE | TU_BOXES;
    tu_write_small(path, mask, 300, NULL);
    for (unsigned flags = 0; flags <= TC_OPEN_NO_MMAP; flags += TC_OPEN_NO_MMAP) {
        tc_cache *c = NULL;
        tc_error err;
        TU_OK(tc_open(&c, path, flags, &err), &err);
        reader_job jobs[4];
        pthread_t th[4];
        for (int t = 0; t < 4; t++) {
            jobs[t] = (reader_job){c, mask, 300, 5, 0};
            assert_int_equal(pthread_create(&th[t], NULL, reader_thread, &jobs[t]), 0);
        }
        for (int t = 0; t < 4; t++) {
            assert_int_equal(pthread_join(th[t], NULL), 0);
            assert_int_equal(jobs[t].errors, 0);
        }
        tc_close(c);
    }
    unlink(path);
}

static void test_open_errors_simple(void **state)
{
    (void)state;
    tc_cache *c = (tc_cache *)(uintptr_t)1;
    tc_error err;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "does-not-exist.tc");
    TU_EXPECT(TC_ERR_IO, tc_open(&c, path, 0, &err), &err);
    assert_null(c);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_true(strlen(err.message) > 0);
    /* a directory is not a cache */
    c = (tc_cache *)(uintptr_t)1;
    assert_int_not_equal(tc_open(&c, tu_tmp_root, 0, &err), TC_OK);
    assert_null(c);
    assert_true(strlen(err.message) > 0);
}

static void test_dtype_and_version_helpers(void **state)
{
    (void)state;
    /* FORMAT.md section 4, column by column */
    static const struct {
        int code;
        size_t size;
        const char *name, *numpy;
    } table[] = {
        {1, 1, "bool", "|b1"}, {2, 1, "u8", "|u1"},   {3, 1, "i8", "|i1"},
        {4, 2, "u16", "<u2"},  {5, 2, "i16", "<i2"},  {6, 4, "u32", "<u4"},
        {7, 4, "i32", "<i4"},  {8, 8, "u64", "<u8"},  {9, 8, "i64", "<i8"},
        {10, 2, "f16", "<f2"}, {11, 2, "bf16", "|V2"}, {12, 4, "f32", "<f4"},
        {13, 8, "f64", "<f8"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        assert_int_equal(tc_dtype_size(table[i].code), table[i].size);
        assert_string_equal(tc_dtype_name(table[i].code), table[i].name);
        assert_string_equal(tc_dtype_numpy(table[i].code), table[i].numpy);
        assert_int_equal(tc_dtype_from_name(table[i].name), table[i].code);
    }
    assert_int_equal(tc_dtype_from_name("uint8"), TC_DTYPE_U8);
    assert_int_equal(tc_dtype_from_name("float32"), TC_DTYPE_F32);
    assert_int_equal(tc_dtype_from_name("int64"), TC_DTYPE_I64);
    assert_int_equal(tc_dtype_from_name("nonsense"), 0);
    assert_int_equal(tc_dtype_from_name(""), 0);
    assert_int_equal(tc_dtype_size(0), 0);
    assert_int_equal(tc_dtype_size(14), 0);
    assert_null(tc_dtype_name(0));
    assert_null(tc_dtype_name(14));
    assert_int_equal(tc_version_number(), TC_VERSION_NUMBER);
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", TC_VERSION_MAJOR, TC_VERSION_MINOR, TC_VERSION_PATCH);
    assert_string_equal(tc_version_string(), v);
    unsigned major = 99, minor = 99, patch = 99;
    tc_version(&major, &minor, &patch);
    assert_int_equal(major, TC_VERSION_MAJOR);
    assert_int_equal(minor, TC_VERSION_MINOR);
    assert_int_equal(patch, TC_VERSION_PATCH);
    tc_version(NULL, NULL, NULL);
    tc_format_written(&major, &minor);
    assert_int_equal(major, TC_FORMAT_MAJOR);
    assert_int_equal(minor, TC_FORMAT_MINOR);
}

int main(void)
{
    tu_tmp_init("test_roundtrip");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_facts),
        cmocka_unit_test(test_every_dtype),
        cmocka_unit_test(test_n_zero),
        cmocka_unit_test(test_n_one),
        cmocka_unit_test(test_odd_shapes),
        cmocka_unit_test(test_variable_fields),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_lz4_fields),
        cmocka_unit_test(test_lz4_zero_size_samples),
        cmocka_unit_test(test_lz4_compresses),
        cmocka_unit_test(test_append_thousands),
        cmocka_unit_test(test_append_batch),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_metadata_large),
        cmocka_unit_test(test_small_cache_all_paths),
        cmocka_unit_test(test_error_contract),
        cmocka_unit_test(test_prefetch),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_open_errors_simple),
        cmocka_unit_test(test_dtype_and_version_helpers),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmp_cleanup();
    return rc;
}
