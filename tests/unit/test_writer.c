/*
 * test_writer.c - the streaming writer's behaviour: declaration errors, sample mismatches,
 * atomic publication (nothing at the target until finish succeeds, no temporary left behind,
 * an existing target untouched by a failed write), and I/O failures (missing directory, file
 * size limit, full file system, read-only file system).
 *
 * "No temporary file left" is always checked by listing the directory and comparing it with the
 * exact expected entries (tu_dir_is), hidden files included.
 */
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "testutil.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static const char *const no_entries[] = {NULL};
static const char *const only_target[] = {"out.tc", NULL};

/* A fixed u8 field of `n` elements. */
static tc_field_spec spec_u8(const char *name, uint64_t n)
{
    tc_field_spec s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.dtype = TC_DTYPE_U8;
    s.rank = 1;
    s.shape[0] = n;
    return s;
}

/* A variable i16 field of shape (VARIABLE, 2). */
static tc_field_spec spec_var(const char *name)
{
    tc_field_spec s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.dtype = TC_DTYPE_I16;
    s.rank = 2;
    s.shape[0] = TC_DIM_VARIABLE;
    s.shape[1] = 2;
    return s;
}

/* A fresh directory <tmp>/<name> and path = <dir>/out.tc. */
static void fresh_target(const char *name, char *dir, char *path)
{
    tu_fresh_dir(dir, PATH_MAX, name);
    tu_join(path, PATH_MAX, dir, "out.tc");
}

/* Creates a writer on `path` and returns it; the test adds fields. */
static tc_writer *new_writer(const char *path)
{
    tc_writer *w = NULL;
    tc_error err;
    TU_OK(tc_writer_create(&w, path, &err), &err);
    assert_non_null(w);
    return w;
}

/* add_field must fail with `code` (and say something); the writer is then aborted. */
static void expect_add_field_fails(const char *dirname, const tc_field_spec *s, int code)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target(dirname, dir, path);
    tc_writer *w = new_writer(path);
    TU_EXPECT(code, tc_writer_add_field(w, s, &err), &err);
    assert_int_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
    tc_writer_abort(w);
    assert_true(tu_dir_is(dir, no_entries));
}

/* Writes a small valid cache to `path` whose content depends on `seed` (n samples). */
static void write_valid(const char *path, uint64_t n, uint8_t seed)
{
    tc_writer *w = new_writer(path);
    tc_error err;
    tc_field_spec s = spec_u8("x", 100);
    TU_OK(tc_writer_add_field(w, &s, &err), &err);
    uint8_t buf[100];
    for (uint64_t i = 0; i < n; i++) {
        memset(buf, (int)(seed + i), sizeof buf);
        tc_value v = {buf, sizeof buf, NULL};
        TU_OK(tc_writer_append(w, &v, &err), &err);
    }
    TU_OK(tc_writer_finish(w, &err), &err);
}

/* ---------------------------------------------------------------------------------------------
 * Declaration errors
 * ------------------------------------------------------------------------------------------- */

static void test_add_field_after_append(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("after_append", dir, path);
    tc_writer *w = new_writer(path);
    tc_field_spec a = spec_u8("a", 4), b = spec_u8("b", 4);
    TU_OK(tc_writer_add_field(w, &a, &err), &err);
    uint8_t buf[4] = {1, 2, 3, 4};
    tc_value v = {buf, 4, NULL};
    TU_OK(tc_writer_append(w, &v, &err), &err);
    TU_EXPECT(TC_ERR_STATE, tc_writer_add_field(w, &b, &err), &err);
    assert_true(strlen(err.message) > 0);
    /* A declaration refused for the state does not spoil the data: finishing still works. */
    TU_OK(tc_writer_finish(w, &err), &err);
    assert_true(tu_dir_is(dir, only_target));
    tc_cache *c = NULL;
    TU_OK(tc_open(&c, path, TC_OPEN_VERIFY, &err), &err);
    assert_int_equal(tc_num_fields(c), 1);
    assert_int_equal(tc_num_samples(c), 1);
    tc_close(c);
}

static void test_duplicate_name(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("dup", dir, path);
    tc_writer *w = new_writer(path);
    tc_field_spec a = spec_u8("image", 4), b = spec_var("image"), c = spec_u8("image2", 4);
    TU_OK(tc_writer_add_field(w, &a, &err), &err);
    TU_EXPECT(TC_ERR_DUPLICATE_NAME, tc_writer_add_field(w, &b, &err), &err);
    assert_non_null(strstr(err.message, "image"));
    TU_OK(tc_writer_add_field(w, &c, &err), &err); /* a longer name with the same prefix is fine */
    tc_writer_abort(w);
    assert_true(tu_dir_is(dir, no_entries));
}

