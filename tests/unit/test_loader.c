/*
 * test_loader.c - tc_loader and tc_shuffle_index.
 *
 * Every batch is compared byte for byte with the small reference cache (testutil.h), for every
 * kind of field (fixed, scalar, variable, LZ4, aligned), both backends, several batch sizes,
 * thread counts and ring sizes. Orders are checked as multisets (every sample exactly once per
 * epoch) and as sequences (same seed and epoch, same order; resume = the remaining positions).
 */
#include <pthread.h>

#include "testutil.h"

#define ALL_FIELDS (TU_IMAGE | TU_LABEL | TU_TOKENS | TU_PACKED | TU_WIDE | TU_BOXES)

static const unsigned small_bits[] = {TU_IMAGE, TU_LABEL, TU_TOKENS, TU_PACKED, TU_WIDE, TU_BOXES};

/* ---- the permutation ---- */

static void check_permutation(uint64_t n, uint64_t seed, uint64_t epoch)
{
    uint8_t *seen = calloc(n, 1);
    TU_CHECK(seen);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = tc_shuffle_index(i, n, seed, epoch);
        TU_CHECK(v < n);
        TU_CHECK(!seen[v]);
        seen[v] = 1;
    }
    free(seen);
}

static void test_shuffle_is_permutation(void **state)
{
    (void)state;
    for (uint64_t n = 1; n <= 300; n++)
        check_permutation(n, n * 7919, n % 3);
    check_permutation(60000, 42, 0);
    check_permutation(65536, 1, 2);
    check_permutation(65537, 1, 2);
}

/* Fixed vectors: any implementation of the contract in tensorcache.h must reproduce these. */
static void test_shuffle_fixed_vectors(void **state)
{
    (void)state;
    static const uint64_t want0[10] = {0, 1, 2, 9, 8, 3, 4, 7, 6, 5};
    static const uint64_t want1[10] = {6, 1, 4, 7, 0, 5, 3, 8, 2, 9};
    for (uint64_t i = 0; i < 10; i++) {
        TU_CHECK(tc_shuffle_index(i, 10, 0, 0) == want0[i]);
        TU_CHECK(tc_shuffle_index(i, 10, 42, 1) == want1[i]);
    }
    /* a large n (64-bit domain) stays in range and is deterministic */
    uint64_t big = UINT64_MAX - 5;
    uint64_t v = tc_shuffle_index(123456789, big, 7, 3);
    TU_CHECK(v < big && v == tc_shuffle_index(123456789, big, 7, 3));
    TU_CHECK(tc_shuffle_index(0, 1, 5, 5) == 0);
    TU_CHECK(tc_shuffle_index(10, 10, 5, 5) == 0);
}

static void test_shuffle_depends_on_seed_and_epoch(void **state)
{
    (void)state;
    int diff_epoch = 0, diff_seed = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        diff_epoch += tc_shuffle_index(i, 1000, 9, 0) != tc_shuffle_index(i, 1000, 9, 1);
        diff_seed += tc_shuffle_index(i, 1000, 9, 0) != tc_shuffle_index(i, 1000, 10, 0);
    }
    TU_CHECK(diff_epoch > 900 && diff_seed > 900);
}

/* ---- helpers ---- */

typedef struct {
    unsigned threads, prefetch;
    uint64_t batch;
    int no_mmap;
} setup;

static tc_cache *open_small(const char *name, uint64_t n, int no_mmap)
{
    char path[PATH_MAX];
    tu_path(path, sizeof path, name);
    if (!tu_exists(path))
        tu_write_small(path, ALL_FIELDS, n, NULL);
    tc_cache *c = NULL;
    tc_error err;
    TU_OK(tc_open(&c, path, no_mmap ? TC_OPEN_NO_MMAP : 0, &err), &err);
    return c;
}

static tc_loader *make_loader(tc_cache *c, const setup *s, const tc_order *o)
{
    tc_loader_options opt = {0};
    opt.batch_size = s->batch;
    opt.num_threads = s->threads;
    opt.prefetch = s->prefetch;
    tc_loader *l = NULL;
    tc_error err;
    TU_OK(tc_loader_create(&l, c, &opt, o, &err), &err);
    return l;
}

