/*
 * test_badfiles.c - malformed files: every one gives its exact error code, never a crash.
 *
 * The table of cases lives in testutil.h (tu_badcases), shared with the corpus generator
 * tests/bad/gen_bad.c. This file runs the table, then the checks that need more than an open:
 * deferred per-sample index checks, reads from damaged LZ4 blocks, exhaustive truncation, bit
 * flips over the whole header and field table, and seeded random damage (run it under
 * `make sanitize` to catch out-of-bounds reads).
 */
#include "testutil.h"

/* Builds case number `slug` of the table into <tmp>/<slug>.tc. */
static const tu_badcase *find_case(const char *slug)
{
    size_t n;
    const tu_badcase *cases = tu_badcases(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(cases[i].slug, slug) == 0)
            return &cases[i];
    fail_msg("no bad case '%s'", slug);
    return NULL;
}

static void build_case(const char *slug, char *path)
{
    const tu_badcase *bc = find_case(slug);
    tu_file f;
    tu_build_badcase(bc, &f);
    char name[128];
    snprintf(name, sizeof name, "%s.tc", slug);
    tu_path(path, PATH_MAX, name);
    tu_save(&f, path);
    tu_free(&f);
}

static tc_cache *open_ok(const char *path, unsigned flags)
{
    tc_cache *c = NULL;
    tc_error err;
    TU_OK(tc_open(&c, path, flags, &err), &err);
    return c;
}

/* ---------------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------------- */

static void test_case_table(void **state)
{
    (void)state;
    size_t n;
    const tu_badcase *cases = tu_badcases(&n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        int open_code, verify_code;
        assert_int_equal(tu_parse_expect(cases[i].expect, &open_code, &verify_code), 0);
        char path[PATH_MAX];
        build_case(cases[i].slug, path);
        int bad = tu_judge_file(path, open_code, verify_code, cases[i].mention);
        if (bad) {
            print_error("case %03zu %s (expected %s): %d disagreement(s)\n", i + 1,
                        cases[i].slug, cases[i].expect, bad);
            failed++;
        }
        unlink(path);
    }
    if (failed)
        fail_msg("%d of %zu bad-file cases disagree", failed, n);
    assert_true(n >= 30);
}

