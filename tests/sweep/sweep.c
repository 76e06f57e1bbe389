/*
 * sweep.c - the corruption sweep (in the manner of SQLite's): every truncation and every single
 * byte of a small valid cache, changed to several values.
 *
 * The cache (four fields: a fixed u8 image, an i64 label, a variable-shape u16 field and an LZ4
 * f32 field; 20 samples; metadata) is written with the writer API. Then, in-process, each case is
 * put into a memfd and taken through tcf_exercise() (tests/fuzz/exercise.c): open with every
 * mode, every sample through every read path, tc_verify, with the cross-path invariants checked.
 * Built with ASan + UBSan: a bad access or undefined arithmetic aborts the sweep.
 *
 *  1. truncation to every length 0..size-1: every open mode must fail with TRUNCATED; a longer
 *     file must fail with SIZE_MISMATCH;
 *  2. every byte set to 0x00, 0xFF, byte^0x01, byte^0x80 (when different from the original):
 *     open must fail, or a read must fail, or tc_verify must catch it. Every byte of a cache is
 *     covered by a checksum or by the zero-padding rule, so a change that passes everything is
 *     a failure of the sweep (its offset is reported);
 *  3. the same changes with every checksum recomputed afterwards (tests/fuzz/reseal.c), which
 *     turns each into a consistent but hostile file: the reader may accept it (it can be a valid
 *     file), but must not crash or break an invariant.
 *
 *   sweep [--quick] [--jobs=N]   (--quick: only byte values byte^0x01 and 0xFF; the cases are
 *                                split between N worker processes, default: one per CPU)
 * Ends with "sweep: N passed, M failed"; exit status 1 when M > 0.
 */
#include "../fuzz/tcfuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SW_N 20
#define SW_MAX_REPORTS 20
/* tc_verify on the pread backend runs for every N-th offset (default: every one). Raise it to
 * trade coverage for time on slow machines. */
#ifndef SW_PREAD_VERIFY_EVERY
#define SW_PREAD_VERIFY_EVERY 1
#endif

/* Cases are split between worker processes by offset: worker sw_job takes every sw_jobs-th. */
static size_t sw_jobs = 1, sw_job = 0;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sweep: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* ---- the cache under test ---- */

static void write_small_cache(const char *path)
{
    tc_writer *w;
    tc_error e = {0};
    const tc_field_spec specs[] = {
        {.name = "image", .dtype = TC_DTYPE_U8, .rank = 3, .shape = {6, 6, 1}, .layout = "NHWC"},
        {.name = "label", .dtype = TC_DTYPE_I64, .rank = 0},
        {.name = "tokens", .dtype = TC_DTYPE_U16, .rank = 2, .shape = {TC_DIM_VARIABLE, 2}},
        {.name = "feat", .dtype = TC_DTYPE_F32, .rank = 1, .shape = {5}, .codec = TC_CODEC_LZ4,
         .block_bytes = 60},
    };
    const char *meta = "{\"tensorcache\": {\"writer\": \"sweep\"}, \"classes\": [\"a\", \"b\"]}";
    if (tc_writer_create(&w, path, &e) != TC_OK)
        die("create %s: %s", path, e.message);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
        if (tc_writer_add_field(w, &specs[k], &e) != TC_OK)
            die("add_field: %s", e.message);
    if (tc_writer_set_metadata(w, meta, strlen(meta), &e) != TC_OK)
        die("metadata: %s", e.message);
    for (uint64_t i = 0; i < SW_N; i++) {
        uint8_t image[36];
        int64_t label = (int64_t)i * 7 - 30;
        uint16_t tokens[2 * 6];
        float feat[5];
        uint64_t tshape[2] = {i % 6, 2};
        for (int b = 0; b < 36; b++)
            image[b] = (uint8_t)(i * 13 + (uint64_t)b * 5);
        for (int t = 0; t < 12; t++)
            tokens[t] = (uint16_t)(i * 1000 + (uint64_t)t);
        for (int f = 0; f < 5; f++)
            feat[f] = (float)(i % 4) + (float)f * 0.25f; /* repetitive: compresses */
        tc_value v[4] = {
            {.data = image, .nbytes = sizeof image},
            {.data = &label, .nbytes = sizeof label},
            {.data = tokens, .nbytes = tshape[0] * 2 * sizeof tokens[0], .shape = tshape},
            {.data = feat, .nbytes = sizeof feat},
        };
        if (tc_writer_append(w, v, &e) != TC_OK)
            die("append %llu: %s", (unsigned long long)i, e.message);
    }
    if (tc_writer_finish(w, &e) != TC_OK)
        die("finish: %s", e.message);
}

