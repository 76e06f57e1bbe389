/*
 * testutil.h - helpers shared by the C unit tests (tests/unit/test_*.c) and the bad-file corpus
 * generator (tests/bad/gen_bad.c).
 *
 * Every test_*.c is its own program, so everything here is `static inline`: a helper a program
 * does not use costs nothing and draws no -Wunused-function warning.
 *
 * What is here:
 *  - a per-process temporary directory under $TC_TEST_TMP, removed at exit;
 *  - small file and directory helpers (read, write, list a directory exactly);
 *  - little-endian accessors and the FORMAT.md byte offsets of header and field table;
 *  - "file surgery": load a valid cache, patch one field at its FORMAT.md offset, then recompute
 *    the checksums that cover it, so a damaged file gets past every validation step except the
 *    one under test (tu_fix());
 *  - a writer for a small, fully known cache (tu_write_small()) and the functions that say what
 *    each of its samples contains, so tests can compare byte for byte.
 *
 * Define TU_NO_CMOCKA before including this file to use it outside cmocka (gen_bad.c): failed
 * checks then print a message and exit(1).
 */
#ifndef TC_TESTUTIL_H
#define TC_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <lz4.h>
#include <xxhash.h>

#ifndef TU_NO_CMOCKA
#include <cmocka.h>
#endif

#include "tensorcache.h"

/* ---------------------------------------------------------------------------------------------
 * Failing a check. Under cmocka a failure ends the current test only; without it the program.
 * ------------------------------------------------------------------------------------------- */
#ifdef TU_NO_CMOCKA
#define TU_FAILF(...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        exit(1);                                                                                   \
    } while (0)
#else
#define TU_FAILF(...)                                                                              \
    do {                                                                                           \
        print_error("%s:%d: ", __FILE__, __LINE__);                                                \
        print_error(__VA_ARGS__);                                                                  \
        print_error("\n");                                                                         \
        fail();                                                                                    \
    } while (0)
#endif

#define TU_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            TU_FAILF("check failed: %s", #cond);                                                   \
    } while (0)

/* Runs a tensorcache call that must return `code`; on mismatch shows both names and the message
 * the library gave. `errp` is a tc_error * (its message is cleared first). */
#define TU_EXPECT(code, expr, errp)                                                                \
    do {                                                                                           \
        tc_error *tu_e_ = (errp);                                                                  \
        if (tu_e_)                                                                                 \
            memset(tu_e_, 0, sizeof *tu_e_);                                                       \
        int tu_rc_ = (expr);                                                                       \
        int tu_want_ = (code);                                                                     \
        if (tu_rc_ != tu_want_)                                                                    \
            TU_FAILF("%s returned %s (%d), expected %s (%d): %s", #expr, tc_error_name(tu_rc_),    \
                     tu_rc_, tc_error_name(tu_want_), tu_want_, tu_e_ ? tu_e_->message : "");      \
    } while (0)

#define TU_OK(expr, errp) TU_EXPECT(TC_OK, expr, errp)

/* ---------------------------------------------------------------------------------------------
 * Little-endian accessors (the format is little-endian whatever the host is).
 * ------------------------------------------------------------------------------------------- */
static inline uint64_t tu_get_le(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void tu_put_le(uint8_t *p, unsigned width, uint64_t v)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---------------------------------------------------------------------------------------------
 * FORMAT.md offsets. Header (section 2) and field table entry (section 3).
 * ------------------------------------------------------------------------------------------- */
enum {
    TU_HEADER_SIZE = 128,
    TU_H_MAGIC = 0,
    TU_H_VMAJOR = 8,
    TU_H_VMINOR = 10,
    TU_H_HEADER_SIZE = 12,
    TU_H_FILE_SIZE = 16,
    TU_H_NUM_SAMPLES = 24,
    TU_H_NUM_FIELDS = 32,
    TU_H_FLAGS = 36,
    TU_H_FT_OFFSET = 40,
    TU_H_FT_SIZE = 48,
    TU_H_META_OFFSET = 56,
    TU_H_META_SIZE = 64,
    TU_H_FT_CHECKSUM = 72,
    TU_H_META_CHECKSUM = 80,
    TU_H_RESERVED = 88, /* 32 bytes */
    TU_H_CHECKSUM = 120,

    TU_ENTRY_SIZE = 256,
    TU_F_NAME = 0, /* 64 bytes */
    TU_F_NAME_LEN = 64,
    TU_F_DTYPE = 66,
    TU_F_RANK = 67,
    TU_F_KIND = 68,
    TU_F_CODEC = 69,
    TU_F_RESERVED0 = 70,
    TU_F_LAYOUT = 72, /* 8 bytes */
    TU_F_SHAPE = 80,  /* 8 x u64 */
    TU_F_FLAGS = 144,
    TU_F_RESERVED1 = 148,
    TU_F_STRIDE = 152,
    TU_F_DATA_OFFSET = 160,
    TU_F_DATA_SIZE = 168,
    TU_F_DATA_CHECKSUM = 176,
    TU_F_INDEX_OFFSET = 184,
    TU_F_INDEX_SIZE = 192,
    TU_F_INDEX_CHECKSUM = 200,
    TU_F_BLOCK_SAMPLES = 208,
    TU_F_RESERVED2 = 216, /* 40 bytes */

    TU_LZ4_ENTRY = 24, /* offset, csize, checksum */
};

#define TU_MAGIC "\x89TCACHE\n" /* 8 bytes, no NUL in the file */
#define TU_XXH3_EMPTY UINT64_C(0x2D06800538D394C2)

/* ---------------------------------------------------------------------------------------------
 * Temporary directory: $TC_TEST_TMP/<tag>.<pid>, created by tu_tmp_init(), removed (with
 * everything in it) by tu_tmp_cleanup().
 * ------------------------------------------------------------------------------------------- */
static char tu_tmp_root[PATH_MAX] __attribute__((unused));

static inline void tu_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", buf, strerror(errno));
        exit(2);
    }
}

static inline int tu_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* rm -rf: the tests create only regular files and directories. */
static inline void tu_rm_rf(const char *path)
{
    nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void tu_tmp_init(const char *tag)
{
    const char *base = getenv("TC_TEST_TMP");
    if (!base || !*base)
        base = "/tmp/tensorcache-tests";
    tu_mkdir_p(base);
    snprintf(tu_tmp_root, sizeof tu_tmp_root, "%s/%s.%ld", base, tag, (long)getpid());
    tu_rm_rf(tu_tmp_root);
    tu_mkdir_p(tu_tmp_root);
}

static inline void tu_tmp_cleanup(void)
{
    if (tu_tmp_root[0])
        tu_rm_rf(tu_tmp_root);
}

/* out = <tmp>/<name> (no directory is created). */
static inline void tu_path(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", tu_tmp_root, name);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "path too long: %s/%s\n", tu_tmp_root, name);
        exit(2);
    }
}

/* out = <dir>/<name>; exits on truncation (paths are short in practice). */
static inline void tu_join(char *out, size_t cap, const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    if (a + 1 + b + 1 > cap) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        exit(2);
    }
    memcpy(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, name, b + 1);
}

/* A fresh, empty directory <tmp>/<name>, for tests that look at a whole directory. */
static inline void tu_fresh_dir(char *out, size_t cap, const char *name)
{
    tu_path(out, cap, name);
    tu_rm_rf(out);
    tu_mkdir_p(out);
}

/* ---------------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------------- */
static inline int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static inline int64_t tu_file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (int64_t)st.st_size;
}

/* Whole file into a malloc'ed buffer (one extra byte so a 0-byte file is still a valid pointer).
 * Returns NULL if it cannot be read. */