static void test_future_minor_version(void **state)
{
    (void)state;
    char path[PATH_MAX];
    build_case("future-minor-version", path);
    for (unsigned flags = 0; flags <= 3; flags++) {
        tc_cache *c = open_ok(path, flags);
        assert_int_equal(tc_format_version(c), 101);
        unsigned vmaj = 0, vmin = 0;
        tc_file_format(c, &vmaj, &vmin);
        assert_int_equal(vmaj, 1);
        assert_int_equal(vmin, 1);
        tu_check_small(c, TU_IMAGE | TU_LABEL, 5);
        tc_close(c);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Deferred checks: damaged entries are found when their sample is accessed
 * ------------------------------------------------------------------------------------------- */

static void expect_sample_code(tc_cache *c, uint32_t k, uint64_t i, int code, const char *field)
{
    tc_error err;
    tc_view v;
    uint64_t nb;
    uint64_t shape[TC_MAX_RANK];
    uint8_t buf[256];
    TU_EXPECT(code, tc_sample(c, k, i, &v, &err), &err);
    assert_non_null(strstr(err.message, field));
    TU_EXPECT(code, tc_read_sample(c, k, i, buf, sizeof buf, &nb, &err), &err);
    assert_non_null(strstr(err.message, field));
    TU_EXPECT(code, tc_sample_nbytes(c, k, i, &nb, shape, &err), &err);
}

static void test_deferred_variable_entries(void **state)
{
    (void)state;
    static const struct {
        const char *slug;
        uint32_t field;
        int code;
        const char *name;
    } cases[] = {
        {"var-entry-past-data", 0, TC_ERR_INDEX, "tokens"},
        {"var-entry-misaligned", 0, TC_ERR_INDEX, "tokens"},
        {"var-entry-overlaps-previous", 0, TC_ERR_INDEX, "tokens"},
        {"var-entry-nbytes-wrong", 0, TC_ERR_INDEX, "tokens"},
        {"var-entry-fixed-dim-wrong", 1, TC_ERR_INDEX, "boxes"},
        {"var-entry-shape-overflow", 0, TC_ERR_OVERFLOW, "tokens"},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        char path[PATH_MAX];
        build_case(cases[t].slug, path);
        tc_cache *c = open_ok(path, TC_OPEN_DEFAULT);
        /* sample 19 is damaged; every other sample still reads correctly */
        expect_sample_code(c, cases[t].field, 19, cases[t].code, cases[t].name);
        unsigned which = cases[t].field == 0 ? TU_TOKENS : TU_BOXES;
        for (uint64_t i = 0; i < 19; i++) {
            uint8_t want[128], got[128];
            uint64_t nb = 0;
            tc_error err;
            size_t wn = tu_small_sample(which, i, want);
            TU_OK(tc_read_sample(c, cases[t].field, i, got, sizeof got, &nb, &err), &err);
            assert_int_equal(nb, wn);
            assert_memory_equal(got, want, wn);
        }
        tc_error err;
        TU_EXPECT(cases[t].code, tc_verify(c, &err), &err);
        assert_non_null(strstr(err.message, cases[t].name));
        tc_close(c);
        /* the pread backend defers the same way */
        c = open_ok(path, TC_OPEN_NO_MMAP);
        uint8_t buf[256];
        TU_EXPECT(cases[t].code,
                  tc_read_sample(c, cases[t].field, 19, buf, sizeof buf, NULL, &err), &err);
        TU_OK(tc_read_sample(c, cases[t].field, 18, buf, sizeof buf, NULL, &err), &err);
        tc_close(c);
        unlink(path);
    }
}

/* Reads every sample of "packed" (field 1 of the LZ4 base): block 2 (samples 6..8) must give
 * one of `codes`, every other sample its correct bytes. */
static void check_lz4_damage(const char *slug, int code_a, int code_b)
{
    char path[PATH_MAX];
    build_case(slug, path);
    for (unsigned flags = 0; flags <= TC_OPEN_NO_MMAP; flags += TC_OPEN_NO_MMAP) {
        tc_cache *c = open_ok(path, flags);
        tc_error err;
        for (uint64_t i = 0; i < 20; i++) {
            uint8_t want[30], got[64];
            uint64_t nb = 0;
            memset(&err, 0, sizeof err);
            int rc = tc_read_sample(c, 1, i, got, sizeof got, &nb, &err);
            if (i >= 9 && i <= 11 && rc == TC_ERR_INDEX && code_a == TC_ERR_INDEX) {
                /* The library may also refuse the block after a damaged entry, whose ordering
                 * check ("starts after the end of block 2") uses the damaged entry. */
                continue;
            }
            if (i >= 6 && i <= 8) {
                if (rc != code_a && rc != code_b)
                    fail_msg("%s: sample %llu gave %s, expected %s or %s: %s", slug,
                             (unsigned long long)i, tc_error_name(rc), tc_error_name(code_a),
                             tc_error_name(code_b), err.message);
                assert_non_null(strstr(err.message, "packed"));
            } else {
                if (rc != TC_OK)
                    fail_msg("%s: undamaged sample %llu gave %s: %s", slug,
                             (unsigned long long)i, tc_error_name(rc), err.message);
                tu_small_sample(TU_PACKED, i, want);
                assert_int_equal(nb, 30);
                assert_memory_equal(got, want, 30);
            }
        }
        /* a gather touching the damaged block fails as a whole, copying nothing */
        uint64_t idx[3] = {0, 7, 19};
        uint8_t dst[90];
        memset(dst, 0xCC, sizeof dst);
        int rc = tc_gather(c, 1, idx, 3, dst, sizeof dst, &err);
        assert_true(rc == code_a || rc == code_b);
        /* a gather that avoids it works */
        idx[1] = 5;
        TU_OK(tc_gather(c, 1, idx, 3, dst, sizeof dst, &err), &err);
        tc_close(c);
    }
    unlink(path);
}

static void test_lz4_damage(void **state)
{
    (void)state;
    check_lz4_damage("lz4-block-csize-0", TC_ERR_INDEX, TC_ERR_INDEX);
    check_lz4_damage("lz4-block-truncated", TC_ERR_CORRUPT_BLOCK, TC_ERR_CORRUPT_BLOCK);
    /* a flipped compressed byte: caught by the block checksum, or by the decoder */
    check_lz4_damage("lz4-block-byte-flipped", TC_ERR_CHECKSUM, TC_ERR_CORRUPT_BLOCK);
}

/* A block whose own checksum is wrong while everything else is re-sealed: a default open reads it
 * (the format lets it skip payload checksums), TC_OPEN_CHECK_BLOCKS refuses every sample of that
 * block (and only of that block), verification finds it. */
static void test_lz4_block_checksum_levels(void **state)
{
    (void)state;
    const char *slugs[] = {"lz4-block-checksum-wrong-resealed", "lz4-block-byte-flipped-resealed"};
    for (size_t t = 0; t < 2; t++) {
        char path[PATH_MAX];
        build_case(slugs[t], path);
        for (unsigned backend = 0; backend <= TC_OPEN_NO_MMAP; backend += TC_OPEN_NO_MMAP) {
            tc_cache *c = open_ok(path, backend | TC_OPEN_CHECK_BLOCKS);
            uint8_t got[64], want[64];
            uint64_t idx[2] = {0, 7};
            tc_error err;
            for (uint64_t i = 0; i < 20; i++) {
                if (i >= 6 && i < 9) {
                    TU_EXPECT(TC_ERR_CHECKSUM,
                              tc_read_sample(c, 1, i, got, sizeof got, NULL, &err), &err);
                    assert_non_null(strstr(err.message, "block 2"));
                } else {
                    TU_OK(tc_read_sample(c, 1, i, got, sizeof got, NULL, &err), &err);
                    assert_memory_equal(got, want, tu_small_sample(TU_PACKED, i, want));
                }
            }
            uint8_t batch[2 * 64];
            TU_EXPECT(TC_ERR_CHECKSUM, tc_gather(c, 1, idx, 2, batch, sizeof batch, &err), &err);
            TU_EXPECT(TC_ERR_CHECKSUM, tc_verify(c, &err), &err);
            tc_close(c);
        }
        if (t == 0) { /* the blocks decode: without block checking the samples read */
            tc_cache *c = open_ok(path, TC_OPEN_DEFAULT);
            uint8_t got[64], want[64];
            tc_error err;
            TU_OK(tc_read_sample(c, 1, 7, got, sizeof got, NULL, &err), &err);
            assert_memory_equal(got, want, tu_small_sample(TU_PACKED, 7, want));
            tc_close(c);
        }
        unlink(path);
    }
}

static void test_lz4_overlap_access(void **state)
{
    (void)state;
    /* block 3 starts where block 2 does: samples of block 3 are refused */
    char path[PATH_MAX];
    build_case("lz4-blocks-overlap", path);
    tc_cache *c = open_ok(path, 0);
    uint8_t buf[64];
    tc_error err;
    TU_EXPECT(TC_ERR_INDEX, tc_read_sample(c, 1, 9, buf, sizeof buf, NULL, &err), &err);
    TU_OK(tc_read_sample(c, 1, 8, buf, sizeof buf, NULL, &err), &err);
    tc_close(c);
    unlink(path);
}

static void test_payload_flip_still_readable(void **state)
{
    (void)state;
    /* Default open does not hash the data: the damaged sample reads (with its damage), and
     * only verification reports it, naming the field. */
    char path[PATH_MAX];
    build_case("payload-byte-flipped", path);
    tc_cache *c = open_ok(path, 0);
    tc_view v;
    tc_error err;
    TU_OK(tc_sample(c, 0, 1, &v, &err), &err);
    assert_int_equal(((const uint8_t *)v.data)[1], tu_image_byte(1, 1) ^ 0x01);
    TU_EXPECT(TC_ERR_CHECKSUM, tc_verify(c, &err), &err);
    assert_non_null(strstr(err.message, "image"));
    tc_close(c);
    unlink(path);
}

/* ---------------------------------------------------------------------------------------------
 * Padding inside regions. FORMAT.md section 5: "The bytes of each sample between sample_bytes
 * and stride are zero"; section 6: "Bytes not covered by a sample (alignment padding) are zero".
 * A full verification must catch both (PADDING), with every checksum fixed up so that nothing
 * else is wrong with the file.
 * ------------------------------------------------------------------------------------------- */

static void test_stride_padding_nonzero(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "stride-pad.tc");
    tu_write_base(path, TU_BASE_WIDE);
    tu_file f;
    tu_load(&f, path);
    /* "wide" (field 1): 24-byte samples, stride 64; byte 30 of sample 0 is padding */
    assert_int_equal(tu_fget(&f, 1, TU_F_STRIDE, 8), 64);
    tu_put(&f, tu_fget(&f, 1, TU_F_DATA_OFFSET, 8) + 30, 1, 0x01);
    tu_fix(&f, TU_FIX_ALL);
    tu_save(&f, path);
    tu_free(&f);
    assert_int_equal(tu_judge_file(path, TC_OK, TC_ERR_PADDING, "wide"), 0);
    unlink(path);
}

static void test_variable_gap_nonzero(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "var-gap.tc");
    tu_write_base(path, TU_BASE_VAR);
    tu_file f;
    tu_load(&f, path);
    /* the byte right after tokens sample 1 (3 elements, 12 bytes) is alignment padding */
    uint64_t e = tu_var_entry(&f, 0, 1);
    uint64_t end = tu_get(&f, e, 8) + tu_get(&f, e + 8, 8);
    assert_true(end % 64 != 0);
    tu_put(&f, tu_fget(&f, 0, TU_F_DATA_OFFSET, 8) + end, 1, 0x01);
    tu_fix(&f, TU_FIX_ALL);
    tu_save(&f, path);
    tu_free(&f);
    assert_int_equal(tu_judge_file(path, TC_OK, TC_ERR_PADDING, "tokens"), 0);
    unlink(path);
}

