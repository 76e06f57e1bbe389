/*
 * gen_corpus.c - writes the committed seed corpora of the fuzz targets.
 *
 *   gen_corpus OPEN_DIR ROUNDTRIP_DIR [OPEN_CRASH_DIR]
 *
 * OPEN_DIR receives small valid caches of every kind, written with the writer API: fixed,
 * variable, LZ4 (one block and one block per sample), per-sample alignment, N = 0, many fields,
 * every dtype, UTF-8 and 64-byte names, metadata, and empty samples with huge dimensions.
 * One more is a valid file no writer would produce, patched and resealed (tcf_reseal()): N = 2^64-1
 * samples of an empty fixed field. OPEN_CRASH_DIR (optional) receives a crafted regression input:
 * one LZ4 block that claims to decode to 2,000,000,000 bytes.
 * ROUNDTRIP_DIR receives a few deterministic byte strings (recipes for fuzz_roundtrip).
 * The output is deterministic: rerunning it rewrites the same bytes.
 */
#include "tcfuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gen_corpus: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        tc_error e_ = {0};                                                                         \
        int rc_ = (expr);                                                                          \
        (void)e_;                                                                                  \
        if (rc_ != TC_OK)                                                                          \
            die("%s: %s", #expr, tc_error_name(rc_));                                              \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint8_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(rng_state >> 56);
}

/* ---- a tiny declarative writer ---- */

typedef struct {
    const char *name;
    int dtype;
    uint32_t rank;
    uint64_t shape[TC_MAX_RANK];
    const char *layout;
    int codec;
    uint64_t align, block_bytes;
    /* variable fields: the VARIABLE dims of sample i are (i * 7 + d) % vmod (vmod 0: 0) */
    uint64_t vmod;
    uint64_t huge; /* variable fields: a dim of this size next to a zero dim in sample 0 */
} g_field;

static uint64_t sample_shape(const g_field *f, uint64_t i, uint64_t *shape)
{
    uint64_t nb = tc_dtype_size(f->dtype);
    for (uint32_t d = 0; d < f->rank; d++) {
        shape[d] = f->shape[d];
        if (shape[d] == TC_DIM_VARIABLE)
            shape[d] = f->vmod ? (i * 7 + d) % f->vmod : 0;
        if (f->huge && i == 0)
            shape[d] = d == 0 ? 0 : f->huge;
        nb *= shape[d];
    }
    return nb;
}

static void write_cache(const char *dir, const char *file, const g_field *fs, uint32_t nf,
                        uint64_t n, const char *meta)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    tc_writer *w;
    tc_error err;
    if (tc_writer_create(&w, path, &err) != TC_OK)
        die("%s: %s", path, err.message);
    for (uint32_t k = 0; k < nf; k++) {
        tc_field_spec s = {.name = fs[k].name, .dtype = fs[k].dtype, .rank = fs[k].rank,
                           .layout = fs[k].layout, .codec = fs[k].codec, .align = fs[k].align,
                           .block_bytes = fs[k].block_bytes};
        memcpy(s.shape, fs[k].shape, sizeof s.shape);
        if (tc_writer_add_field(w, &s, &err) != TC_OK)
            die("%s: field %s: %s", path, fs[k].name, err.message);
    }
    if (meta && tc_writer_set_metadata(w, meta, strlen(meta), &err) != TC_OK)
        die("%s: metadata: %s", path, err.message);
    for (uint64_t i = 0; i < n; i++) {
        tc_value v[16];
        uint64_t shapes[16][TC_MAX_RANK];
        uint8_t *bufs[16];
        for (uint32_t k = 0; k < nf; k++) {
            uint64_t nb = sample_shape(&fs[k], i, shapes[k]);
            bufs[k] = malloc(nb + 1);
            if (!bufs[k])
                die("out of memory");
            for (uint64_t b = 0; b < nb; b++) /* compressible: runs with some noise */
                bufs[k][b] = fs[k].dtype == TC_DTYPE_BOOL ? (b + i) & 1
                                                          : (uint8_t)((b / 5 + i) ^ (rnd() & 3));
            v[k] = (tc_value){.data = bufs[k], .nbytes = nb, .shape = shapes[k]};
        }
        if (tc_writer_append(w, v, &err) != TC_OK)
            die("%s: sample %llu: %s", path, (unsigned long long)i, err.message);
        for (uint32_t k = 0; k < nf; k++)
            free(bufs[k]);
    }
    if (tc_writer_finish(w, &err) != TC_OK)
        die("%s: finish: %s", path, err.message);
}