static void test_bad_names(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                   /* empty */
        "\xff",               /* never valid in UTF-8 */
        "a\x80z",             /* lone continuation byte */
        "\xc0\x80",           /* overlong NUL */
        "\xe0\x80\xaf",       /* overlong '/' */
        "\xed\xa0\x80",       /* surrogate U+D800 */
        "\xf4\x90\x80\x80",   /* U+110000, past the last code point */
        "caf\xc3",            /* truncated sequence */
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_field_spec s = spec_u8(bad[i], 1);
        expect_add_field_fails("badname", &s, TC_ERR_NAME);
    }
    char long_name[66];
    memset(long_name, 'n', 65);
    long_name[65] = '\0';
    tc_field_spec s = spec_u8(long_name, 1); /* 65 bytes */
    expect_add_field_fails("longname", &s, TC_ERR_NAME);

    /* 64 bytes, and multibyte characters (4 x 16 bytes = 64), are accepted and round-trip. */
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("goodnames", dir, path);
    tc_writer *w = new_writer(path);
    long_name[64] = '\0';
    char emoji[65] = "";
    for (int k = 0; k < 16; k++)
        strcat(emoji, "\xf0\x9f\x98\x80"); /* U+1F600 */
    tc_field_spec a = spec_u8(long_name, 1), b = spec_u8(emoji, 1), c = spec_u8("caf\xc3\xa9", 1);
    TU_OK(tc_writer_add_field(w, &a, &err), &err);
    TU_OK(tc_writer_add_field(w, &b, &err), &err);
    TU_OK(tc_writer_add_field(w, &c, &err), &err);
    TU_OK(tc_writer_finish(w, &err), &err);
    tc_cache *cache = NULL;
    uint32_t k = 99;
    TU_OK(tc_open(&cache, path, TC_OPEN_VERIFY, &err), &err);
    TU_OK(tc_find_field(cache, emoji, &k, NULL), NULL);
    assert_int_equal(k, 1);
    TU_OK(tc_find_field(cache, long_name, &k, NULL), NULL);
    assert_int_equal(k, 0);
    tc_close(cache);
}

static void test_bad_dtype(void **state)
{
    (void)state;
    static const int bad[] = {0, 14, 255, -1, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_field_spec s = spec_u8("x", 1);
        s.dtype = bad[i];
        expect_add_field_fails("dtype", &s, TC_ERR_DTYPE);
    }
}

static void test_bad_rank_and_shape(void **state)
{
    (void)state;
    tc_field_spec s = spec_u8("x", 1);
    s.rank = 9;
    expect_add_field_fails("rank", &s, TC_ERR_SHAPE);
    s.rank = UINT32_MAX;
    expect_add_field_fails("rank", &s, TC_ERR_SHAPE);

    /* sample_bytes overflowing 64 bits */
    s = spec_u8("x", 1);
    s.dtype = TC_DTYPE_F64;
    s.rank = 2;
    s.shape[0] = UINT64_C(1) << 32;
    s.shape[1] = UINT64_C(1) << 30;
    expect_add_field_fails("overflow", &s, TC_ERR_OVERFLOW);
}

static void test_bad_layout(void **state)
{
    (void)state;
    static const struct {
        uint32_t rank;
        const char *layout;
    } bad[] = {
        {3, "nhwc"},      /* lower case */
        {3, "NHW"},       /* rank + 1 = 4 letters needed */
        {3, "NHWCX"},     /* too many */
        {3, "N1WC"},      /* not a letter */
        {3, "NH C"},      /* space */
        {0, "NC"},        /* scalar samples: just "N" */
        {8, "NABCDEFGH"}, /* 9 letters do not fit the 8-byte tag */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_field_spec s = spec_u8("img", 1);
        s.rank = bad[i].rank;
        for (uint32_t d = 0; d < s.rank; d++)
            s.shape[d] = 2;
        s.layout = bad[i].layout;
        expect_add_field_fails("layout", &s, TC_ERR_LAYOUT);
    }
}

static void test_bad_codec(void **state)
{
    (void)state;
    tc_field_spec s = spec_var("v");
    s.codec = TC_CODEC_LZ4; /* only fixed-shape fields may be compressed */
    expect_add_field_fails("codec", &s, TC_ERR_CODEC);
    s = spec_u8("x", 4);
    s.codec = 2;
    expect_add_field_fails("codec", &s, TC_ERR_CODEC);
    s.codec = -1;
    expect_add_field_fails("codec", &s, TC_ERR_CODEC);
}

static void test_bad_align(void **state)
{
    (void)state;
    tc_field_spec s = spec_u8("x", 5);
    s.align = 3; /* not a power of two */
    expect_add_field_fails("align", &s, TC_ERR_INVALID_ARG);
    s.align = 48;
    expect_add_field_fails("align", &s, TC_ERR_INVALID_ARG);
}

static void test_variable_rank0(void **state)
{
    (void)state;
    /* A variable-shape field needs rank >= 1 (its VARIABLE dimension); rank 0 with shape[0] set
     * to VARIABLE is a plain scalar field, since shape[rank..) is ignored. A VARIABLE
     * dimension beyond rank must not make it variable. */
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("rank0", dir, path);
    tc_writer *w = new_writer(path);
    tc_field_spec s = spec_u8("x", 1);
    s.rank = 0;
    s.shape[0] = TC_DIM_VARIABLE;
    int rc = tc_writer_add_field(w, &s, &err);
    if (rc == TC_OK) {
        uint8_t b = 7;
        tc_value v = {&b, 1, NULL};
        TU_OK(tc_writer_append(w, &v, &err), &err);
        TU_OK(tc_writer_finish(w, &err), &err);
        tu_check_raw(path, 1, 1);
    } else {
        assert_int_equal(rc, TC_ERR_SHAPE);
        tc_writer_abort(w);
    }
}

