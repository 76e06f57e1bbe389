/* tu_small.h - test helpers: opening with an expected code; the small
 * reference cache and what each of its samples holds.
 * Part of testutil.h (see there); static inline throughout. */
#ifndef TC_TU_SMALL_H
#define TC_TU_SMALL_H

#include "tu_bytes.h"

/* ---------------------------------------------------------------------------------------------
 * Opening a file and comparing the outcome with an expected code.
 * ------------------------------------------------------------------------------------------- */

/* Opens `path` with `flags`, closes it again, returns the code (err filled on failure). */
static inline int tu_open_code(const char *path, unsigned flags, tc_error *err)
{
    tc_cache *c = (tc_cache *)(uintptr_t)1; /* must be reset to NULL on failure */
    memset(err, 0, sizeof *err);
    int rc = tc_open(&c, path, flags, err);
    if (rc != TC_OK) {
        if (c != NULL)
            TU_FAILF("tc_open failed with %s but did not set *out to NULL", tc_error_name(rc));
        if (err->code != rc)
            TU_FAILF("tc_open returned %s but err.code is %s", tc_error_name(rc),
                     tc_error_name(err->code));
        if (err->message[0] == '\0')
            TU_FAILF("tc_open returned %s with an empty message", tc_error_name(rc));
    } else {
        if (c == NULL)
            TU_FAILF("tc_open returned OK with *out = NULL");
        tc_close(c);
    }
    return rc;
}

/* Maps "CHECKSUM" (or "TC_ERR_CHECKSUM") to its code; -1 if no code has that name. Uses the
 * header's X-macro list, so it does not depend on tc_error_name(). */
