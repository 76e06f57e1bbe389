/*
 * large_field.c - `make test-large`: one fixed-shape field larger than 4 GiB, written with the
 * streaming writer and read back through every access path.
 *
 * The cache holds N = 4608 samples of a 1 MiB u8 field "big" (4.5 GiB) and a small u64 field
 * "id". Sample contents are a cheap function of (sample, byte offset), so nothing needs to be
 * kept in memory to check them. The file goes to $TC_TEST_TMP (default /tmp) and is deleted at
 * the end, whatever the outcome. Prints sizes and timings and ends with one PASS/FAIL line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "tensorcache.h"

#define SAMPLE_BYTES (UINT64_C(1) << 20)
#define NUM_SAMPLES UINT64_C(4608) /* 4.5 GiB */
#define FOUR_GIB (UINT64_C(1) << 32)

static char g_path[4096];

static void remove_file(void)
{
    if (g_path[0])
        unlink(g_path);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\nlarge_field: FAIL\n");                                              \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr, err)                                                                        \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        CHECK(rc_ == TC_OK, "%s: %s", tc_error_name(rc_), (err).message);                          \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Word w of sample i: distinct for every (sample, position), cheap to recompute. */
static uint64_t content_word(uint64_t i, uint64_t w)
{
    return (i << 40) ^ (w * UINT64_C(0x9E3779B97F4A7C15)) ^ (i * UINT64_C(0xD1B54A32D192ED03));
}

static void fill_sample(uint64_t i, uint8_t *buf)
{
    uint64_t *words = (uint64_t *)(void *)buf; /* buf is malloc'ed: 8-byte aligned */
    for (uint64_t w = 0; w < SAMPLE_BYTES / 8; w++)
        words[w] = content_word(i, w); /* little-endian host (the library requires one) */
}

/* 1 if `p` holds sample i exactly. */
static int sample_matches(uint64_t i, const uint8_t *p)
{
    for (uint64_t w = 0; w < SAMPLE_BYTES / 8; w++) {
        uint64_t v;
        memcpy(&v, p + 8 * w, 8);
        if (v != content_word(i, w)) {
            fprintf(stderr, "sample %llu differs at byte %llu\n", (unsigned long long)i,
                    (unsigned long long)(8 * w));
            return 0;
        }
    }
    return 1;
}

static void write_cache(const char *path)
{
    tc_writer *w = NULL;
    tc_error err;
    CHECK_OK(tc_writer_create(&w, path, &err), err);
    tc_field_spec big = {0}, id = {0};
    big.name = "big";
    big.dtype = TC_DTYPE_U8;
    big.rank = 1;
    big.shape[0] = SAMPLE_BYTES;
    id.name = "id";
    id.dtype = TC_DTYPE_U64;
    id.rank = 0;
    CHECK_OK(tc_writer_add_field(w, &big, &err), err);
    CHECK_OK(tc_writer_add_field(w, &id, &err), err);
    static const char meta[] = "{\"test\": \"large_field\"}";
    CHECK_OK(tc_writer_set_metadata(w, meta, sizeof meta - 1, &err), err);

    /* most samples one at a time; the last 8 as one batch, to cross both paths */
    uint8_t *buf = malloc(8 * SAMPLE_BYTES);
    CHECK(buf != NULL, "out of memory");
    double t0 = now();
    for (uint64_t i = 0; i < NUM_SAMPLES - 8; i++) {
        fill_sample(i, buf);
        tc_value v[2] = {{buf, SAMPLE_BYTES, NULL}, {&i, 8, NULL}};
        CHECK_OK(tc_writer_append(w, v, &err), err);
    }
    uint64_t ids[8];
    for (uint64_t j = 0; j < 8; j++) {
        ids[j] = NUM_SAMPLES - 8 + j;
        fill_sample(ids[j], buf + j * SAMPLE_BYTES);
    }
    tc_value vb[2] = {{buf, 8 * SAMPLE_BYTES, NULL}, {ids, sizeof ids, NULL}};
    CHECK_OK(tc_writer_append_batch(w, 8, vb, &err), err);
    CHECK(tc_writer_count(w) == NUM_SAMPLES, "count %llu",
          (unsigned long long)tc_writer_count(w));
    double t1 = now();
    CHECK_OK(tc_writer_finish(w, &err), err);
    double t2 = now();
    free(buf);
    printf("  write: %.1f s appending + %.1f s finishing (%.0f MiB/s)\n", t1 - t0, t2 - t1,
           (double)(NUM_SAMPLES * SAMPLE_BYTES) / (1 << 20) / (t2 - t0));
}

static void check_field_info(tc_cache *c)
{
    tc_field_info fi;
    uint32_t k = 99;
    CHECK(tc_find_field(c, "big", &k, NULL) == TC_OK && k == 0, "find big");
    CHECK(tc_describe_field(c, 0, &fi, NULL) == TC_OK, "describe big");
    CHECK(fi.sample_bytes == SAMPLE_BYTES && fi.stride == SAMPLE_BYTES, "sample bytes");
    CHECK(fi.data_size == NUM_SAMPLES * SAMPLE_BYTES, "data_size %llu",
          (unsigned long long)fi.data_size);
    CHECK(fi.data_size > FOUR_GIB, "field not larger than 4 GiB");
    CHECK(fi.data_offset % 4096 == 0, "data offset %llu", (unsigned long long)fi.data_offset);
    CHECK(tc_file_size(c) > fi.data_size, "file size");
    printf("  field 'big': %llu samples x %llu bytes = %.2f GiB at offset %llu; file %llu bytes\n",
           (unsigned long long)NUM_SAMPLES, (unsigned long long)fi.sample_bytes,
           (double)fi.data_size / (double)(UINT64_C(1) << 30), (unsigned long long)fi.data_offset,
           (unsigned long long)tc_file_size(c));
}

/* Samples whose bytes lie around the 4 GiB boundary, of the region and of the file. */
static const uint64_t probe[] = {0, 1, 4094, 4095, 4096, 4097, NUM_SAMPLES - 2, NUM_SAMPLES - 1};
#define NPROBE (sizeof probe / sizeof probe[0])

static void check_mmap_paths(tc_cache *c)
{
    tc_error err;
    tc_view range;
    CHECK_OK(tc_range(c, 0, 0, NUM_SAMPLES, &range, &err), err);
    CHECK(range.nbytes == NUM_SAMPLES * SAMPLE_BYTES, "range nbytes %llu",
          (unsigned long long)range.nbytes);
    CHECK(range.ndim == 2 && range.shape[0] == NUM_SAMPLES && range.shape[1] == SAMPLE_BYTES,
          "range shape");
    CHECK(range.strides[0] == (int64_t)SAMPLE_BYTES && range.strides[1] == 1, "range strides");
    const uint8_t *base = range.data;
    tc_span span;
    CHECK_OK(tc_field_span(c, 0, &span, &err), err);
    CHECK(span.base == base && span.count == NUM_SAMPLES, "span");
    for (size_t p = 0; p < NPROBE; p++) {
        uint64_t i = probe[p];
        tc_view v;
        CHECK_OK(tc_sample(c, 0, i, &v, &err), err);
        CHECK(v.data == base + i * SAMPLE_BYTES, "sample %llu pointer", (unsigned long long)i);
        CHECK(sample_matches(i, v.data), "sample %llu content", (unsigned long long)i);
        CHECK(tc_span_at(&span, i) == v.data, "span_at %llu", (unsigned long long)i);
        uint64_t id = 0;
        CHECK_OK(tc_read_sample(c, 1, i, &id, sizeof id, NULL, &err), err);
        CHECK(id == i, "id of sample %llu is %llu", (unsigned long long)i,
              (unsigned long long)id);
    }
    /* the very last byte of the field, through the range view */
    uint64_t last_word = content_word(NUM_SAMPLES - 1, SAMPLE_BYTES / 8 - 1);
    CHECK(base[NUM_SAMPLES * SAMPLE_BYTES - 1] == (uint8_t)(last_word >> 56), "last byte");
    tc_view tail;
    CHECK_OK(tc_range(c, 0, 4095, 2, &tail, &err), err); /* a range across 4 GiB */
    CHECK(tail.nbytes == 2 * SAMPLE_BYTES && sample_matches(4096, (const uint8_t *)tail.data +
                                                                      SAMPLE_BYTES),
          "range across the boundary");
}

static void check_copy_paths(tc_cache *c, const char *backend)
{
    tc_error err;
    uint8_t *buf = malloc(NPROBE * SAMPLE_BYTES);
    CHECK(buf != NULL, "out of memory");
    for (size_t p = 0; p < NPROBE; p++) {
        uint64_t nb = 0;
        CHECK_OK(tc_read_sample(c, 0, probe[p], buf, SAMPLE_BYTES, &nb, &err), err);
        CHECK(nb == SAMPLE_BYTES && sample_matches(probe[p], buf), "%s read_sample %llu",
              backend, (unsigned long long)probe[p]);
    }
    uint64_t idx[NPROBE];
    for (size_t p = 0; p < NPROBE; p++)
        idx[p] = probe[NPROBE - 1 - p]; /* reversed: across the boundary both ways */
    CHECK_OK(tc_gather(c, 0, idx, NPROBE, buf, NPROBE * SAMPLE_BYTES, &err), err);
    for (size_t p = 0; p < NPROBE; p++)
        CHECK(sample_matches(idx[p], buf + p * SAMPLE_BYTES), "%s gather %zu", backend, p);
    uint64_t out_of_range[2] = {4096, NUM_SAMPLES};
    CHECK(tc_gather(c, 0, out_of_range, 2, buf, 2 * SAMPLE_BYTES, &err) == TC_ERR_RANGE,
          "gather past the end");
    free(buf);
}

int main(void)
{
    const char *dir = getenv("TC_TEST_TMP");
    if (!dir || !*dir)
        dir = "/tmp";
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\nlarge_field: FAIL\n", dir);
        return 1;
    }
    struct statvfs vfs;
    uint64_t need = NUM_SAMPLES * SAMPLE_BYTES + (UINT64_C(256) << 20);
    if (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
        printf("large_field: SKIPPED: %s has %.1f GiB free, the test needs %.1f GiB\n", dir,
               (double)vfs.f_bavail * (double)vfs.f_frsize / (1 << 30),
               (double)need / (1 << 30));
        return 0;
    }
    snprintf(g_path, sizeof g_path, "%s/large_field.%ld.tc", dir, (long)getpid());
    atexit(remove_file);
    printf("large_field: writing %s (%.2f GiB)\n", g_path,
           (double)(NUM_SAMPLES * SAMPLE_BYTES) / (1 << 30));

    write_cache(g_path);
    struct stat st;
    CHECK(stat(g_path, &st) == 0, "stat: %s", strerror(errno));
    printf("  file: %lld bytes\n", (long long)st.st_size);

    tc_cache *c = NULL;
    tc_error err;
    double t0 = now();
    CHECK_OK(tc_open(&c, g_path, TC_OPEN_DEFAULT, &err), err);
    printf("  open: %.3f ms\n", (now() - t0) * 1e3);
    CHECK(tc_num_samples(c) == NUM_SAMPLES, "N = %llu", (unsigned long long)tc_num_samples(c));
    CHECK((int64_t)tc_file_size(c) == (int64_t)st.st_size, "file size");
    check_field_info(c);
    t0 = now();
    check_mmap_paths(c);
    check_copy_paths(c, "mmap");
    printf("  mmap reads: %.2f s\n", now() - t0);
    t0 = now();
    CHECK_OK(tc_verify(c, &err), err);
    printf("  verify: %.1f s\n", now() - t0);
    tc_close(c);

    t0 = now();
    CHECK_OK(tc_open(&c, g_path, TC_OPEN_NO_MMAP, &err), err);
    check_copy_paths(c, "pread");
    tc_close(c);
    printf("  pread reads: %.2f s\n", now() - t0);

    remove_file();
    CHECK(access(g_path, F_OK) != 0, "file still present");
    g_path[0] = '\0';
    printf("large_field: PASS (4.5 GiB field written, read back and verified)\n");
    return 0;
}
