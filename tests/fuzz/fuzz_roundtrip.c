/*
 * fuzz_roundtrip.c - libFuzzer target: the input is a recipe for a cache.
 *
 * The input bytes choose the fields (dtype, rank, shape, fixed/variable, LZ4 with small blocks,
 * per-sample alignment, layout tag, UTF-8 names up to 64 bytes), N, the metadata, whether
 * samples go in one by one or in batches, and the sample bytes themselves (once the input is
 * used up, a PRNG seeded by it continues). The recipe is written with the writer API into a
 * private temporary directory and read back through every read path on both backends; every
 * sample must come back byte for byte, the description must match the declaration, padding must
 * be zero and tc_verify must pass. Sometimes the recipe also injects one invalid value: then the
 * append must fail with SAMPLE_MISMATCH, the writer must stay poisoned (STATE), finish must fail
 * and neither the target nor any temporary may exist afterwards.
 */
#include "tcfuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RT_MAX_FIELDS 18 /* > 16: tc_writer_append switches to a heap array */
#define RT_MAX_N 32
#define RT_HUGE_DIM (1ull << 40)

static void rt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void rt_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_roundtrip: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

#define RT_EXPECT(want, expr, errp)                                                                \
    do {                                                                                           \
        int rt_rc_ = (expr);                                                                       \
        if (rt_rc_ != (want))                                                                      \
            rt_fail("%s:%d: %s returned %s (%s), expected %s", __FILE__, __LINE__, #expr,          \
                    tc_error_name(rt_rc_), (errp) ? (errp)->message : "", tc_error_name(want));   \
    } while (0)

/* ---- input consumption ---- */

typedef struct {
    const uint8_t *p;
    size_t n, i;
    uint64_t rng;
} rt_src;

static uint8_t take(rt_src *s)
{
    if (s->i < s->n)
        return s->p[s->i++];
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(s->rng >> 56);
}

static unsigned pick(rt_src *s, unsigned mod) { return take(s) % mod; }

/* ---- the recipe ---- */

typedef struct {
    tc_field_spec spec;
    char name[TC_MAX_NAME + 1];
    char layout[TC_MAX_LAYOUT + 1];
    bool variable;
    size_t itemsize;
    uint64_t sb;     /* fixed: sample bytes */
    uint8_t *fixed;  /* fixed: N samples back to back */
    uint8_t *var[RT_MAX_N];
    uint64_t var_nb[RT_MAX_N];
    uint64_t var_shape[RT_MAX_N][TC_MAX_RANK];
} rt_field;

typedef struct {
    uint32_t nf;
    uint64_t n;
    rt_field f[RT_MAX_FIELDS];
    char meta[96];
    size_t meta_size;
    unsigned batch;     /* samples per append call; 1 = tc_writer_append */
    int64_t inject_at;  /* sample whose value is invalid, or -1 */
    uint32_t inject_field;
    unsigned inject_kind; /* 0 nbytes + 1, 1 NULL data, 2 bool value 2 */
} rt_plan;

static const char *const name_suffix[] = {
    "", "_image", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", /* name of 64 bytes */
};

static bool seq_product(const uint64_t *shape, uint32_t rank, uint64_t itemsize, uint64_t *out)
{
    uint64_t p = itemsize;
    for (uint32_t d = 0; d < rank; d++)
        if (__builtin_mul_overflow(p, shape[d], &p))
            return false;
    *out = p;
    return true;
}

/* Fixed dims are 0..4; a "huge" dim (2^40) only next to a zero dim, so samples stay empty. */
static void plan_fixed_shape(rt_src *s, rt_field *f)
{
    bool zero = false, huge = false;
    for (uint32_t d = 0; d < f->spec.rank; d++) {
        unsigned r = pick(s, 16);
        f->spec.shape[d] = r == 15 ? RT_HUGE_DIM : r % 5;
        zero |= f->spec.shape[d] == 0;
        huge |= f->spec.shape[d] == RT_HUGE_DIM;
    }
    uint64_t sb;
    if (huge && (!zero || !seq_product(f->spec.shape, f->spec.rank, f->itemsize, &sb)))
        for (uint32_t d = 0; d < f->spec.rank; d++)
            if (f->spec.shape[d] == RT_HUGE_DIM)
                f->spec.shape[d] = 1;
    if (!seq_product(f->spec.shape, f->spec.rank, f->itemsize, &f->sb))
        rt_fail("internal: fixed shape overflows");
}