static inline int tu_code_from_name(const char *name)
{
    if (strncmp(name, "TC_ERR_", 7) == 0)
        name += 7;
#define TU_X_NAME(nm, num, text)                                                                   \
    if (strcmp(name, #nm) == 0)                                                                    \
        return num;
    TC_ERROR_LIST(TU_X_NAME)
#undef TU_X_NAME
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * The small reference cache. Fields (in this order, each optional by mask bit):
 *   TU_IMAGE  "image"  u8  (4,4,1) NHWC, fixed         byte j of sample i = tu_image_byte(i, j)
 *   TU_LABEL  "label"  i64 scalar, layout "N"         value = i * 1000 - 7
 *   TU_TOKENS "tokens" i32 (VARIABLE,) variable        length tu_tokens_len(i) (0 when i%7==0)
 *   TU_PACKED "packed" u16 (3,5) LZ4, 3 samples/block  element j = (i * 17 + j) % 1024
 *   TU_WIDE   "wide"   f32 (2,3) fixed, align 64       element j = i + j / 8.0
 *   TU_BOXES  "boxes"  i16 (VARIABLE,2) variable       i % 4 rows, element j = i * 10 + j
 * ------------------------------------------------------------------------------------------- */
enum {
    TU_IMAGE = 1,
    TU_LABEL = 2,
    TU_TOKENS = 4,
    TU_PACKED = 8,
    TU_WIDE = 16,
    TU_BOXES = 32,
    TU_LAST_FIELD = TU_BOXES,
};

static inline uint8_t tu_image_byte(uint64_t i, uint64_t j)
{
    return (uint8_t)(i * 31 + j * 7 + 1);
}

static inline uint64_t tu_tokens_len(uint64_t i)
{
    return (i * 3) % 7;
}

/* Expected bytes of sample i of small-cache field `which` (one of the TU_* bits) into buf
 * (capacity >= 128); returns the byte count. */
static inline size_t tu_small_sample(unsigned which, uint64_t i, uint8_t *buf)
{
    switch (which) {
    case TU_IMAGE:
        for (unsigned j = 0; j < 16; j++)
            buf[j] = tu_image_byte(i, j);
        return 16;
    case TU_LABEL: {
        int64_t v = (int64_t)i * 1000 - 7;
        tu_put_le(buf, 8, (uint64_t)v);
        return 8;
    }
    case TU_TOKENS: {
        uint64_t n = tu_tokens_len(i);
        for (uint64_t k = 0; k < n; k++)
            tu_put_le(buf + 4 * k, 4, (uint32_t)(int32_t)(i * 100 + k));
        return (size_t)(4 * n);
    }
    case TU_PACKED:
        for (unsigned j = 0; j < 15; j++)
            tu_put_le(buf + 2 * j, 2, (i * 17 + j) % 1024);
        return 30;
    case TU_WIDE:
        for (unsigned j = 0; j < 6; j++) {
            float v = (float)i + (float)j / 8.0f;
            memcpy(buf + 4 * j, &v, 4); /* hosts are little-endian here (x86-64, arm64) */
        }
        return 24;
    case TU_BOXES:
        for (unsigned j = 0; j < 2 * (i % 4); j++)
            tu_put_le(buf + 2 * j, 2, (uint16_t)(int16_t)(i * 10 + j));
        return (size_t)(4 * (i % 4));
    default:
        TU_FAILF("unknown small-cache field %u", which);
        return 0;
    }
}

static inline void tu_small_spec(unsigned which, tc_field_spec *s)
{
    memset(s, 0, sizeof *s);
    switch (which) {
    case TU_IMAGE:
        s->name = "image", s->dtype = TC_DTYPE_U8, s->rank = 3, s->layout = "NHWC";
        s->shape[0] = 4, s->shape[1] = 4, s->shape[2] = 1;
        break;
    case TU_LABEL:
        s->name = "label", s->dtype = TC_DTYPE_I64, s->rank = 0, s->layout = "N";
        break;
    case TU_TOKENS:
        s->name = "tokens", s->dtype = TC_DTYPE_I32, s->rank = 1, s->shape[0] = TC_DIM_VARIABLE;
        break;
    case TU_PACKED:
        s->name = "packed", s->dtype = TC_DTYPE_U16, s->rank = 2, s->shape[0] = 3;
        s->shape[1] = 5, s->codec = TC_CODEC_LZ4, s->block_bytes = 90;
        break;
    case TU_WIDE:
        s->name = "wide", s->dtype = TC_DTYPE_F32, s->rank = 2, s->shape[0] = 2, s->shape[1] = 3;
        s->align = 64;
        break;
    case TU_BOXES:
        s->name = "boxes", s->dtype = TC_DTYPE_I16, s->rank = 2, s->shape[0] = TC_DIM_VARIABLE;
        s->shape[1] = 2;
        break;
    default:
        TU_FAILF("unknown small-cache field %u", which);
    }
}

/* Field number of `which` inside a small cache made with `mask`. */
static inline uint32_t tu_small_index(unsigned mask, unsigned which)
{
    uint32_t k = 0;
    for (unsigned bit = 1; bit < which; bit <<= 1)
        k += (mask & bit) ? 1 : 0;
    return k;
}

#define TU_SMALL_META "{\"tensorcache\": {\"writer\": \"testutil\"}, \"note\": \"caf\xc3\xa9\"}"

/* Writes the small reference cache: fields in `mask`, n samples, metadata `meta` (NULL: none).
 * Returns the writer's result code (the test decides whether failure is expected). */
static inline int tu_write_small_rc(const char *path, unsigned mask, uint64_t n, const char *meta,
                                    tc_error *err)
{
    tc_writer *w = NULL;
    int rc = tc_writer_create(&w, path, err);
    if (rc != TC_OK)
        return rc;
    for (unsigned bit = 1; bit <= TU_LAST_FIELD; bit <<= 1) {
        if (!(mask & bit))
            continue;
        tc_field_spec s;
        tu_small_spec(bit, &s);
        rc = tc_writer_add_field(w, &s, err);
        if (rc != TC_OK) {
            tc_writer_abort(w);
            return rc;
        }
    }
    if (meta) {
        rc = tc_writer_set_metadata(w, meta, strlen(meta), err);
        if (rc != TC_OK) {
            tc_writer_abort(w);
            return rc;
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        uint8_t bufs[6][128];
        uint64_t shapes[6][2];
        tc_value vals[6];
        unsigned nv = 0;
        for (unsigned bit = 1; bit <= TU_LAST_FIELD; bit <<= 1) {
            if (!(mask & bit))
                continue;
            memset(&vals[nv], 0, sizeof vals[nv]);
            vals[nv].data = bufs[nv];
            vals[nv].nbytes = tu_small_sample(bit, i, bufs[nv]);
            if (bit == TU_TOKENS) {
                shapes[nv][0] = tu_tokens_len(i);
                vals[nv].shape = shapes[nv];
            } else if (bit == TU_BOXES) {
                shapes[nv][0] = i % 4;
                shapes[nv][1] = 2;
                vals[nv].shape = shapes[nv];
            }
            nv++;
        }
        rc = tc_writer_append(w, vals, err);
        if (rc != TC_OK) {
            tc_writer_abort(w);
            return rc;
        }
    }
    return tc_writer_finish(w, err);
}

static inline void tu_write_small(const char *path, unsigned mask, uint64_t n, const char *meta)
{
    tc_error err;
    memset(&err, 0, sizeof err);
    int rc = tu_write_small_rc(path, mask, n, meta, &err);
    if (rc != TC_OK)
        TU_FAILF("writing small cache %s failed: %s: %s", path, tc_error_name(rc), err.message);
}

/* Checks every sample of every field of an open small cache through tc_read_sample. */
static inline void tu_check_small(tc_cache *c, unsigned mask, uint64_t n)
{
    tc_error err;
    TU_CHECK(tc_num_samples(c) == n);
    for (unsigned bit = 1; bit <= TU_LAST_FIELD; bit <<= 1) {
        if (!(mask & bit))
            continue;
        uint32_t k = tu_small_index(mask, bit);
        for (uint64_t i = 0; i < n; i++) {
            uint8_t want[128], got[128];
            uint64_t nb = UINT64_MAX;
            size_t wn = tu_small_sample(bit, i, want);
            TU_OK(tc_read_sample(c, k, i, got, sizeof got, &nb, &err), &err);
            TU_CHECK(nb == wn);
            TU_CHECK(memcmp(got, want, wn) == 0);
        }
    }
}

#endif