/* Row k of a batch against the reference bytes of its sample, for every field. */
static void check_row(const tc_batch *b, uint64_t k)
{
    uint64_t i = b->samples[k];
    TU_CHECK(b->num_fields == 6);
    for (uint32_t j = 0; j < 6; j++) {
        const tc_batch_field *bf = &b->fields[j];
        uint8_t want[128];
        size_t nb = tu_small_sample(small_bits[j], i, want);
        TU_CHECK(((uintptr_t)bf->data & 63) == 0);
        TU_CHECK(bf->field == j);
        const uint8_t *got;
        if (bf->variable) {
            TU_CHECK(bf->offsets[k + 1] - bf->offsets[k] == nb);
            got = (const uint8_t *)bf->data + bf->offsets[k];
            uint64_t rows = small_bits[j] == TU_TOKENS ? tu_tokens_len(i) : i % 4;
            TU_CHECK(bf->shapes[k * bf->rank] == rows);
        } else {
            TU_CHECK(bf->sample_bytes == nb);
            got = (const uint8_t *)bf->data + k * nb;
        }
        if (nb && memcmp(got, want, nb) != 0)
            TU_FAILF("field %u, sample %llu: bytes differ", j, (unsigned long long)i);
    }
}

/* Runs a pass to its end; appends the sample numbers to seq (capacity cap); returns the count. */
static uint64_t run_pass(tc_loader *l, uint64_t *seq, uint64_t cap, uint64_t batch_size)
{
    const tc_batch *b;
    tc_error err;
    uint64_t got = 0, expect_pos = UINT64_MAX, nb = 0;
    for (;;) {
        TU_OK(tc_loader_next(l, &b, -1, &err), &err);
        if (!b)
            break;
        TU_CHECK(b->status == TC_OK);
        TU_CHECK(b->size >= 1 && b->size <= batch_size);
        if (expect_pos != UINT64_MAX)
            TU_CHECK(b->position == expect_pos);
        expect_pos = b->position + b->size;
        for (uint64_t k = 0; k < b->size; k++) {
            check_row(b, k);
            TU_CHECK(got < cap);
            seq[got++] = b->samples[k];
        }
        nb++;
    }
    TU_CHECK(nb == tc_loader_num_batches(l));
    /* the end stays the end */
    TU_OK(tc_loader_next(l, &b, -1, &err), &err);
    TU_CHECK(b == NULL);
    return got;
}

static void check_once_each(const uint64_t *seq, uint64_t count, uint64_t n)
{
    TU_CHECK(count == n);
    uint8_t *seen = calloc(n ? n : 1, 1);
    for (uint64_t k = 0; k < count; k++) {
        TU_CHECK(seq[k] < n && !seen[seq[k]]);
        seen[seq[k]] = 1;
    }
    free(seen);
}

/* ---- orders ---- */

static void test_every_sample_once(void **state)
{
    (void)state;
    const uint64_t n = 53;
    static const setup setups[] = {
        {1, 1, 1, 0}, {1, 2, 7, 0}, {3, 0, 7, 0}, {2, 3, 53, 0}, {4, 5, 64, 0},
        {0, 0, 10, 0}, {1, 1, 7, 1}, {3, 4, 6, 1}, {0, 0, 53, 1},
    };
    uint64_t seq[64];
    for (size_t s = 0; s < sizeof setups / sizeof setups[0]; s++) {
        tc_cache *c = open_small("once.tc", n, setups[s].no_mmap);
        for (int kind = TC_ORDER_SEQUENTIAL; kind <= TC_ORDER_SHUFFLE; kind++) {
            tc_order o = {0};
            o.kind = kind;
            o.seed = 1234;
            o.epoch = s;
            tc_loader *l = make_loader(c, &setups[s], &o);
            uint64_t got = run_pass(l, seq, 64, setups[s].batch);
            check_once_each(seq, got, n);
            for (uint64_t p = 0; p < got; p++)
                TU_CHECK(seq[p] == (kind == TC_ORDER_SHUFFLE ? tc_shuffle_index(p, n, 1234, s) : p));
            tc_loader_close(l);
        }
        tc_close(c);
    }
}