static void test_too_many_fields(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("many", dir, path);
    tc_writer *w = new_writer(path);
    char name[32];
    for (int k = 0; k < TC_MAX_FIELDS; k++) {
        snprintf(name, sizeof name, "f%d", k);
        tc_field_spec s = spec_u8(name, 1);
        TU_OK(tc_writer_add_field(w, &s, &err), &err);
    }
    tc_field_spec s = spec_u8("one_too_many", 1);
    TU_EXPECT(TC_ERR_FIELD_COUNT, tc_writer_add_field(w, &s, &err), &err);
    /* 1024 fields is legal: finish with N = 0 and open it */
    TU_OK(tc_writer_finish(w, &err), &err);
    tc_cache *c = NULL;
    TU_OK(tc_open(&c, path, TC_OPEN_VERIFY, &err), &err);
    assert_int_equal(tc_num_fields(c), TC_MAX_FIELDS);
    uint32_t k = 0;
    TU_OK(tc_find_field(c, "f1023", &k, NULL), NULL);
    assert_int_equal(k, 1023);
    tc_close(c);
    assert_true(tu_dir_is(dir, only_target));
}

static void test_zero_fields(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("zero_fields", dir, path);
    tc_writer *w = new_writer(path);
    TU_EXPECT(TC_ERR_FIELD_COUNT, tc_writer_finish(w, &err), &err);
    assert_true(tu_dir_is(dir, no_entries));
}

static void test_bad_metadata(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("meta", dir, path);
    tc_writer *w = new_writer(path);
    TU_EXPECT(TC_ERR_METADATA, tc_writer_set_metadata(w, "{\"a\": \"\xff\"}", 10, &err), &err);
    TU_EXPECT(TC_ERR_METADATA, tc_writer_set_metadata(w, "\xed\xa0\x80", 3, &err), &err);
    /* over the 64 MiB limit (the size is checked before the bytes are read) */
    size_t big = (64u << 20) + 1;
    char *blob = calloc(big, 1);
    memset(blob, 'a', big);
    TU_EXPECT(TC_ERR_METADATA, tc_writer_set_metadata(w, blob, big, &err), &err);
    /* exactly 64 MiB is allowed, and a later call replaces it */
    TU_OK(tc_writer_set_metadata(w, blob, big - 1, &err), &err);
    free(blob);
    TU_OK(tc_writer_set_metadata(w, "{}", 2, &err), &err);
    tc_field_spec s = spec_u8("x", 1);
    TU_OK(tc_writer_add_field(w, &s, &err), &err);
    TU_OK(tc_writer_finish(w, &err), &err);
    tc_cache *c = NULL;
    TU_OK(tc_open(&c, path, 0, &err), &err);
    const void *m = NULL;
    size_t ms = 0;
    tc_metadata(c, &m, &ms, NULL);
    assert_int_equal(ms, 2);
    assert_memory_equal(m, "{}", 2);
    tc_close(c);
}

/* ---------------------------------------------------------------------------------------------
 * Sample mismatches poison the writer
 * ------------------------------------------------------------------------------------------- */

/* Starts a writer with a fixed field "img" (u8, 6) and a variable field "boxes" (VAR, 2) i16 and
 * appends two good samples. */
static tc_writer *start_two_fields(const char *path)
{
    tc_writer *w = new_writer(path);
    tc_error err;
    tc_field_spec a = spec_u8("img", 6), b = spec_var("boxes");
    TU_OK(tc_writer_add_field(w, &a, &err), &err);
    TU_OK(tc_writer_add_field(w, &b, &err), &err);
    uint8_t img[6] = {0};
    int16_t boxes[6] = {0};
    uint64_t shape[2] = {3, 2};
    for (int i = 0; i < 2; i++) {
        tc_value v[2] = {{img, 6, NULL}, {boxes, 12, shape}};
        TU_OK(tc_writer_append(w, v, &err), &err);
    }
    return w;
}

/* After a mismatch: later appends get STATE, finish returns the first error, nothing appears. */
static void expect_poisoned_by(tc_writer *w, const char *dir, const char *const *expected_dir,
                               int first_code)
{
    tc_error err;
    uint8_t img[6] = {0};
    int16_t boxes[6] = {0};
    uint64_t shape[2] = {3, 2};
    tc_value good[2] = {{img, 6, NULL}, {boxes, 12, shape}};
    TU_EXPECT(TC_ERR_STATE, tc_writer_append(w, good, &err), &err);
    TU_EXPECT(TC_ERR_STATE, tc_writer_append_batch(w, 1, good, &err), &err);
    assert_int_equal(tc_writer_count(w), 2);
    TU_EXPECT(first_code, tc_writer_finish(w, &err), &err);
    assert_true(tu_dir_is(dir, expected_dir));
}