/* ---------------------------------------------------------------------------------------------
 * Exhaustive and random damage: nothing crashes, nothing damaged passes
 * ------------------------------------------------------------------------------------------- */

static void write_base_file(unsigned base, char *path)
{
    char name[64];
    snprintf(name, sizeof name, "sweep-base-%u.tc", base);
    tu_path(path, PATH_MAX, name);
    tu_write_base(path, base);
}

static void test_every_truncation(void **state)
{
    (void)state;
    for (unsigned base = 0; base < TU_BASE_COUNT; base++) {
        char path[PATH_MAX], cut[PATH_MAX];
        write_base_file(base, path);
        tu_path(cut, sizeof cut, "cut.tc");
        tu_file f;
        tu_load(&f, path);
        tc_error err;
        for (size_t len = 0; len < f.size; len += (len < 256 ? 1 : 61)) {
            tu_write_file(cut, f.buf, len);
            int rc = tu_open_code(cut, 0, &err);
            if (rc != TC_ERR_TRUNCATED)
                fail_msg("base %u cut to %zu bytes: %s (%s)", base, len, tc_error_name(rc),
                         err.message);
        }
        tu_free(&f);
        unlink(cut);
        unlink(path);
    }
}

static void test_header_bit_flips(void **state)
{
    (void)state;
    /* Every single-bit change in the header is rejected at open (mostly by the header
     * checksum; magic, version and header_size come before it). */
    char path[PATH_MAX], bad[PATH_MAX];
    write_base_file(TU_BASE_PLAIN, path);
    tu_path(bad, sizeof bad, "hdrflip.tc");
    tu_file f;
    tu_load(&f, path);
    tc_error err;
    for (unsigned byte = 0; byte < TU_HEADER_SIZE; byte++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            f.buf[byte] ^= (uint8_t)(1u << bit);
            tu_save(&f, bad);
            f.buf[byte] ^= (uint8_t)(1u << bit);
            int rc = tu_open_code(bad, 0, &err);
            int want = byte < 8 ? TC_ERR_BAD_MAGIC
                       : byte < 10 ? TC_ERR_VERSION
                       : (byte >= 12 && byte < 16) ? TC_ERR_HEADER
                                                   : TC_ERR_CHECKSUM;
            if (rc != want)
                fail_msg("header byte %u bit %u: %s, expected %s (%s)", byte, bit,
                         tc_error_name(rc), tc_error_name(want), err.message);
        }
    }
    tu_free(&f);
    unlink(bad);
    unlink(path);
}