static void test_same_order_same_seed(void **state)
{
    (void)state;
    const uint64_t n = 53;
    tc_cache *c = open_small("once.tc", n, 0);
    uint64_t a[64], b[64], d[64];
    setup s1 = {1, 1, 5, 0}, s2 = {3, 0, 5, 0};
    tc_order o = {0};
    o.kind = TC_ORDER_SHUFFLE, o.seed = 77, o.epoch = 3;
    tc_loader *l1 = make_loader(c, &s1, &o), *l2 = make_loader(c, &s2, &o);
    TU_CHECK(run_pass(l1, a, 64, 5) == n);
    TU_CHECK(run_pass(l2, b, 64, 5) == n);
    TU_CHECK(memcmp(a, b, sizeof a[0] * n) == 0);
    /* a new epoch through restart: another order of the same samples */
    o.epoch = 4;
    tc_error err;
    TU_OK(tc_loader_restart(l1, &o, &err), &err);
    TU_CHECK(run_pass(l1, d, 64, 5) == n);
    check_once_each(d, n, n);
    TU_CHECK(memcmp(a, d, sizeof a[0] * n) != 0);
    tc_loader_close(l1);
    tc_loader_close(l2);
    tc_close(c);
}

static void test_resume_and_drop_last(void **state)
{
    (void)state;
    const uint64_t n = 53;
    tc_cache *c = open_small("once.tc", n, 0);
    uint64_t full[64], rest[64];
    setup s = {2, 0, 8, 0};
    tc_order o = {0};
    o.kind = TC_ORDER_SHUFFLE, o.seed = 5, o.epoch = 1;
    tc_loader *l = make_loader(c, &s, &o);
    TU_CHECK(run_pass(l, full, 64, 8) == n);
    TU_CHECK(tc_loader_num_batches(l) == 7);
    tc_error err;
    for (uint64_t start = 0; start <= n; start += 3) {
        o.start = start;
        TU_OK(tc_loader_restart(l, &o, &err), &err);
        uint64_t got = run_pass(l, rest, 64, 8);
        TU_CHECK(got == n - start);
        TU_CHECK(memcmp(rest, full + start, got * sizeof rest[0]) == 0);
    }
    o.start = 0, o.drop_last = 1;
    TU_OK(tc_loader_restart(l, &o, &err), &err);
    TU_CHECK(tc_loader_num_batches(l) == 6);
    TU_CHECK(run_pass(l, rest, 64, 8) == 48);
    TU_CHECK(memcmp(rest, full, 48 * sizeof rest[0]) == 0);
    o.start = n + 1;
    TU_EXPECT(TC_ERR_INVALID_ARG, tc_loader_restart(l, &o, &err), &err);
    tc_loader_close(l);
    tc_close(c);
}

static void test_explicit_indices(void **state)
{
    (void)state;
    const uint64_t n = 53;
    tc_cache *c = open_small("once.tc", n, 0);
    uint64_t idx[20], got[32];
    for (uint64_t k = 0; k < 20; k++)
        idx[k] = (k * 11) % n;
    idx[5] = idx[6] = 52; /* repeats are allowed */
    setup s = {2, 2, 3, 0};
    tc_order o = {0};
    o.kind = TC_ORDER_INDICES, o.indices = idx, o.num_indices = 20;
    tc_loader *l = make_loader(c, &s, &o);
    TU_CHECK(run_pass(l, got, 32, 3) == 20);
    TU_CHECK(memcmp(got, idx, sizeof idx) == 0);
    idx[19] = n;
    tc_error err;
    TU_EXPECT(TC_ERR_RANGE, tc_loader_restart(l, &o, &err), &err);
    tc_loader_close(l);
    tc_loader_options opt = {0};
    opt.batch_size = 4;
    TU_EXPECT(TC_ERR_RANGE, tc_loader_create(&l, c, &opt, &o, &err), &err);
    TU_CHECK(l == NULL);
    tc_close(c);
}