static void expect_poisoned(tc_writer *w, const char *dir, const char *const *expected_dir)
{
    expect_poisoned_by(w, dir, expected_dir, TC_ERR_SAMPLE_MISMATCH);
}

static void test_mismatch_fixed_nbytes(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("mm_fixed", dir, path);
    tc_writer *w = start_two_fields(path);
    uint8_t img[7] = {0};
    int16_t boxes[6] = {0};
    uint64_t shape[2] = {3, 2};
    tc_value v[2] = {{img, 7, NULL}, {boxes, 12, shape}};
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_append(w, v, &err), &err);
    assert_non_null(strstr(err.message, "img"));
    expect_poisoned(w, dir, no_entries);
}

static void test_mismatch_variable_shape(void **state)
{
    (void)state;
    static const struct {
        uint64_t shape[2];
        uint64_t nbytes;
        int code;
    } bad[] = {
        {{3, 3}, 18, TC_ERR_SAMPLE_MISMATCH},              /* fixed dimension 2 given as 3 */
        {{3, 2}, 10, TC_ERR_SAMPLE_MISMATCH},              /* nbytes disagrees with the shape */
        {{TC_DIM_VARIABLE, 2}, 12, TC_ERR_SAMPLE_MISMATCH}, /* VARIABLE is not a size */
        {{UINT64_C(1) << 62, 2}, 16, TC_ERR_OVERFLOW},     /* product overflows */
    };
    for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
        char dir[PATH_MAX], path[PATH_MAX];
        tc_error err;
        fresh_target("mm_var", dir, path);
        tc_writer *w = start_two_fields(path);
        uint8_t img[6] = {0};
        int16_t boxes[9] = {0};
        tc_value v[2] = {{img, 6, NULL}, {boxes, bad[t].nbytes, bad[t].shape}};
        int rc = tc_writer_append(w, v, &err);
        if (rc != bad[t].code)
            fail_msg("case %zu: %s: %s", t, tc_error_name(rc), err.message);
        assert_non_null(strstr(err.message, "boxes"));
        expect_poisoned_by(w, dir, no_entries, bad[t].code);
    }
    /* no shape at all for a variable field */
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("mm_var_null", dir, path);
    tc_writer *w = start_two_fields(path);
    uint8_t img[6] = {0};
    int16_t boxes[6] = {0};
    tc_value v[2] = {{img, 6, NULL}, {boxes, 12, NULL}};
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_append(w, v, &err), &err);
    expect_poisoned(w, dir, no_entries);
}

static void test_mismatch_is_atomic(void **state)
{
    (void)state;
    /* "Every value is checked before anything is written": a bad second field must not leave
     * the first field one sample ahead; the count stays and nothing is published. */
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("mm_atomic", dir, path);
    tc_writer *w = start_two_fields(path);
    uint8_t img[6] = {0};
    int16_t boxes[6] = {0};
    uint64_t shape[2] = {2, 2};
    tc_value v[2] = {{img, 6, NULL}, {boxes, 12, shape}}; /* 2x2 i16 is 8 bytes, not 12 */
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_append(w, v, &err), &err);
    assert_int_equal(tc_writer_count(w), 2);
    expect_poisoned(w, dir, no_entries);
}

static void test_mismatch_batch(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("mm_batch", dir, path);
    tc_writer *w = start_two_fields(path);
    uint8_t img[3 * 6] = {0};
    int16_t boxes[6] = {0};
    uint64_t shape[2] = {3, 2};
    tc_value vv[3] = {{boxes, 12, shape}, {boxes, 12, shape}, {boxes, 12, shape}};
    tc_value v[2] = {{img, 3 * 6 - 1, NULL}, {vv, 0, NULL}}; /* one byte short for 3 samples */
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_append_batch(w, 3, v, &err), &err);
    assert_int_equal(tc_writer_count(w), 2);
    expect_poisoned(w, dir, no_entries);

    /* a bad entry in the middle of a batch's variable values */
    fresh_target("mm_batch2", dir, path);
    w = start_two_fields(path);
    uint64_t bad_shape[2] = {3, 5};
    vv[1].shape = bad_shape;
    v[0].nbytes = 3 * 6;
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_append_batch(w, 3, v, &err), &err);
    assert_int_equal(tc_writer_count(w), 2);
    expect_poisoned(w, dir, no_entries);
}

static void test_bool_values(void **state)
{
    (void)state;
    /* FORMAT.md: bool bytes MUST be 0 or 1, and writers MUST check it. */
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("bool", dir, path);
    tc_writer *w = new_writer(path);
    tc_field_spec s = spec_u8("flag", 3);
    s.dtype = TC_DTYPE_BOOL;
    TU_OK(tc_writer_add_field(w, &s, &err), &err);
    uint8_t ok[3] = {0, 1, 1}, bad[3] = {0, 2, 1};
    tc_value v = {ok, 3, NULL};
    TU_OK(tc_writer_append(w, &v, &err), &err);
    v.data = bad;
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_append(w, &v, &err), &err);
    assert_non_null(strstr(err.message, "flag"));
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_finish(w, &err), &err);
    assert_true(tu_dir_is(dir, no_entries));
}