/* 1 if entry-relative offset `rel` lies where a flipped bit can produce another valid file: a
 * name or layout byte (another valid name or tag), or the dtype (u8 <-> i8 and other pairs of
 * equal item size). */
static int benign_entry_byte(unsigned rel)
{
    return rel < TU_F_NAME + 64 || (rel >= TU_F_LAYOUT && rel < TU_F_LAYOUT + 8) ||
           rel == TU_F_DTYPE;
}

/* Sample bytes of fixed entry k of `f` (0 if not computable). */
static uint64_t entry_sample_bytes(const tu_file *f, uint32_t k)
{
    uint64_t sb = tu_dtype_itemsize((unsigned)tu_fget(f, k, TU_F_DTYPE, 1));
    unsigned rank = (unsigned)tu_fget(f, k, TU_F_RANK, 1);
    for (unsigned d = 0; d < rank && d < 8; d++)
        if (__builtin_mul_overflow(sb, tu_fget(f, k, TU_F_SHAPE + 8 * d, 8), &sb))
            return 0;
    return sb;
}

/* 1 if the flip made a padded fixed field's samples grow into their (zero) stride padding:
 * that is another valid file, which no check can tell from the original. */
static int grew_into_padding(const tu_file *orig, const tu_file *flipped, uint32_t k)
{
    if (tu_fget(orig, k, TU_F_KIND, 1) != 0 || tu_fget(orig, k, TU_F_CODEC, 1) != 0)
        return 0;
    uint64_t before = entry_sample_bytes(orig, k), after = entry_sample_bytes(flipped, k);
    return after > before && after <= tu_fget(orig, k, TU_F_STRIDE, 8);
}