static void test_bad_options(void **state)
{
    (void)state;
    tc_cache *c = open_small("once.tc", 53, 0);
    tc_loader *l = NULL;
    tc_loader_options opt = {0};
    tc_order o = {0};
    tc_error err;
    TU_EXPECT(TC_ERR_INVALID_ARG, tc_loader_create(&l, c, &opt, &o, &err), &err);
    opt.batch_size = 4;
    uint32_t bad_field = 6;
    opt.fields = &bad_field, opt.num_fields = 1;
    TU_EXPECT(TC_ERR_NOT_FOUND, tc_loader_create(&l, c, &opt, &o, &err), &err);
    opt.fields = NULL, opt.flags = 0x80;
    TU_EXPECT(TC_ERR_INVALID_ARG, tc_loader_create(&l, c, &opt, &o, &err), &err);
    opt.flags = 0, o.kind = 7;
    TU_EXPECT(TC_ERR_INVALID_ARG, tc_loader_create(&l, c, &opt, &o, &err), &err);
    TU_CHECK(l == NULL);
    tc_close(c);
}

/* A subset of fields, in the caller's order. */
static void test_field_subset(void **state)
{
    (void)state;
    tc_cache *c = open_small("once.tc", 53, 0);
    uint32_t fields[2] = {3, 1}; /* packed, label */
    tc_loader_options opt = {0};
    opt.batch_size = 10, opt.fields = fields, opt.num_fields = 2;
    tc_order o = {0};
    tc_loader *l;
    const tc_batch *b;
    tc_error err;
    TU_OK(tc_loader_create(&l, c, &opt, &o, &err), &err);
    TU_OK(tc_loader_next(l, &b, -1, &err), &err);
    TU_CHECK(b && b->num_fields == 2 && b->fields[0].field == 3 && b->fields[1].field == 1);
    for (uint64_t k = 0; k < b->size; k++) {
        uint8_t want[128];
        size_t nb = tu_small_sample(TU_PACKED, b->samples[k], want);
        TU_CHECK(memcmp((uint8_t *)b->fields[0].data + k * nb, want, nb) == 0);
        nb = tu_small_sample(TU_LABEL, b->samples[k], want);
        TU_CHECK(memcmp((uint8_t *)b->fields[1].data + k * nb, want, nb) == 0);
    }
    tc_loader_close(l);
    tc_close(c);
}

/* ---- buffers ---- */

static void test_buffer_reuse(void **state)
{
    (void)state;
    tc_cache *c = open_small("once.tc", 53, 0);
    setup s = {2, 2, 2, 0};
    tc_order o = {0};
    tc_loader *l = make_loader(c, &s, &o);
    const void *seen[8] = {0};
    unsigned nseen = 0;
    const tc_batch *b;
    tc_error err;
    while (tc_loader_next(l, &b, -1, &err) == TC_OK && b) {
        const void *p = b->fields[0].data;
        unsigned k = 0;
        while (k < nseen && seen[k] != p)
            k++;
        if (k == nseen) {
            TU_CHECK(nseen < 8);
            seen[nseen++] = p;
        }
    }
    TU_CHECK(nseen == 2); /* 27 batches through a ring of 2 */
    tc_loader_close(l);
    tc_close(c);
}

/* ---- faults ---- */

/* LZ4 field "packed" (field 3), 3 samples per block: block 5 (samples 15..17) made undecodable. */
static void write_corrupt(const char *name)
{
    char path[PATH_MAX];
    tu_path(path, sizeof path, name);
    tu_write_small(path, ALL_FIELDS, 53, NULL);
    tu_file f;
    tu_load(&f, path);
    uint64_t e = tu_lz4_entry(&f, 3, 5);
    uint64_t off = tu_fget(&f, 3, TU_F_DATA_OFFSET, 8) + tu_get(&f, e, 8);
    uint64_t size = tu_get(&f, e + 8, 8);
    memset(f.buf + off, 0xFF, size);
    tu_save(&f, path);
    tu_free(&f);
}