/* ---------------------------------------------------------------------------------------------
 * Publication
 * ------------------------------------------------------------------------------------------- */

static void test_abort_leaves_nothing(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("abort", dir, path);
    tc_writer_abort(new_writer(path)); /* right after create */
    assert_true(tu_dir_is(dir, no_entries));

    tc_writer *w = new_writer(path);
    tc_field_spec a = spec_u8("a", 5000), b = spec_var("b"), c = spec_u8("c", 10);
    c.codec = TC_CODEC_LZ4;
    TU_OK(tc_writer_add_field(w, &a, &err), &err);
    TU_OK(tc_writer_add_field(w, &b, &err), &err);
    TU_OK(tc_writer_add_field(w, &c, &err), &err);
    uint8_t buf[5000] = {0};
    uint64_t shape[2] = {4, 2};
    for (int i = 0; i < 300; i++) {
        tc_value v[3] = {{buf, 5000, NULL}, {buf, 16, shape}, {buf, 10, NULL}};
        TU_OK(tc_writer_append(w, v, &err), &err);
    }
    assert_true(tu_dir_is(dir, no_entries)); /* nothing visible while writing */
    tc_writer_abort(w);
    assert_true(tu_dir_is(dir, no_entries));
    tc_writer_abort(NULL);
}

static void test_existing_target(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX], copy[PATH_MAX];
    tc_error err;
    fresh_target("existing", dir, path);
    tu_path(copy, sizeof copy, "existing-copy.tc");
    write_valid(path, 10, 1);
    write_valid(copy, 10, 1);
    assert_true(tu_files_equal(path, copy));

    /* an aborted write leaves it byte-identical */
    tc_writer *w = new_writer(path);
    tc_field_spec s = spec_u8("y", 3);
    TU_OK(tc_writer_add_field(w, &s, &err), &err);
    uint8_t buf[100] = {0};
    tc_value v = {buf, 3, NULL};
    TU_OK(tc_writer_append(w, &v, &err), &err);
    tc_writer_abort(w);
    assert_true(tu_files_equal(path, copy));
    assert_true(tu_dir_is(dir, only_target));

    /* a failed write (mismatch) leaves it byte-identical */
    w = new_writer(path);
    TU_OK(tc_writer_add_field(w, &s, &err), &err);
    v.nbytes = 4;
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_append(w, &v, &err), &err);
    TU_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_finish(w, &err), &err);
    assert_true(tu_files_equal(path, copy));
    assert_true(tu_dir_is(dir, only_target));

    /* a failed finish (no fields) too */
    w = new_writer(path);
    TU_EXPECT(TC_ERR_FIELD_COUNT, tc_writer_finish(w, &err), &err);
    assert_true(tu_files_equal(path, copy));
    assert_true(tu_dir_is(dir, only_target));

    /* A successful write replaces it atomically: a reader that mapped the old file keeps seeing
     * the old bytes (it holds the old inode), a new open sees the new file. */
    tc_cache *old = NULL, *old_pread = NULL;
    TU_OK(tc_open(&old, path, 0, &err), &err);
    TU_OK(tc_open(&old_pread, path, TC_OPEN_NO_MMAP, &err), &err);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    write_valid(path, 20, 100);
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    assert_true(tu_dir_is(dir, only_target));
    assert_false(tu_files_equal(path, copy));

    tc_view view;
    TU_OK(tc_sample(old, 0, 9, &view, &err), &err);
    assert_int_equal(((const uint8_t *)view.data)[0], 1 + 9);
    assert_int_equal(tc_num_samples(old), 10);
    uint8_t got[100];
    TU_OK(tc_read_sample(old_pread, 0, 9, got, sizeof got, NULL, &err), &err);
    assert_int_equal(got[99], 1 + 9);
    TU_OK(tc_verify(old, &err), &err);
    TU_OK(tc_verify(old_pread, &err), &err);
    tc_close(old);
    tc_close(old_pread);

    tc_cache *c = NULL;
    TU_OK(tc_open(&c, path, TC_OPEN_VERIFY, &err), &err);
    assert_int_equal(tc_num_samples(c), 20);
    TU_OK(tc_read_sample(c, 0, 19, got, sizeof got, NULL, &err), &err);
    assert_int_equal(got[0], 100 + 19);
    tc_close(c);
}