static inline uint8_t *tu_read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    if (fseeko(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return NULL;
    }
    off_t end = ftello(fp);
    rewind(fp);
    uint8_t *buf = malloc((size_t)end + 1);
    if (!buf || fread(buf, 1, (size_t)end, fp) != (size_t)end) {
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    *size = (size_t)end;
    return buf;
}

static inline void tu_write_file(const char *path, const void *buf, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        TU_FAILF("cannot create %s: %s", path, strerror(errno));
    if (size && fwrite(buf, 1, size, fp) != size) {
        fclose(fp);
        TU_FAILF("cannot write %s", path);
    }
    if (fclose(fp) != 0)
        TU_FAILF("cannot close %s", path);
}

static inline int tu_files_equal(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    uint8_t *pa = tu_read_file(a, &na), *pb = tu_read_file(b, &nb);
    int same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

static inline int tu_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 if directory `dir` holds exactly the names in `expected` (NULL-terminated list, any order),
 * hidden files included; otherwise prints what it found and returns 0. This is how the writer
 * tests prove that no temporary file was left behind. */
static inline int tu_dir_is(const char *dir, const char *const *expected)
{
    char *found[256];
    size_t nfound = 0, nexp = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot list %s: %s\n", dir, strerror(errno));
        return 0;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL && nfound < 256) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        found[nfound++] = strdup(de->d_name);
    }
    closedir(d);
    while (expected[nexp])
        nexp++;
    qsort(found, nfound, sizeof found[0], tu_strcmp_p);
    const char *exp_sorted[256];
    for (size_t i = 0; i < nexp && i < 256; i++)
        exp_sorted[i] = expected[i];
    qsort(exp_sorted, nexp, sizeof exp_sorted[0], tu_strcmp_p);
    int same = nfound == nexp;
    for (size_t i = 0; same && i < nexp; i++)
        same = strcmp(found[i], exp_sorted[i]) == 0;
    if (!same) {
        fprintf(stderr, "directory %s holds %zu entries:", dir, nfound);
        for (size_t i = 0; i < nfound; i++)
            fprintf(stderr, " '%s'", found[i]);
        fprintf(stderr, "; expected %zu:", nexp);
        for (size_t i = 0; i < nexp; i++)
            fprintf(stderr, " '%s'", exp_sorted[i]);
        fprintf(stderr, "\n");
    }
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    return same;
}

/* ---------------------------------------------------------------------------------------------
 * Deterministic pseudo-random numbers (splitmix64): fixed seeds, same sequence everywhere.
 * ------------------------------------------------------------------------------------------- */
static inline uint64_t tu_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static inline uint64_t tu_rand_below(uint64_t *state, uint64_t bound)
{
    return bound ? tu_rand(state) % bound : 0;
}

static inline void tu_fill_random(uint64_t *state, void *buf, size_t n)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(tu_rand(state) >> 24);
}

/* ---------------------------------------------------------------------------------------------
 * File surgery. Load a cache into memory, patch it, fix up the checksums, write it back.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    uint8_t *buf;
    size_t size;
} tu_file;

static inline void tu_load(tu_file *f, const char *path)
{
    f->size = 0;
    f->buf = tu_read_file(path, &f->size);
    if (!f->buf)
        TU_FAILF("cannot read %s", path);
}

static inline void tu_save(const tu_file *f, const char *path)
{
    tu_write_file(path, f->buf, f->size);
}

static inline void tu_free(tu_file *f)
{
    free(f->buf);
    f->buf = NULL;
    f->size = 0;
}

static inline int tu_in_file(const tu_file *f, uint64_t off, uint64_t len)
{
    return off <= f->size && len <= f->size - off;
}

static inline uint64_t tu_get(const tu_file *f, uint64_t off, unsigned width)
{
    if (!tu_in_file(f, off, width))
        TU_FAILF("surgery read at %llu+%u is past the end (%zu bytes)", (unsigned long long)off,
                 width, f->size);
    return tu_get_le(f->buf + off, width);
}

static inline void tu_put(tu_file *f, uint64_t off, unsigned width, uint64_t v)
{
    if (!tu_in_file(f, off, width))
        TU_FAILF("surgery write at %llu+%u is past the end (%zu bytes)", (unsigned long long)off,
                 width, f->size);
    tu_put_le(f->buf + off, width, v);
}

static inline uint64_t tu_hdr(const tu_file *f, unsigned off, unsigned width)
{
    return tu_get(f, off, width);
}

/* Absolute offset of field table entry k (from the header as it is now). */
static inline uint64_t tu_entry(const tu_file *f, uint32_t k)
{
    return tu_hdr(f, TU_H_FT_OFFSET, 8) + (uint64_t)k * TU_ENTRY_SIZE;
}

static inline uint64_t tu_fget(const tu_file *f, uint32_t k, unsigned off, unsigned width)
{
    return tu_get(f, tu_entry(f, k) + off, width);
}

static inline uint64_t tu_xxh(const tu_file *f, uint64_t off, uint64_t len)
{
    return XXH3_64bits(f->buf + off, (size_t)len);
}

enum {
    TU_FIX_BLOCKS = 1,  /* LZ4 per-block checksums in the index entries */
    TU_FIX_REGIONS = 2, /* every field's data_checksum and index_checksum */
    TU_FIX_FT = 4,      /* header field_table_checksum */
    TU_FIX_META = 8,    /* header metadata_checksum */
    TU_FIX_HEADER = 16, /* header_checksum */
    TU_FIX_ALL = 31,
};

/* Recomputes the checksums selected by `what`, innermost first (block checksums live in an
 * index region, region checksums in the field table, the field table checksum in the header),
 * so that a patched file is consistent everywhere except where the test wants it not to be.
 * Regions that lie outside the file are skipped (the damage under test may be exactly that). */
static inline void tu_fix(tu_file *f, unsigned what)
{
    if (f->size < TU_HEADER_SIZE)
        return;
    uint64_t ft = tu_hdr(f, TU_H_FT_OFFSET, 8), fts = tu_hdr(f, TU_H_FT_SIZE, 8);
    uint64_t nf = tu_hdr(f, TU_H_NUM_FIELDS, 4);
    int ft_ok = tu_in_file(f, ft, fts) && fts / TU_ENTRY_SIZE >= nf;
    if (ft_ok && (what & (TU_FIX_BLOCKS | TU_FIX_REGIONS))) {
        for (uint32_t k = 0; k < nf; k++) {
            uint64_t e = ft + (uint64_t)k * TU_ENTRY_SIZE;
            uint64_t doff = tu_get(f, e + TU_F_DATA_OFFSET, 8);
            uint64_t dsz = tu_get(f, e + TU_F_DATA_SIZE, 8);
            uint64_t ioff = tu_get(f, e + TU_F_INDEX_OFFSET, 8);
            uint64_t isz = tu_get(f, e + TU_F_INDEX_SIZE, 8);
            int lz4 = f->buf[e + TU_F_CODEC] == TC_CODEC_LZ4;
            if ((what & TU_FIX_BLOCKS) && lz4 && tu_in_file(f, ioff, isz) &&
                tu_in_file(f, doff, dsz)) {
                for (uint64_t b = 0; b + TU_LZ4_ENTRY <= isz; b += TU_LZ4_ENTRY) {
                    uint64_t boff = tu_get(f, ioff + b, 8), bsz = tu_get(f, ioff + b + 8, 8);
                    if (boff <= dsz && bsz <= dsz - boff)
                        tu_put(f, ioff + b + 16, 8, tu_xxh(f, doff + boff, bsz));
                }
            }
            if (what & TU_FIX_REGIONS) {
                if (tu_in_file(f, doff, dsz))
                    tu_put(f, e + TU_F_DATA_CHECKSUM, 8, tu_xxh(f, doff, dsz));
                if (tu_in_file(f, ioff, isz))
                    tu_put(f, e + TU_F_INDEX_CHECKSUM, 8, tu_xxh(f, ioff, isz));
            }
        }
    }
    if ((what & TU_FIX_FT) && tu_in_file(f, ft, fts))
        tu_put(f, TU_H_FT_CHECKSUM, 8, tu_xxh(f, ft, fts));
    uint64_t mo = tu_hdr(f, TU_H_META_OFFSET, 8), ms = tu_hdr(f, TU_H_META_SIZE, 8);
    if ((what & TU_FIX_META) && tu_in_file(f, mo, ms))
        tu_put(f, TU_H_META_CHECKSUM, 8, tu_xxh(f, mo, ms));
    if (what & TU_FIX_HEADER)
        tu_put(f, TU_H_CHECKSUM, 8, tu_xxh(f, 0, 120));
}

/* Patch a header field and make the header checksum match again. */
static inline void tu_set_header(tu_file *f, unsigned off, unsigned width, uint64_t v)
{
    tu_put(f, off, width, v);
    tu_fix(f, TU_FIX_HEADER);
}

/* Patch field k's entry and make the field table and header checksums match again. */
static inline void tu_set_field(tu_file *f, uint32_t k, unsigned off, unsigned width, uint64_t v)
{
    tu_put(f, tu_entry(f, k) + off, width, v);
    tu_fix(f, TU_FIX_FT | TU_FIX_HEADER);
}