static void plan_field(rt_src *s, rt_plan *p, uint32_t k)
{
    rt_field *f = &p->f[k];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "f%u%s", k,
             name_suffix[pick(s, sizeof name_suffix / sizeof name_suffix[0])]);
    f->spec.name = f->name;
    f->spec.dtype = 1 + (int)pick(s, 13);
    f->itemsize = tc_dtype_size(f->spec.dtype);
    f->spec.rank = pick(s, 4);
    f->variable = f->spec.rank > 0 && pick(s, 3) == 0;
    if (f->variable) {
        bool any = false;
        for (uint32_t d = 0; d < f->spec.rank; d++) {
            unsigned r = pick(s, 8);
            f->spec.shape[d] = r < 4 ? TC_DIM_VARIABLE : r - 4;
            any |= r < 4;
        }
        if (!any)
            f->spec.shape[pick(s, f->spec.rank)] = TC_DIM_VARIABLE;
    } else {
        plan_fixed_shape(s, f);
        unsigned c = pick(s, 3);
        if (c == 0) {
            f->spec.codec = TC_CODEC_LZ4;
            unsigned b = pick(s, 4);
            f->spec.block_bytes = b == 0 ? 0 : 1 + 3ull * take(s);
        } else {
            static const uint64_t aligns[] = {0, 1, 2, 16, 64, 4096};
            f->spec.align = aligns[pick(s, 6)];
        }
    }
    if (pick(s, 2)) {
        for (uint32_t d = 0; d <= f->spec.rank; d++)
            f->layout[d] = (char)('A' + pick(s, 26));
        f->spec.layout = f->layout;
    }
}

/* Fills a sample's bytes; bool samples get 0/1 only. */
static void fill_bytes(rt_src *s, uint8_t *dst, uint64_t n, int dtype)
{
    for (uint64_t i = 0; i < n; i++)
        dst[i] = dtype == TC_DTYPE_BOOL ? take(s) & 1 : take(s);
}

static void plan_samples(rt_src *s, rt_plan *p)
{
    for (uint32_t k = 0; k < p->nf; k++) {
        rt_field *f = &p->f[k];
        if (!f->variable) {
            f->fixed = malloc(p->n * f->sb + 1);
            if (!f->fixed)
                rt_fail("out of memory");
            fill_bytes(s, f->fixed, p->n * f->sb, f->spec.dtype);
            continue;
        }
        for (uint64_t i = 0; i < p->n; i++) {
            for (uint32_t d = 0; d < f->spec.rank; d++)
                f->var_shape[i][d] =
                    f->spec.shape[d] == TC_DIM_VARIABLE ? pick(s, 5) : f->spec.shape[d];
            if (!seq_product(f->var_shape[i], f->spec.rank, f->itemsize, &f->var_nb[i]))
                rt_fail("internal: variable shape overflows");
            f->var[i] = malloc(f->var_nb[i] + 1);
            if (!f->var[i])
                rt_fail("out of memory");
            fill_bytes(s, f->var[i], f->var_nb[i], f->spec.dtype);
        }
    }
}

static void plan(rt_src *s, rt_plan *p)
{
    memset(p, 0, sizeof *p);
    p->nf = 1 + pick(s, 4);
    if (pick(s, 32) == 0)
        p->nf = RT_MAX_FIELDS - pick(s, 3);
    p->n = pick(s, RT_MAX_N + 1);
    p->batch = 1 + pick(s, 4);
    if (pick(s, 3) == 0) {
        p->meta_size = pick(s, 48);
        for (size_t i = 0; i < p->meta_size; i++)
            p->meta[i] = (char)(0x20 + pick(s, 95));
        if (pick(s, 2)) { /* a multi-byte character too */
            memcpy(p->meta + p->meta_size, "\xe2\x82\xac", 3);
            p->meta_size += 3;
        }
    }
    for (uint32_t k = 0; k < p->nf; k++)
        plan_field(s, p, k);
    p->inject_at = -1;
    if (p->n && pick(s, 8) == 0) {
        p->inject_at = pick(s, (unsigned)p->n);
        p->inject_field = pick(s, p->nf);
        p->inject_kind = pick(s, 3);
    }
    plan_samples(s, p);
}

