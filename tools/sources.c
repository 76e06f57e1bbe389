/* sources.c - streaming readers for .npy, IDX, CIFAR and raw files, plain or gzipped.
 *
 * Every file goes through a `stream`: a plain file descriptor or a gzip decoder, plus a small
 * peek buffer so the first bytes can be inspected before the format is known (gzip streams
 * cannot seek back cheaply). A source opens each of its files twice: once in tcs_open() to read
 * the header (so N is known before anything is written) and once, in turn, while samples are
 * streamed; the second probe must find the same geometry, so a file changed in between is an
 * error rather than a silent mismatch. */
#include "sources_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_BYTES (8u << 20)
#define CHUNK_MAX_SAMPLES 65536u

/* ---------------------------------------------------------------------------------------------
 * sources
 * ------------------------------------------------------------------------------------------- */

static const char *format_name(tcs_format f)
{
    switch (f) {
    case TCS_NPY: return "npy";
    case TCS_IDX: return "idx";
    case TCS_CIFAR10: return "cifar10";
    case TCS_CIFAR100: return "cifar100";
    case TCS_RAW: return "raw";
    default: return "auto";
    }
}

/* Strips a known "PREFIX:" from *p. @return the format it names, or TCS_AUTO. */
static tcs_format take_prefix(const char **p)
{
    static const struct {
        const char *prefix;
        tcs_format fmt;
    } prefixes[] = {{"npy:", TCS_NPY},         {"idx:", TCS_IDX}, {"cifar10:", TCS_CIFAR10},
                    {"cifar100:", TCS_CIFAR100}, {"raw:", TCS_RAW}};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t l = strlen(prefixes[i].prefix);
        if (strncmp(*p, prefixes[i].prefix, l) == 0) {
            *p += l;
            return prefixes[i].fmt;
        }
    }
    return TCS_AUTO;
}

static int add_file(tcs_source *s, const char *path, size_t len, tcs_format fmt, tc_error *err)
{
    if (len == 0)
        return tct_fail(err, TCT_ERR_USAGE, 0, "empty file name in source list");
    tcs_file *files = realloc(s->files, (s->nfiles + 1) * sizeof *files);
    if (!files)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    s->files = files;
    tcs_file *f = &files[s->nfiles];
    *f = (tcs_file){.forced = fmt, .total = UINT64_MAX};
    f->path = strndup(path, len);
    if (!f->path)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    s->nfiles++;
    return TC_OK;
}

static int parse_spec(tcs_source *s, const char *spec, tc_error *err)
{
    const char *p = spec;
    tcs_format fmt = take_prefix(&p);
    struct stat sb;
    if (!strchr(p, ',') || stat(p, &sb) == 0)
        return add_file(s, p, strlen(p), fmt, err);
    for (;;) {
        tcs_format own = take_prefix(&p);
        if (own != TCS_AUTO)
            fmt = own;
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int rc = add_file(s, p, len, fmt, err);
        if (rc || !comma)
            return rc;
        p = comma + 1;
    }
}

static void set_outputs(tcs_source *s)
{
    const tcs_file *f = &s->files[0];
    memset(s->out, 0, sizeof s->out);
    if (f->format == TCS_CIFAR10 || f->format == TCS_CIFAR100) {
        tcs_output *img = &s->out[0];
        *img = (tcs_output){.suffix = "", .dtype = TC_DTYPE_U8, .rank = 3,
                            .shape = {CIFAR_SIDE, CIFAR_SIDE, 3}, .sample_bytes = CIFAR_PIXELS,
                            .layout = "NHWC", .conversion = "NCHW->NHWC"};
        static const char *const names10[] = {"_label"};
        static const char *const names100[] = {"_coarse_label", "_fine_label"};
        uint32_t nl = f->format == TCS_CIFAR10 ? 1 : 2;
        for (uint32_t k = 0; k < nl; k++)
            s->out[1 + k] = (tcs_output){
                .suffix = nl == 1 ? names10[k] : names100[k], .dtype = TC_DTYPE_U8, .rank = 0,
                .sample_bytes = 1, .layout = ""};
        s->noutputs = 1 + nl;
    } else {
        tcs_output *o = &s->out[0];
        *o = (tcs_output){.suffix = "", .dtype = f->dtype, .rank = f->rank,
                          .sample_bytes = f->record_bytes, .layout = ""};
        memcpy(o->shape, f->shape, sizeof o->shape);
        s->noutputs = 1;
    }
    snprintf(s->desc, sizeof s->desc, "%s%s%s%s", format_name(f->format), f->gz ? "+gzip" : "",
             f->swap ? " (big-endian)" : "", f->fortran ? " (Fortran order)" : "");
}