#define V TC_DIM_VARIABLE
#define NF(a) (uint32_t)(sizeof(a) / sizeof((a)[0]))

static void open_corpus(const char *dir)
{
    const g_field fixed[] = {
        {.name = "image", .dtype = TC_DTYPE_U8, .rank = 3, .shape = {8, 8, 1}, .layout = "NHWC"},
        {.name = "label", .dtype = TC_DTYPE_I64, .rank = 0},
    };
    write_cache(dir, "fixed.tc", fixed, NF(fixed), 10, NULL);

    const g_field variable[] = {
        {.name = "tokens", .dtype = TC_DTYPE_U16, .rank = 2, .shape = {V, 3}, .vmod = 6},
        {.name = "label", .dtype = TC_DTYPE_U8, .rank = 0},
    };
    write_cache(dir, "variable.tc", variable, NF(variable), 7, NULL);

    const g_field lz4[] = {
        {.name = "x", .dtype = TC_DTYPE_F32, .rank = 2, .shape = {4, 4}, .codec = TC_CODEC_LZ4,
         .block_bytes = 200},
    };
    write_cache(dir, "lz4.tc", lz4, NF(lz4), 20, NULL);

    const g_field lz4one[] = {
        {.name = "x", .dtype = TC_DTYPE_U8, .rank = 1, .shape = {3}, .codec = TC_CODEC_LZ4,
         .block_bytes = 3},
        {.name = "y", .dtype = TC_DTYPE_I16, .rank = 1, .shape = {2}, .codec = TC_CODEC_LZ4},
    };
    write_cache(dir, "lz4_blocks.tc", lz4one, NF(lz4one), 12, NULL);

    const g_field aligned[] = {
        {.name = "a", .dtype = TC_DTYPE_U8, .rank = 1, .shape = {5}, .align = 64},
        {.name = "b", .dtype = TC_DTYPE_F64, .rank = 1, .shape = {3}, .align = 32},
    };
    write_cache(dir, "aligned.tc", aligned, NF(aligned), 6, NULL);

    const g_field empty[] = {
        {.name = "fixed", .dtype = TC_DTYPE_U8, .rank = 1, .shape = {4}},
        {.name = "var", .dtype = TC_DTYPE_I32, .rank = 1, .shape = {V}},
        {.name = "packed", .dtype = TC_DTYPE_U16, .rank = 1, .shape = {4}, .codec = TC_CODEC_LZ4},
    };
    write_cache(dir, "empty_n0.tc", empty, NF(empty), 0, NULL);

    const g_field multi[] = {
        {.name = "image", .dtype = TC_DTYPE_U8, .rank = 3, .shape = {4, 4, 3}, .layout = "NHWC"},
        {.name = "boxes", .dtype = TC_DTYPE_F32, .rank = 2, .shape = {V, 4}, .vmod = 3},
        {.name = "feat", .dtype = TC_DTYPE_F16, .rank = 1, .shape = {6}, .codec = TC_CODEC_LZ4,
         .block_bytes = 40},
        {.name = "flag", .dtype = TC_DTYPE_BOOL, .rank = 0},
    };
    write_cache(dir, "multi.tc", multi, NF(multi), 9,
                "{\"tensorcache\": {\"writer\": \"gen_corpus\"}, \"classes\": [\"a\", \"b\"]}");

    /* Empty samples whose other dims are huge: sizes are 0, strides are not. */
    const g_field zero[] = {
        {.name = "z", .dtype = TC_DTYPE_U8, .rank = 3, .shape = {0, 1ull << 40, 1ull << 40}},
        {.name = "vz", .dtype = TC_DTYPE_I64, .rank = 2, .shape = {V, V}, .vmod = 3,
         .huge = 1ull << 62},
        {.name = "e", .dtype = TC_DTYPE_U8, .rank = 1, .shape = {0}, .codec = TC_CODEC_LZ4},
    };
    write_cache(dir, "zero_dims.tc", zero, NF(zero), 4, NULL);

    const g_field names[] = {
        {.name = "\xc3\xa9t\xc3\xa9", .dtype = TC_DTYPE_U8, .rank = 0},
        {.name = "\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80", .dtype = TC_DTYPE_I8, .rank = 1,
         .shape = {2}, .layout = "NC"},
        {.name = "n234567890123456789012345678901234567890123456789012345678901234",
         .dtype = TC_DTYPE_BF16, .rank = 1, .shape = {1}},
    };
    write_cache(dir, "names.tc", names, NF(names), 3, "\xe2\x82\xac");

    g_field dtypes[TC_DTYPE_MAX_CODE - 1];
    static char dnames[TC_DTYPE_MAX_CODE][8];
    for (int d = 1; d < TC_DTYPE_MAX_CODE; d++) {
        snprintf(dnames[d], sizeof dnames[d], "%s", tc_dtype_name(d));
        dtypes[d - 1] = (g_field){.name = dnames[d], .dtype = d, .rank = 1, .shape = {2}};
    }
    write_cache(dir, "dtypes.tc", dtypes, NF(dtypes), 2, NULL);

    const g_field rank8[] = {
        {.name = "r8", .dtype = TC_DTYPE_U8, .rank = 8, .shape = {1, 2, 1, 2, 1, 1, 2, 1}},
        {.name = "r7", .dtype = TC_DTYPE_U8, .rank = 7, .shape = {1, 2, 1, 2, 1, 1, 2},
         .layout = "ABCDEFGH"},
        {.name = "v8", .dtype = TC_DTYPE_U8, .rank = 8, .shape = {1, V, 1, 1, 1, 1, 1, V},
         .vmod = 3},
    };
    write_cache(dir, "rank8.tc", rank8, NF(rank8), 3, NULL);
}