/* Replace field k's name bytes (name_len = len, rest zero) and fix the checksums. */
static inline void tu_set_name(tu_file *f, uint32_t k, const void *name, size_t len)
{
    uint64_t e = tu_entry(f, k);
    TU_CHECK(len <= 64);
    memset(f->buf + e + TU_F_NAME, 0, 64);
    memcpy(f->buf + e + TU_F_NAME, name, len);
    tu_put(f, e + TU_F_NAME_LEN, 2, len);
    tu_fix(f, TU_FIX_FT | TU_FIX_HEADER);
}

/* Offset of a byte that lies in no region (header, field table, metadata, data, index), i.e. a
 * padding byte, or 0 if the file has none. */
static inline uint64_t tu_find_padding(const tu_file *f)
{
    uint64_t starts[2 + 2 * TC_MAX_FIELDS + 1], ends[2 + 2 * TC_MAX_FIELDS + 1];
    size_t n = 0;
    uint64_t nf = tu_hdr(f, TU_H_NUM_FIELDS, 4);
    starts[n] = 0, ends[n++] = TU_HEADER_SIZE;
    starts[n] = tu_hdr(f, TU_H_FT_OFFSET, 8);
    ends[n] = starts[n] + tu_hdr(f, TU_H_FT_SIZE, 8), n++;
    starts[n] = tu_hdr(f, TU_H_META_OFFSET, 8);
    ends[n] = starts[n] + tu_hdr(f, TU_H_META_SIZE, 8), n++;
    for (uint32_t k = 0; k < nf && k < TC_MAX_FIELDS; k++) {
        starts[n] = tu_fget(f, k, TU_F_DATA_OFFSET, 8);
        ends[n] = starts[n] + tu_fget(f, k, TU_F_DATA_SIZE, 8), n++;
        starts[n] = tu_fget(f, k, TU_F_INDEX_OFFSET, 8);
        ends[n] = starts[n] + tu_fget(f, k, TU_F_INDEX_SIZE, 8), n++;
    }
    for (uint64_t off = TU_HEADER_SIZE; off < f->size; off++) {
        int covered = 0;
        for (size_t r = 0; r < n && !covered; r++)
            covered = off >= starts[r] && off < ends[r];
        if (!covered)
            return off;
    }
    return 0;
}

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

/* ---------------------------------------------------------------------------------------------
 * An independent check of a file's layout, from FORMAT.md alone and the raw bytes (it does not
 * use the library's reader): header values and checksums, alignments, region checksums, index
 * entries, LZ4 blocks (decoded with liblz4), stride padding, zero padding between regions, no
 * overlap. Expected N and F are compared when given (pass UINT64_MAX / UINT32_MAX to skip).
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    uint64_t start, end;
} tu_region;

static inline int tu_region_cmp(const void *a, const void *b)
{
    const tu_region *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static inline uint64_t tu_dtype_itemsize(unsigned code)
{
    static const uint8_t sizes[14] = {0, 1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8};
    return code < 14 ? sizes[code] : 0;
}

/* Checks one variable field's index against its data region. */
static inline void tu_check_raw_variable(const tu_file *f, uint64_t e, uint64_t n)
{
    unsigned rank = f->buf[e + TU_F_RANK];
    uint64_t item = tu_dtype_itemsize(f->buf[e + TU_F_DTYPE]);
    uint64_t doff = tu_get(f, e + TU_F_DATA_OFFSET, 8), dsz = tu_get(f, e + TU_F_DATA_SIZE, 8);
    uint64_t ioff = tu_get(f, e + TU_F_INDEX_OFFSET, 8), isz = tu_get(f, e + TU_F_INDEX_SIZE, 8);
    uint64_t esz = 16 + 8 * (uint64_t)rank, prev_end = 0, last_end = 0;
    TU_CHECK(isz == n * esz);
    TU_CHECK(ioff % 64 == 0);
    TU_CHECK(tu_get(f, e + TU_F_STRIDE, 8) == 0 && tu_get(f, e + TU_F_BLOCK_SAMPLES, 8) == 0);
    uint8_t *covered = calloc(dsz + 1, 1);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t p = ioff + i * esz, off = tu_get(f, p, 8), nb = tu_get(f, p + 8, 8), prod = item;
        for (unsigned d = 0; d < rank; d++) {
            uint64_t dim = tu_get(f, p + 16 + 8 * d, 8);
            uint64_t fdim = tu_get(f, e + TU_F_SHAPE + 8 * d, 8);
            TU_CHECK(fdim == TC_DIM_VARIABLE || fdim == dim);
            TU_CHECK(!__builtin_mul_overflow(prod, dim, &prod));
        }
        TU_CHECK(nb == prod);
        TU_CHECK(off % 64 == 0);
        TU_CHECK(off <= dsz && nb <= dsz - off);
        TU_CHECK(off >= prev_end);
        prev_end = off + nb;
        last_end = prev_end;
        memset(covered + off, 1, nb);
    }
    /* The writer sets data_size to the end of the last sample rounded up to 64. */
    TU_CHECK(dsz == (last_end + 63) / 64 * 64);
    for (uint64_t b = 0; b < dsz; b++)
        if (!covered[b] && f->buf[doff + b] != 0)
            TU_FAILF("variable field: alignment padding byte %llu of the data region is %u",
                     (unsigned long long)b, f->buf[doff + b]);
    free(covered);
}

/* Checks one LZ4 field: index entries, block checksums, and that every block decodes. */
static inline void tu_check_raw_lz4(const tu_file *f, uint64_t e, uint64_t n, uint64_t sbytes)
{
    uint64_t doff = tu_get(f, e + TU_F_DATA_OFFSET, 8), dsz = tu_get(f, e + TU_F_DATA_SIZE, 8);
    uint64_t ioff = tu_get(f, e + TU_F_INDEX_OFFSET, 8), isz = tu_get(f, e + TU_F_INDEX_SIZE, 8);
    uint64_t bs = tu_get(f, e + TU_F_BLOCK_SAMPLES, 8), prev_end = 0;
    TU_CHECK(bs >= 1);
    TU_CHECK(f->buf[e + TU_F_KIND] == 0);
    TU_CHECK(tu_get(f, e + TU_F_STRIDE, 8) == 0);
    uint64_t nb = (n + bs - 1) / bs;
    TU_CHECK(isz == nb * TU_LZ4_ENTRY);
    TU_CHECK(ioff % 64 == 0);
    for (uint64_t b = 0; b < nb; b++) {
        uint64_t p = ioff + b * TU_LZ4_ENTRY;
        uint64_t off = tu_get(f, p, 8), cs = tu_get(f, p + 8, 8), sum = tu_get(f, p + 16, 8);
        uint64_t cnt = (b + 1) * bs <= n ? bs : n - b * bs, raw = cnt * sbytes;
        TU_CHECK(cs >= 1 && (int)cs <= LZ4_compressBound((int)raw));
        TU_CHECK(off <= dsz && cs <= dsz - off);
        TU_CHECK(off >= prev_end);
        prev_end = off + cs;
        TU_CHECK(sum == tu_xxh(f, doff + off, cs));
        char *out = malloc(raw + 1);
        int got = LZ4_decompress_safe((const char *)f->buf + doff + off, out, (int)cs,
                                      (int)raw + 1);
        free(out);
        if (got < 0 || (uint64_t)got != raw)
            TU_FAILF("lz4 block %llu decodes to %d bytes, expected %llu", (unsigned long long)b,
                     got, (unsigned long long)raw);
    }
}

