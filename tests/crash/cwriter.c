/*
 * cwriter.c - a small deterministic cache writer for the crash and out-of-space tests.
 *
 *   cwriter PATH VARIANT      VARIANT 0: "old" (40 samples), 1: "new" (300 samples),
 *                             2: "big" (3000 samples, about 3 MB), 3: "medium" (350 samples)
 *
 * Four fields cover every write path of the writer: a fixed u8 image (NHWC), an i64 label, a
 * variable-shape u16 field and an LZ4 f32 field, so the output has a directly written region,
 * spilled regions copied with copy_file_range, index regions, metadata and the tables.
 * Exit status: 0, or the tensorcache error code of the failing call (so a caller can tell
 * TC_ERR_NO_SPACE (28) from anything else); 100 for a usage error.
 */
#include "tensorcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int rc, const tc_error *e)
{
    fprintf(stderr, "cwriter: %s: %s: %s\n", what, tc_error_name(rc), e->message);
    return rc;
}

int main(int argc, char **argv)
{
    static const uint64_t samples[] = {40, 300, 3000, 350};
    if (argc != 3 || strlen(argv[2]) != 1 || argv[2][0] < '0' || argv[2][0] > '3') {
        fprintf(stderr, "usage: cwriter PATH 0|1|2|3\n");
        return 100;
    }
    int variant = argv[2][0] - '0';
    uint64_t n = samples[variant];
    const tc_field_spec specs[] = {
        {.name = "image", .dtype = TC_DTYPE_U8, .rank = 3, .shape = {16, 16, 3}, .layout = "NHWC"},
        {.name = "label", .dtype = TC_DTYPE_I64, .rank = 0},
        {.name = "tokens", .dtype = TC_DTYPE_U16, .rank = 1, .shape = {TC_DIM_VARIABLE}},
        {.name = "feat", .dtype = TC_DTYPE_F32, .rank = 1, .shape = {32}, .codec = TC_CODEC_LZ4,
         .block_bytes = 4096},
    };
    char meta[128];
    snprintf(meta, sizeof meta, "{\"tensorcache\": {\"writer\": \"cwriter\"}, \"variant\": %d}",
             variant);
    tc_writer *w;
    tc_error e = {0};
    int rc = tc_writer_create(&w, argv[1], &e);
    if (rc)
        return fail("create", rc, &e);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
        if ((rc = tc_writer_add_field(w, &specs[k], &e))) {
            tc_writer_abort(w);
            return fail("add_field", rc, &e);
        }
    if ((rc = tc_writer_set_metadata(w, meta, strlen(meta), &e))) {
        tc_writer_abort(w);
        return fail("metadata", rc, &e);
    }
    static uint8_t image[16 * 16 * 3];
    static uint16_t tokens[64];
    float feat[32];
    for (uint64_t i = 0; i < n && rc == TC_OK; i++) {
        for (size_t b = 0; b < sizeof image; b++)
            image[b] = (uint8_t)(i * 31 + b * (uint64_t)(variant + 3));
        int64_t label = (int64_t)(i % 10) - variant;
        uint64_t tshape[1] = {(i * 7) % 64};
        for (size_t t = 0; t < 64; t++)
            tokens[t] = (uint16_t)(i + t);
        for (size_t f = 0; f < 32; f++)
            feat[f] = (float)((i + f) % 5) * 0.5f + (float)variant;
        tc_value v[4] = {
            {.data = image, .nbytes = sizeof image},
            {.data = &label, .nbytes = sizeof label},
            {.data = tokens, .nbytes = tshape[0] * sizeof tokens[0], .shape = tshape},
            {.data = feat, .nbytes = sizeof feat},
        };
        rc = tc_writer_append(w, v, &e);
    }
    if (rc) {
        tc_writer_abort(w);
        return fail("append", rc, &e);
    }
    if ((rc = tc_writer_finish(w, &e)))
        return fail("finish", rc, &e);
    return 0;
}