static uint8_t *read_whole(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("cannot open %s: %s", path, strerror(errno));
    uint8_t *b = malloc((size_t)st.st_size + 8192);
    if (!b || pread(fd, b, (size_t)st.st_size, 0) != st.st_size)
        die("cannot read %s", path);
    close(fd);
    *size = (size_t)st.st_size;
    return b;
}

/* ---- outcome bookkeeping ---- */

typedef struct {
    const char *name;
    uint64_t cases, passed, failed;
    uint64_t at_open, at_read, at_verify, accepted;
    uint64_t same_as_raw; /* resealed cases identical to the raw case (padding bytes): skipped */
    uint64_t open_codes[TC_ERR_MAX_CODE];
} sw_stats;

static char violation_msg[700];
static uint64_t violations;

static void count_violation(const char *msg)
{
    if (violations++ == 0)
        snprintf(violation_msg, sizeof violation_msg, "%s", msg);
}

static uint64_t reports;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    if (reports++ >= SW_MAX_REPORTS)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sweep: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void print_stats(const sw_stats *s)
{
    printf(" %-24s %6llu cases: %llu rejected at open, %llu by a read, %llu by verify, "
           "%llu accepted; %llu failed\n",
           s->name, (unsigned long long)s->cases, (unsigned long long)s->at_open,
           (unsigned long long)s->at_read, (unsigned long long)s->at_verify,
           (unsigned long long)s->accepted, (unsigned long long)s->failed);
    if (s->same_as_raw)
        printf("    (%llu more changes were to bytes no checksum covers: resealing leaves them "
               "identical to the raw cases above, so they are not run twice)\n",
               (unsigned long long)s->same_as_raw);
    bool any = false;
    for (int c = 1; c < TC_ERR_MAX_CODE; c++)
        if (s->open_codes[c]) {
            printf("%s%s %llu", any ? ", " : "    open errors: ", tc_error_name(c),
                   (unsigned long long)s->open_codes[c]);
            any = true;
        }
    if (any)
        printf("\n");
}

/* Runs one case through every read path and counts its outcome. */
static void run_case(sw_stats *s, const char *path, const uint8_t *file, size_t size,
                     bool must_detect, const char *what, size_t off, unsigned val)
{
    /* tc_verify on the pread backend costs more than the rest of a case under ASan: run it on
     * every SW_PREAD_VERIFY_EVERY-th offset, which still covers every region of the file. */
    tcf_opts o = {.sample_cap = 64, .byte_cap = 1u << 20, .file = file, .file_size = size,
                  .skip_pread_verify = off % SW_PREAD_VERIFY_EVERY != 0};
    tcf_result r;
    violations = 0;
    tcf_exercise(path, &o, &r);
    s->cases++;
    bool ok = violations == 0;
    if (!ok)
        report("%s at offset %zu value 0x%02x: %s", what, off, val, violation_msg);
    if (r.open_rc != TC_OK) {
        s->at_open++;
        if (r.open_rc > 0 && r.open_rc < TC_ERR_MAX_CODE)
            s->open_codes[r.open_rc]++;
    } else if (r.read_rc != TC_OK) {
        s->at_read++;
    } else if (r.verify_rc != TC_OK) {
        s->at_verify++;
    } else {
        s->accepted++;
        if (must_detect) {
            ok = false;
            report("%s at offset %zu value 0x%02x: open, every read and tc_verify all pass", what,
                   off, val);
        }
    }
    if (ok)
        s->passed++;
    else
        s->failed++;
}

/* ---- the three sweeps ---- */

