/*
 * exercise.c - open a cache every way and touch every byte through every read path.
 *
 * This is the body of the open fuzz target and of the corruption sweep. It does more than call
 * each function: every byte a view hands out is read (so ASan sees any out-of-bounds pointer),
 * and the read paths are checked against each other and against the file's bytes:
 *
 *  - tc_open with and without TC_OPEN_NO_MMAP accepts or rejects a file identically, and
 *    TC_OPEN_VERIFY gives the same answer as tc_open + tc_verify (on both backends);
 *  - a failing call fills tc_error with the same code and a non-empty message;
 *  - the same sample read through tc_sample, tc_span_at, tc_range, tc_read_sample (mmap and
 *    pread) and tc_gather (mmap and pread) gives the same code and the same bytes, and those bytes
 *    are where the file's own field table and index say they are, inside the file; tc_prefetch
 *    of the same samples answers alike on both backends;
 *  - when tc_verify passed, every in-range read succeeds (verify checks everything the lazy
 *    per-sample checks do);
 *  - out-of-range indexes, too-small buffers and wrong kinds give their documented codes.
 */
#include "tcfuzz.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void default_violation(const char *msg)
{
    fprintf(stderr, "tcfuzz: invariant violated: %s\n", msg);
    abort();
}

void (*tcf_violation)(const char *msg) = default_violation;

