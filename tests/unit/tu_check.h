/* tu_check.h - test helpers: failing a check, TU_EXPECT, the temporary
 * directory, file helpers, pseudo-random numbers.
 * Part of testutil.h (see there); static inline throughout. */
#ifndef TC_TU_CHECK_H
#define TC_TU_CHECK_H

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

#endif