static void test_two_writers_same_target(void **state)
{
    (void)state;
    /* Two writers to one path at once: each publishes a complete file; the last rename wins and
     * no temporary is left. The second create must not delete the first writer's temporary. */
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("two", dir, path);
    tc_writer *a = new_writer(path);
    tc_field_spec s = spec_u8("x", 100);
    TU_OK(tc_writer_add_field(a, &s, &err), &err);
    uint8_t buf[100];
    memset(buf, 0xAA, sizeof buf);
    tc_value v = {buf, 100, NULL};
    TU_OK(tc_writer_append(a, &v, &err), &err);
    tc_writer *b = new_writer(path);
    TU_OK(tc_writer_add_field(b, &s, &err), &err);
    memset(buf, 0xBB, sizeof buf);
    TU_OK(tc_writer_append(b, &v, &err), &err);
    TU_OK(tc_writer_append(b, &v, &err), &err);
    TU_OK(tc_writer_finish(a, &err), &err);
    assert_true(tu_dir_is(dir, only_target));
    TU_OK(tc_writer_finish(b, &err), &err);
    assert_true(tu_dir_is(dir, only_target));
    tc_cache *c = NULL;
    TU_OK(tc_open(&c, path, TC_OPEN_VERIFY, &err), &err);
    assert_int_equal(tc_num_samples(c), 2);
    uint8_t got[100];
    TU_OK(tc_read_sample(c, 0, 1, got, sizeof got, NULL, &err), &err);
    assert_int_equal(got[50], 0xBB);
    tc_close(c);
}

/* pid of a process that has exited and been reaped (so no process has it, barring reuse). */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    assert_true(pid > 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return pid;
}

static void test_stale_temporaries(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX], name[PATH_MAX];
    char stale[128], live[128], other[128], lookalike[128];
    fresh_target("stale", dir, path);
    pid_t dead = dead_pid();
    snprintf(stale, sizeof stale, ".out.tc.tctmp.%ld.Ab3xYz", (long)dead);
    snprintf(live, sizeof live, ".out.tc.tctmp.%ld.Ab3xYz", (long)getppid());
    snprintf(other, sizeof other, ".other.tc.tctmp.%ld.Ab3xYz", (long)dead);
    snprintf(lookalike, sizeof lookalike, ".out.tc.tctmpx.%ld.Ab3xYz", (long)dead);
    const char *names[] = {stale, live, other, lookalike};
    for (int i = 0; i < 4; i++) {
        tu_join(name, sizeof name, dir, names[i]);
        tu_write_file(name, "junk", 4);
    }
    write_valid(path, 3, 0);
    /* only the dead writer's temporary for this target is gone */
    const char *const expected[] = {"out.tc", live, other, lookalike, NULL};
    assert_true(tu_dir_is(dir, expected));
}

static void test_missing_directory(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tc_error err;
    tu_path(path, sizeof path, "no/such/dir/out.tc");
    tc_writer *w = (tc_writer *)(uintptr_t)1;
    TU_EXPECT(TC_ERR_IO, tc_writer_create(&w, path, &err), &err);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_null(w);
    assert_non_null(strstr(err.message, "no/such/dir"));
}

static void test_path_names_no_file(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tc_error err;
    tc_writer *w = NULL;
    tu_path(path, sizeof path, "");
    TU_EXPECT(TC_ERR_INVALID_ARG, tc_writer_create(&w, path, &err), &err); /* ends in '/' */
    assert_null(w);
    TU_EXPECT(TC_ERR_INVALID_ARG, tc_writer_create(&w, NULL, &err), &err);
}

/* ---- the output policy at publication (lib/output.c) ---- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void assert_text(const char *path, const char *text)
{
    char buf[64] = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(text));
    assert_string_equal(buf, text);
}

static int commit_text(tc_output *o, const char *text, tc_error *err)
{
    assert_int_equal(write(tc_output_fd(o), text, strlen(text)), (ssize_t)strlen(text));
    return tc_output_commit(o, err);
}

/* A file that appears at the target after the output was opened is not replaced either:
 * publication is renameat2(RENAME_NOREPLACE), not a check followed by a rename. */
static void test_output_noreplace_at_publication(void **state)
{
    (void)state;
    char path[PATH_MAX], dir[PATH_MAX];
    tc_error err;
    tc_output *o = NULL;
    tu_path(dir, sizeof dir, "noreplace");
    tu_mkdir_p(dir);
    tu_path(path, sizeof path, "noreplace/out");
    TU_OK(tc_output_open(&o, path, TC_WRITE_DEFAULT, NULL, 0, &err), &err);
    write_text(path, "appeared meanwhile");
    TU_EXPECT(TC_ERR_EXISTS, commit_text(o, "new", &err), &err);
    assert_text(path, "appeared meanwhile");
    const char *only[] = {"out", NULL};
    assert_true(tu_dir_is(dir, only));
    /* and with nothing there, the same call publishes */
    unlink(path);
    TU_OK(tc_output_open(&o, path, TC_WRITE_DEFAULT, NULL, 0, &err), &err);
    TU_OK(commit_text(o, "new", &err), &err);
    assert_text(path, "new");
}

/* An input that is linked to the target after the output was opened (with overwrite allowed)
 * is found at publication and put back: the displaced entry is checked after the exchange. */