static void shape_str(char *buf, size_t cap, const uint64_t *shape, uint32_t rank)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (uint32_t d = 0; d < rank && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%llu", d ? ", " : "",
                              (unsigned long long)shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, ")");
}

/* Files after the first must deliver the same outputs. */
static int check_same_geometry(const tcs_file *a, const tcs_file *b, tc_error *err)
{
    bool cifar_a = a->format == TCS_CIFAR10 || a->format == TCS_CIFAR100;
    bool cifar_b = b->format == TCS_CIFAR10 || b->format == TCS_CIFAR100;
    bool same = cifar_a || cifar_b ? a->format == b->format
                                   : a->dtype == b->dtype && a->rank == b->rank &&
                                         memcmp(a->shape, b->shape, sizeof a->shape) == 0;
    if (same)
        return TC_OK;
    char sa[200], sb[200];
    shape_str(sa, sizeof sa, a->shape, a->rank);
    shape_str(sb, sizeof sb, b->shape, b->rank);
    return tct_fail(err, TC_ERR_SAMPLE_MISMATCH, 0,
                    "%s: samples are %s %s %s, but %s has %s %s %s; files concatenated into "
                    "one field must agree",
                    b->path, format_name(b->format), tc_dtype_name(b->dtype), sb, a->path,
                    format_name(a->format), tc_dtype_name(a->dtype), sa);
}

int tcs_open(tcs_source **out, const char *spec, const tcs_options *opt, tc_error *err)
{
    *out = NULL;
    tcs_source *s = calloc(1, sizeof *s);
    if (!s)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    s->st.fd = -1;
    if (opt)
        s->opt = *opt;
    int rc = parse_spec(s, spec, err);
    for (uint32_t i = 0; rc == TC_OK && i < s->nfiles; i++) {
        tcs_file *f = &s->files[i];
        stream st;
        rc = st_open(&st, f->path, err);
        if (rc)
            break;
        rc = tcs_probe(f, &st, &s->opt, err);
        st_close(&st);
        if (rc == TC_OK && i > 0)
            rc = check_same_geometry(&s->files[0], f, err);
        if (rc == TC_OK && !tct_add(s->count, f->count, &s->count))
            rc = tct_fail(err, TC_ERR_OVERFLOW, 0, "%s: sample count overflows", f->path);
    }
    if (rc) {
        tcs_close(s);
        return rc;
    }
    set_outputs(s);
    *out = s;
    return TC_OK;
}

static void unmap_file(tcs_source *s)
{
    if (s->map)
        munmap(s->map, s->map_len);
    s->map = NULL;
    s->map_len = 0;
}

void tcs_close(tcs_source *s)
{
    if (!s)
        return;
    if (s->open)
        st_close(&s->st);
    unmap_file(s);
    for (uint32_t i = 0; i < s->nfiles; i++)
        free(s->files[i].path);
    free(s->files);
    free(s->scratch);
    free(s);
}

uint64_t tcs_count(const tcs_source *s) { return s->count; }
uint32_t tcs_num_outputs(const tcs_source *s) { return s->noutputs; }
const tcs_output *tcs_output_info(const tcs_source *s, uint32_t k)
{
    return k < s->noutputs ? &s->out[k] : NULL;
}
uint32_t tcs_num_files(const tcs_source *s) { return s->nfiles; }
const char *tcs_file_path(const tcs_source *s, uint32_t i)
{
    return i < s->nfiles ? s->files[i].path : NULL;
}
const char *tcs_format_desc(const tcs_source *s) { return s->desc; }