static void sweep_truncation(sw_stats *s, int fd, const char *path, const uint8_t *orig,
                             size_t size)
{
    for (size_t len = sw_job; len < size; len += sw_jobs) {
        if (tcf_memfd_set(fd, orig, len) != 0)
            die("memfd: %s", strerror(errno));
        uint64_t failed = s->failed;
        tcf_opts o = {.sample_cap = 64, .byte_cap = 1u << 20, .file = orig, .file_size = len};
        tcf_result r;
        violations = 0;
        tcf_exercise(path, &o, &r);
        s->cases++;
        s->at_open += r.open_rc != TC_OK;
        if (r.open_rc > 0 && r.open_rc < TC_ERR_MAX_CODE)
            s->open_codes[r.open_rc]++;
        if (violations)
            report("truncation to %zu bytes: %s", len, violation_msg), s->failed++;
        else if (r.open_rc != TC_ERR_TRUNCATED || r.open_nommap_rc != TC_ERR_TRUNCATED ||
                 r.open_verify_rc != TC_ERR_TRUNCATED)
            report("truncation to %zu bytes: open gives %s/%s/%s, expected TRUNCATED", len,
                   tc_error_name(r.open_rc), tc_error_name(r.open_nommap_rc),
                   tc_error_name(r.open_verify_rc)), s->failed++;
        if (s->failed == failed)
            s->passed++;
    }
    /* longer than recorded: SIZE_MISMATCH */
    static const size_t extra[] = {1, 7, 64, 4096};
    uint8_t *longer = calloc(size + 4096, 1);
    if (!longer)
        die("out of memory");
    memcpy(longer, orig, size);
    for (size_t j = sw_job; j < sizeof extra / sizeof extra[0]; j += sw_jobs) {
        tcf_memfd_set(fd, longer, size + extra[j]);
        tcf_opts o = {.sample_cap = 64, .byte_cap = 1u << 20, .file = longer,
                      .file_size = size + extra[j]};
        tcf_result r;
        violations = 0;
        tcf_exercise(path, &o, &r);
        s->cases++;
        s->at_open += r.open_rc != TC_OK;
        if (violations || r.open_rc != TC_ERR_SIZE_MISMATCH ||
            r.open_nommap_rc != TC_ERR_SIZE_MISMATCH)
            report("file extended by %zu bytes: open gives %s, expected SIZE_MISMATCH %s", extra[j],
                   tc_error_name(r.open_rc), violations ? violation_msg : ""),
                s->failed++;
        else
            s->passed++;
        if (r.open_rc > 0 && r.open_rc < TC_ERR_MAX_CODE)
            s->open_codes[r.open_rc]++;
    }
    free(longer);
}

/* The values a byte is set to; returns how many (duplicates and the original are dropped). */
static int values_for(uint8_t b, bool quick, unsigned out[4])
{
    unsigned cand[4] = {0x00, 0xFF, b ^ 0x01u, b ^ 0x80u};
    unsigned quick_cand[2] = {b ^ 0x01u, 0xFF};
    const unsigned *c = quick ? quick_cand : cand;
    int nc = quick ? 2 : 4, n = 0;
    for (int i = 0; i < nc; i++) {
        bool dup = c[i] == b;
        for (int j = 0; j < n; j++)
            dup |= out[j] == c[i];
        if (!dup)
            out[n++] = c[i];
    }
    return n;
}

static void sweep_bytes(sw_stats *s, int fd, const char *path, const uint8_t *orig, size_t size,
                        bool quick)
{
    uint8_t *buf = malloc(size);
    if (!buf)
        die("out of memory");
    memcpy(buf, orig, size);
    if (tcf_memfd_set(fd, buf, size) != 0)
        die("memfd: %s", strerror(errno));
    for (size_t off = sw_job; off < size; off += sw_jobs) {
        unsigned vals[4];
        int nv = values_for(orig[off], quick, vals);
        for (int j = 0; j < nv; j++) {
            buf[off] = (uint8_t)vals[j];
            if (pwrite(fd, buf + off, 1, (off_t)off) != 1)
                die("memfd: %s", strerror(errno));
            run_case(s, path, buf, size, true, "byte changed", off, vals[j]);
        }
        buf[off] = orig[off];
        if (pwrite(fd, buf + off, 1, (off_t)off) != 1)
            die("memfd: %s", strerror(errno));
    }
    free(buf);
}

static void sweep_resealed(sw_stats *s, int fd, const char *path, const uint8_t *orig,
                           size_t size, bool quick)
{
    uint8_t *buf = malloc(size);
    if (!buf)
        die("out of memory");
    for (size_t off = sw_job; off < size; off += sw_jobs) {
        unsigned vals[4];
        int nv = values_for(orig[off], quick, vals);
        for (int j = 0; j < nv; j++) {
            memcpy(buf, orig, size);
            buf[off] = (uint8_t)vals[j];
            tcf_reseal(buf, size);
            /* A byte no checksum covers (padding) reseals to the raw case's bytes: done above. */
            if (buf[off] == vals[j] && memcmp(buf, orig, off) == 0 &&
                memcmp(buf + off + 1, orig + off + 1, size - off - 1) == 0) {
                s->same_as_raw++;
                continue;
            }
            if (tcf_memfd_set(fd, buf, size) != 0)
                die("memfd: %s", strerror(errno));
            run_case(s, path, buf, size, false, "byte changed, then resealed", off, vals[j]);
        }
    }
    free(buf);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One worker: its share of every sweep, with its own memfd; the counters go to `out`. */
static void run_worker(const uint8_t *orig, size_t size, bool quick, sw_stats st[3])
{
    int fd = tcf_memfd(orig, size);
    if (fd < 0)
        die("memfd_create: %s", strerror(errno));
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    sweep_truncation(&st[0], fd, fdpath, orig, size);
    sweep_bytes(&st[1], fd, fdpath, orig, size, quick);
    sweep_resealed(&st[2], fd, fdpath, orig, size, quick);
    close(fd);
}

static bool write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w, n -= (size_t)w;
    }
    return true;
}