static void test_error_with_its_batch(void **state)
{
    (void)state;
    write_corrupt("corrupt.tc");
    for (int no_mmap = 0; no_mmap <= 1; no_mmap++) {
        tc_cache *c = open_small("corrupt.tc", 53, no_mmap);
        setup s = {3, 0, 4, 0};
        tc_order o = {0};
        tc_loader *l = make_loader(c, &s, &o);
        const tc_batch *b;
        tc_error err;
        for (int k = 0; k < 3; k++) { /* samples 0..11 are fine */
            TU_OK(tc_loader_next(l, &b, -1, &err), &err);
            TU_CHECK(b && b->status == TC_OK);
        }
        TU_EXPECT(TC_ERR_CORRUPT_BLOCK, tc_loader_next(l, &b, -1, &err), &err);
        TU_CHECK(b && b->status == TC_ERR_CORRUPT_BLOCK && b->error_field == 3);
        TU_CHECK(b->error_sample == 15);
        TU_CHECK(strstr(err.message, "field 'packed', sample 15") != NULL);
        TU_EXPECT(TC_ERR_STOPPED, tc_loader_next(l, &b, -1, &err), &err);
        TU_CHECK(b == NULL);
        /* a restart past the damage works again */
        o.start = 18;
        TU_OK(tc_loader_restart(l, &o, &err), &err);
        TU_OK(tc_loader_next(l, &b, -1, &err), &err);
        TU_CHECK(b && b->samples[0] == 18);
        tc_loader_close(l);
        tc_close(c);
    }
}

static void test_truncated_under_pread_loader(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "truncated.tc");
    tu_write_small(path, ALL_FIELDS, 53, NULL);
    tc_cache *c = NULL;
    tc_error err;
    TU_OK(tc_open(&c, path, TC_OPEN_NO_MMAP, &err), &err);
    setup s = {1, 1, 10, 0};
    tc_order o = {0};
    tc_loader *l = make_loader(c, &s, &o);
    const tc_batch *b;
    TU_OK(tc_loader_next(l, &b, -1, &err), &err); /* filled before the truncation */
    TU_CHECK(b && b->status == TC_OK);
    TU_CHECK(truncate(path, 4096) == 0); /* the ring of 1 is held: batch 1 is read after this */
    int rc = tc_loader_next(l, &b, -1, &err);
    TU_CHECK(rc == TC_ERR_TRUNCATED || rc == TC_ERR_IO);
    TU_CHECK(b && b->status == rc && b->error_sample == 10);
    tc_loader_close(l);
    tc_close(c);
}

/* Closing at any point: mid-epoch with batches being filled, before the first batch, at once. */
static void test_close_mid_epoch(void **state)
{
    (void)state;
    tc_cache *c = open_small("once.tc", 53, 0);
    for (unsigned taken = 0; taken < 4; taken++) {
        setup s = {4, 3, 1, 0};
        tc_order o = {0};
        o.kind = TC_ORDER_SHUFFLE;
        tc_loader *l = make_loader(c, &s, &o);
        const tc_batch *b;
        tc_error err;
        for (unsigned k = 0; k < taken; k++)
            TU_OK(tc_loader_next(l, &b, -1, &err), &err);
        tc_loader_close(l);
    }
    tc_loader_close(NULL);
    tc_close(c);
}

/* Polling with a zero timeout gets every batch too (TIMEOUT only means "not yet"). */
static void test_poll(void **state)
{
    (void)state;
    tc_cache *c = open_small("once.tc", 53, 0);
    setup s = {1, 1, 4, 0};
    tc_order o = {0};
    tc_loader *l = make_loader(c, &s, &o);
    const tc_batch *b;
    tc_error err;
    uint64_t rows = 0;
    for (;;) {
        int rc = tc_loader_next(l, &b, 0, &err);
        if (rc == TC_ERR_TIMEOUT) {
            TU_CHECK(b == NULL);
            continue;
        }
        TU_CHECK(rc == TC_OK);
        if (!b)
            break;
        rows += b->size;
    }
    TU_CHECK(rows == 53);
    tc_loader_close(l);
    tc_close(c);
}