static void violated(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violated(const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tcf_violation(msg);
}

/* Every touched byte is summed into a volatile sink so the loads cannot be optimised away. */
static volatile uint64_t tcf_sink;

static void touch(const void *p, uint64_t n, tcf_result *r)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += b[i];
    tcf_sink += s;
    r->bytes += n;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- calling with a fresh tc_error, checking what a failure reports ---- */

static void err_reset(tc_error *e)
{
    e->code = -1;
    e->sys_errno = 0;
    e->message[0] = '\0';
}

/* A failing call must leave its own code and a message in the tc_error. */
static void check_err(int rc, const tc_error *e, const char *call)
{
    if (rc == TC_OK)
        return;
    if (e->code != rc)
        violated("%s returned %s but tc_error.code is %d", call, tc_error_name(rc), e->code);
    else if (e->message[0] == '\0' || strnlen(e->message, sizeof e->message) == sizeof e->message)
        violated("%s returned %s with an empty or unterminated message", call, tc_error_name(rc));
}

static void expect_code(int got, int want, const char *call, uint32_t k, uint64_t i)
{
    if (got != want)
        violated("%s (field %u, sample %llu) returned %s, expected %s", call, k,
                 (unsigned long long)i, tc_error_name(got), tc_error_name(want));
}

/* ---- the model: what the file's own bytes say ---- */

typedef struct {
    const tcf_opts *o;
    tcf_result *r;
    tc_cache *cm, *cp; /* mmap backend, pread backend */
    uint64_t n;
    bool verified; /* tc_verify passed: every in-range read must succeed */
    uint32_t k;
    tc_field_info info;
    bool uncompressed_fixed;
    tc_span span;
    bool span_ok;
} tcf_ctx;

/* true when [off, off+len) lies inside the model file (overflow-checked) */
static bool in_file(const tcf_ctx *c, uint64_t off, uint64_t len)
{
    uint64_t end;
    return !__builtin_add_overflow(off, len, &end) && end <= c->o->file_size;
}

static const uint8_t *field_entry_bytes(const tcf_ctx *c)
{
    if (!c->o->file || c->o->file_size < 128)
        return NULL;
    uint64_t ft = le64(c->o->file + 40);
    uint64_t off;
    if (__builtin_mul_overflow((uint64_t)c->k, 256u, &off) || __builtin_add_overflow(off, ft, &off) ||
        !in_file(c, off, 256))
        return NULL;
    return c->o->file + off;
}

/* The description must be exactly what the field table entry in the file holds. */
static void model_field(const tcf_ctx *c)
{
    const tc_field_info *f = &c->info;
    const uint8_t *e = field_entry_bytes(c);
    if (!c->o->file)
        return;
    if (!e) {
        violated("field %u: accepted, but its field table entry lies outside the file", c->k);
        return;
    }
    if (f->data_offset != le64(e + 160) || f->data_size != le64(e + 168) ||
        f->index_offset != le64(e + 184) || f->index_size != le64(e + 192) ||
        f->stride != le64(e + 152) || f->block_samples != le64(e + 208) ||
        f->data_checksum != le64(e + 176) || f->index_checksum != le64(e + 200))
        violated("field %u: tc_describe_field differs from the field table bytes", c->k);
    if (f->dtype != e[66] || f->rank != e[67] || f->variable != e[68] || f->codec != e[69])
        violated("field %u: dtype/rank/kind/codec differ from the field table bytes", c->k);
    size_t len = strlen(f->name);
    if (len != (size_t)(e[64] | e[65] << 8) || memcmp(f->name, e, len) != 0)
        violated("field %u: name differs from the field table bytes", c->k);
    if (!in_file(c, f->data_offset, f->data_size) || !in_file(c, f->index_offset, f->index_size))
        violated("field '%s': accepted with a region outside the %zu-byte file", f->name,
                 c->o->file_size);
}

/* Where the bytes of sample i are according to the file (uncompressed fields). */
static bool model_sample(const tcf_ctx *c, uint64_t i, uint64_t *off, uint64_t *len)
{
    const tc_field_info *f = &c->info;
    if (!f->variable) {
        uint64_t rel;
        if (__builtin_mul_overflow(i, f->stride, &rel) || __builtin_add_overflow(rel, f->sample_bytes, len) ||
            *len > f->data_size)
            return false;
        *off = f->data_offset + rel, *len = f->sample_bytes;
        return in_file(c, *off, *len);
    }
    uint64_t esz = 16 + 8ull * f->rank, eoff;
    if (__builtin_mul_overflow(i, esz, &eoff) || __builtin_add_overflow(eoff, f->index_offset, &eoff) ||
        !in_file(c, eoff, esz))
        return false;
    uint64_t rel = le64(c->o->file + eoff), nb = le64(c->o->file + eoff + 8), end;
    if (__builtin_add_overflow(rel, nb, &end) || end > f->data_size)
        return false;
    *off = f->data_offset + rel, *len = nb;
    return in_file(c, *off, *len);
}

/* A view handed out for sample i must be the file's bytes at the place the model names. */
static void model_view(const tcf_ctx *c, uint64_t i, const tc_view *v)
{
    uint64_t off, len;
    if (!c->o->file)
        return;
    if (!model_sample(c, i, &off, &len)) {
        violated("field '%s' sample %llu: view handed out, but by the file's own index it does "
                 "not lie inside its data region and the file",
                 c->info.name, (unsigned long long)i);
        return;
    }
    if (len != v->nbytes || memcmp(v->data, c->o->file + off, len) != 0)
        violated("field '%s' sample %llu: view bytes differ from file bytes [%llu, +%llu)",
                 c->info.name, (unsigned long long)i, (unsigned long long)off,
                 (unsigned long long)len);
}

/* ---- per-field checks ---- */

static void note_read(tcf_ctx *c, int rc, const char *call, uint64_t i)
{
    c->r->reads++;
    if (rc == TC_OK)
        return;
    if (c->r->read_rc == 0)
        c->r->read_rc = rc;
    if (c->verified)
        violated("tc_verify passed, but %s(field '%s', sample %llu) failed with %s", call,
                 c->info.name, (unsigned long long)i, tc_error_name(rc));
}

static bool same_info(const tc_field_info *a, const tc_field_info *b)
{
    return strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->itemsize == b->itemsize &&
           a->rank == b->rank && memcmp(a->shape, b->shape, sizeof a->shape) == 0 &&
           a->variable == b->variable && a->codec == b->codec &&
           strcmp(a->layout, b->layout) == 0 && a->flags == b->flags &&
           a->sample_bytes == b->sample_bytes && a->stride == b->stride &&
           a->block_samples == b->block_samples && a->data_offset == b->data_offset &&
           a->data_size == b->data_size && a->data_checksum == b->data_checksum &&
           a->index_offset == b->index_offset && a->index_size == b->index_size &&
           a->index_checksum == b->index_checksum;
}

/* The description alone must be self-consistent. */
static void check_info(tcf_ctx *c)
{
    const tc_field_info *f = &c->info;
    tc_field_info other;
    if (tc_describe_field(c->cp, c->k, &other, NULL) != TC_OK || !same_info(f, &other))
        violated("field %u: the two backends describe it differently", c->k);
    size_t len = f->name ? strnlen(f->name, TC_MAX_NAME + 1) : 0;
    if (len < 1 || len > TC_MAX_NAME)
        violated("field %u: name length %zu", c->k, len);
    uint32_t found = UINT32_MAX;
    if (tc_find_field(c->cm, f->name, &found, NULL) != TC_OK || found != c->k)
        violated("field %u: tc_find_field('%s') does not find it", c->k, f->name);
    if (f->itemsize == 0 || f->itemsize != tc_dtype_size(f->dtype))
        violated("field %u: dtype %d with itemsize %zu", c->k, f->dtype, f->itemsize);
    if (f->rank > TC_MAX_RANK || strlen(f->layout) > TC_MAX_LAYOUT)
        violated("field %u: rank %u / layout '%s'", c->k, f->rank, f->layout);
    for (uint32_t d = f->rank; d < TC_MAX_RANK && f->rank <= TC_MAX_RANK; d++)
        if (f->shape[d])
            violated("field %u: shape[%u] beyond the rank is %llu", c->k, d,
                     (unsigned long long)f->shape[d]);
    if (f->variable && f->codec != TC_CODEC_NONE)
        violated("field %u: compressed variable-shape field accepted", c->k);
    if (!f->variable) {
        uint64_t sb = f->itemsize, total;
        for (uint32_t d = 0; d < f->rank && d < TC_MAX_RANK; d++)
            if (__builtin_mul_overflow(sb, f->shape[d], &sb))
                violated("field %u: accepted with an overflowing sample size", c->k);
        if (sb != f->sample_bytes)
            violated("field %u: sample_bytes %llu, shape says %llu", c->k,
                     (unsigned long long)f->sample_bytes, (unsigned long long)sb);
        if (f->codec == TC_CODEC_NONE &&
            (f->stride < sb || __builtin_mul_overflow(c->n, f->stride, &total) || total != f->data_size))
            violated("field %u: stride %llu / data_size %llu inconsistent with N = %llu", c->k,
                     (unsigned long long)f->stride, (unsigned long long)f->data_size,
                     (unsigned long long)c->n);
        if (f->codec == TC_CODEC_LZ4 && f->block_samples == 0)
            violated("field %u: LZ4 field with block_samples 0", c->k);
    }
    model_field(c);
}

static void check_span_and_range(tcf_ctx *c)
{
    tc_error e;
    tc_view v;
    const uint32_t k = c->k;
    err_reset(&e);
    int rc = tc_field_span(c->cm, k, &c->span, &e);
    check_err(rc, &e, "tc_field_span");
    expect_code(rc, c->uncompressed_fixed ? TC_OK : TC_ERR_WRONG_KIND, "tc_field_span", k, 0);
    c->span_ok = rc == TC_OK;
    if (c->span_ok) {
        if (c->span.count != c->n || c->span.stride != c->info.stride)
            violated("field %u: span count/stride %llu/%llu", k, (unsigned long long)c->span.count,
                     (unsigned long long)c->span.stride);
        if (tc_span_at(&c->span, c->n) != NULL)
            violated("field %u: tc_span_at(N) is not NULL", k);
    }
    tc_span sp;
    err_reset(&e);
    rc = tc_field_span(c->cp, k, &sp, &e);
    check_err(rc, &e, "tc_field_span(pread)");
    expect_code(rc, TC_ERR_WRONG_KIND, "tc_field_span(pread)", k, 0);

    err_reset(&e);
    rc = tc_range(c->cm, k, 0, c->n, &v, &e);
    check_err(rc, &e, "tc_range");
    expect_code(rc, c->uncompressed_fixed ? TC_OK : TC_ERR_WRONG_KIND, "tc_range(0, N)", k, 0);
    if (rc == TC_OK) {
        const tc_field_info *f = &c->info;
        uint64_t want = c->n ? (c->n - 1) * f->stride + f->sample_bytes : 0;
        if (v.nbytes != want || v.ndim != f->rank + 1 || v.shape[0] != c->n ||
            v.strides[0] != (int64_t)f->stride || v.dtype != f->dtype || !v.readonly)
            violated("field %u: range view of all samples is malformed", k);
        if (c->span_ok && v.data != (const void *)c->span.base)
            violated("field %u: range view and span start at different addresses", k);
        if (c->o->file && v.nbytes && !in_file(c, f->data_offset, v.nbytes))
            violated("field %u: range view extends past the file", k);
        else if (c->o->file && memcmp(v.data, c->o->file + f->data_offset, v.nbytes) != 0)
            violated("field %u: range view bytes differ from the file", k);
        touch(v.data, v.nbytes, c->r);
        uint64_t half = c->n / 2;
        err_reset(&e);
        rc = tc_range(c->cm, k, half, c->n - half, &v, &e);
        expect_code(rc, TC_OK, "tc_range(N/2, N-N/2)", k, half);
        if (rc == TC_OK && half < c->n && v.data != tc_span_at(&c->span, half))
            violated("field %u: range view at N/2 does not start at tc_span_at(N/2)", k);
        err_reset(&e);
        rc = tc_range(c->cm, k, c->n, 0, &v, &e);
        expect_code(rc, TC_OK, "tc_range(N, 0)", k, c->n);
        if (rc == TC_OK && v.nbytes != 0)
            violated("field %u: empty range view has %llu bytes", k, (unsigned long long)v.nbytes);
        err_reset(&e);
        rc = tc_range(c->cm, k, c->n, 1, &v, &e);
        check_err(rc, &e, "tc_range");
        expect_code(rc, TC_ERR_RANGE, "tc_range(N, 1)", k, c->n);
        err_reset(&e);
        rc = tc_range(c->cm, k, UINT64_MAX, 2, &v, &e);
        check_err(rc, &e, "tc_range");
        expect_code(rc, TC_ERR_RANGE, "tc_range(UINT64_MAX, 2)", k, UINT64_MAX);
    }
    err_reset(&e);
    rc = tc_range(c->cp, k, 0, c->n, &v, &e);
    check_err(rc, &e, "tc_range(pread)");
    expect_code(rc, TC_ERR_WRONG_KIND, "tc_range(pread)", k, 0);
}

/* The C-order strides of a view (from dimension `first` on), where they do not overflow. */
static void check_strides(const tcf_ctx *c, const tc_view *v, uint32_t first, uint64_t i)
{
    uint64_t s = c->info.itemsize;
    for (uint32_t d = v->ndim; d-- > first;) {
        if (s > INT64_MAX)
            return; /* only possible for empty arrays, where strides are meaningless */
        if (v->strides[d] != (int64_t)s)
            violated("field %u sample %llu: stride[%u] is %lld, expected %llu", c->k,
                     (unsigned long long)i, d, (long long)v->strides[d], (unsigned long long)s);
        if (__builtin_mul_overflow(s, v->shape[d], &s))
            return;
    }
}

/* Copies sample i out through both backends and compares with the view (if any). */
static void check_copies(tcf_ctx *c, uint64_t i, uint64_t nb, const tc_view *view)
{
    tc_error e;
    const uint32_t k = c->k;
    if (nb > c->o->byte_cap) { /* too big to copy here: the size check must say so */
        uint8_t small[16];
        uint64_t got = 0;
        err_reset(&e);
        int rc = tc_read_sample(c->cm, k, i, small, sizeof small, &got, &e);
        check_err(rc, &e, "tc_read_sample");
        expect_code(rc, TC_ERR_BUFFER_TOO_SMALL, "tc_read_sample(16-byte buffer)", k, i);
        if (got != nb)
            violated("field %u sample %llu: nbytes %llu from a short read, %llu expected", k,
                     (unsigned long long)i, (unsigned long long)got, (unsigned long long)nb);
        return;
    }
    uint8_t *bm = malloc(nb ? nb : 1), *bp = malloc(nb ? nb : 1);
    if (!bm || !bp) {
        free(bm);
        free(bp);
        return;
    }
    uint64_t gm = UINT64_MAX, gp = UINT64_MAX;
    err_reset(&e);
    int rm = tc_read_sample(c->cm, k, i, bm, nb, &gm, &e);
    check_err(rm, &e, "tc_read_sample");
    err_reset(&e);
    int rp = tc_read_sample(c->cp, k, i, bp, nb, &gp, &e);
    check_err(rp, &e, "tc_read_sample(pread)");
    note_read(c, rm, "tc_read_sample", i);
    if (rm != rp)
        violated("field %u sample %llu: tc_read_sample gives %s (mmap) and %s (pread)", k,
                 (unsigned long long)i, tc_error_name(rm), tc_error_name(rp));
    if (rm == TC_OK && rp == TC_OK) {
        touch(bm, nb, c->r);
        if (gm != nb || gp != nb)
            violated("field %u sample %llu: tc_read_sample nbytes %llu/%llu, expected %llu", k,
                     (unsigned long long)i, (unsigned long long)gm, (unsigned long long)gp,
                     (unsigned long long)nb);
        if (memcmp(bm, bp, nb) != 0)
            violated("field %u sample %llu: mmap and pread copies differ", k, (unsigned long long)i);
        if (view && memcmp(view->data, bm, nb) != 0)
            violated("field %u sample %llu: view and copy differ", k, (unsigned long long)i);
        if (c->span_ok && memcmp(tc_span_at(&c->span, i), bm, nb) != 0)
            violated("field %u sample %llu: span and copy differ", k, (unsigned long long)i);
    }
    if (nb > 0) {
        err_reset(&e);
        int rc = tc_read_sample(c->cm, k, i, bm, nb - 1, NULL, &e);
        check_err(rc, &e, "tc_read_sample");
        expect_code(rc, TC_ERR_BUFFER_TOO_SMALL, "tc_read_sample(nbytes - 1)", k, i);
    }
    free(bm);
    free(bp);
}

static void exercise_sample(tcf_ctx *c, uint64_t i)
{
    tc_error e;
    const uint32_t k = c->k;
    const tc_field_info *f = &c->info;
    uint64_t nm = 0, np = 0, sm[TC_MAX_RANK], sp[TC_MAX_RANK];
    memset(sm, 0xA5, sizeof sm);
    memset(sp, 0x5A, sizeof sp);
    err_reset(&e);
    int rm = tc_sample_nbytes(c->cm, k, i, &nm, sm, &e);
    check_err(rm, &e, "tc_sample_nbytes");
    int rp = tc_sample_nbytes(c->cp, k, i, &np, sp, NULL);
    note_read(c, rm, "tc_sample_nbytes", i);
    if (rm != rp || (rm == TC_OK && (nm != np || memcmp(sm, sp, sizeof sm) != 0)))
        violated("field %u sample %llu: tc_sample_nbytes differs between backends", k,
                 (unsigned long long)i);
    if (rm == TC_OK) {
        uint64_t prod = f->itemsize;
        for (uint32_t d = 0; d < f->rank; d++) {
            if (f->shape[d] != TC_DIM_VARIABLE && sm[d] != f->shape[d])
                violated("field %u sample %llu: shape[%u] %llu differs from the field's %llu", k,
                         (unsigned long long)i, d, (unsigned long long)sm[d],
                         (unsigned long long)f->shape[d]);
            if (__builtin_mul_overflow(prod, sm[d], &prod))
                violated("field %u sample %llu: accepted with an overflowing shape", k,
                         (unsigned long long)i);
        }
        if (prod != nm)
            violated("field %u sample %llu: nbytes %llu, shape says %llu", k,
                     (unsigned long long)i, (unsigned long long)nm, (unsigned long long)prod);
    }

    tc_view v;
    bool have_view = false;
    err_reset(&e);
    int rv = tc_sample(c->cm, k, i, &v, &e);
    check_err(rv, &e, "tc_sample");
    if (f->codec != TC_CODEC_NONE) {
        expect_code(rv, TC_ERR_WRONG_KIND, "tc_sample(compressed)", k, i);
    } else {
        note_read(c, rv, "tc_sample", i);
        expect_code(rv, rm, "tc_sample (vs tc_sample_nbytes)", k, i);
        if (rv == TC_OK) {
            have_view = true;
            if (v.nbytes != nm || v.ndim != f->rank || v.dtype != f->dtype || !v.readonly ||
                memcmp(v.shape, sm, f->rank * sizeof sm[0]) != 0)
                violated("field %u sample %llu: view header is malformed", k, (unsigned long long)i);
            check_strides(c, &v, 0, i);
            if (c->span_ok && v.data != tc_span_at(&c->span, i))
                violated("field %u sample %llu: view and tc_span_at disagree", k,
                         (unsigned long long)i);
            touch(v.data, v.nbytes, c->r);
            model_view(c, i, &v);
        }
    }
    if (rm == TC_OK) {
        check_copies(c, i, nm, have_view ? &v : NULL);
    } else { /* the damaged entry must stop the copy path too, with the same code */
        uint8_t small[16];
        err_reset(&e);
        int rc = tc_read_sample(c->cm, k, i, small, sizeof small, NULL, &e);
        check_err(rc, &e, "tc_read_sample");
        expect_code(rc, rm, "tc_read_sample (vs tc_sample_nbytes)", k, i);
    }
}

/* Number of samples visited, and the j-th of them: all, or the first and last cap/2. */
static uint64_t visit_count(const tcf_ctx *c)
{
    return c->n <= c->o->sample_cap ? c->n : c->o->sample_cap;
}

static uint64_t visit_index(const tcf_ctx *c, uint64_t j)
{
    uint64_t cnt = visit_count(c);
    if (c->n <= c->o->sample_cap || j < cnt / 2)
        return j;
    return c->n - (cnt - j);
}

/* An out-of-range index anywhere in the list fails the whole gather with RANGE. */
static void check_gather_range(tcf_ctx *c)
{
    tc_error e;
    const tc_field_info *f = &c->info;
    uint64_t bad[2] = {0, c->n}; /* a valid index (when N > 0), then one out of range */
    size_t cnt = c->n ? 2 : 1;
    uint64_t need;
    if (__builtin_mul_overflow((uint64_t)cnt, f->sample_bytes, &need) || need > c->o->byte_cap)
        return;
    uint8_t *dst = malloc(need + 1);
    if (!dst)
        return;
    err_reset(&e);
    int rc = tc_gather(c->cm, c->k, bad + (c->n == 0), cnt, dst, need, &e);
    check_err(rc, &e, "tc_gather");
    expect_code(rc, TC_ERR_RANGE, "tc_gather(index N)", c->k, c->n);
    free(dst);
}

static void check_gather(tcf_ctx *c)
{
    tc_error e;
    const uint32_t k = c->k;
    const tc_field_info *f = &c->info;
    uint64_t m = visit_count(c), need;
    uint64_t *idx = malloc((m + 2) * sizeof *idx);
    if (!idx)
        return;
    for (uint64_t j = 0; j < m; j++) /* reversed, plus a repeat: gather takes any order */
        idx[j] = visit_index(c, m - 1 - j);
    idx[m] = m ? idx[0] : 0;
    size_t cnt = m ? (size_t)m + 1 : 0;
    uint8_t one;
    if (f->variable) {
        err_reset(&e);
        int rc = tc_gather(c->cm, k, idx, cnt, &one, 1, &e);
        check_err(rc, &e, "tc_gather");
        expect_code(rc, TC_ERR_WRONG_KIND, "tc_gather(variable)", k, 0);
        free(idx);
        return;
    }
    if (__builtin_mul_overflow((uint64_t)cnt, f->sample_bytes, &need) || need > c->o->byte_cap ||
        f->sample_bytes > c->o->byte_cap) {
        free(idx);
        return;
    }
    uint8_t *gm = malloc(need + 1), *gp = malloc(need + 1), *one_s = malloc(f->sample_bytes + 1);
    if (gm && gp && one_s) {
        err_reset(&e);
        int rm = tc_gather(c->cm, k, idx, cnt, gm, need, &e);
        check_err(rm, &e, "tc_gather");
        err_reset(&e);
        int rp = tc_gather(c->cp, k, idx, cnt, gp, need, &e);
        check_err(rp, &e, "tc_gather(pread)");
        note_read(c, rm, "tc_gather", idx[0]);
        if (rm != rp)
            violated("field %u: tc_gather gives %s (mmap) and %s (pread)", k, tc_error_name(rm),
                     tc_error_name(rp));
        if (rm == TC_OK && rp == TC_OK) {
            touch(gm, need, c->r);
            if (memcmp(gm, gp, need) != 0)
                violated("field %u: mmap and pread gathers differ", k);
            for (size_t j = 0; j < cnt; j++) {
                int rc = tc_read_sample(c->cm, k, idx[j], one_s, f->sample_bytes, NULL, NULL);
                if (rc == TC_OK &&
                    memcmp(one_s, gm + j * f->sample_bytes, f->sample_bytes) != 0)
                    violated("field %u: gathered sample %llu differs from tc_read_sample", k,
                             (unsigned long long)idx[j]);
                if (rc != TC_OK) /* gather succeeded, so the sample is readable */
                    violated("field %u: tc_gather succeeded but sample %llu reads as %s", k,
                             (unsigned long long)idx[j], tc_error_name(rc));
            }
        }
        if (need > 0) {
            err_reset(&e);
            int rc = tc_gather(c->cm, k, idx, cnt, gm, need - 1, &e);
            check_err(rc, &e, "tc_gather");
            expect_code(rc, TC_ERR_BUFFER_TOO_SMALL, "tc_gather(short buffer)", k, 0);
        }
    }
    if (gm && gp && one_s)
        check_gather_range(c);
    free(gm);
    free(gp);
    free(one_s);
    free(idx);
}

/* tc_prefetch of the visited samples: the same answer on both backends, OK once verified, and
 * RANGE for an index past the end (checked before anything is advised). */
static void check_prefetch(tcf_ctx *c)
{
    tc_error e;
    uint64_t m = visit_count(c);
    uint64_t *idx = malloc((m + 1) * sizeof *idx);
    if (!idx)
        return;
    for (uint64_t j = 0; j < m; j++)
        idx[j] = visit_index(c, m - 1 - j);
    err_reset(&e);
    int rm = tc_prefetch(c->cm, c->k, idx, (size_t)m, &e);
    check_err(rm, &e, "tc_prefetch");
    err_reset(&e);
    int rp = tc_prefetch(c->cp, c->k, idx, (size_t)m, &e);
    check_err(rp, &e, "tc_prefetch(pread)");
    note_read(c, rm, "tc_prefetch", m ? idx[0] : 0);
    if (rm != rp)
        violated("field %u: tc_prefetch gives %s (mmap) and %s (pread)", c->k, tc_error_name(rm),
                 tc_error_name(rp));
    idx[m] = c->n;
    err_reset(&e);
    int rc = tc_prefetch(c->cm, c->k, idx, (size_t)m + 1, &e);
    check_err(rc, &e, "tc_prefetch");
    expect_code(rc, TC_ERR_RANGE, "tc_prefetch(..., N)", c->k, c->n);
    free(idx);
}

static void check_out_of_range(tcf_ctx *c)
{
    tc_error e;
    tc_view v;
    uint8_t buf[8];
    uint64_t nb;
    const uint32_t k = c->k;
    err_reset(&e);
    int rc = tc_sample(c->cm, k, c->n, &v, &e);
    check_err(rc, &e, "tc_sample");
    expect_code(rc, c->info.codec ? TC_ERR_WRONG_KIND : TC_ERR_RANGE, "tc_sample(N)", k, c->n);
    err_reset(&e);
    rc = tc_read_sample(c->cp, k, c->n, buf, sizeof buf, NULL, &e);
    check_err(rc, &e, "tc_read_sample");
    expect_code(rc, TC_ERR_RANGE, "tc_read_sample(N)", k, c->n);
    err_reset(&e);
    rc = tc_sample_nbytes(c->cm, k, UINT64_MAX, &nb, NULL, &e);
    check_err(rc, &e, "tc_sample_nbytes");
    expect_code(rc, TC_ERR_RANGE, "tc_sample_nbytes(UINT64_MAX)", k, UINT64_MAX);
}

static void check_advise(tcf_ctx *c)
{
    tc_error e;
    err_reset(&e);
    int rc = tc_advise(c->cm, c->k, TC_ADVICE_RANDOM, &e);
    check_err(rc, &e, "tc_advise");
    expect_code(rc, TC_OK, "tc_advise", c->k, 0);
    rc = tc_advise(c->cp, c->k, TC_ADVICE_SEQUENTIAL, &e);
    expect_code(rc, TC_OK, "tc_advise(pread)", c->k, 0);
}

static void exercise_field(tcf_ctx *c)
{
    if (tc_describe_field(c->cm, c->k, &c->info, NULL) != TC_OK) {
        violated("tc_describe_field(%u) failed for k < num_fields", c->k);
        return;
    }
    c->uncompressed_fixed = !c->info.variable && c->info.codec == TC_CODEC_NONE;
    check_info(c);
    check_span_and_range(c);
    for (uint64_t j = 0, m = visit_count(c); j < m; j++)
        exercise_sample(c, visit_index(c, j));
    check_gather(c);
    check_prefetch(c);
    check_out_of_range(c);
    check_advise(c);
}

static void check_cache_wide(tcf_ctx *c)
{
    const void *dm, *dp;
    size_t sm, sp;
    tc_metadata(c->cm, &dm, &sm, NULL);
    tc_metadata(c->cp, &dp, &sp, NULL);
    if (sm != sp || (sm && (!dm || !dp || memcmp(dm, dp, sm) != 0)))
        violated("metadata differs between backends");
    if (sm)
        touch(dm, sm, c->r);
    if (c->o->file && c->o->file_size >= 128) {
        uint64_t off = le64(c->o->file + 56), size = le64(c->o->file + 64);
        if (size != sm || (sm && (!in_file(c, off, size) || memcmp(dm, c->o->file + off, sm) != 0)))
            violated("metadata differs from the file's metadata bytes");
    }
    if (tc_num_samples(c->cp) != c->n || tc_num_fields(c->cm) != tc_num_fields(c->cp) ||
        tc_file_size(c->cm) != tc_file_size(c->cp) ||
        tc_format_version(c->cm) != tc_format_version(c->cp))
        violated("cache-wide values differ between backends");
    if (c->o->file && c->o->file_size >= 128 &&
        tc_format_version(c->cm) != 100u * (c->o->file[8] | c->o->file[9] << 8) +
                                        (c->o->file[10] | c->o->file[11] << 8))
        violated("tc_format_version %u differs from the header's version bytes",
                 tc_format_version(c->cm));
    if (c->o->file && tc_file_size(c->cm) != c->o->file_size)
        violated("tc_file_size %llu, file is %zu bytes", (unsigned long long)tc_file_size(c->cm),
                 c->o->file_size);
    tc_field_info info;
    uint32_t nf = tc_num_fields(c->cm), found;
    if (nf < 1 || nf > TC_MAX_FIELDS)
        violated("accepted with %u fields", nf);
    if (tc_describe_field(c->cm, nf, &info, NULL) != TC_ERR_NOT_FOUND)
        violated("tc_describe_field(num_fields) is not NOT_FOUND");
    if (tc_find_field(c->cm, "", &found, NULL) != TC_ERR_NOT_FOUND)
        violated("tc_find_field(\"\") is not NOT_FOUND");
    tc_error e;
    err_reset(&e);
    int rc = tc_sample_nbytes(c->cm, nf, 0, NULL, NULL, &e);
    check_err(rc, &e, "tc_sample_nbytes");
    expect_code(rc, TC_ERR_NOT_FOUND, "tc_sample_nbytes(field num_fields)", nf, 0);
    err_reset(&e);
    rc = tc_advise(c->cm, TC_ALL_FIELDS, TC_ADVICE_NORMAL, &e);
    expect_code(rc, TC_OK, "tc_advise(whole file)", TC_ALL_FIELDS, 0);
    rc = tc_advise(c->cm, 0, 99, &e);
    expect_code(rc, TC_ERR_INVALID_ARG, "tc_advise(advice 99)", 0, 0);
}

static void check_open_result(int rc, const tc_cache *cache, const tc_error *e, const char *mode)
{
    if ((rc == TC_OK) != (cache != NULL))
        violated("tc_open(%s) returned %s with cache %p", mode, tc_error_name(rc), (const void *)cache);
    check_err(rc, e, "tc_open");
}

void tcf_exercise(const char *path, const tcf_opts *o, tcf_result *r)
{
    memset(r, 0, sizeof *r);
    r->verify_rc = -1;
    tc_cache *cm = NULL, *cp = NULL, *cv = NULL;
    tc_error e;
    err_reset(&e);
    r->open_rc = tc_open(&cm, path, TC_OPEN_DEFAULT, &e);
    check_open_result(r->open_rc, cm, &e, "DEFAULT");
    err_reset(&e);
    r->open_nommap_rc = tc_open(&cp, path, TC_OPEN_NO_MMAP, &e);
    check_open_result(r->open_nommap_rc, cp, &e, "NO_MMAP");
    err_reset(&e);
    r->open_verify_rc = tc_open(&cv, path, TC_OPEN_VERIFY, &e);
    check_open_result(r->open_verify_rc, cv, &e, "VERIFY");
    if (r->open_rc != r->open_nommap_rc)
        violated("tc_open: %s with mmap, %s with NO_MMAP", tc_error_name(r->open_rc),
                 tc_error_name(r->open_nommap_rc));
    if (cm && cp) {
        tcf_ctx c = {.o = o, .r = r, .cm = cm, .cp = cp, .n = tc_num_samples(cm)};
        err_reset(&e);
        r->verify_rc = tc_verify(cm, &e);
        check_err(r->verify_rc, &e, "tc_verify");
        int vp = r->verify_rc;
        if (!o->skip_pread_verify) {
            err_reset(&e);
            vp = tc_verify(cp, &e);
            check_err(vp, &e, "tc_verify(pread)");
        }
        if (vp != r->verify_rc || r->open_verify_rc != r->verify_rc)
            violated("verify: tc_verify %s (mmap), %s (pread), tc_open(VERIFY) %s",
                     tc_error_name(r->verify_rc), tc_error_name(vp),
                     tc_error_name(r->open_verify_rc));
        c.verified = r->verify_rc == TC_OK;
        check_cache_wide(&c);
        for (c.k = 0; c.k < tc_num_fields(cm); c.k++)
            exercise_field(&c);
    } else if (r->open_verify_rc != r->open_rc) {
        violated("tc_open: %s, but %s with TC_OPEN_VERIFY", tc_error_name(r->open_rc),
                 tc_error_name(r->open_verify_rc));
    }
    tc_close(cm);
    tc_close(cp);
    tc_close(cv);
}