static bool read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        c += r, n -= (size_t)r;
    }
    return true;
}

static void add_stats(sw_stats *a, const sw_stats *b)
{
    a->cases += b->cases, a->passed += b->passed, a->failed += b->failed;
    a->at_open += b->at_open, a->at_read += b->at_read, a->at_verify += b->at_verify;
    a->accepted += b->accepted, a->same_as_raw += b->same_as_raw;
    for (int c = 0; c < TC_ERR_MAX_CODE; c++)
        a->open_codes[c] += b->open_codes[c];
}

/* Forks the workers; a worker that dies (sanitizer report, signal) fails the sweep. */
static uint64_t run_workers(const uint8_t *orig, size_t size, bool quick, sw_stats st[3])
{
    uint64_t dead = 0;
    int fds[16];
    pid_t pids[16];
    for (size_t j = 0; j < sw_jobs; j++) {
        int p[2];
        if (pipe(p) != 0)
            die("pipe: %s", strerror(errno));
        fflush(NULL);
        pids[j] = fork();
        if (pids[j] < 0)
            die("fork: %s", strerror(errno));
        if (pids[j] == 0) {
            close(p[0]);
            sw_job = j;
            sw_stats mine[3] = {{0}};
            run_worker(orig, size, quick, mine);
            _exit(write_all(p[1], mine, sizeof mine) ? 0 : 3);
        }
        close(p[1]);
        fds[j] = p[0];
    }
    for (size_t j = 0; j < sw_jobs; j++) {
        sw_stats theirs[3];
        bool got = read_all(fds[j], theirs, sizeof theirs);
        close(fds[j]);
        int status;
        while (waitpid(pids[j], &status, 0) < 0 && errno == EINTR)
            ;
        if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "sweep: FAIL: worker %zu died (%s %d): see the sanitizer report above\n",
                    j, WIFSIGNALED(status) ? "signal" : "exit status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            dead++;
            continue;
        }
        for (int i = 0; i < 3; i++)
            add_stats(&st[i], &theirs[i]);
    }
    return dead;
}

int main(int argc, char **argv)
{
    bool quick = false;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    sw_jobs = cpus > 1 ? (cpus > 16 ? 16 : (size_t)cpus) : 1;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--quick") == 0)
            quick = true;
        else if (strncmp(argv[a], "--jobs=", 7) == 0 && atoi(argv[a] + 7) > 0)
            sw_jobs = atoi(argv[a] + 7) > 16 ? 16 : (size_t)atoi(argv[a] + 7);
        else
            die("usage: sweep [--quick] [--jobs=N]");
    }
    tcf_violation = count_violation;
    const char *base = getenv("TC_TEST_TMP");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/sweep.XXXXXX", base && *base ? base : "/tmp");
    if (base && *base)
        mkdir(base, 0755);
    if (!mkdtemp(dir))
        die("cannot create %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/small.tc", dir);
    write_small_cache(path);
    size_t size;
    uint8_t *orig = read_whole(path, &size);
    unlink(path);
    rmdir(dir);

    int fd = tcf_memfd(orig, size);
    if (fd < 0)
        die("memfd_create: %s", strerror(errno));
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);

    /* The unmodified cache must pass everything. */
    sw_stats base_s = {.name = "unmodified"};
    run_case(&base_s, fdpath, orig, size, false, "unmodified", 0, 0);
    if (base_s.failed || base_s.accepted != 1)
        die("the unmodified cache does not pass open + reads + verify");
    close(fd);

    printf("sweep: cache of %zu bytes, %d samples, 4 fields, %zu worker%s%s\n", size, SW_N,
           sw_jobs, sw_jobs > 1 ? "s" : "", quick ? " (quick: 2 values per byte)" : "");
    sw_stats st[3] = {{.name = "truncations/extensions"},
                      {.name = "single bytes"},
                      {.name = "single bytes, resealed"}};
    double t0 = now();
    uint64_t dead = run_workers(orig, size, quick, st);
    double t1 = now();
    uint64_t passed = 0, failed = dead;
    for (int i = 0; i < 3; i++) {
        print_stats(&st[i]);
        passed += st[i].passed;
        failed += st[i].failed;
    }
    printf("sweep: %.1f s; failures are listed on stderr (at most %d per worker)\n", t1 - t0,
           SW_MAX_REPORTS);
    printf("sweep: %llu passed, %llu failed\n", (unsigned long long)passed,
           (unsigned long long)failed);
    free(orig);
    return failed ? 1 : 0;
}
