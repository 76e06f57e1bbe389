/* bench_c.c - benchmarks of libtensorcache, each beside its physical limit measured in the same
 * run (bench/README.md explains what every row means).
 *
 *   bench_c --dir DIR --out FILE [--size-gb X] [--repeats R] [--quick] [--fmnist DIR]
 *           [--only pack,open,view,gather,scan,lz4,verify]
 *
 * Every measurement is written to FILE as one CSV record per repeat:
 *   m,BENCH,CASE,IMPL,REPEAT,VALUE,UNIT        a measurement
 *   i,KEY,VALUE                                a fact about the run (cold-cache method, sizes)
 * bench/report.py turns the records into medians, min-max, paired ratios and verdicts.
 *
 * Methodology, shared by every benchmark here:
 *  - CLOCK_MONOTONIC; results flow into a volatile sink so the optimizer cannot drop the work.
 *  - The library path and its baseline run in the same repeat, alternating which goes first, on
 *    the same bytes (the same mapping where the measurement is about the mapping).
 *  - "hot" means the file's pages are in the page cache; "cold" means they were evicted first
 *    (posix_fadvise(DONTNEED), or /proc/sys/vm/drop_caches if that is what works here). */
#include "tensorcache.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

/* ---- configuration and output ---------------------------------------------------------------- */

typedef struct {
    const char *dir;    /* scratch directory for the files this benchmark writes */
    const char *fmnist; /* directory of the Fashion-MNIST .gz files */
    double size_gb;     /* size of the synthetic image set */
    int repeats;
    int quick;
    FILE *out;
    const char *cold_method; /* NULL when pages cannot be evicted here */
} bench_cfg;