static void test_output_same_file_at_publication(void **state)
{
    (void)state;
    char path[PATH_MAX], input[PATH_MAX], dir[PATH_MAX];
    tc_error err;
    tc_output *o = NULL;
    tu_path(dir, sizeof dir, "samefile");
    tu_mkdir_p(dir);
    tu_path(path, sizeof path, "samefile/out");
    tu_path(input, sizeof input, "samefile/in");
    write_text(input, "input");
    write_text(path, "old output");
    const char *inputs[] = {input};
    TU_OK(tc_output_open(&o, path, TC_WRITE_OVERWRITE, inputs, 1, &err), &err);
    unlink(path);
    assert_int_equal(link(input, path), 0); /* the target becomes the input */
    TU_EXPECT(TC_ERR_SAME_FILE, commit_text(o, "new", &err), &err);
    assert_text(path, "input");
    assert_text(input, "input");
    const char *both[] = {"in", "out", NULL};
    assert_true(tu_dir_is(dir, both));
    /* refused at once when the target already is the input, whatever the flags */
    TU_EXPECT(TC_ERR_SAME_FILE, tc_output_open(&o, input, TC_WRITE_OVERWRITE, inputs, 1, &err),
              &err);
    assert_null(o);
    tc_writer *w = NULL;
    TU_EXPECT(TC_ERR_SAME_FILE, tc_writer_create_ex(&w, path, 0, inputs, 1, &err), &err);
    assert_null(w);
    /* an ordinary file replaced with overwrite: the old contents go, no temporary stays */
    unlink(path);
    write_text(path, "old output");
    TU_OK(tc_output_open(&o, path, TC_WRITE_OVERWRITE, inputs, 1, &err), &err);
    TU_OK(commit_text(o, "new", &err), &err);
    assert_text(path, "new");
    assert_true(tu_dir_is(dir, both));
}

/* Writes ~2 MiB in a child under a file size limit of `limit` bytes; returns the first non-OK
 * code the child saw (or 0), via its exit status. */
static int write_under_fsize_limit(const char *path, rlim_t limit)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of death */
        struct rlimit rl = {limit, limit};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(100);
        tc_writer *w = NULL;
        tc_error err;
        int rc = tc_writer_create(&w, path, &err);
        /* "a" streams into the output file, "b" into a spill file: both hit the limit */
        tc_field_spec a = spec_u8("a", 4096), b = spec_u8("b", 1000);
        if (rc == TC_OK)
            rc = tc_writer_add_field(w, &a, &err);
        if (rc == TC_OK)
            rc = tc_writer_add_field(w, &b, &err);
        uint8_t buf[4096];
        memset(buf, 0x33, sizeof buf);
        for (int i = 0; rc == TC_OK && i < 512; i++) {
            tc_value v[2] = {{buf, 4096, NULL}, {buf, 1000, NULL}};
            rc = tc_writer_append(w, v, &err);
        }
        int frc = tc_writer_finish(w, &err);
        if (rc == TC_OK)
            rc = frc;
        if (rc != TC_OK)
            fprintf(stderr, "  (expected) child writer: %s: %s\n", tc_error_name(rc), err.message);
        _exit(rc);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_file_size_limit(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX], copy[PATH_MAX];
    fresh_target("fsize", dir, path);
    tu_path(copy, sizeof copy, "fsize-copy.tc");
    write_valid(path, 5, 7);
    write_valid(copy, 5, 7);
    int rc = write_under_fsize_limit(path, 64 * 1024);
    assert_int_not_equal(rc, 100);
    if (rc != TC_ERR_NO_SPACE)
        fail_msg("writer under RLIMIT_FSIZE returned %s, expected NO_SPACE", tc_error_name(rc));
    assert_true(tu_files_equal(path, copy));
    assert_true(tu_dir_is(dir, only_target));
}

/* Mounts a fresh tmpfs on `dir` with `opts`; returns 0 if mounting is not possible here. */
static int mount_tmpfs(const char *dir, unsigned long flags, const char *opts)
{
    if (mount("tmpfs", dir, "tmpfs", flags, opts) != 0) {
        print_message("  cannot mount a tmpfs on %s (%s): skipping\n", dir, strerror(errno));
        return 0;
    }
    return 1;
}

/* Appends `count` samples of two u8 fields (a_bytes, b_bytes each) to DIR/out.tc, then finishes.
 * *append_rc receives the first append error (or TC_OK); returns finish's result. */
static int write_two_fields(const char *dir, uint64_t a_bytes, uint64_t b_bytes, int count,
                            int *append_rc, tc_error *err)
{
    char path[PATH_MAX];
    tu_join(path, sizeof path, dir, "out.tc");
    tc_writer *w = NULL;
    int rc = tc_writer_create(&w, path, err);
    tc_field_spec a = spec_u8("a", a_bytes), b = spec_u8("b", b_bytes);
    if (rc == TC_OK)
        rc = tc_writer_add_field(w, &a, err);
    if (rc == TC_OK)
        rc = tc_writer_add_field(w, &b, err);
    uint8_t buf[4096];
    memset(buf, 0x44, sizeof buf);
    for (int i = 0; rc == TC_OK && i < count; i++) {
        tc_value v[2] = {{buf, a_bytes, NULL}, {buf, b_bytes, NULL}};
        rc = tc_writer_append(w, v, err);
    }
    *append_rc = rc;
    return w ? tc_writer_finish(w, err) : rc;
}