uint64_t tcs_chunk_samples(uint64_t total_sample_bytes)
{
    if (total_sample_bytes == 0)
        return CHUNK_MAX_SAMPLES;
    uint64_t n = CHUNK_BYTES / total_sample_bytes;
    return n < 1 ? 1 : n > CHUNK_MAX_SAMPLES ? CHUNK_MAX_SAMPLES : n;
}

/* ---- streaming ---- */

/* Opens files[cur] for reading and checks it still has the geometry tcs_open() saw. */
static int file_begin(tcs_source *s, tc_error *err)
{
    tcs_file *f = &s->files[s->cur];
    tcs_file again = *f;
    again.forced = f->format;
    int rc = st_open(&s->st, f->path, err);
    if (rc)
        return rc;
    s->open = true;
    rc = tcs_probe(&again, &s->st, &s->opt, err);
    if (rc)
        return rc;
    if (again.count != f->count || again.dtype != f->dtype || again.rank != f->rank ||
        memcmp(again.shape, f->shape, sizeof f->shape) != 0 ||
        again.header_bytes != f->header_bytes || again.gz != f->gz)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "%s: file changed while being read",
                        f->path);
    s->left = f->count;
    s->next = 0;
    if (f->fortran && f->data_bytes > 0) {
        uint64_t len = f->header_bytes + f->data_bytes;
        if (len > SIZE_MAX)
            return tct_fail(err, TC_ERR_OVERFLOW, 0, "%s: too large to map", f->path);
        void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, s->st.fd, 0);
        if (p == MAP_FAILED)
            return tct_fail(err, TC_ERR_IO, errno, "%s: cannot map the Fortran-order array",
                            f->path);
        s->map = p;
        s->map_len = (size_t)len;
    }
    return TC_OK;
}

/* Checks that nothing follows the data (and that a gzip trailer is intact), closes the file. */
static int file_end(tcs_source *s, tc_error *err)
{
    tcs_file *f = &s->files[s->cur];
    int rc = TC_OK;
    if (!f->fortran || f->data_bytes == 0) {
        uint8_t extra[64];
        size_t got;
        rc = st_read(&s->st, extra, sizeof extra, &got, err);
        if (rc == TC_OK && got)
            rc = tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                          "%s: size mismatch: trailing bytes after the %llu bytes of data",
                          f->path, (unsigned long long)f->data_bytes);
    }
    unmap_file(s);
    st_close(&s->st);
    s->open = false;
    s->cur++;
    return rc;
}