static inline void tu_check_raw_file(const tu_file *f, uint64_t want_n, uint32_t want_f)
{
    TU_CHECK(f->size >= TU_HEADER_SIZE);
    TU_CHECK(memcmp(f->buf, TU_MAGIC, 8) == 0);
    TU_CHECK(tu_hdr(f, TU_H_VMAJOR, 2) == 1 && tu_hdr(f, TU_H_VMINOR, 2) == 0);
    TU_CHECK(tu_hdr(f, TU_H_HEADER_SIZE, 4) == 128);
    TU_CHECK(tu_hdr(f, TU_H_FILE_SIZE, 8) == f->size);
    TU_CHECK(tu_hdr(f, TU_H_FLAGS, 4) == 0);
    for (unsigned b = 0; b < 32; b++)
        TU_CHECK(f->buf[TU_H_RESERVED + b] == 0);
    TU_CHECK(tu_hdr(f, TU_H_CHECKSUM, 8) == tu_xxh(f, 0, 120));
    uint64_t n = tu_hdr(f, TU_H_NUM_SAMPLES, 8);
    uint32_t nf = (uint32_t)tu_hdr(f, TU_H_NUM_FIELDS, 4);
    if (want_n != UINT64_MAX)
        TU_CHECK(n == want_n);
    if (want_f != UINT32_MAX)
        TU_CHECK(nf == want_f);
    TU_CHECK(nf >= 1 && nf <= TC_MAX_FIELDS);
    uint64_t ft = tu_hdr(f, TU_H_FT_OFFSET, 8), fts = tu_hdr(f, TU_H_FT_SIZE, 8);
    TU_CHECK(fts == (uint64_t)nf * TU_ENTRY_SIZE && ft % 64 == 0 && tu_in_file(f, ft, fts));
    TU_CHECK(tu_hdr(f, TU_H_FT_CHECKSUM, 8) == tu_xxh(f, ft, fts));
    uint64_t mo = tu_hdr(f, TU_H_META_OFFSET, 8), ms = tu_hdr(f, TU_H_META_SIZE, 8);
    TU_CHECK(ms <= (UINT64_C(64) << 20) && mo % 8 == 0 && tu_in_file(f, mo, ms));
    if (ms == 0)
        TU_CHECK(mo == 0);
    TU_CHECK(tu_hdr(f, TU_H_META_CHECKSUM, 8) == tu_xxh(f, mo, ms));

    tu_region *reg = calloc(3 + 2 * (size_t)nf, sizeof *reg);
    size_t nreg = 0;
    reg[nreg++] = (tu_region){0, TU_HEADER_SIZE};
    reg[nreg++] = (tu_region){ft, ft + fts};
    if (ms)
        reg[nreg++] = (tu_region){mo, mo + ms};
    for (uint32_t k = 0; k < nf; k++) {
        uint64_t e = ft + (uint64_t)k * TU_ENTRY_SIZE;
        unsigned nl = (unsigned)tu_get(f, e + TU_F_NAME_LEN, 2);
        TU_CHECK(nl >= 1 && nl <= 64);
        for (unsigned b = nl; b < 64; b++)
            TU_CHECK(f->buf[e + b] == 0);
        unsigned rank = f->buf[e + TU_F_RANK], kind = f->buf[e + TU_F_KIND];
        unsigned codec = f->buf[e + TU_F_CODEC];
        uint64_t item = tu_dtype_itemsize(f->buf[e + TU_F_DTYPE]);
        TU_CHECK(item != 0 && rank <= 8 && kind <= 1 && codec <= 1);
        TU_CHECK(tu_get(f, e + TU_F_RESERVED0, 2) == 0 && tu_get(f, e + TU_F_FLAGS, 4) == 0);
        TU_CHECK(tu_get(f, e + TU_F_RESERVED1, 4) == 0);
        for (unsigned b = 0; b < 40; b++)
            TU_CHECK(f->buf[e + TU_F_RESERVED2 + b] == 0);
        for (unsigned d = rank; d < 8; d++)
            TU_CHECK(tu_get(f, e + TU_F_SHAPE + 8 * d, 8) == 0);
        uint64_t doff = tu_get(f, e + TU_F_DATA_OFFSET, 8), dsz = tu_get(f, e + TU_F_DATA_SIZE, 8);
        uint64_t ioff = tu_get(f, e + TU_F_INDEX_OFFSET, 8);
        uint64_t isz = tu_get(f, e + TU_F_INDEX_SIZE, 8);
        TU_CHECK(tu_in_file(f, doff, dsz) && tu_in_file(f, ioff, isz));
        TU_CHECK(doff % 4096 == 0);
        if (dsz == 0)
            TU_CHECK(doff == 0);
        TU_CHECK(tu_get(f, e + TU_F_DATA_CHECKSUM, 8) == tu_xxh(f, doff, dsz));
        TU_CHECK(tu_get(f, e + TU_F_INDEX_CHECKSUM, 8) == tu_xxh(f, ioff, isz));
        if (dsz)
            reg[nreg++] = (tu_region){doff, doff + dsz};
        if (isz)
            reg[nreg++] = (tu_region){ioff, ioff + isz};
        if (kind == 1) {
            TU_CHECK(codec == 0 && rank >= 1);
            tu_check_raw_variable(f, e, n);
            continue;
        }
        uint64_t sb = item;
        for (unsigned d = 0; d < rank; d++) {
            uint64_t dim = tu_get(f, e + TU_F_SHAPE + 8 * d, 8);
            TU_CHECK(dim != TC_DIM_VARIABLE);
            TU_CHECK(!__builtin_mul_overflow(sb, dim, &sb));
        }
        if (codec == TC_CODEC_LZ4) {
            tu_check_raw_lz4(f, e, n, sb);
            continue;
        }
        uint64_t stride = tu_get(f, e + TU_F_STRIDE, 8);
        TU_CHECK(stride >= sb && dsz == n * stride);
        TU_CHECK(ioff == 0 && isz == 0 && tu_get(f, e + TU_F_BLOCK_SAMPLES, 8) == 0);
        TU_CHECK(tu_get(f, e + TU_F_INDEX_CHECKSUM, 8) == TU_XXH3_EMPTY);
        for (uint64_t i = 0; i < n && stride > sb; i++)
            for (uint64_t b = sb; b < stride; b++)
                if (f->buf[doff + i * stride + b] != 0)
                    TU_FAILF("field %u sample %llu: stride padding byte %llu is not zero", k,
                             (unsigned long long)i, (unsigned long long)b);
    }
    /* Regions are disjoint, and every byte outside them is zero. */
    qsort(reg, nreg, sizeof *reg, tu_region_cmp);
    uint64_t pos = 0;
    for (size_t r = 0; r < nreg; r++) {
        TU_CHECK(reg[r].start >= pos);
        for (uint64_t b = pos; b < reg[r].start; b++)
            if (f->buf[b] != 0)
                TU_FAILF("padding byte at offset %llu is not zero", (unsigned long long)b);
        pos = reg[r].end;
    }
    for (uint64_t b = pos; b < f->size; b++)
        if (f->buf[b] != 0)
            TU_FAILF("padding byte at offset %llu is not zero", (unsigned long long)b);
    free(reg);
}

static inline void tu_check_raw(const char *path, uint64_t want_n, uint32_t want_f)
{
    tu_file f;
    tu_load(&f, path);
    TU_CHECK((int64_t)f.size == tu_file_size(path));
    tu_check_raw_file(&f, want_n, want_f);
    tu_free(&f);
}

/* ---------------------------------------------------------------------------------------------
 * The bad-file cases. Each starts from one of four small valid "base" caches, applies one
 * mutation (with the checksums that cover it fixed up, unless the checksum is the point), and
 * names the error a reader must report: "CODE" from a default open, or "verify-CODE" for a file
 * that opens and fails only full verification ("OK" for a file that must be accepted).
 *
 * test_badfiles.c runs every case against the library; tests/bad/gen_bad.c writes them to the
 * kept-forever corpus as NNN-slug.CODE.tc, NNN being the position in this table (from 1).
 * APPEND ONLY: never reorder, change or remove an entry (corpus files are named after them).
 * ------------------------------------------------------------------------------------------- */
enum { TU_BASE_PLAIN, TU_BASE_VAR, TU_BASE_LZ4, TU_BASE_WIDE, TU_BASE_COUNT };

/* Fields of each base, in field-number order:
 *   PLAIN: 0 image (u8 4x4x1 NHWC), 1 label (i64 scalar)          N = 5
 *   VAR:   0 tokens (i32 VAR), 1 boxes (i16 VAR x 2)              N = 20
 *   LZ4:   0 label, 1 packed (u16 3x5, LZ4, 3 samples per block)  N = 20
 *   WIDE:  0 label, 1 wide (f32 2x3, stride 64)                   N = 5
 * All carry the metadata TU_SMALL_META. */
static inline void tu_base_params(unsigned base, unsigned *mask, uint64_t *n)
{
    static const unsigned masks[TU_BASE_COUNT] = {TU_IMAGE | TU_LABEL, TU_TOKENS | TU_BOXES,
                                                  TU_LABEL | TU_PACKED, TU_LABEL | TU_WIDE};
    static const uint64_t counts[TU_BASE_COUNT] = {5, 20, 20, 5};
    *mask = masks[base];
    *n = counts[base];
}

static inline void tu_write_base(const char *path, unsigned base)
{
    unsigned mask;
    uint64_t n;
    tu_base_params(base, &mask, &n);
    tu_write_small(path, mask, n, TU_SMALL_META);
}