static void test_disk_full(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    tc_error err;
    tu_fresh_dir(dir, sizeof dir, "full");
    if (!mount_tmpfs(dir, 0, "size=256k")) {
        skip();
        return;
    }
    int rc, frc = write_two_fields(dir, 4096, 1000, 512, &rc, &err); /* 2.5 MiB into 256 KiB */
    if (rc == TC_OK)
        rc = frc;
    int clean = tu_dir_is(dir, no_entries);
    umount(dir);
    assert_int_equal(rc, TC_ERR_NO_SPACE);
    assert_int_equal(err.sys_errno, ENOSPC);
    assert_true(clean);
}

static void test_disk_full_at_finish(void **state)
{
    (void)state;
    /* The appends fit (output ~100 KiB + spill ~100 KiB in a 256 KiB file system); laying out
     * the file at finish, which copies the spilled field into the output, does not. */
    char dir[PATH_MAX];
    tc_error err;
    tu_fresh_dir(dir, sizeof dir, "full_finish");
    if (!mount_tmpfs(dir, 0, "size=256k")) {
        skip();
        return;
    }
    int append_rc, frc = write_two_fields(dir, 4096, 4000, 25, &append_rc, &err);
    int clean = tu_dir_is(dir, no_entries);
    umount(dir);
    assert_int_equal(append_rc, TC_OK);
    if (frc != TC_ERR_NO_SPACE)
        fail_msg("finish returned %s: %s", tc_error_name(frc), err.message);
    assert_true(clean);
}

static void test_read_only_directory(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    tu_fresh_dir(dir, sizeof dir, "rofs");
    if (!mount_tmpfs(dir, MS_RDONLY, "size=64k")) {
        skip();
        return;
    }
    tu_join(path, sizeof path, dir, "out.tc");
    tc_writer *w = (tc_writer *)(uintptr_t)1;
    int rc = tc_writer_create(&w, path, &err);
    int clean = tu_dir_is(dir, no_entries);
    umount(dir);
    assert_int_equal(rc, TC_ERR_IO);
    assert_int_equal(err.sys_errno, EROFS);
    assert_null(w);
    assert_true(clean);
}

static void test_count_and_bytes(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX];
    tc_error err;
    fresh_target("count", dir, path);
    tc_writer *w = new_writer(path);
    tc_field_spec a = spec_u8("a", 10), b = spec_var("b");
    TU_OK(tc_writer_add_field(w, &a, &err), &err);
    TU_OK(tc_writer_add_field(w, &b, &err), &err);
    assert_int_equal(tc_writer_count(w), 0);
    assert_int_equal(tc_writer_bytes(w), 0);
    uint8_t buf[64] = {0};
    uint64_t sh[2] = {3, 2}, sh0[2] = {0, 2};
    tc_value v[2] = {{buf, 10, NULL}, {buf, 12, sh}};
    TU_OK(tc_writer_append(w, v, &err), &err);
    assert_int_equal(tc_writer_count(w), 1);
    assert_int_equal(tc_writer_bytes(w), 22);
    v[1].shape = sh0;
    v[1].nbytes = 0;
    v[1].data = NULL; /* an empty sample needs no data pointer */
    TU_OK(tc_writer_append(w, v, &err), &err);
    assert_int_equal(tc_writer_bytes(w), 32);
    tc_value vb[2] = {{buf, 0, NULL}, {NULL, 0, NULL}};
    TU_OK(tc_writer_append_batch(w, 0, vb, &err), &err); /* empty batch */
    assert_int_equal(tc_writer_count(w), 2);
    TU_OK(tc_writer_finish(w, &err), &err);
    tu_check_raw(path, 2, 2);
}

int main(void)
{
    tu_tmp_init("test_writer");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_field_after_append),
        cmocka_unit_test(test_duplicate_name),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_bad_dtype),
        cmocka_unit_test(test_bad_rank_and_shape),
        cmocka_unit_test(test_bad_layout),
        cmocka_unit_test(test_bad_codec),
        cmocka_unit_test(test_bad_align),
        cmocka_unit_test(test_variable_rank0),
        cmocka_unit_test(test_too_many_fields),
        cmocka_unit_test(test_zero_fields),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_mismatch_fixed_nbytes),
        cmocka_unit_test(test_mismatch_variable_shape),
        cmocka_unit_test(test_mismatch_is_atomic),
        cmocka_unit_test(test_mismatch_batch),
        cmocka_unit_test(test_bool_values),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_existing_target),
        cmocka_unit_test(test_two_writers_same_target),
        cmocka_unit_test(test_stale_temporaries),
        cmocka_unit_test(test_missing_directory),
        cmocka_unit_test(test_path_names_no_file),
        cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_disk_full_at_finish),
        cmocka_unit_test(test_read_only_directory),
        cmocka_unit_test(test_count_and_bytes),
        cmocka_unit_test(test_output_noreplace_at_publication),
        cmocka_unit_test(test_output_same_file_at_publication),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmp_cleanup();
    return rc;
}