static void test_field_table_bit_flips(void **state)
{
    (void)state;
    /* Every bit of every field entry, flipped with the field table and header checksums fixed
     * up: the library must not crash, and unless the flip gives another valid file (a name, a
     * layout tag, a dtype of the same size, samples grown into zero stride padding) the file
     * must fail open or verification. Run for each base (fixed, variable, lz4, padded). */
    int undetected = 0;
    for (unsigned base = 0; base < TU_BASE_COUNT; base++) {
        char path[PATH_MAX], bad[PATH_MAX];
        write_base_file(base, path);
        tu_path(bad, sizeof bad, "ftflip.tc");
        tu_file f;
        tu_load(&f, path);
        uint64_t ft = tu_hdr(&f, TU_H_FT_OFFSET, 8);
        uint64_t fts = tu_hdr(&f, TU_H_FT_SIZE, 8);
        for (uint64_t off = ft; off < ft + fts; off++) {
            unsigned rel = (unsigned)((off - ft) % TU_ENTRY_SIZE);
            for (unsigned bit = 0; bit < 8; bit += (benign_entry_byte(rel) ? 3 : 1)) {
                tu_file g = {malloc(f.size + 1), f.size};
                memcpy(g.buf, f.buf, f.size);
                g.buf[off] ^= (uint8_t)(1u << bit);
                tu_fix(&g, TU_FIX_FT | TU_FIX_HEADER);
                tu_save(&g, bad);
                int benign = benign_entry_byte(rel) ||
                             grew_into_padding(&f, &g, (uint32_t)((off - ft) / TU_ENTRY_SIZE));
                tu_free(&g);
                tc_cache *c = NULL;
                tc_error err;
                int rc = tc_open(&c, bad, 0, &err);
                if (rc != TC_OK) {
                    assert_null(c);
                    assert_true(rc > 0 && rc < TC_ERR_MAX_CODE);
                    continue;
                }
                int vrc = tc_verify(c, &err);
                tc_close(c);
                if (vrc == TC_OK && !benign && ++undetected <= 20)
                    print_error("base %u: field table byte %llu (entry offset %u) bit %u "
                                "flipped, yet the file opens and verifies\n",
                                base, (unsigned long long)(off - ft), rel, bit);
            }
        }
        tu_free(&f);
        unlink(bad);
        unlink(path);
    }
    if (undetected)
        fail_msg("%d field table bit flips went undetected", undetected);
}