/* -- mutation helpers -- */
static inline void tu_resize(tu_file *f, size_t size)
{
    uint8_t *p = realloc(f->buf, size + 1);
    if (!p)
        TU_FAILF("out of memory");
    if (size > f->size)
        memset(p + f->size, 0, size - f->size);
    f->buf = p;
    f->size = size;
}

static inline uint64_t tu_round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* Offset of index entry i of variable field k (16 + 8R bytes each). */
static inline uint64_t tu_var_entry(const tu_file *f, uint32_t k, uint64_t i)
{
    uint64_t rank = tu_fget(f, k, TU_F_RANK, 1);
    return tu_fget(f, k, TU_F_INDEX_OFFSET, 8) + i * (16 + 8 * rank);
}

/* Offset of block entry b of LZ4 field k. */
static inline uint64_t tu_lz4_entry(const tu_file *f, uint32_t k, uint64_t b)
{
    return tu_fget(f, k, TU_F_INDEX_OFFSET, 8) + b * TU_LZ4_ENTRY;
}

/* Patches a region byte and fixes nothing, or everything. */
static inline void tu_xor_byte(tu_file *f, uint64_t off, uint8_t x)
{
    tu_put(f, off, 1, tu_get(f, off, 1) ^ x);
}

static inline void tu_set_layout(tu_file *f, uint32_t k, const char *tag, size_t len)
{
    uint64_t e = tu_entry(f, k) + TU_F_LAYOUT;
    memset(f->buf + e, 0, 8);
    memcpy(f->buf + e, tag, len);
    tu_fix(f, TU_FIX_FT | TU_FIX_HEADER);
}

/* Replaces the metadata bytes [at, at+len) and fixes the metadata and header checksums. */
static inline void tu_patch_meta(tu_file *f, uint64_t at, const char *bytes, size_t len)
{
    uint64_t mo = tu_hdr(f, TU_H_META_OFFSET, 8);
    memcpy(f->buf + mo + at, bytes, len);
    tu_fix(f, TU_FIX_META | TU_FIX_HEADER);
}