static volatile uint64_t g_sink; /* every timed loop stores into this */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_c: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void check_tc(int rc, const tc_error *err, const char *what)
{
    if (rc != TC_OK)
        die("%s: %s: %s", what, tc_error_name(rc), err ? err->message : tc_strerror(rc));
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void emit(const bench_cfg *cfg, const char *bench, const char *kase, const char *impl,
                 int rep, double value, const char *unit)
{
    fprintf(cfg->out, "m,%s,%s,%s,%d,%.9g,%s\n", bench, kase, impl, rep, value, unit);
    fflush(cfg->out);
}

static void info(const bench_cfg *cfg, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void info(const bench_cfg *cfg, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(cfg->out, "i,%s,", key);
    vfprintf(cfg->out, fmt, ap);
    fputc('\n', cfg->out);
    va_end(ap);
    fflush(cfg->out);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("  [c] ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static char *path_in(const bench_cfg *cfg, const char *name)
{
    size_t n = strlen(cfg->dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", cfg->dir, name);
    return p;
}

/* A small, fast PRNG (splitmix64): the data only has to be incompressible and reproducible. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = rng_next(&seed);
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++)
        p[i] = (uint8_t)rng_next(&seed);
}

static uint64_t *random_indices(size_t m, uint64_t n, uint64_t seed)
{
    uint64_t *idx = xmalloc(m * sizeof *idx);
    for (size_t k = 0; k < m; k++)
        idx[k] = rng_next(&seed) % n;
    return idx;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of n values (sorts them). Each repeat's figure is the median of several short timed
 * slices, so that a burst of activity from another process spoils one slice, not the repeat. */
static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- page cache control ---------------------------------------------------------------------- */

/* Fraction of the file's pages that are in the page cache (mincore on a fresh mapping). */
static double resident_fraction(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    fstat(fd, &st);
    if (st.st_size == 0) {
        close(fd);
        return 0.0;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        die("cannot map '%s': %s", path, strerror(errno));
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t npages = ((size_t)st.st_size + page - 1) / page, in = 0;
    unsigned char *vec = xmalloc(npages);
    if (mincore(m, (size_t)st.st_size, vec) != 0)
        die("mincore failed: %s", strerror(errno));
    for (size_t i = 0; i < npages; i++)
        in += vec[i] & 1;
    free(vec);
    munmap(m, (size_t)st.st_size);
    return (double)in / (double)npages;
}

static void fadvise_dontneed(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    fdatasync(fd); /* dirty pages cannot be dropped */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

static int write_drop_caches(void)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = write(fd, "1\n", 2);
    close(fd);
    return r == 2 ? 0 : -1;
}

/* Evicts `path` from the page cache with the method that worked when the run started.
 * @return 1 if the file is now (almost) entirely out of the page cache. */
static int make_cold(const bench_cfg *cfg, const char *path)
{
    if (!cfg->cold_method)
        return 0;
    if (strcmp(cfg->cold_method, "drop_caches") == 0)
        write_drop_caches();
    else
        fadvise_dontneed(path);
    return resident_fraction(path) < 0.01;
}

/* Finds how pages can be evicted on this machine: targeted fadvise first (it disturbs nobody
 * else), the global drop_caches second. */
static const char *probe_cold_method(const bench_cfg *cfg)
{
    char *p = path_in(cfg, "cold-probe.bin");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("cannot create '%s': %s", p, strerror(errno));
    size_t n = 16u << 20;
    uint8_t *buf = xmalloc(n);
    fill_random(buf, n, 7);
    if (write(fd, buf, n) != (ssize_t)n)
        die("write '%s' failed", p);
    fsync(fd);
    close(fd);
    free(buf);
    const char *method = NULL;
    fadvise_dontneed(p);
    if (resident_fraction(p) < 0.01) {
        method = "posix_fadvise(DONTNEED)";
    } else if (write_drop_caches() == 0 && resident_fraction(p) < 0.01) {
        method = "drop_caches";
    }
    unlink(p);
    free(p);
    return method;
}

/* Reads every page of `path` so it is hot. */
static void make_hot(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("cannot open '%s': %s", path, strerror(errno));
    size_t n = 8u << 20;
    uint8_t *buf = xmalloc(n);
    while (read(fd, buf, n) > 0)
        ;
    free(buf);
    close(fd);
}

/* ---- shared kernels (noinline: the library path and the baseline run the same code) ---------- */

/* Sums a byte range as 64-bit words: touches every byte, cheap enough to stay memory-bound. */
static __attribute__((noinline)) uint64_t sum_words(const uint8_t *p, size_t n)
{
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        a0 += w[0], a1 += w[1], a2 += w[2], a3 += w[3];
    }
    for (; i < n; i++)
        a0 += p[i];
    return a0 + a1 + a2 + a3;
}

/* ---- datasets -------------------------------------------------------------------------------- */

#define IMG_H 224
#define IMG_W 224
#define IMG_C 3
#define IMG_BYTES ((size_t)IMG_H * IMG_W * IMG_C)

typedef struct {
    uint8_t *images;
    int64_t *labels;
    uint64_t n;
} synth_set;

static synth_set make_synth(double size_gb)
{
    synth_set s;
    s.n = (uint64_t)(size_gb * 1e9 / (double)IMG_BYTES);
    if (s.n < 64)
        s.n = 64;
    s.images = xmalloc(s.n * IMG_BYTES);
    s.labels = xmalloc(s.n * sizeof *s.labels);
    fill_random(s.images, s.n * IMG_BYTES, 42);
    for (uint64_t i = 0; i < s.n; i++)
        s.labels[i] = (int64_t)(i % 1000);
    return s;
}

static void spec_image(tc_field_spec *f, const char *name, uint64_t h, uint64_t w, uint64_t c,
                       int codec)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    f->dtype = TC_DTYPE_U8;
    f->rank = 3;
    f->shape[0] = h, f->shape[1] = w, f->shape[2] = c;
    f->layout = "NHWC";
    f->codec = codec;
}

static void spec_scalar(tc_field_spec *f, const char *name, int dtype)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    f->dtype = dtype;
}

/* Writes an (image, label) cache from memory in batches of `batch` samples. */
static void pack_images(const char *path, const uint8_t *images, const int64_t *labels, uint64_t n,
                        uint64_t h, uint64_t w, uint64_t c, int codec, uint64_t batch)
{
    tc_error err;
    tc_writer *wr;
    check_tc(tc_writer_create(&wr, path, &err), &err, "tc_writer_create");
    tc_field_spec fs[2];
    spec_image(&fs[0], "image", h, w, c, codec);
    spec_scalar(&fs[1], "label", TC_DTYPE_I64);
    for (int k = 0; k < 2; k++)
        check_tc(tc_writer_add_field(wr, &fs[k], &err), &err, "tc_writer_add_field");
    const char meta[] = "{\"tensorcache\": {\"writer\": \"bench_c\"}}";
    check_tc(tc_writer_set_metadata(wr, meta, sizeof meta - 1, &err), &err, "set_metadata");
    size_t sb = (size_t)(h * w * c);
    for (uint64_t i = 0; i < n; i += batch) {
        uint64_t m = n - i < batch ? n - i : batch;
        tc_value v[2] = {{images + i * sb, m * sb, NULL}, {labels + i, m * sizeof *labels, NULL}};
        check_tc(tc_writer_append_batch(wr, m, v, &err), &err, "tc_writer_append_batch");
    }
    check_tc(tc_writer_finish(wr, &err), &err, "tc_writer_finish");
}

/* The same bytes with plain write(2), then fsync: what any copy to this disk costs. */
static void copy_images(const char *path, const uint8_t *images, const int64_t *labels, uint64_t n,
                        size_t sb, uint64_t batch)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("cannot create '%s': %s", path, strerror(errno));
    for (uint64_t i = 0; i < n; i += batch) {
        uint64_t m = n - i < batch ? n - i : batch;
        const uint8_t *p = images + i * sb;
        size_t left = m * sb;
        while (left) {
            ssize_t r = write(fd, p, left);
            if (r <= 0)
                die("write '%s' failed: %s", path, strerror(errno));
            p += r, left -= (size_t)r;
        }
    }
    if (write(fd, labels, n * sizeof *labels) != (ssize_t)(n * sizeof *labels))
        die("write '%s' failed", path);
    if (fsync(fd) != 0)
        die("fsync '%s' failed", path);
    close(fd);
}

typedef struct {
    uint8_t *images;
    int64_t *labels;
    uint64_t n;
} fmnist_set;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads an IDX .gz file (the Fashion-MNIST distribution format); *n_out items of item_bytes. */
static uint8_t *read_idx_gz(const char *path, uint32_t want_magic, size_t item_bytes,
                            uint64_t *n_out)
{
    gzFile g = gzopen(path, "rb");
    if (!g)
        return NULL;
    uint8_t hdr[16];
    size_t hlen = want_magic == 0x803 ? 16 : 8;
    if (gzread(g, hdr, (unsigned)hlen) != (int)hlen || be32(hdr) != want_magic)
        die("'%s' is not an IDX file of the expected kind", path);
    uint64_t n = be32(hdr + 4);
    uint8_t *data = xmalloc(n * item_bytes);
    if (gzread(g, data, (unsigned)(n * item_bytes)) != (int)(n * item_bytes))
        die("'%s' is truncated", path);
    gzclose(g);
    *n_out = n;
    return data;
}

static int load_fmnist(const bench_cfg *cfg, fmnist_set *fm)
{
    char p[4096];
    uint64_t ni, nl;
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", cfg->fmnist);
    fm->images = read_idx_gz(p, 0x803, 784, &ni);
    if (!fm->images)
        return 0;
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", cfg->fmnist);
    uint8_t *l = read_idx_gz(p, 0x801, 1, &nl);
    if (!l || nl != ni)
        die("Fashion-MNIST labels missing or of a different count");
    fm->labels = xmalloc(ni * sizeof *fm->labels);
    for (uint64_t i = 0; i < ni; i++)
        fm->labels[i] = l[i];
    free(l);
    fm->n = ni;
    return 1;
}

static tc_cache *open_cache(const char *path, uint32_t *image_field)
{
    tc_error err;
    tc_cache *c;
    check_tc(tc_open(&c, path, TC_OPEN_DEFAULT, &err), &err, path);
    if (image_field && tc_find_field(c, "image", image_field, NULL) != TC_OK)
        die("'%s' has no field 'image'", path);
    return c;
}

/* ---- 1. pack throughput vs copying the same bytes to the same disk ---------------------------- */

static void bench_pack(const bench_cfg *cfg, const synth_set *s, const char *cache_path)
{
    char *copy_path = path_in(cfg, "copy-baseline.bin");
    double bytes = (double)s->n * (double)(IMG_BYTES + sizeof(int64_t));
    const uint64_t batch = 64;
    for (int r = 0; r < cfg->repeats; r++) {
        for (int k = 0; k < 2; k++) {
            int do_pack = (k + r) % 2 == 0;
            /* Each run writes a fresh file: free the old one outside the timed region. */
            unlink(do_pack ? cache_path : copy_path);
            sync();
            double t0 = now_s();
            if (do_pack)
                pack_images(cache_path, s->images, s->labels, s->n, IMG_H, IMG_W, IMG_C,
                            TC_CODEC_NONE, batch);
            else
                copy_images(copy_path, s->images, s->labels, s->n, IMG_BYTES, batch);
            double t = now_s() - t0;
            emit(cfg, "c.pack", "image224", do_pack ? "tensorcache" : "write+fsync", r,
                 bytes / t / 1e9, "GB/s");
        }
    }
    unlink(copy_path);
    free(copy_path);
}

#define OPEN_ITERS 201

/* ---- 2. open time vs N ----------------------------------------------------------------------- */

static void write_open_file(const char *path, uint64_t n)
{
    tc_error err;
    tc_writer *wr;
    check_tc(tc_writer_create(&wr, path, &err), &err, "tc_writer_create");
    tc_field_spec fs[3];
    memset(fs, 0, sizeof fs);
    fs[0].name = "x", fs[0].dtype = TC_DTYPE_F32, fs[0].rank = 1, fs[0].shape[0] = 4;
    fs[1].name = "y", fs[1].dtype = TC_DTYPE_I64;
    fs[2].name = "z", fs[2].dtype = TC_DTYPE_U8, fs[2].rank = 1, fs[2].shape[0] = 16;
    fs[2].codec = TC_CODEC_LZ4;
    for (int k = 0; k < 3; k++)
        check_tc(tc_writer_add_field(wr, &fs[k], &err), &err, "tc_writer_add_field");
    const uint64_t batch = 65536;
    float *x = xmalloc(batch * 4 * sizeof *x);
    int64_t *y = xmalloc(batch * sizeof *y);
    uint8_t *z = xmalloc(batch * 16);
    for (uint64_t i = 0; i < n; i += batch) {
        uint64_t m = n - i < batch ? n - i : batch;
        for (uint64_t j = 0; j < m; j++) {
            for (int d = 0; d < 4; d++)
                x[j * 4 + d] = (float)(i + j) + (float)d * 0.25f;
            y[j] = (int64_t)(i + j);
            memset(z + j * 16, (int)((i + j) & 7), 16);
        }
        tc_value v[3] = {{x, m * 16, NULL}, {y, m * 8, NULL}, {z, m * 16, NULL}};
        check_tc(tc_writer_append_batch(wr, m, v, &err), &err, "append");
    }
    check_tc(tc_writer_finish(wr, &err), &err, "tc_writer_finish");
    free(x), free(y), free(z);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The least any validating reader does: open, stat, read header and field table, map. */
static double raw_open_once(const char *path, uint8_t *ft_buf, size_t ft_cap)
{
    double t0 = now_s();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t hdr[128];
    if (fd < 0 || fstat(fd, &st) != 0 || pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        die("raw open of '%s' failed", path);
    uint64_t ft_off = le64(hdr + 40), ft_size = le64(hdr + 48);
    if (ft_size > ft_cap || pread(fd, ft_buf, ft_size, (off_t)ft_off) != (ssize_t)ft_size)
        die("raw read of the field table of '%s' failed", path);
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    double t = now_s() - t0;
    if (m == MAP_FAILED)
        die("raw map of '%s' failed", path);
    g_sink = ft_buf[0];
    munmap(m, (size_t)st.st_size);
    return t;
}

static double tc_open_once(const char *path)
{
    tc_error err;
    tc_cache *c;
    double t0 = now_s();
    int rc = tc_open(&c, path, TC_OPEN_DEFAULT, &err);
    double t = now_s() - t0;
    check_tc(rc, &err, "tc_open");
    g_sink = tc_num_samples(c);
    tc_close(c);
    return t;
}

static void bench_open(const bench_cfg *cfg)
{
    int max_exp = cfg->quick ? 6 : 7;
    uint8_t ft[4096];
    for (int e = 3; e <= max_exp; e++) {
        uint64_t n = 1;
        for (int k = 0; k < e; k++)
            n *= 10;
        char name[64], kase[32];
        snprintf(name, sizeof name, "open-1e%d.tc", e);
        snprintf(kase, sizeof kase, "N=1e%d", e);
        char *p = path_in(cfg, name);
        write_open_file(p, n);
        make_hot(p);
        progress("open: N = 1e%d", e);
        double t_tc[OPEN_ITERS], t_raw[OPEN_ITERS];
        for (int r = 0; r < cfg->repeats; r++) {
            for (int i = 0; i < OPEN_ITERS; i++) {
                if (i % 2) {
                    t_tc[i] = tc_open_once(p);
                    t_raw[i] = raw_open_once(p, ft, sizeof ft);
                } else {
                    t_raw[i] = raw_open_once(p, ft, sizeof ft);
                    t_tc[i] = tc_open_once(p);
                }
            }
            emit(cfg, "c.open", kase, "tensorcache", r, median_of(t_tc, OPEN_ITERS) * 1e6, "us");
            emit(cfg, "c.open", kase, "open+pread+mmap", r, median_of(t_raw, OPEN_ITERS) * 1e6,
                 "us");
        }
        unlink(p);
        free(p);
    }
}

/* ---- 3. single-sample view vs raw pointer arithmetic on the same mapping --------------------- */

static __attribute__((noinline)) void view_raw(const uint8_t *base, uint64_t stride,
                                                const uint64_t *idx, size_t m, int touch)
{
    if (touch)
        for (size_t k = 0; k < m; k++)
            g_sink = *(base + idx[k] * stride);
    else
        for (size_t k = 0; k < m; k++)
            g_sink = (uintptr_t)(base + idx[k] * stride);
}

static __attribute__((noinline)) void view_span(const tc_span *sp, const uint64_t *idx, size_t m,
                                                 int touch)
{
    tc_span s = *sp; /* a local copy, as user code holds it: lives in registers */
    if (touch)
        for (size_t k = 0; k < m; k++)
            g_sink = *(const uint8_t *)tc_span_at(&s, idx[k]);
    else
        for (size_t k = 0; k < m; k++)
            g_sink = (uintptr_t)tc_span_at(&s, idx[k]);
}

static __attribute__((noinline)) void view_sample(const tc_cache *c, uint32_t field,
                                                   const uint64_t *idx, size_t m, int touch)
{
    tc_view v;
    if (touch)
        for (size_t k = 0; k < m; k++) {
            tc_sample(c, field, idx[k], &v, NULL);
            g_sink = *(const uint8_t *)v.data;
        }
    else
        for (size_t k = 0; k < m; k++) {
            tc_sample(c, field, idx[k], &v, NULL);
            g_sink = (uintptr_t)v.data;
        }
}

#define SLICES 9

static void bench_view(const bench_cfg *cfg, const char *kase, const char *path)
{
    uint32_t f;
    tc_cache *c = open_cache(path, &f);
    tc_error err;
    tc_span s;
    check_tc(tc_field_span(c, f, &s, &err), &err, "tc_field_span");
    size_t m = cfg->quick ? (1u << 16) : (1u << 18); /* lookups per slice */
    uint64_t *idx = random_indices(m * SLICES, s.count, 1234);
    view_raw(s.base, s.stride, idx, m * SLICES, 1); /* fault the touched pages in first */
    static const char *names[3] = {"raw-pointer", "tc_span_at", "tc_sample"};
    char case_addr[64], case_touch[64];
    snprintf(case_addr, sizeof case_addr, "%s/address", kase);
    snprintf(case_touch, sizeof case_touch, "%s/address+read", kase);
    for (int r = 0; r < cfg->repeats; r++) {
        for (int touch = 0; touch < 2; touch++) {
            double t[3][SLICES];
            for (int sl = 0; sl < SLICES; sl++) {
                const uint64_t *ix = idx + (size_t)sl * m;
                for (int j = 0; j < 3; j++) {
                    int v = (j + r + sl) % 3; /* rotate the order */
                    double t0 = now_s();
                    if (v == 0)
                        view_raw(s.base, s.stride, ix, m, touch);
                    else if (v == 1)
                        view_span(&s, ix, m, touch);
                    else
                        view_sample(c, f, ix, m, touch);
                    t[v][sl] = (now_s() - t0) / (double)m * 1e9;
                }
            }
            for (int v = 0; v < 3; v++)
                emit(cfg, "c.view", touch ? case_touch : case_addr, names[v], r,
                     median_of(t[v], SLICES), "ns");
        }
    }
    free(idx);
    tc_close(c);
}

/* ---- 4. random batch gather vs memcpy of the same bytes from the same indices ---------------- */

static __attribute__((noinline)) void gather_memcpy(const uint8_t *base, uint64_t stride,
                                                     uint64_t sb, const uint64_t *idx, size_t n,
                                                     uint8_t *dst)
{
    for (size_t k = 0; k < n; k++)
        memcpy(dst + k * sb, base + idx[k] * stride, sb);
}

/* madvise(MADV_WILLNEED) over every sample of a batch, by hand: the advice tc_prefetch gives,
 * without the library. `base` is the first sample inside a page-aligned mapping. */
static __attribute__((noinline)) void willneed_batch(const uint8_t *base, uint64_t stride,
                                                      uint64_t sb, const uint64_t *idx, size_t n)
{
    uintptr_t mask = (uintptr_t)sysconf(_SC_PAGESIZE) - 1; /* madvise wants page-aligned starts */
    for (size_t k = 0; k < n; k++) {
        uintptr_t p = (uintptr_t)(base + idx[k] * stride), a = p & ~mask;
        madvise((void *)a, p + sb - a, MADV_WILLNEED);
    }
}

/* One batch the way a loader that prefetches uses the library: tc_prefetch over the whole batch,
 * then tc_gather of the same indices. *prefetch_s accumulates the time spent in tc_prefetch. */
static void prefetch_then_gather(const tc_cache *c, uint32_t f, const uint64_t *ix, size_t batch,
                                 uint8_t *dst, size_t cap, double *prefetch_s)
{
    tc_error err;
    double t0 = now_s();
    check_tc(tc_prefetch(c, f, ix, batch, &err), &err, "tc_prefetch");
    *prefetch_s += now_s() - t0;
    check_tc(tc_gather(c, f, ix, batch, dst, cap, &err), &err, "tc_gather");
}

/* Hot random batches. Everything a hot gather unit needs; `idx` holds nbatches batches. */
typedef struct {
    const tc_cache *c;
    uint32_t f;
    tc_span s;
    uint64_t sb; /* sample bytes */
    const uint64_t *idx;
    size_t batch, per_unit, nunits;
    uint8_t *dst;
    size_t cap; /* batch * sb */
} gather_ctx;

enum { G_MEMCPY, G_TC_GATHER, G_PREFETCH_GATHER, G_WILLNEED_MEMCPY, G_NIMPL };
static const char *const g_names[G_NIMPL] = {"memcpy", "tc_gather", "tc_prefetch + tc_gather",
                                             "MADV_WILLNEED per sample + memcpy"};

/* Runs timed unit u (per_unit batches) with one implementation. @return GB/s; *pf_s receives the
 * time spent inside tc_prefetch. */
static double gather_unit(const gather_ctx *g, size_t u, int impl, double *pf_s)
{
    tc_error err;
    *pf_s = 0.0;
    double t0 = now_s();
    for (size_t b = u * g->per_unit; b < (u + 1) * g->per_unit; b++) {
        const uint64_t *ix = g->idx + b * g->batch;
        if (impl == G_TC_GATHER)
            check_tc(tc_gather(g->c, g->f, ix, g->batch, g->dst, g->cap, &err), &err, "tc_gather");
        else if (impl == G_PREFETCH_GATHER)
            prefetch_then_gather(g->c, g->f, ix, g->batch, g->dst, g->cap, pf_s);
        else {
            if (impl == G_WILLNEED_MEMCPY)
                willneed_batch(g->s.base, g->s.stride, g->sb, ix, g->batch);
            gather_memcpy(g->s.base, g->s.stride, g->sb, ix, g->batch, g->dst);
        }
    }
    double t = now_s() - t0;
    g_sink = g->dst[g->cap - 1];
    return (double)(g->per_unit * g->batch * g->sb) / t / 1e9;
}

/* One repeat of two implementations over every unit, strictly alternating which goes first (with
 * two, each follows either equally often; a cyclic rotation of three or more would always put
 * the same one after the syscall-heavy madvise runs). Emits the median unit of each, and, if
 * asked, of the time spent in tc_prefetch per batch. */
static void gather_pair(const bench_cfg *cfg, const gather_ctx *g, const char *bench,
                        const char *kase, int a, int b, int r, int emit_prefetch_time)
{
    double *gb[2] = {xmalloc(g->nunits * sizeof(double)), xmalloc(g->nunits * sizeof(double))};
    double *pf_us = xmalloc(g->nunits * sizeof(double));
    int impl[2] = {a, b}, has_pf = 0;
    for (size_t u = 0; u < g->nunits; u++)
        for (int k = 0; k < 2; k++) {
            int j = (k + r + (int)u) % 2;
            double pf;
            gb[j][u] = gather_unit(g, u, impl[j], &pf);
            if (impl[j] == G_PREFETCH_GATHER)
                pf_us[u] = pf / (double)g->per_unit * 1e6, has_pf = 1;
        }
    for (int j = 0; j < 2; j++)
        emit(cfg, bench, kase, g_names[impl[j]], r, median_of(gb[j], (int)g->nunits), "GB/s");
    if (has_pf && emit_prefetch_time)
        emit(cfg, "c.prefetch", kase, "tc_prefetch", r, median_of(pf_us, (int)g->nunits), "us");
    free(gb[0]), free(gb[1]), free(pf_us);
}

/* tc_gather against memcpy from the same mapping (the target). Then, in their own alternating
 * pairs: tc_prefetch + tc_gather against tc_gather (on resident pages the prefetch can only cost:
 * one madvise per sample; this shows how much), and against the same advice given by hand before
 * the memcpy loop (the kernel's share of that cost, against the library's). */
static void bench_gather(const bench_cfg *cfg, const char *kase, const char *path, size_t batch,
                         size_t nbatches)
{
    gather_ctx g = {.batch = batch};
    tc_cache *c = open_cache(path, &g.f);
    g.c = c;
    tc_error err;
    tc_field_info fi;
    check_tc(tc_field_span(c, g.f, &g.s, &err), &err, "tc_field_span");
    tc_describe_field(c, g.f, &fi, NULL);
    g.sb = fi.sample_bytes;
    uint64_t *idx = random_indices(batch * nbatches, g.s.count, 99);
    g.idx = idx;
    g.cap = batch * g.sb;
    g.dst = xmalloc(g.cap);
    memset(g.dst, 1, g.cap); /* fault the destination in: page faults would be measured otherwise */
    for (size_t b = 0; b < nbatches; b++) /* the source pages, into this mapping */
        gather_memcpy(g.s.base, g.s.stride, g.sb, idx + b * batch, batch, g.dst);
    /* Timed units of at least 4 MB (a few batches of small samples). */
    g.per_unit = (size_t)((4u << 20) / (batch * g.sb)) + 1;
    g.nunits = nbatches / g.per_unit ? nbatches / g.per_unit : 1;
    if (g.per_unit > nbatches)
        g.per_unit = nbatches;
    char k2[64];
    snprintf(k2, sizeof k2, "%s/by-hand", kase);
    for (int r = 0; r < cfg->repeats; r++) {
        gather_pair(cfg, &g, "c.gather", kase, G_TC_GATHER, G_MEMCPY, r, 0);
        gather_pair(cfg, &g, "c.gather_prefetch", kase, G_PREFETCH_GATHER, G_TC_GATHER, r, 1);
        gather_pair(cfg, &g, "c.gather_prefetch", k2, G_PREFETCH_GATHER, G_WILLNEED_MEMCPY, r, 0);
    }
    free(g.dst);
    free(idx);
    tc_close(c);
}

/* Cold random batches: tc_gather against the same memcpy loop on a fresh raw mapping (both
 * fault-driven); tc_prefetch over each batch then tc_gather (a loader using the library's
 * prefetch) against plain tc_gather; and two references: pread(2) of every sample (what a
 * read-based store such as HDF5 does) and madvise(MADV_WILLNEED) over every sample of the batch
 * before the memcpy loop, which queues all the batch's reads at once (what tc_prefetch does
 * inside). The batches cover under 10% of the set so that almost every access is a first one.
 * impl: 0 tc_gather, 1 memcpy, 2 pread, 3 MADV_WILLNEED + memcpy, 4 tc_prefetch + tc_gather;
 * for 4, *prefetch_s receives the time spent inside tc_prefetch. */
static double gather_cold_once(const bench_cfg *cfg, const char *path, const tc_field_info *fi,
                               const uint64_t *idx, size_t batch, size_t nbatches, uint8_t *dst,
                               int impl, double *prefetch_s)
{
    if (!make_cold(cfg, path))
        die("could not evict '%s' from the page cache", path);
    uint64_t sb = fi->sample_bytes;
    double t0 = now_s();
    if (impl == 0 || impl == 4) {
        uint32_t f;
        tc_cache *c = open_cache(path, &f);
        tc_error err;
        for (size_t b = 0; b < nbatches; b++) {
            const uint64_t *ix = idx + b * batch;
            if (impl == 4)
                prefetch_then_gather(c, f, ix, batch, dst, batch * sb, prefetch_s);
            else
                check_tc(tc_gather(c, f, ix, batch, dst, batch * sb, &err), &err, "tc_gather");
        }
        tc_close(c);
        return now_s() - t0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("cannot open '%s'", path);
    uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        die("cannot map '%s'", path);
    for (size_t b = 0; b < nbatches; b++) {
        const uint64_t *ix = idx + b * batch;
        if (impl == 2) {
            for (size_t k = 0; k < batch; k++)
                if (pread(fd, dst + k * sb, sb, (off_t)(fi->data_offset + ix[k] * fi->stride)) !=
                    (ssize_t)sb)
                    die("pread failed");
            continue;
        }
        if (impl == 3)
            willneed_batch(m + fi->data_offset, fi->stride, sb, ix, batch);
        gather_memcpy(m + fi->data_offset, fi->stride, sb, ix, batch, dst);
    }
    munmap(m, (size_t)st.st_size);
    close(fd);
    return now_s() - t0;
}

static void bench_gather_cold(const bench_cfg *cfg, const char *kase, const char *path,
                              size_t batch)
{
    if (!cfg->cold_method)
        return;
    uint32_t f;
    tc_cache *c = open_cache(path, &f);
    tc_field_info fi;
    tc_describe_field(c, f, &fi, NULL);
    uint64_t n = tc_num_samples(c);
    tc_close(c);
    size_t nbatches = (size_t)(n / 10 / batch);
    if (nbatches < 1)
        nbatches = 1;
    enum { NIMPL = 5 };
    uint64_t *idx = random_indices(batch * nbatches * (size_t)cfg->repeats * NIMPL, n, 5);
    uint8_t *dst = xmalloc(batch * fi.sample_bytes);
    memset(dst, 1, batch * fi.sample_bytes);
    static const char *names[NIMPL] = {"tc_gather", "memcpy", "pread(2) per sample",
                                       "MADV_WILLNEED per sample + memcpy",
                                       "tc_prefetch + tc_gather"};
    double bytes = (double)(batch * nbatches * fi.sample_bytes);
    size_t used = 0;
    for (int r = 0; r < cfg->repeats; r++)
        for (int k = 0; k < NIMPL; k++) {
            int impl = (k + r) % NIMPL;
            double pf = 0.0;
            double t =
                gather_cold_once(cfg, path, &fi, idx + used, batch, nbatches, dst, impl, &pf);
            used += batch * nbatches; /* fresh indices for every run */
            emit(cfg, "c.gather_cold", kase, names[impl], r, bytes / t / 1e9, "GB/s");
            if (impl == 4) /* how long issuing the reads took: it should not wait for them */
                emit(cfg, "c.prefetch", kase, "tc_prefetch", r, pf / (double)nbatches * 1e6,
                     "us");
        }
    free(idx), free(dst);
    make_hot(path);
}

/* ---- 5. sequential scan vs a raw mmap scan of the same file ---------------------------------- */

static double scan_tc(const char *path, int sequential, uint64_t *bytes)
{
    double t0 = now_s();
    uint32_t f;
    tc_cache *c = open_cache(path, &f);
    tc_error err;
    tc_span s;
    tc_field_info fi;
    check_tc(tc_field_span(c, f, &s, &err), &err, "tc_field_span");
    tc_describe_field(c, f, &fi, NULL);
    if (sequential)
        tc_advise(c, f, TC_ADVICE_SEQUENTIAL, NULL);
    uint64_t acc = 0;
    for (uint64_t i = 0; i < s.count; i++)
        acc += sum_words(tc_span_at(&s, i), fi.sample_bytes);
    g_sink = acc;
    *bytes = s.count * fi.sample_bytes;
    tc_close(c);
    return now_s() - t0;
}

static double scan_raw(const char *path, uint64_t off, uint64_t size, int sequential)
{
    double t0 = now_s();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("cannot open '%s'", path);
    uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        die("cannot map '%s'", path);
    if (sequential)
        madvise(m + off / 4096 * 4096, size + off % 4096, MADV_SEQUENTIAL);
    g_sink = sum_words(m + off, size);
    munmap(m, (size_t)st.st_size);
    return now_s() - t0;
}

/* Reads the whole file with read(2) in 8 MiB chunks, summing it: the disk's limit for a cold scan. */
static double scan_read(const char *path, uint64_t *bytes)
{
    double t0 = now_s();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("cannot open '%s'", path);
    size_t cap = 8u << 20;
    uint8_t *buf = xmalloc(cap);
    uint64_t acc = 0, total = 0;
    ssize_t r;
    while ((r = read(fd, buf, cap)) > 0) {
        acc += sum_words(buf, (size_t)r);
        total += (uint64_t)r;
    }
    close(fd);
    free(buf);
    g_sink = acc;
    *bytes = total;
    return now_s() - t0;
}

/* Hot: the library against a plain mapping of the same file. Cold: both with the kernel's default
 * readahead (no advice), beside read(2) of the whole file (the disk's limit) and, for reference,
 * both with MADV_SEQUENTIAL. On some kernels MADV_SEQUENTIAL on a fresh mapping of a file that
 * was never read(2) gets far less readahead; tc_open's pread of the header avoids that, which is
 * why the two advised runs can differ. */
static void bench_scan(const bench_cfg *cfg, const char *kase, const char *path)
{
    uint32_t f;
    tc_cache *c = open_cache(path, &f);
    tc_field_info fi;
    tc_describe_field(c, f, &fi, NULL);
    tc_close(c);
    static const char *names[5] = {"tensorcache", "raw-mmap", "read(2) 8 MiB",
                                   "raw-mmap+MADV_SEQUENTIAL", "tensorcache+TC_ADVICE_SEQUENTIAL"};
    for (int cold = 0; cold < 2; cold++) {
        if (cold && !cfg->cold_method)
            break;
        int reps = cfg->repeats;
        int nimpl = cold ? 5 : 2;
        char k2[64];
        snprintf(k2, sizeof k2, "%s/%s", kase, cold ? "cold" : "hot");
        if (!cold)
            make_hot(path);
        for (int r = 0; r < reps; r++) {
            for (int k = 0; k < nimpl; k++) {
                int impl = (k + r) % nimpl;
                if (cold && !make_cold(cfg, path))
                    die("could not evict '%s' from the page cache", path);
                uint64_t bytes = fi.data_size;
                double t;
                if (impl == 0 || impl == 4)
                    t = scan_tc(path, impl == 4, &bytes);
                else if (impl == 2)
                    t = scan_read(path, &bytes);
                else
                    t = scan_raw(path, fi.data_offset, fi.data_size, impl == 3);
                emit(cfg, "c.scan", k2, names[impl], r, (double)bytes / t / 1e9, "GB/s");
            }
        }
    }
    make_hot(path);
}

/* ---- 6. LZ4 decode; verify vs raw XXH3 -------------------------------------------------------- */

/* Decodes every block straight from a raw mapping with LZ4_decompress_safe: the codec's limit. */
static double lz4_raw_pass(const uint8_t *map, const tc_field_info *fi, uint64_t n, uint8_t *dst)
{
    uint64_t nblocks = (n + fi->block_samples - 1) / fi->block_samples;
    double t0 = now_s();
    for (uint64_t b = 0; b < nblocks; b++) {
        const uint8_t *e = map + fi->index_offset + b * 24;
        uint64_t first = b * fi->block_samples;
        uint64_t cnt = n - first < fi->block_samples ? n - first : fi->block_samples;
        int raw = (int)(cnt * fi->sample_bytes);
        int got = LZ4_decompress_safe((const char *)map + fi->data_offset + le64(e),
                                      (char *)dst, (int)le64(e + 8), raw);
        if (got != raw)
            die("LZ4 block %llu does not decode", (unsigned long long)b);
        g_sink = dst[0];
    }
    return now_s() - t0;
}

static void bench_lz4(const bench_cfg *cfg, const char *kase, const char *path)
{
    uint32_t f;
    tc_cache *c = open_cache(path, &f);
    tc_field_info fi;
    tc_describe_field(c, f, &fi, NULL);
    uint64_t n = tc_num_samples(c);
    if (fi.codec != TC_CODEC_LZ4)
        die("'%s': field image is not LZ4", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    const uint8_t *map = mmap(NULL, tc_file_size(c), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        die("cannot map '%s'", path);
    uint64_t bs = fi.block_samples;
    uint64_t *idx = xmalloc(n * sizeof *idx);
    for (uint64_t i = 0; i < n; i++)
        idx[i] = i;
    size_t cap = bs * fi.sample_bytes;
    uint8_t *dst = xmalloc(cap), *dst2 = xmalloc(cap);
    memset(dst, 0, cap), memset(dst2, 0, cap);
    info(cfg, "lz4_ratio", "%.4f", (double)fi.data_size / (double)(n * fi.sample_bytes));
    info(cfg, "lz4_block_samples", "%llu", (unsigned long long)bs);
    lz4_raw_pass(map, &fi, n, dst2); /* fault the mapping in */
    double bytes = (double)(n * fi.sample_bytes);
    const int passes = cfg->quick ? 3 : 7;
    double gb[2][7];
    tc_error err;
    for (int r = 0; r < cfg->repeats; r++) {
        for (int p = 0; p < passes; p++) { /* pass by pass, alternating */
            for (int k = 0; k < 2; k++) {
                int lib = (k + r + p) % 2 == 0;
                double t;
                if (lib) {
                    double t0 = now_s();
                    for (uint64_t i = 0; i < n; i += bs) {
                        size_t m = n - i < bs ? (size_t)(n - i) : (size_t)bs;
                        check_tc(tc_gather(c, f, idx + i, m, dst, cap, &err), &err, "tc_gather");
                    }
                    t = now_s() - t0;
                } else {
                    t = lz4_raw_pass(map, &fi, n, dst2);
                }
                gb[lib][p] = bytes / t / 1e9;
            }
        }
        emit(cfg, "c.lz4", kase, "tc_gather", r, median_of(gb[1], passes), "GB/s");
        emit(cfg, "c.lz4", kase, "LZ4_decompress_safe", r, median_of(gb[0], passes), "GB/s");
    }
    munmap((void *)map, tc_file_size(c));
    free(idx), free(dst), free(dst2);
    tc_close(c);
}

static void bench_verify(const bench_cfg *cfg, const char *kase, const char *path)
{
    make_hot(path);
    for (int r = 0; r < cfg->repeats; r++) {
        for (int k = 0; k < 2; k++) {
            int lib = (k + r) % 2 == 0;
            double t, bytes;
            if (lib) {
                tc_cache *c = open_cache(path, NULL);
                tc_error err;
                double t0 = now_s();
                check_tc(tc_verify(c, &err), &err, "tc_verify");
                t = now_s() - t0;
                bytes = (double)tc_file_size(c);
                tc_close(c);
            } else {
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                struct stat st;
                fstat(fd, &st);
                const uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
                close(fd);
                if (m == MAP_FAILED)
                    die("cannot map '%s'", path);
                double t0 = now_s();
                g_sink = XXH3_64bits(m, (size_t)st.st_size);
                t = now_s() - t0;
                bytes = (double)st.st_size;
                munmap((void *)m, (size_t)st.st_size);
            }
            emit(cfg, "c.verify", kase, lib ? "tc_verify" : "XXH3_64bits", r, bytes / t / 1e9,
                 "GB/s");
        }
    }
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
    fputs("usage: bench_c --dir DIR --out FILE [--size-gb X] [--repeats R] [--quick] "
          "[--fmnist DIR] [--only LIST]\n",
          stderr);
    exit(2);
}

static int wanted(const char *only, const char *name)
{
    if (!only)
        return 1;
    size_t n = strlen(name);
    for (const char *p = only; (p = strstr(p, name)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    bench_cfg cfg = {.dir = NULL, .fmnist = "/usr/share/datasets/fashion-mnist", .size_gb = 2.0,
                     .repeats = 5};
    const char *out = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            cfg.quick = 1;
            continue;
        }
        if (!v)
            usage();
        if (strcmp(a, "--dir") == 0)
            cfg.dir = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--size-gb") == 0)
            cfg.size_gb = atof(v);
        else if (strcmp(a, "--repeats") == 0)
            cfg.repeats = atoi(v);
        else if (strcmp(a, "--fmnist") == 0)
            cfg.fmnist = v;
        else if (strcmp(a, "--only") == 0)
            only = v;
        else
            usage();
        i++;
    }
    if (!cfg.dir || !out || cfg.repeats < 1 || cfg.size_gb <= 0)
        usage();
    cfg.out = fopen(out, "a");
    if (!cfg.out)
        die("cannot open '%s': %s", out, strerror(errno));

    cfg.cold_method = probe_cold_method(&cfg);
    info(&cfg, "cold_method", "%s", cfg.cold_method ? cfg.cold_method : "unavailable");
    info(&cfg, "tc_version", "%s", tc_version_string());

    char *big = path_in(&cfg, "synth-c.tc");
    synth_set s = make_synth(cfg.size_gb);
    info(&cfg, "c_synth_samples", "%llu", (unsigned long long)s.n);
    info(&cfg, "c_synth_bytes", "%llu", (unsigned long long)(s.n * IMG_BYTES));
    progress("synthetic set: %llu images of 224x224x3 (%.2f GB)", (unsigned long long)s.n,
             (double)(s.n * IMG_BYTES) / 1e9);
    if (wanted(only, "pack")) {
        progress("pack vs write+fsync");
        bench_pack(&cfg, &s, big);
    } else {
        pack_images(big, s.images, s.labels, s.n, IMG_H, IMG_W, IMG_C, TC_CODEC_NONE, 64);
    }
    free(s.images), free(s.labels);
    make_hot(big);

    fmnist_set fm;
    char *fm_path = path_in(&cfg, "fmnist-c.tc"), *fm_lz4 = path_in(&cfg, "fmnist-c-lz4.tc");
    int have_fm = load_fmnist(&cfg, &fm);
    if (have_fm) {
        pack_images(fm_path, fm.images, fm.labels, fm.n, 28, 28, 1, TC_CODEC_NONE, 4096);
        pack_images(fm_lz4, fm.images, fm.labels, fm.n, 28, 28, 1, TC_CODEC_LZ4, 4096);
        free(fm.images), free(fm.labels);
        make_hot(fm_path), make_hot(fm_lz4);
    } else {
        info(&cfg, "fmnist", "not found in %s: Fashion-MNIST rows skipped", cfg.fmnist);
    }

    if (wanted(only, "open"))
        bench_open(&cfg);
    if (wanted(only, "view")) {
        progress("single-sample view");
        bench_view(&cfg, "image224", big);
        if (have_fm)
            bench_view(&cfg, "fmnist", fm_path);
    }
    if (wanted(only, "gather")) {
        progress("random batch gather");
        bench_gather(&cfg, "image224/b256", big, 256, cfg.quick ? 4 : 16);
        if (have_fm)
            bench_gather(&cfg, "fmnist/b256", fm_path, 256, cfg.quick ? 256 : 1024);
        if (cfg.cold_method) {
            progress("random batch gather, cold");
            bench_gather_cold(&cfg, "image224/b256/cold", big, 256);
            if (have_fm)
                bench_gather_cold(&cfg, "fmnist/b256/cold", fm_path, 256);
        }
    }
    if (wanted(only, "scan")) {
        progress("sequential scan (hot%s)", cfg.cold_method ? " and cold" : "");
        bench_scan(&cfg, "image224", big);
    }
    if (wanted(only, "lz4") && have_fm) {
        progress("LZ4 decode");
        bench_lz4(&cfg, "fmnist", fm_lz4);
    }
    if (wanted(only, "verify")) {
        progress("verify vs XXH3");
        bench_verify(&cfg, "image224", big);
    }
    if (!getenv("BENCH_KEEP"))
        unlink(fm_path), unlink(fm_lz4);
    free(fm_path), free(fm_lz4);
    if (!getenv("BENCH_KEEP"))
        unlink(big);
    free(big);
    fclose(cfg.out);
    return 0;
}