/* Reads everything an open cache offers, ignoring the codes: under the sanitizers this proves
 * that a damaged file that passed open never makes the library read out of bounds. */
static void touch_everything(tc_cache *c)
{
    uint32_t nf = tc_num_fields(c);
    uint64_t n = tc_num_samples(c);
    uint8_t *buf = malloc(1 << 16);
    for (uint32_t k = 0; k < nf; k++) {
        tc_field_info fi;
        if (tc_describe_field(c, k, &fi, NULL) != TC_OK)
            continue;
        for (uint64_t i = 0; i < n && i < 64; i++) {
            tc_view v;
            uint64_t nb = 0;
            if (tc_sample(c, k, i, &v, NULL) == TC_OK && v.nbytes) {
                volatile uint8_t sink = ((const uint8_t *)v.data)[0];
                sink = ((const uint8_t *)v.data)[v.nbytes - 1];
                (void)sink;
            }
            tc_read_sample(c, k, i, buf, 1 << 16, &nb, NULL);
        }
        tc_view v;
        if (tc_range(c, k, 0, n, &v, NULL) == TC_OK && v.nbytes) {
            volatile uint8_t sink = ((const uint8_t *)v.data)[v.nbytes - 1];
            (void)sink;
        }
        uint64_t idx[3] = {0, n ? n - 1 : 0, n / 2};
        if (n)
            tc_gather(c, k, idx, 3, buf, 1 << 16, NULL);
    }
    tc_verify(c, NULL);
    free(buf);
}