static void byteswap(uint8_t *p, uint64_t nbytes, size_t isz)
{
    for (uint64_t i = 0; i + isz <= nbytes; i += isz)
        for (size_t a = 0, b = isz - 1; a < b; a++, b--) {
            uint8_t t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

/* Gathers samples [n0, n0+m) of an F-order array (N, d0..d_{r-1}) into C-order samples.
 * In F order the sample axis varies fastest, so for each per-sample element the m wanted
 * values are contiguous in the file: one sequential run per element. */
static void fortran_gather(uint8_t *dst, const uint8_t *base, const tcs_file *f, uint64_t n0,
                           uint64_t m)
{
    size_t isz = tc_dtype_size(f->dtype);
    uint64_t elems = f->record_bytes / isz, N = f->count;
    uint64_t idx[TC_MAX_RANK] = {0}, cstride[TC_MAX_RANK];
    for (uint32_t d = f->rank; d-- > 0;)
        cstride[d] = d + 1 == f->rank ? 1 : cstride[d + 1] * f->shape[d + 1];
    uint64_t c = 0; /* C-order position of the element with F-order position e */
    for (uint64_t e = 0; e < elems; e++) {
        const uint8_t *src = base + (n0 + N * e) * isz;
        uint8_t *out = dst + c * isz;
        for (uint64_t j = 0; j < m; j++)
            memcpy(out + j * f->record_bytes, src + j * isz, isz);
        for (uint32_t d = 0; d < f->rank; d++) {
            idx[d]++;
            c += cstride[d];
            if (idx[d] < f->shape[d])
                break;
            c -= idx[d] * cstride[d];
            idx[d] = 0;
        }
    }
}

int tcs_ensure_scratch(tcs_source *s, size_t n, tc_error *err)
{
    if (n <= s->scratch_cap)
        return TC_OK;
    uint8_t *p = realloc(s->scratch, n);
    if (!p)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    s->scratch = p;
    s->scratch_cap = n;
    return TC_OK;
}

int tcs_read_data(tcs_source *s, tcs_file *f, void *buf, uint64_t nbytes, tc_error *err)
{
    if (nbytes > SIZE_MAX)
        return tct_fail(err, TC_ERR_OVERFLOW, 0, "%s: read too large", f->path);
    size_t got;
    uint64_t before = s->st.pos - f->header_bytes;
    int rc = st_read(&s->st, buf, (size_t)nbytes, &got, err);
    if (rc)
        return rc;
    if (got != nbytes)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: truncated: expected %llu bytes of data, found %llu", f->path,
                        (unsigned long long)f->data_bytes, (unsigned long long)(before + got));
    return TC_OK;
}

/* Reads m samples of files[cur] to position `off` of the outputs. */
static int read_samples(tcs_source *s, uint64_t m, void *const dst[], uint64_t off,
                        tc_error *err)
{
    tcs_file *f = &s->files[s->cur];
    if (f->format == TCS_CIFAR10 || f->format == TCS_CIFAR100)
        return tcs_read_cifar(s, f, m, dst, off, err);
    uint8_t *out = (uint8_t *)dst[0] + off * f->record_bytes;
    uint64_t nbytes = m * f->record_bytes; /* <= data_bytes: no overflow */
    if (f->fortran) {
        if (nbytes)
            fortran_gather(out, s->map + f->header_bytes, f, s->next, m);
    } else {
        int rc = tcs_read_data(s, f, out, nbytes, err);
        if (rc)
            return rc;
    }
    if (f->swap)
        byteswap(out, nbytes, f->swap);
    return TC_OK;
}

int tcs_read(tcs_source *s, uint64_t max, void *const dst[], uint64_t *got, tc_error *err)
{
    *got = 0;
    int rc = TC_OK;
    while (rc == TC_OK && *got < max && s->cur < s->nfiles) {
        if (!s->open) {
            rc = file_begin(s, err);
            continue;
        }
        if (s->left == 0) {
            rc = file_end(s, err);
            continue;
        }
        uint64_t m = max - *got < s->left ? max - *got : s->left;
        rc = read_samples(s, m, dst, *got, err);
        if (rc)
            break;
        *got += m;
        s->left -= m;
        s->next += m;
        if (s->left == 0)
            rc = file_end(s, err); /* report a bad file end as early as possible */
    }
    return rc;
}

int tcs_finish(tcs_source *s, tc_error *err)
{
    int rc = TC_OK;
    while (rc == TC_OK && s->cur < s->nfiles) {
        if (!s->open) {
            rc = file_begin(s, err);
            continue;
        }
        if (s->left != 0)
            return tct_fail(err, TC_ERR_STATE, 0, "%s: %llu samples were not read",
                            s->files[s->cur].path, (unsigned long long)s->left);
        rc = file_end(s, err);
    }
    return rc;
}

void tcs_hwc_from_chw(void *dst, const void *src, uint64_t n, uint64_t c, uint64_t h, uint64_t w,
                      size_t itemsize)
{
    uint8_t *d = dst;
    const uint8_t *sp = src;
    uint64_t plane = h * w, sample = plane * c;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *in = sp + i * sample * itemsize;
        uint8_t *o = d + i * sample * itemsize;
        if (itemsize == 1) {
            for (uint64_t p = 0; p < plane; p++)
                for (uint64_t ch = 0; ch < c; ch++)
                    o[p * c + ch] = in[ch * plane + p];
        } else {
            for (uint64_t p = 0; p < plane; p++)
                for (uint64_t ch = 0; ch < c; ch++)
                    memcpy(o + (p * c + ch) * itemsize, in + (ch * plane + p) * itemsize,
                           itemsize);
        }
    }
}