static void free_plan(rt_plan *p)
{
    for (uint32_t k = 0; k < p->nf; k++) {
        free(p->f[k].fixed);
        for (uint64_t i = 0; i < RT_MAX_N; i++)
            free(p->f[k].var[i]);
    }
}

/* ---- the private directory ---- */

static char rt_dir[PATH_MAX], rt_path[PATH_MAX];

static void remove_dir_entries(void)
{
    DIR *d = opendir(rt_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

static void cleanup_dir(void)
{
    remove_dir_entries();
    rmdir(rt_dir);
}

/* A run that crashed (the point of fuzzing) cannot clean up: remove the directories of
 * earlier runs whose process is gone. */
static void remove_stale_dirs(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        if (strncmp(de->d_name, "tcfuzz-rt.", 10) != 0)
            continue;
        long pid = strtol(de->d_name + 10, &end, 10);
        if (pid <= 0 || *end || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(rt_dir, sizeof rt_dir, "%s/%s", base, de->d_name);
        cleanup_dir();
    }
    closedir(d);
    rt_dir[0] = '\0';
}

static void setup_dir(void)
{
    if (rt_dir[0])
        return;
    const char *base = getenv("TC_FUZZ_TMP");
    struct stat st;
    if (!base || !*base)
        base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
    remove_stale_dirs(base);
    snprintf(rt_dir, sizeof rt_dir, "%s/tcfuzz-rt.%ld", base, (long)getpid());
    if (mkdir(rt_dir, 0700) != 0 && errno != EEXIST)
        rt_fail("cannot create %s: %s", rt_dir, strerror(errno));
    snprintf(rt_path, sizeof rt_path, "%s/rt.tc", rt_dir);
    atexit(cleanup_dir);
}

/* The directory must hold exactly `want` entries (0, or 1 = the target). */
static void expect_dir_entries(int want, const char *when)
{
    DIR *d = opendir(rt_dir);
    if (!d)
        rt_fail("cannot list %s", rt_dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (want == 1 && strcmp(de->d_name, "rt.tc") == 0) {
            n++;
            continue;
        }
        closedir(d);
        rt_fail("%s: unexpected file '%s' in the output directory", when, de->d_name);
    }
    closedir(d);
    if (n != want)
        rt_fail("%s: the target %s", when, want ? "is missing" : "exists");
}

/* ---- writing ---- */

/* The invalid value the recipe asked for; `scratch` holds a copy of a bool sample. */
static void inject(const rt_plan *p, tc_value *v, uint8_t **scratch)
{
    const rt_field *f = &p->f[p->inject_field];
    unsigned kind = p->inject_kind;
    if (kind == 2 && (f->spec.dtype != TC_DTYPE_BOOL || v->nbytes == 0))
        kind = 0;
    if (kind == 1 && v->nbytes == 0)
        kind = 0;
    if (kind == 0) {
        v->nbytes++;
    } else if (kind == 1) {
        v->data = NULL;
    } else {
        *scratch = malloc(v->nbytes);
        if (!*scratch)
            rt_fail("out of memory");
        memcpy(*scratch, v->data, v->nbytes);
        (*scratch)[v->nbytes - 1] = 2;
        v->data = *scratch;
    }
}

/* Appends samples [i, i+b). Returns the library's code. */
static int append_samples(tc_writer *w, const rt_plan *p, uint64_t i, uint64_t b, tc_error *e)
{
    tc_value vals[RT_MAX_FIELDS];
    tc_value per[RT_MAX_FIELDS][4];
    uint8_t *scratch = NULL;
    bool inj = p->inject_at >= 0 && (uint64_t)p->inject_at >= i && (uint64_t)p->inject_at < i + b;
    for (uint32_t k = 0; k < p->nf; k++) {
        const rt_field *f = &p->f[k];
        if (!f->variable) {
            vals[k] = (tc_value){.data = f->fixed + i * f->sb, .nbytes = b * f->sb};
        } else {
            for (uint64_t j = 0; j < b; j++)
                per[k][j] = (tc_value){.data = f->var[i + j], .nbytes = f->var_nb[i + j],
                                       .shape = f->var_shape[i + j]};
            vals[k] = b == 1 && p->batch == 1 ? per[k][0] : (tc_value){.data = per[k]};
        }
        if (inj && k == p->inject_field) {
            tc_value *target = f->variable ? &per[k][(uint64_t)p->inject_at - i] : &vals[k];
            inject(p, target, &scratch);
            if (f->variable && b == 1 && p->batch == 1)
                vals[k] = per[k][0];
        }
    }
    int rc = p->batch == 1 ? tc_writer_append(w, vals, e) : tc_writer_append_batch(w, b, vals, e);
    free(scratch);
    return rc;
}

/* Writes the recipe. Returns true when a file was published. */
static bool write_plan(const rt_plan *p)
{
    tc_writer *w = NULL;
    tc_error e = {0};
    RT_EXPECT(TC_OK, tc_writer_create(&w, rt_path, &e), &e);
    for (uint32_t k = 0; k < p->nf; k++)
        RT_EXPECT(TC_OK, tc_writer_add_field(w, &p->f[k].spec, &e), &e);
    if (p->meta_size)
        RT_EXPECT(TC_OK, tc_writer_set_metadata(w, p->meta, p->meta_size, &e), &e);
    for (uint64_t i = 0; i < p->n;) {
        uint64_t b = p->n - i < p->batch ? p->n - i : p->batch;
        int rc = append_samples(w, p, i, b, &e);
        bool inj = p->inject_at >= 0 && (uint64_t)p->inject_at >= i && (uint64_t)p->inject_at < i + b;
        if (inj) {
            if (rc != TC_ERR_SAMPLE_MISMATCH)
                rt_fail("invalid value (kind %u) in sample %lld: append returned %s, expected "
                        "SAMPLE_MISMATCH", p->inject_kind, (long long)p->inject_at,
                        tc_error_name(rc));
            RT_EXPECT(TC_ERR_STATE, append_samples(w, p, 0, 1, &e), &e);
            if (tc_writer_count(w) != i)
                rt_fail("a rejected append changed the count");
            RT_EXPECT(TC_ERR_SAMPLE_MISMATCH, tc_writer_finish(w, &e), &e);
            expect_dir_entries(0, "after a poisoned writer's finish");
            return false;
        }
        if (rc != TC_OK)
            rt_fail("append of samples %llu..%llu returned %s: %s", (unsigned long long)i,
                    (unsigned long long)(i + b), tc_error_name(rc), e.message);
        i += b;
    }
    if (tc_writer_count(w) != p->n)
        rt_fail("tc_writer_count %llu, expected %llu", (unsigned long long)tc_writer_count(w),
                (unsigned long long)p->n);
    RT_EXPECT(TC_OK, tc_writer_finish(w, &e), &e);
    expect_dir_entries(1, "after finish");
    return true;
}

/* ---- reading back ---- */

static const uint8_t *expected(const rt_field *f, uint64_t i, uint64_t *nb, const uint64_t **shape)
{
    if (f->variable) {
        *nb = f->var_nb[i];
        *shape = f->var_shape[i];
        return f->var[i];
    }
    *nb = f->sb;
    *shape = f->spec.shape;
    return f->fixed + i * f->sb;
}

static void check_description(const tc_cache *c, const rt_plan *p, uint32_t k)
{
    const rt_field *f = &p->f[k];
    tc_field_info in;
    RT_EXPECT(TC_OK, tc_describe_field(c, k, &in, NULL), (tc_error *)NULL);
    uint64_t a = f->spec.align > 1 ? f->spec.align : 1;
    uint64_t stride = f->variable || f->spec.codec ? 0 : (f->sb + a - 1) / a * a;
    if (strcmp(in.name, f->name) || in.dtype != f->spec.dtype || in.rank != f->spec.rank ||
        memcmp(in.shape, f->spec.shape, sizeof in.shape) || in.variable != f->variable ||
        in.codec != f->spec.codec || strcmp(in.layout, f->layout) || in.itemsize != f->itemsize ||
        in.sample_bytes != (f->variable ? 0 : f->sb) || in.stride != stride || in.flags)
        rt_fail("field %u ('%s') is described differently from its declaration", k, f->name);
    if ((f->spec.codec == TC_CODEC_LZ4) != (in.block_samples != 0))
        rt_fail("field %u: block_samples %llu", k, (unsigned long long)in.block_samples);
    if (in.data_offset % 4096 || in.index_offset % 64)
        rt_fail("field %u: misaligned regions", k);
}

/* Zero padding inside fixed-field strides (tc_verify does not look inside a region). */
static void check_stride_padding(const uint8_t *file, size_t size, const tc_cache *c, uint32_t k)
{
    tc_field_info in;
    tc_describe_field(c, k, &in, NULL);
    if (in.variable || in.codec || in.stride == in.sample_bytes)
        return;
    if (in.data_offset + in.data_size > size)
        rt_fail("field %u: data region past the end of the file", k);
    for (uint64_t i = 0; i < tc_num_samples(c); i++)
        for (uint64_t b = in.sample_bytes; b < in.stride; b++)
            if (file[in.data_offset + i * in.stride + b])
                rt_fail("field %u sample %llu: stride padding byte %llu is not zero", k,
                        (unsigned long long)i, (unsigned long long)b);
}

static void check_sample(const tc_cache *cm, const tc_cache *cp, const rt_plan *p, uint32_t k,
                         uint64_t i, const tc_span *span, const tc_view *range)
{
    const rt_field *f = &p->f[k];
    uint64_t nb, got, shape[TC_MAX_RANK];
    const uint64_t *want_shape;
    const uint8_t *want = expected(f, i, &nb, &want_shape);
    tc_error e = {0};
    const tc_cache *both[2] = {cm, cp};
    uint8_t *buf = malloc(nb + 1);
    if (!buf)
        rt_fail("out of memory");
    for (int b = 0; b < 2; b++) {
        RT_EXPECT(TC_OK, tc_sample_nbytes(both[b], k, i, &got, shape, &e), &e);
        if (got != nb || memcmp(shape, want_shape, f->spec.rank * sizeof shape[0]))
            rt_fail("field %u sample %llu: nbytes/shape differ", k, (unsigned long long)i);
        RT_EXPECT(TC_OK, tc_read_sample(both[b], k, i, buf, nb, &got, &e), &e);
        if (got != nb || memcmp(buf, want, nb))
            rt_fail("field %u sample %llu: tc_read_sample (%s) bytes differ", k,
                    (unsigned long long)i, b ? "pread" : "mmap");
    }
    free(buf);
    if (f->spec.codec == TC_CODEC_NONE) {
        tc_view v;
        RT_EXPECT(TC_OK, tc_sample(cm, k, i, &v, &e), &e);
        if (v.nbytes != nb || memcmp(v.data, want, nb) ||
            memcmp(v.shape, want_shape, f->spec.rank * sizeof v.shape[0]))
            rt_fail("field %u sample %llu: tc_sample view differs", k, (unsigned long long)i);
    }
    if (span && memcmp(tc_span_at(span, i), want, nb))
        rt_fail("field %u sample %llu: span bytes differ", k, (unsigned long long)i);
    if (range && memcmp((const uint8_t *)range->data + i * (uint64_t)range->strides[0], want, nb))
        rt_fail("field %u sample %llu: range view bytes differ", k, (unsigned long long)i);
}

static void check_gathers(const tc_cache *cm, const tc_cache *cp, const rt_plan *p, uint32_t k)
{
    const rt_field *f = &p->f[k];
    uint64_t idx[RT_MAX_N + 1];
    size_t n = 0;
    for (uint64_t i = p->n; i-- > 0;)
        idx[n++] = i;
    if (p->n)
        idx[n++] = p->n / 2;
    uint8_t *buf = malloc(n * f->sb + 1);
    if (!buf)
        rt_fail("out of memory");
    tc_error e = {0};
    const tc_cache *both[2] = {cm, cp};
    for (int b = 0; b < 2; b++) {
        RT_EXPECT(TC_OK, tc_gather(both[b], k, idx, n, buf, n * f->sb, &e), &e);
        for (size_t j = 0; j < n; j++)
            if (memcmp(buf + j * f->sb, f->fixed + idx[j] * f->sb, f->sb))
                rt_fail("field %u: tc_gather (%s) entry %zu (sample %llu) differs", k,
                        b ? "pread" : "mmap", j, (unsigned long long)idx[j]);
    }
    free(buf);
}

static uint8_t *read_file(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        rt_fail("cannot open %s", path);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    if (!b || pread(fd, b, (size_t)st.st_size, 0) != st.st_size)
        rt_fail("cannot read %s", path);
    close(fd);
    *size = (size_t)st.st_size;
    return b;
}

static void read_back(const rt_plan *p)
{
    tc_cache *cm = NULL, *cp = NULL, *cv = NULL;
    tc_error e = {0};
    RT_EXPECT(TC_OK, tc_open(&cm, rt_path, TC_OPEN_DEFAULT, &e), &e);
    RT_EXPECT(TC_OK, tc_open(&cp, rt_path, TC_OPEN_NO_MMAP, &e), &e);
    RT_EXPECT(TC_OK, tc_open(&cv, rt_path, TC_OPEN_VERIFY, &e), &e);
    RT_EXPECT(TC_OK, tc_verify(cp, &e), &e);
    if (tc_num_samples(cm) != p->n || tc_num_fields(cm) != p->nf ||
        tc_format_version(cm) != TC_FORMAT_MAJOR * 100 + TC_FORMAT_MINOR)
        rt_fail("N/F/version differ: %llu/%u", (unsigned long long)tc_num_samples(cm),
                tc_num_fields(cm));
    const void *meta;
    size_t msize;
    tc_metadata(cm, &meta, &msize, NULL);
    if (msize != p->meta_size || (msize && memcmp(meta, p->meta, msize)))
        rt_fail("metadata differs");
    size_t fsize;
    uint8_t *file = read_file(rt_path, &fsize);
    for (uint32_t k = 0; k < p->nf; k++) {
        const rt_field *f = &p->f[k];
        check_description(cm, p, k);
        check_stride_padding(file, fsize, cm, k);
        tc_span span;
        tc_view range;
        bool fixed = !f->variable && f->spec.codec == TC_CODEC_NONE;
        if (fixed) {
            RT_EXPECT(TC_OK, tc_field_span(cm, k, &span, &e), &e);
            RT_EXPECT(TC_OK, tc_range(cm, k, 0, p->n, &range, &e), &e);
        }
        for (uint64_t i = 0; i < p->n; i++)
            check_sample(cm, cp, p, k, i, fixed ? &span : NULL, fixed ? &range : NULL);
        if (!f->variable)
            check_gathers(cm, cp, p, k);
    }
    tc_close(cm);
    tc_close(cp);
    tc_close(cv);
    /* and every invariant of the open target, on the real file */
    tcf_opts o = {.sample_cap = 64, .byte_cap = 16u << 20, .file = file, .file_size = fsize};
    tcf_result r;
    tcf_exercise(rt_path, &o, &r);
    if (r.open_rc != TC_OK || r.verify_rc != TC_OK || r.read_rc != TC_OK)
        rt_fail("tcf_exercise: open %s, verify %s, read %s", tc_error_name(r.open_rc),
                tc_error_name(r.verify_rc), tc_error_name(r.read_rc));
    free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_dir();
    remove_dir_entries();
    rt_src s = {.p = data, .n = size, .rng = XXH3_64bits(data, size)};
    rt_plan *p = malloc(sizeof *p);
    if (!p)
        return 0;
    plan(&s, p);
    if (write_plan(p))
        read_back(p);
    free_plan(p);
    free(p);
    return 0;
}