static void test_random_damage(void **state)
{
    (void)state;
    /* Seeded random damage anywhere in the file (1..4 bytes), checksums fixed up half of the
     * time so that the damage reaches the deeper checks. */
    uint64_t rng = 0xBADF11E5;
    int opened = 0, rejected = 0;
    for (unsigned base = 0; base < TU_BASE_COUNT; base++) {
        char path[PATH_MAX], bad[PATH_MAX];
        write_base_file(base, path);
        tu_path(bad, sizeof bad, "random.tc");
        tu_file f;
        tu_load(&f, path);
        for (int iter = 0; iter < 400; iter++) {
            tu_file g = {malloc(f.size + 1), f.size};
            memcpy(g.buf, f.buf, f.size);
            int nflip = 1 + (int)tu_rand_below(&rng, 4);
            for (int j = 0; j < nflip; j++) {
                uint64_t off = tu_rand_below(&rng, g.size);
                /* bias towards the structured parts: header, field table, index regions */
                if (j == 0 && iter % 2 == 0)
                    off = tu_hdr(&g, TU_H_FT_OFFSET, 8) + tu_rand_below(&rng, 256 * 2);
                if (off < g.size)
                    g.buf[off] ^= (uint8_t)(1 + tu_rand_below(&rng, 255));
            }
            if (iter % 2 == 0)
                tu_fix(&g, TU_FIX_ALL);
            tu_save(&g, bad);
            tu_free(&g);
            for (unsigned flags = 0; flags < 4; flags++) {
                tc_cache *c = NULL;
                tc_error err;
                int rc = tc_open(&c, bad, flags, &err);
                assert_true(rc >= 0 && rc < TC_ERR_MAX_CODE);
                if (rc == TC_OK) {
                    opened++;
                    touch_everything(c);
                    tc_close(c);
                } else {
                    rejected++;
                    assert_null(c);
                    assert_true(strlen(err.message) > 0);
                }
            }
        }
        tu_free(&f);
        unlink(bad);
        unlink(path);
    }
    print_message("  random damage: %d opens succeeded, %d rejected\n", opened, rejected);
    assert_true(rejected > 0);
}

/* ---------------------------------------------------------------------------------------------
 * Error names and descriptions
 * ------------------------------------------------------------------------------------------- */

static void test_error_names(void **state)
{
    (void)state;
    static const char *const names[] = {
#define X_NAME(nm, num, text) #nm,
        TC_ERROR_LIST(X_NAME)
#undef X_NAME
    };
    static const int nums[] = {
#define X_NUM(nm, num, text) num,
        TC_ERROR_LIST(X_NUM)
#undef X_NUM
    };
    size_t count = sizeof names / sizeof names[0];
    assert_int_equal(nums[0], TC_OK);
    assert_int_equal(nums[count - 1] + 1, TC_ERR_MAX_CODE);
    for (size_t i = 0; i < count; i++) {
        if (i > 0) /* numbers only grow down the list; reserved ones may be skipped */
            assert_true(nums[i] > nums[i - 1]);
        const char *name = tc_error_name(nums[i]), *text = tc_strerror(nums[i]);
        assert_non_null(name);
        assert_non_null(text);
        assert_string_equal(name, names[i]);
        assert_true(strlen(text) > 0);
        assert_int_equal(tu_code_from_name(name), nums[i]);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(name, tc_error_name(nums[j]));
            assert_string_not_equal(text, tc_strerror(nums[j]));
        }
    }
    /* 33-36 belong to the tensorcache command (tools/errors.h): the library does not know them */
    for (int code = 33; code <= 36; code++) {
        assert_string_equal(tc_error_name(code), "UNKNOWN");
        assert_string_equal(tc_strerror(code), "unknown error code");
    }
    assert_string_equal(tc_error_name(-1), "UNKNOWN");
    assert_string_equal(tc_error_name(TC_ERR_MAX_CODE), "UNKNOWN");
    assert_string_equal(tc_strerror(TC_ERR_MAX_CODE), "unknown error code");
    assert_string_equal(tc_strerror(-7), "unknown error code");
}

int main(void)
{
    tu_tmp_init("test_badfiles");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_table),
        cmocka_unit_test(test_future_minor_version),
        cmocka_unit_test(test_deferred_variable_entries),
        cmocka_unit_test(test_lz4_damage),
        cmocka_unit_test(test_lz4_overlap_access),
        cmocka_unit_test(test_lz4_block_checksum_levels),
        cmocka_unit_test(test_payload_flip_still_readable),
        cmocka_unit_test(test_stride_padding_nonzero),
        cmocka_unit_test(test_variable_gap_nonzero),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_header_bit_flips),
        cmocka_unit_test(test_field_table_bit_flips),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_error_names),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmp_cleanup();
    return rc;
}