/* No samples: no batches, in every order. */
static void test_empty_cache(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "empty.tc");
    tu_write_small(path, ALL_FIELDS, 0, NULL);
    tc_cache *c = NULL;
    tc_error err;
    TU_OK(tc_open(&c, path, 0, &err), &err);
    for (int kind = TC_ORDER_SEQUENTIAL; kind <= TC_ORDER_INDICES; kind++) {
        tc_order o = {0};
        o.kind = kind;
        setup s = {2, 0, 4, 0};
        tc_loader *l = make_loader(c, &s, &o);
        TU_CHECK(tc_loader_num_batches(l) == 0);
        const tc_batch *b;
        TU_OK(tc_loader_next(l, &b, -1, &err), &err);
        TU_CHECK(b == NULL);
        tc_loader_close(l);
    }
    tc_close(c);
}

/* Large samples on a mapping evicted from the page cache: the loader starts each batch's reads
 * (MADV_WILLNEED) before copying; the bytes must be the same as on a hot mapping. */
static void test_cold_mapping_large_samples(void **state)
{
    (void)state;
    char path[PATH_MAX];
    tu_path(path, sizeof path, "large.tc");
    const uint64_t n = 24, sb = 20000;
    tc_writer *w;
    tc_error err;
    TU_OK(tc_writer_create(&w, path, &err), &err);
    tc_field_spec spec = {.name = "big", .dtype = TC_DTYPE_U8, .rank = 1, .shape = {sb}};
    TU_OK(tc_writer_add_field(w, &spec, &err), &err);
    uint8_t *buf = malloc(sb);
    TU_CHECK(buf);
    for (uint64_t i = 0; i < n; i++) {
        memset(buf, (int)(i * 7 + 1), sb);
        tc_value v = {buf, sb, NULL};
        TU_OK(tc_writer_append(w, &v, &err), &err);
    }
    TU_OK(tc_writer_finish(w, &err), &err);
    int fd = open(path, O_RDONLY);
    TU_CHECK(fd >= 0);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* best effort: evicts clean pages */
    close(fd);
    tc_cache *c = NULL;
    TU_OK(tc_open(&c, path, 0, &err), &err);
    setup s = {3, 0, 5, 0};
    tc_order o = {0};
    o.kind = TC_ORDER_SHUFFLE, o.seed = 11;
    tc_loader *l = make_loader(c, &s, &o);
    const tc_batch *b;
    uint64_t rows = 0;
    while (tc_loader_next(l, &b, -1, &err) == TC_OK && b) {
        for (uint64_t k = 0; k < b->size; k++) {
            const uint8_t *row = (const uint8_t *)b->fields[0].data + k * sb;
            uint8_t want = (uint8_t)(b->samples[k] * 7 + 1);
            TU_CHECK(row[0] == want && row[sb - 1] == want && row[sb / 2] == want);
        }
        rows += b->size;
    }
    TU_CHECK(rows == n);
    tc_loader_close(l);
    tc_close(c);
    free(buf);
}

int main(void)
{
    tu_tmp_init("test_loader");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shuffle_is_permutation),
        cmocka_unit_test(test_shuffle_fixed_vectors),
        cmocka_unit_test(test_shuffle_depends_on_seed_and_epoch),
        cmocka_unit_test(test_every_sample_once),
        cmocka_unit_test(test_same_order_same_seed),
        cmocka_unit_test(test_resume_and_drop_last),
        cmocka_unit_test(test_explicit_indices),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_field_subset),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_error_with_its_batch),
        cmocka_unit_test(test_truncated_under_pread_loader),
        cmocka_unit_test(test_close_mid_epoch),
        cmocka_unit_test(test_poll),
        cmocka_unit_test(test_empty_cache),
        cmocka_unit_test(test_cold_mapping_large_samples),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmp_cleanup();
    return failed;
}