/* Rewrites `file` in `dir` after patching u64 values at (offset, value) pairs; offsets >= 1024
 * are relative to the first field table entry. Then reseals it. */
static void patch_cache(const char *dir, const char *file, const uint64_t *pairs, size_t npairs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    static uint8_t b[1 << 20];
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (!f || n < 128 || n == sizeof b)
        die("cannot read %s", path);
    fclose(f);
    uint64_t ft;
    memcpy(&ft, b + 40, 8);
    for (size_t i = 0; i < npairs; i++) {
        uint64_t off = pairs[2 * i] >= 1024 ? ft + pairs[2 * i] - 1024 : pairs[2 * i];
        if (off + 8 > n)
            die("%s: patch offset %llu outside the file", path, (unsigned long long)off);
        memcpy(b + off, &pairs[2 * i + 1], 8);
    }
    tcf_reseal(b, n);
    f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0)
        die("cannot write %s", path);
}

static void crafted_corpus(const char *dir, const char *crash_dir)
{
    const g_field empty[] = {{.name = "nothing", .dtype = TC_DTYPE_F64, .rank = 1, .shape = {0}}};
    write_cache(dir, "n_max.tc", empty, 1, 1, NULL);
    const uint64_t n_max[] = {24, UINT64_MAX}; /* num_samples */
    patch_cache(dir, "n_max.tc", n_max, 1);

    const g_field one[] = {{.name = "x", .dtype = TC_DTYPE_U8, .rank = 1, .shape = {1},
                            .codec = TC_CODEC_LZ4}};
    if (!crash_dir)
        return;
    /* Each read of this 4.5 KB file allocates 2 GB before finding the block corrupt (slow under
     * ASan, NOMEM under RLIMIT_AS): a regression input in tests/fuzz/crashes/open/, not a seed. */
    write_cache(crash_dir, "timeout-lz4-huge-block.tc", one, 1, 1, NULL);
    const uint64_t huge[] = {24, 2000000000, 1024 + 208, 2000000000}; /* N, block_samples */
    patch_cache(crash_dir, "timeout-lz4-huge-block.tc", huge, 2);
}

static void roundtrip_corpus(const char *dir)
{
    static const size_t lens[] = {1, 8, 24, 64, 200, 700, 400};
    for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%zu", dir, j);
        FILE *f = fopen(path, "wb");
        if (!f)
            die("cannot write %s", path);
        for (size_t i = 0; i < lens[j]; i++) /* the last seed: 17 fields, 5 samples */
            fputc(j + 1 == sizeof lens / sizeof lens[0] && i < 4 ? "\0\0\1\5"[i] : rnd(), f);
        if (fclose(f) != 0)
            die("cannot write %s", path);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4)
        die("usage: gen_corpus OPEN_DIR ROUNDTRIP_DIR [OPEN_CRASH_DIR]");
    open_corpus(argv[1]);
    crafted_corpus(argv[1], argc == 4 ? argv[3] : NULL);
    roundtrip_corpus(argv[2]);
    return 0;
}