/* -- the mutations, in table order -- */
static inline void bc_empty(tu_file *f) { tu_resize(f, 0); }
static inline void bc_trunc1(tu_file *f) { tu_resize(f, 1); }
static inline void bc_trunc64(tu_file *f) { tu_resize(f, 64); }
static inline void bc_trunc127(tu_file *f) { tu_resize(f, 127); }
static inline void bc_trunc128(tu_file *f) { tu_resize(f, 128); }
static inline void bc_trunc_ft(tu_file *f) { tu_resize(f, tu_hdr(f, TU_H_FT_OFFSET, 8) + 100); }
static inline void bc_trunc_data(tu_file *f) { tu_resize(f, tu_fget(f, 0, TU_F_DATA_OFFSET, 8) + 40); }
static inline void bc_trunc_last(tu_file *f) { tu_resize(f, f->size - 1); }
static inline void bc_magic_byte(tu_file *f) { tu_set_header(f, 0, 1, 0x88); }
static inline void bc_magic_png(tu_file *f)
{
    memcpy(f->buf, "\x89PNG\r\n\x1a\n", 8);
    tu_fix(f, TU_FIX_HEADER);
}
static inline void bc_major2(tu_file *f) { tu_set_header(f, TU_H_VMAJOR, 2, 2); }
static inline void bc_major0(tu_file *f) { tu_set_header(f, TU_H_VMAJOR, 2, 0); }
static inline void bc_major2_nofix(tu_file *f) { tu_put(f, TU_H_VMAJOR, 2, 2); }
static inline void bc_minor1(tu_file *f) { tu_set_header(f, TU_H_VMINOR, 2, 1); }
static inline void bc_hsize64(tu_file *f) { tu_set_header(f, TU_H_HEADER_SIZE, 4, 64); }
static inline void bc_hsum(tu_file *f) { tu_xor_byte(f, TU_H_CHECKSUM, 0x01); }
static inline void bc_hbyte(tu_file *f) { tu_put(f, TU_H_NUM_SAMPLES, 8, 4); }
static inline void bc_hflags(tu_file *f) { tu_set_header(f, TU_H_FLAGS, 4, 1); }
static inline void bc_hreserved(tu_file *f) { tu_set_header(f, TU_H_RESERVED + 12, 1, 0x20); }
static inline void bc_fsize_big(tu_file *f) { tu_set_header(f, TU_H_FILE_SIZE, 8, f->size + 1); }
static inline void bc_fsize_small(tu_file *f) { tu_resize(f, f->size + 64); }
static inline void bc_nfields0(tu_file *f) { tu_set_header(f, TU_H_NUM_FIELDS, 4, 0); }
static inline void bc_nfields1025(tu_file *f) { tu_set_header(f, TU_H_NUM_FIELDS, 4, 1025); }
static inline void bc_ftsize(tu_file *f) { tu_set_header(f, TU_H_FT_SIZE, 8, 3 * 256); }
static inline void bc_meta_huge(tu_file *f)
{
    tu_set_header(f, TU_H_META_SIZE, 8, (UINT64_C(64) << 20) + 1);
}
static inline void bc_ft_eof(tu_file *f)
{
    tu_set_header(f, TU_H_FT_OFFSET, 8, tu_round_up(f->size, 64));
}
static inline void bc_ft_wrap(tu_file *f) { tu_set_header(f, TU_H_FT_OFFSET, 8, ~UINT64_C(63)); }
static inline void bc_meta_eof(tu_file *f)
{
    tu_set_header(f, TU_H_META_OFFSET, 8, tu_round_up(f->size, 8) - 8);
}
static inline void bc_ft_misaligned(tu_file *f)
{
    tu_set_header(f, TU_H_FT_OFFSET, 8, tu_hdr(f, TU_H_FT_OFFSET, 8) - 8);
}
static inline void bc_meta_misaligned(tu_file *f)
{
    tu_set_header(f, TU_H_META_OFFSET, 8, tu_hdr(f, TU_H_META_OFFSET, 8) - 4);
}
static inline void bc_ftsum(tu_file *f)
{
    tu_set_header(f, TU_H_FT_CHECKSUM, 8, tu_hdr(f, TU_H_FT_CHECKSUM, 8) ^ 0x100);
}
static inline void bc_metasum(tu_file *f)
{
    tu_xor_byte(f, tu_hdr(f, TU_H_META_OFFSET, 8) + 2, 0x01); /* 't' -> 'u', sum not fixed */
}
static inline void bc_meta_ff(tu_file *f) { tu_patch_meta(f, 3, "\xff", 1); }
static inline void bc_meta_surrogate(tu_file *f)
{
    tu_patch_meta(f, tu_hdr(f, TU_H_META_SIZE, 8) - 4, "\xed\xa0\x80", 3);
}
static inline void bc_meta_cut(tu_file *f)
{
    tu_patch_meta(f, tu_hdr(f, TU_H_META_SIZE, 8) - 1, "\xc3", 1);
}
static inline void bc_name_len0(tu_file *f) { tu_set_field(f, 1, TU_F_NAME_LEN, 2, 0); }
static inline void bc_name_len65(tu_file *f) { tu_set_field(f, 1, TU_F_NAME_LEN, 2, 65); }
static inline void bc_name_nul(tu_file *f) { tu_set_name(f, 1, "la\0el", 5); }
static inline void bc_name_ff(tu_file *f) { tu_set_name(f, 1, "lab\xff", 4); }
static inline void bc_name_overlong(tu_file *f) { tu_set_name(f, 1, "\xc1\xbf", 2); }
static inline void bc_name_pad(tu_file *f) { tu_set_field(f, 1, TU_F_NAME + 6, 1, 'x'); }
static inline void bc_dtype0(tu_file *f) { tu_set_field(f, 1, TU_F_DTYPE, 1, 0); }
static inline void bc_dtype14(tu_file *f) { tu_set_field(f, 1, TU_F_DTYPE, 1, 14); }
static inline void bc_dtype255(tu_file *f) { tu_set_field(f, 1, TU_F_DTYPE, 1, 255); }
static inline void bc_codec2(tu_file *f) { tu_set_field(f, 0, TU_F_CODEC, 1, 2); }
static inline void bc_lz4_var(tu_file *f) { tu_set_field(f, 0, TU_F_CODEC, 1, TC_CODEC_LZ4); }
static inline void bc_lz4_bs0(tu_file *f) { tu_set_field(f, 1, TU_F_BLOCK_SAMPLES, 8, 0); }
static inline void bc_lz4_raw_limit(tu_file *f)
{
    /* 2^16 x 2^15 u16 = 4 GiB per sample, over LZ4_MAX_INPUT_SIZE */
    tu_put(f, tu_entry(f, 1) + TU_F_SHAPE, 8, UINT64_C(1) << 16);
    tu_set_field(f, 1, TU_F_SHAPE + 8, 8, UINT64_C(1) << 15);
}
static inline void bc_kind2(tu_file *f) { tu_set_field(f, 0, TU_F_KIND, 1, 2); }
static inline void bc_rank9(tu_file *f) { tu_set_field(f, 0, TU_F_RANK, 1, 9); }
static inline void bc_shape_beyond(tu_file *f) { tu_set_field(f, 0, TU_F_SHAPE + 3 * 8, 8, 1); }
static inline void bc_var_in_fixed(tu_file *f)
{
    tu_set_field(f, 0, TU_F_SHAPE, 8, TC_DIM_VARIABLE);
}
static inline void bc_var_no_var(tu_file *f) { tu_set_field(f, 0, TU_F_SHAPE, 8, 5); }
static inline void bc_fflags(tu_file *f) { tu_set_field(f, 0, TU_F_FLAGS, 4, 1); }
static inline void bc_fres0(tu_file *f) { tu_set_field(f, 0, TU_F_RESERVED0, 2, 0x100); }
static inline void bc_fres1(tu_file *f) { tu_set_field(f, 0, TU_F_RESERVED1, 4, 7); }
static inline void bc_fres2(tu_file *f) { tu_set_field(f, 0, TU_F_RESERVED2 + 39, 1, 1); }
static inline void bc_layout_lower(tu_file *f) { tu_set_layout(f, 0, "nhwc", 4); }
static inline void bc_layout_len(tu_file *f) { tu_set_layout(f, 0, "NHW", 3); }
static inline void bc_layout_gap(tu_file *f) { tu_set_layout(f, 0, "NH\0C", 4); }
static inline void bc_shape_overflow(tu_file *f)
{
    tu_put(f, tu_entry(f, 0) + TU_F_SHAPE, 8, UINT64_C(1) << 32);
    tu_set_field(f, 0, TU_F_SHAPE + 8, 8, UINT64_C(1) << 32);
}
static inline void bc_stride_overflow(tu_file *f)
{
    tu_set_field(f, 0, TU_F_STRIDE, 8, UINT64_C(1) << 62);
}
static inline void bc_stride_small(tu_file *f) { tu_set_field(f, 0, TU_F_STRIDE, 8, 15); }
static inline void bc_data_size(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_SIZE, 8, tu_fget(f, 0, TU_F_DATA_SIZE, 8) - 16);
}
static inline void bc_fixed_index(tu_file *f) { tu_set_field(f, 1, TU_F_INDEX_SIZE, 8, 24); }
static inline void bc_var_index_size(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_SIZE, 8, tu_fget(f, 0, TU_F_INDEX_SIZE, 8) - 24);
}
static inline void bc_lz4_index_size(tu_file *f)
{
    tu_set_field(f, 1, TU_F_INDEX_SIZE, 8, tu_fget(f, 1, TU_F_INDEX_SIZE, 8) + 24);
}
static inline void bc_lz4_stride(tu_file *f) { tu_set_field(f, 1, TU_F_STRIDE, 8, 30); }
static inline void bc_data_eof(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_OFFSET, 8, tu_round_up(f->size, 4096));
}
static inline void bc_var_data_size_eof(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_SIZE, 8, f->size);
}
static inline void bc_data_wrap(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_OFFSET, 8, ~UINT64_C(4095));
}
static inline void bc_index_eof(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_OFFSET, 8, tu_round_up(f->size, 64));
}
static inline void bc_data_misaligned(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_OFFSET, 8, tu_fget(f, 0, TU_F_DATA_OFFSET, 8) - 64);
}
static inline void bc_index_misaligned(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_OFFSET, 8, tu_fget(f, 0, TU_F_INDEX_OFFSET, 8) - 8);
}
static inline void bc_dup_name(tu_file *f) { tu_set_name(f, 1, "image", 5); }
static inline void bc_overlap_data(tu_file *f)
{
    tu_set_field(f, 1, TU_F_DATA_OFFSET, 8, tu_fget(f, 0, TU_F_DATA_OFFSET, 8));
}
static inline void bc_overlap_header(tu_file *f) { tu_set_field(f, 1, TU_F_DATA_OFFSET, 8, 0); }
static inline void bc_overlap_ft(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_OFFSET, 8, tu_hdr(f, TU_H_FT_OFFSET, 8));
}
/* Variable index damage: entry 19 of "tokens" (1 element, 4 bytes) or of "boxes" (3 rows). */
static inline void bc_var_past(tu_file *f)
{
    tu_put(f, tu_var_entry(f, 0, 19), 8, tu_fget(f, 0, TU_F_DATA_SIZE, 8));
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_misaligned(tu_file *f)
{
    uint64_t e = tu_var_entry(f, 0, 19);
    tu_put(f, e, 8, tu_get(f, e, 8) + 4);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_overlap(tu_file *f)
{
    tu_put(f, tu_var_entry(f, 0, 19), 8, tu_get(f, tu_var_entry(f, 0, 18), 8));
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_nbytes(tu_file *f)
{
    tu_put(f, tu_var_entry(f, 0, 19) + 8, 8, 8);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_fixed_dim(tu_file *f)
{
    /* boxes sample 19 is (3, 2): claim (2, 3), same byte count, wrong fixed dimension */
    uint64_t e = tu_var_entry(f, 1, 19);
    tu_put(f, e + 16, 8, 2);
    tu_put(f, e + 24, 8, 3);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_overflow(tu_file *f)
{
    tu_put(f, tu_var_entry(f, 0, 19) + 16, 8, UINT64_C(1) << 62);
    tu_fix(f, TU_FIX_ALL);
}
/* LZ4 index damage: block 2 of "packed" (samples 6..8). */
static inline void bc_lz4_csize0(tu_file *f)
{
    tu_put(f, tu_lz4_entry(f, 1, 2) + 8, 8, 0);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_lz4_past(tu_file *f)
{
    uint64_t e = tu_lz4_entry(f, 1, 6); /* the last block */
    tu_put(f, e, 8, tu_fget(f, 1, TU_F_DATA_SIZE, 8) - 1);
    tu_fix(f, TU_FIX_REGIONS | TU_FIX_FT | TU_FIX_HEADER);
}
static inline void bc_lz4_overlap(tu_file *f)
{
    tu_put(f, tu_lz4_entry(f, 1, 3), 8, tu_get(f, tu_lz4_entry(f, 1, 2), 8));
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_lz4_truncated(tu_file *f)
{
    uint64_t e = tu_lz4_entry(f, 1, 2);
    tu_put(f, e + 8, 8, tu_get(f, e + 8, 8) - 1);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_lz4_flip(tu_file *f)
{
    uint64_t e = tu_lz4_entry(f, 1, 2);
    tu_xor_byte(f, tu_fget(f, 1, TU_F_DATA_OFFSET, 8) + tu_get(f, e, 8), 0x40);
}
static inline void bc_payload(tu_file *f)
{
    tu_xor_byte(f, tu_fget(f, 0, TU_F_DATA_OFFSET, 8) + 17, 0x01); /* image sample 1 */
}
static inline void bc_data_sum(tu_file *f)
{
    tu_set_field(f, 1, TU_F_DATA_CHECKSUM, 8, tu_fget(f, 1, TU_F_DATA_CHECKSUM, 8) ^ 1);
}
static inline void bc_index_sum(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_CHECKSUM, 8, tu_fget(f, 0, TU_F_INDEX_CHECKSUM, 8) ^ 1);
}
static inline void bc_padding(tu_file *f)
{
    uint64_t off = tu_find_padding(f);
    if (off == 0)
        TU_FAILF("the base file has no padding byte");
    tu_put(f, off, 1, 0x01);
}
static inline void bc_order_fields(tu_file *f)
{
    /* field 1 has a bad dtype, field 0 a bad name: field 0 is reported first */
    tu_put(f, tu_entry(f, 1) + TU_F_DTYPE, 1, 99);
    tu_set_field(f, 0, TU_F_NAME_LEN, 2, 0);
}
static inline void bc_order_dup_overlap(tu_file *f)
{
    bc_overlap_data(f);
    bc_dup_name(f);
}
static inline void bc_order_ftsum_dtype(tu_file *f)
{
    tu_put(f, tu_entry(f, 1) + TU_F_DTYPE, 1, 99); /* field table checksum not fixed */
    tu_fix(f, TU_FIX_HEADER);
}
static inline void bc_order_size_magic(tu_file *f)
{
    /* too short AND wrong magic: size is checked first */
    f->buf[0] = 'X';
    tu_resize(f, 100);
}
static inline void bc_order_version_header_size(tu_file *f)
{
    tu_put(f, TU_H_VMAJOR, 2, 3);
    tu_set_header(f, TU_H_HEADER_SIZE, 4, 256);
}
static inline void bc_meta_empty_offset(tu_file *f)
{
    /* metadata_size 0 but an offset past the end: the empty region is still out of bounds */
    tu_set_header(f, TU_H_META_SIZE, 8, 0);
    tu_set_header(f, TU_H_META_CHECKSUM, 8, TU_XXH3_EMPTY);
    tu_set_header(f, TU_H_META_OFFSET, 8, tu_round_up(f->size, 8) + 4096);
}

typedef struct {
    const char *slug;    /* lower-case words joined by '-' */
    const char *expect;  /* "CODE", "verify-CODE" or "OK" */
    unsigned base;       /* TU_BASE_* */
    void (*mutate)(tu_file *f);
    const char *mention; /* the message must contain this (a field name), or NULL */
} tu_badcase;

/* The table (APPEND ONLY). Returns it and its length. */
static inline const tu_badcase *tu_badcases(size_t *count)
{
    static const tu_badcase cases[] = {
        {"empty-file", "TRUNCATED", TU_BASE_PLAIN, bc_empty, NULL},
        {"truncated-to-1-byte", "TRUNCATED", TU_BASE_PLAIN, bc_trunc1, NULL},
        {"truncated-to-64-bytes", "TRUNCATED", TU_BASE_PLAIN, bc_trunc64, NULL},
        {"truncated-to-127-bytes", "TRUNCATED", TU_BASE_PLAIN, bc_trunc127, NULL},
        {"truncated-to-header", "TRUNCATED", TU_BASE_PLAIN, bc_trunc128, NULL},
        {"truncated-mid-field-table", "TRUNCATED", TU_BASE_PLAIN, bc_trunc_ft, NULL},
        {"truncated-mid-data", "TRUNCATED", TU_BASE_PLAIN, bc_trunc_data, NULL},
        {"truncated-last-byte", "TRUNCATED", TU_BASE_PLAIN, bc_trunc_last, NULL},
        {"bad-magic-byte", "BAD_MAGIC", TU_BASE_PLAIN, bc_magic_byte, NULL},
        {"bad-magic-png", "BAD_MAGIC", TU_BASE_PLAIN, bc_magic_png, NULL},
        {"version-major-2", "VERSION", TU_BASE_PLAIN, bc_major2, NULL},
        {"version-major-0", "VERSION", TU_BASE_PLAIN, bc_major0, NULL},
        {"version-before-header-checksum", "VERSION", TU_BASE_PLAIN, bc_major2_nofix, NULL},
        {"future-minor-version", "OK", TU_BASE_PLAIN, bc_minor1, NULL},
        {"header-size-64", "HEADER", TU_BASE_PLAIN, bc_hsize64, NULL},
        {"header-checksum-wrong", "CHECKSUM", TU_BASE_PLAIN, bc_hsum, NULL},
        {"header-byte-changed", "CHECKSUM", TU_BASE_PLAIN, bc_hbyte, NULL},
        {"header-flags-set", "RESERVED", TU_BASE_PLAIN, bc_hflags, NULL},
        {"header-reserved-byte-set", "RESERVED", TU_BASE_PLAIN, bc_hreserved, NULL},
        {"file-size-larger-than-file", "TRUNCATED", TU_BASE_PLAIN, bc_fsize_big, NULL},
        {"file-longer-than-file-size", "SIZE_MISMATCH", TU_BASE_PLAIN, bc_fsize_small, NULL},
        {"num-fields-0", "FIELD_COUNT", TU_BASE_PLAIN, bc_nfields0, NULL},
        {"num-fields-1025", "FIELD_COUNT", TU_BASE_PLAIN, bc_nfields1025, NULL},
        {"field-table-size-wrong", "HEADER", TU_BASE_PLAIN, bc_ftsize, NULL},
        {"metadata-over-64-mib", "METADATA", TU_BASE_PLAIN, bc_meta_huge, NULL},
        {"field-table-past-eof", "REGION_BOUNDS", TU_BASE_PLAIN, bc_ft_eof, NULL},
        {"field-table-offset-wraps", "REGION_BOUNDS", TU_BASE_PLAIN, bc_ft_wrap, NULL},
        {"metadata-past-eof", "REGION_BOUNDS", TU_BASE_PLAIN, bc_meta_eof, NULL},
        {"field-table-misaligned", "ALIGNMENT", TU_BASE_PLAIN, bc_ft_misaligned, NULL},
        {"metadata-misaligned", "ALIGNMENT", TU_BASE_PLAIN, bc_meta_misaligned, NULL},
        {"field-table-checksum-wrong", "CHECKSUM", TU_BASE_PLAIN, bc_ftsum, NULL},
        {"metadata-checksum-wrong", "CHECKSUM", TU_BASE_PLAIN, bc_metasum, NULL},
        {"metadata-invalid-byte", "METADATA", TU_BASE_PLAIN, bc_meta_ff, NULL},
        {"metadata-surrogate", "METADATA", TU_BASE_PLAIN, bc_meta_surrogate, NULL},
        {"metadata-cut-utf8-sequence", "METADATA", TU_BASE_PLAIN, bc_meta_cut, NULL},
        {"name-len-0", "NAME", TU_BASE_PLAIN, bc_name_len0, NULL},
        {"name-len-65", "NAME", TU_BASE_PLAIN, bc_name_len65, NULL},
        {"name-with-nul", "NAME", TU_BASE_PLAIN, bc_name_nul, NULL},
        {"name-invalid-utf8", "NAME", TU_BASE_PLAIN, bc_name_ff, NULL},
        {"name-overlong-utf8", "NAME", TU_BASE_PLAIN, bc_name_overlong, NULL},
        {"name-padding-nonzero", "NAME", TU_BASE_PLAIN, bc_name_pad, NULL},
        {"dtype-0", "DTYPE", TU_BASE_PLAIN, bc_dtype0, "label"},
        {"dtype-14", "DTYPE", TU_BASE_PLAIN, bc_dtype14, "label"},
        {"dtype-255", "DTYPE", TU_BASE_PLAIN, bc_dtype255, "label"},
        {"codec-2", "CODEC", TU_BASE_PLAIN, bc_codec2, "image"},
        {"lz4-on-variable-field", "CODEC", TU_BASE_VAR, bc_lz4_var, "tokens"},
        {"lz4-block-samples-0", "CODEC", TU_BASE_LZ4, bc_lz4_bs0, "packed"},
        {"lz4-raw-size-over-limit", "CODEC", TU_BASE_LZ4, bc_lz4_raw_limit, "packed"},
        {"kind-2", "SHAPE", TU_BASE_PLAIN, bc_kind2, "image"},
        {"rank-9", "SHAPE", TU_BASE_PLAIN, bc_rank9, "image"},
        {"shape-beyond-rank-nonzero", "SHAPE", TU_BASE_PLAIN, bc_shape_beyond, "image"},
        {"variable-dim-in-fixed-field", "SHAPE", TU_BASE_PLAIN, bc_var_in_fixed, "image"},
        {"variable-field-without-variable-dim", "SHAPE", TU_BASE_VAR, bc_var_no_var, "tokens"},
        {"field-flags-set", "RESERVED", TU_BASE_PLAIN, bc_fflags, "image"},
        {"field-reserved0-set", "RESERVED", TU_BASE_PLAIN, bc_fres0, "image"},
        {"field-reserved1-set", "RESERVED", TU_BASE_PLAIN, bc_fres1, "image"},
        {"field-reserved2-set", "RESERVED", TU_BASE_PLAIN, bc_fres2, "image"},
        {"layout-lowercase", "LAYOUT", TU_BASE_PLAIN, bc_layout_lower, "image"},
        {"layout-wrong-length", "LAYOUT", TU_BASE_PLAIN, bc_layout_len, "image"},
        {"layout-letter-after-zero", "LAYOUT", TU_BASE_PLAIN, bc_layout_gap, "image"},
        {"shape-product-overflow", "OVERFLOW", TU_BASE_PLAIN, bc_shape_overflow, "image"},
        {"n-times-stride-overflow", "OVERFLOW", TU_BASE_PLAIN, bc_stride_overflow, "image"},
        {"stride-below-sample-bytes", "SHAPE", TU_BASE_PLAIN, bc_stride_small, "image"},
        {"data-size-not-n-times-stride", "SHAPE", TU_BASE_PLAIN, bc_data_size, "image"},
        {"fixed-field-with-index", "SHAPE", TU_BASE_PLAIN, bc_fixed_index, "label"},
        {"variable-index-size-wrong", "SHAPE", TU_BASE_VAR, bc_var_index_size, "tokens"},
        {"lz4-index-size-wrong", "SHAPE", TU_BASE_LZ4, bc_lz4_index_size, "packed"},
        {"lz4-stride-nonzero", "SHAPE", TU_BASE_LZ4, bc_lz4_stride, "packed"},
        {"data-region-past-eof", "REGION_BOUNDS", TU_BASE_PLAIN, bc_data_eof, "image"},
        {"variable-data-size-past-eof", "REGION_BOUNDS", TU_BASE_VAR, bc_var_data_size_eof, "tokens"},
        {"data-offset-wraps", "REGION_BOUNDS", TU_BASE_PLAIN, bc_data_wrap, "image"},
        {"index-region-past-eof", "REGION_BOUNDS", TU_BASE_VAR, bc_index_eof, "tokens"},
        {"data-offset-misaligned", "ALIGNMENT", TU_BASE_PLAIN, bc_data_misaligned, "image"},
        {"index-offset-misaligned", "ALIGNMENT", TU_BASE_VAR, bc_index_misaligned, "tokens"},
        {"duplicate-name", "DUPLICATE_NAME", TU_BASE_PLAIN, bc_dup_name, "image"},
        {"data-regions-overlap", "OVERLAP", TU_BASE_PLAIN, bc_overlap_data, "image"},
        {"data-overlaps-header", "OVERLAP", TU_BASE_PLAIN, bc_overlap_header, "label"},
        {"index-overlaps-field-table", "OVERLAP", TU_BASE_VAR, bc_overlap_ft, "tokens"},
        {"var-entry-past-data", "verify-INDEX", TU_BASE_VAR, bc_var_past, "tokens"},
        {"var-entry-misaligned", "verify-INDEX", TU_BASE_VAR, bc_var_misaligned, "tokens"},
        {"var-entry-overlaps-previous", "verify-INDEX", TU_BASE_VAR, bc_var_overlap, "tokens"},
        {"var-entry-nbytes-wrong", "verify-INDEX", TU_BASE_VAR, bc_var_nbytes, "tokens"},
        {"var-entry-fixed-dim-wrong", "verify-INDEX", TU_BASE_VAR, bc_var_fixed_dim, "boxes"},
        {"var-entry-shape-overflow", "verify-OVERFLOW", TU_BASE_VAR, bc_var_overflow, "tokens"},
        {"lz4-block-csize-0", "verify-INDEX", TU_BASE_LZ4, bc_lz4_csize0, "packed"},
        {"lz4-block-past-data", "verify-INDEX", TU_BASE_LZ4, bc_lz4_past, "packed"},
        {"lz4-blocks-overlap", "verify-INDEX", TU_BASE_LZ4, bc_lz4_overlap, "packed"},
        {"lz4-block-truncated", "verify-CORRUPT_BLOCK", TU_BASE_LZ4, bc_lz4_truncated, "packed"},
        {"lz4-block-byte-flipped", "verify-CHECKSUM", TU_BASE_LZ4, bc_lz4_flip, "packed"},
        {"payload-byte-flipped", "verify-CHECKSUM", TU_BASE_PLAIN, bc_payload, "image"},
        {"data-checksum-wrong", "verify-CHECKSUM", TU_BASE_PLAIN, bc_data_sum, "label"},
        {"index-checksum-wrong", "verify-CHECKSUM", TU_BASE_VAR, bc_index_sum, "tokens"},
        {"padding-byte-nonzero", "verify-PADDING", TU_BASE_PLAIN, bc_padding, NULL},
        {"first-field-reported-first", "NAME", TU_BASE_PLAIN, bc_order_fields, NULL},
        {"duplicate-before-overlap", "DUPLICATE_NAME", TU_BASE_PLAIN, bc_order_dup_overlap, "image"},
        {"field-table-checksum-before-fields", "CHECKSUM", TU_BASE_PLAIN, bc_order_ftsum_dtype, NULL},
        {"size-before-magic", "TRUNCATED", TU_BASE_PLAIN, bc_order_size_magic, NULL},
        {"version-before-header-size", "VERSION", TU_BASE_PLAIN, bc_order_version_header_size, NULL},
        {"empty-metadata-offset-past-eof", "REGION_BOUNDS", TU_BASE_PLAIN, bc_meta_empty_offset, NULL},
    };
    *count = sizeof cases / sizeof cases[0];
    return cases;
}

/* Splits an expectation ("CODE", "verify-CODE", "OK") into (open code, verify code). */
static inline int tu_parse_expect(const char *expect, int *open_code, int *verify_code)
{
    if (strncmp(expect, "verify-", 7) == 0) {
        *open_code = TC_OK;
        *verify_code = tu_code_from_name(expect + 7);
        return *verify_code > 0 ? 0 : -1;
    }
    *open_code = *verify_code = tu_code_from_name(expect);
    return *open_code >= 0 ? 0 : -1;
}

/* Checks the library's verdict on the file at `path` against (open_code, verify_code):
 * default, pread and verifying opens, and tc_verify after a default open. Returns the number of
 * disagreements, each described on stderr (so a corpus run can list them all). */
static inline int tu_judge_file(const char *path, int open_code, int verify_code,
                                const char *mention)
{
    static const unsigned plain_flags[] = {TC_OPEN_DEFAULT, TC_OPEN_NO_MMAP};
    int bad = 0;
    tc_error err;
    for (size_t i = 0; i < 2; i++) {
        tc_cache *c = NULL;
        memset(&err, 0, sizeof err);
        int rc = tc_open(&c, path, plain_flags[i], &err);
        if (rc != open_code) {
            fprintf(stderr, "%s: open(flags %u) gave %s, expected %s: %s\n", path,
                    plain_flags[i], tc_error_name(rc), tc_error_name(open_code), err.message);
            bad++;
        } else if (rc != TC_OK && (err.code != rc || !err.message[0])) {
            fprintf(stderr, "%s: open gave %s with err.code %d, message '%s'\n", path,
                    tc_error_name(rc), err.code, err.message);
            bad++;
        } else if (rc != TC_OK && mention && !strstr(err.message, mention)) {
            fprintf(stderr, "%s: message '%s' does not mention '%s'\n", path, err.message,
                    mention);
            bad++;
        }
        if (rc == TC_OK) {
            memset(&err, 0, sizeof err);
            int vrc = tc_verify(c, &err);
            if (vrc != verify_code) {
                fprintf(stderr, "%s: tc_verify(flags %u) gave %s, expected %s: %s\n", path,
                        plain_flags[i], tc_error_name(vrc), tc_error_name(verify_code),
                        err.message);
                bad++;
            } else if (vrc != TC_OK && mention && !strstr(err.message, mention)) {
                fprintf(stderr, "%s: verify message '%s' does not mention '%s'\n", path,
                        err.message, mention);
                bad++;
            }
            tc_close(c);
        }
    }
    for (unsigned extra = 0; extra <= TC_OPEN_NO_MMAP; extra += TC_OPEN_NO_MMAP) {
        tc_cache *c = NULL;
        memset(&err, 0, sizeof err);
        int rc = tc_open(&c, path, TC_OPEN_VERIFY | extra, &err);
        if (rc != verify_code) {
            fprintf(stderr, "%s: open(VERIFY|%u) gave %s, expected %s: %s\n", path, extra,
                    tc_error_name(rc), tc_error_name(verify_code), err.message);
            bad++;
        }
        if (rc == TC_OK)
            tc_close(c);
        else if (c != NULL) {
            fprintf(stderr, "%s: failed open left *out non-NULL\n", path);
            bad++;
        }
    }
    return bad;
}

/* Builds case `bc` (its base written under the temp dir) into memory. */
static inline void tu_build_badcase(const tu_badcase *bc, tu_file *f)
{
    char base[PATH_MAX];
    char name[64];
    snprintf(name, sizeof name, "base-%u.tc", bc->base);
    tu_path(base, sizeof base, name);
    if (!tu_exists(base))
        tu_write_base(base, bc->base);
    tu_load(f, base);
    bc->mutate(f);
}

#endif /* TC_TESTUTIL_H */
