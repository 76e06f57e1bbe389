/* demo_check.c - tc-demo-check: reads every sample of a cache through libtensorcache and
 * compares it byte for byte with the payload of the original source files, decoded by the same
 * readers `tensorcache pack` uses (tools/sources.c), then measures read throughput.
 *
 *   tc-demo-check [--from-layout NCHW] [--dtype D [--shape S]] CACHE FIELD=SOURCE ...
 *
 * The comparison reads cache samples through the zero-copy paths (tc_field_span/tc_span_at;
 * tc_read_sample for LZ4 fields), so it checks what every reader of the file sees. A 3-D
 * source (N,H,W) is compared with its (N,H,W,1) field (same bytes); --from-layout NCHW
 * transposes 4-D sources as pack does. Exit status: 0 all identical, 1 a mismatch or error,
 * 2 usage. */
#include "cli.h"
#include "sources.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool nchw;
    tcs_options opt;
} check_opts;

static int fail_err(const tc_error *err)
{
    fprintf(stderr, "tc-demo-check: error: %s: %s\n", tct_error_name(err->code), err->message);
    return 1;
}

static int usage(const char *msg)
{
    fprintf(stderr, "tc-demo-check: error: USAGE: %s\n"
            "usage: tc-demo-check [--from-layout NCHW] [--dtype D [--shape S]] CACHE "
            "FIELD=SOURCE [FIELD=SOURCE ...]\n", msg);
    return 2;
}

/* Points *p at sample i of the cache field: zero-copy where possible, else a copy in tmp. */
static int cache_sample(const tc_cache *c, uint32_t field, const tc_field_info *fi,
                        const tc_span *span, uint64_t i, uint8_t *tmp, const uint8_t **p,
                        tc_error *err)
{
    if (span) {
        *p = tc_span_at(span, i);
        return *p ? TC_OK : tct_fail(err, TC_ERR_RANGE, 0, "sample %llu out of range",
                                      (unsigned long long)i);
    }
    *p = tmp;
    return tc_read_sample(c, field, i, tmp, fi->sample_bytes ? fi->sample_bytes : 1, NULL, err);
}

/* Reports the first differing byte of sample i. */
static void report_diff(const char *name, uint64_t i, const uint8_t *a, const uint8_t *b,
                        uint64_t n)
{
    uint64_t k = 0;
    while (k < n && a[k] == b[k])
        k++;
    fprintf(stderr, "field %s: sample %llu differs at byte %llu (cache 0x%02x, source 0x%02x)\n",
            name, (unsigned long long)i, (unsigned long long)k, a[k], b[k]);
}

#define DEMO_CHUNK_BYTES (8u << 20)

/* cli_chunk_fn: touches the first and last byte of a gathered chunk. */
static int touch_chunk(void *ctx, const uint8_t *samples, uint64_t m, uint64_t sample_bytes,
                       tc_error *err)
{
    (void)err;
    *(uint64_t *)ctx += samples[0] + samples[m * sample_bytes - 1];
    return TC_OK;
}

/* One pass over every byte of the field (zero-copy span, or tc_gather for LZ4). */
static int read_pass(const tc_cache *c, uint32_t field, const tc_field_info *fi,
                     const tc_span *span, uint64_t *acc, tc_error *err)
{
    uint64_t n = tc_num_samples(c);
    if (span) {
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *p = tc_span_at(span, i);
            uint64_t k = 0, w;
            for (; k + 8 <= fi->sample_bytes; k += 8) {
                memcpy(&w, p + k, 8);
                *acc += w;
            }
            for (; k < fi->sample_bytes; k++)
                *acc += p[k];
        }
        return TC_OK;
    }
    return cli_for_each_chunk(c, field, fi->sample_bytes, DEMO_CHUNK_BYTES, touch_chunk, acc, err);
}

/* Times read passes over the field, repeated until at least 50 ms have passed so that small
 * fields get a meaningful figure. *passes receives the number of passes. */
static int measure(const tc_cache *c, uint32_t field, const tc_field_info *fi,
                   const tc_span *span, double *seconds, unsigned *passes, tc_error *err)
{
    uint64_t acc = 0;
    double t0 = tct_now(), el = 0;
    unsigned k = 0;
    do {
        int rc = read_pass(c, field, fi, span, &acc, err);
        if (rc)
            return rc;
        k++;
        el = tct_now() - t0;
    } while (el < 0.05 && k < 100000);
    *seconds = el;
    *passes = k;
    volatile uint64_t sink = acc; /* keeps the reads from being optimised away */
    (void)sink;
    return TC_OK;
}

/* Compares one source output with its cache field. @return 0 identical, 1 otherwise. */
typedef struct {
    const tc_cache *c;
    tcs_source *src;
    uint32_t nout;
    uint32_t field[TCS_MAX_OUTPUTS];
    tc_field_info fi[TCS_MAX_OUTPUTS];
    tc_span span[TCS_MAX_OUTPUTS];
    bool has_span[TCS_MAX_OUTPUTS];
    bool nchw[TCS_MAX_OUTPUTS];
    uint64_t same[TCS_MAX_OUTPUTS];
    uint8_t *buf[TCS_MAX_OUTPUTS], *tbuf[TCS_MAX_OUTPUTS], *tmp[TCS_MAX_OUTPUTS];
} check_job;

static int compare_all(check_job *J, tc_error *err)
{
    uint64_t n = tcs_count(J->src), total = 0;
    for (uint32_t k = 0; k < J->nout; k++)
        total += J->fi[k].sample_bytes;
    uint64_t chunk = tcs_chunk_samples(total);
    if (chunk > n)
        chunk = n;
    int rc = TC_OK;
    for (uint32_t k = 0; k < J->nout && rc == TC_OK; k++) {
        size_t bytes = (size_t)(chunk * J->fi[k].sample_bytes) + 1;
        J->buf[k] = malloc(bytes);
        J->tbuf[k] = malloc(bytes);
        J->tmp[k] = malloc((size_t)J->fi[k].sample_bytes + 1);
        if (!J->buf[k] || !J->tbuf[k] || !J->tmp[k])
            rc = tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    }
    for (uint64_t done = 0; rc == TC_OK && done < n;) {
        uint64_t got;
        rc = tcs_read(J->src, chunk, (void *const *)J->buf, &got, err);
        if (rc == TC_OK && got == 0)
            rc = tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "source ended early");
        for (uint32_t k = 0; rc == TC_OK && k < J->nout; k++) {
            const tc_field_info *fi = &J->fi[k];
            const uint8_t *want = J->buf[k];
            if (J->nchw[k]) {
                tcs_hwc_from_chw(J->tbuf[k], J->buf[k], got, tcs_output_info(J->src, k)->shape[0],
                                 fi->shape[0], fi->shape[1], fi->itemsize);
                want = J->tbuf[k];
            }
            for (uint64_t j = 0; rc == TC_OK && j < got; j++) {
                const uint8_t *have;
                rc = cache_sample(J->c, J->field[k], fi, J->has_span[k] ? &J->span[k] : NULL,
                                  done + j, J->tmp[k], &have, err);
                const uint8_t *w = want + j * fi->sample_bytes;
                if (rc == TC_OK) {
                    if (memcmp(have, w, fi->sample_bytes) == 0)
                        J->same[k]++;
                    else if (J->same[k] + 10 > done + j) /* the first few only */
                        report_diff(fi->name, done + j, have, w, fi->sample_bytes);
                }
            }
        }
        done += got;
    }
    if (rc == TC_OK)
        rc = tcs_finish(J->src, err);
    for (uint32_t k = 0; k < J->nout; k++) {
        free(J->buf[k]);
        free(J->tbuf[k]);
        free(J->tmp[k]);
    }
    return rc;
}

/* Finds and checks the cache field for source output k. */
static int match_field(check_job *J, uint32_t k, const char *names, const check_opts *o,
                       tc_error *err)
{
    const tcs_output *out = tcs_output_info(J->src, k);
    char name[512];
    uint32_t listed = 1;
    for (const char *p = names; *p; p++)
        listed += *p == ',';
    if (listed == J->nout && listed > 1) {
        const char *p = names;
        for (uint32_t i = 0; i < k; i++)
            p = strchr(p, ',') + 1;
        snprintf(name, sizeof name, "%.*s", (int)strcspn(p, ","), p);
    } else {
        snprintf(name, sizeof name, "%.*s%s", (int)strcspn(names, ","), names, out->suffix);
    }
    int rc = tc_find_field(J->c, name, &J->field[k], NULL);
    if (rc)
        return tct_fail(err, TC_ERR_NOT_FOUND, 0, "the cache has no field '%s'", name);
    tc_describe_field(J->c, J->field[k], &J->fi[k], NULL);
    const tc_field_info *fi = &J->fi[k];
    J->nchw[k] = o->nchw && out->rank == 3 && !out->layout[0];
    if (fi->variable || fi->dtype != out->dtype || fi->sample_bytes != out->sample_bytes)
        return tct_fail(err, TC_ERR_SAMPLE_MISMATCH, 0,
                        "field '%s' (%s, %llu bytes per sample) does not match its source "
                        "(%s, %llu bytes per sample)",
                        name, tc_dtype_name(fi->dtype), (unsigned long long)fi->sample_bytes,
                        tc_dtype_name(out->dtype), (unsigned long long)out->sample_bytes);
    if (tc_num_samples(J->c) != tcs_count(J->src))
        return tct_fail(err, TCT_ERR_COUNT_MISMATCH, 0, "cache has %llu samples, source %llu",
                        (unsigned long long)tc_num_samples(J->c),
                        (unsigned long long)tcs_count(J->src));
    J->has_span[k] = tc_field_span(J->c, J->field[k], &J->span[k], NULL) == TC_OK;
    return TC_OK;
}

static int check_one(const tc_cache *c, const char *arg, const check_opts *o)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return usage("expected FIELD=SOURCE");
    char *names = strndup(arg, (size_t)(eq - arg));
    check_job J = {.c = c};
    tc_error err = {0};
    int rc = names ? tcs_open(&J.src, eq + 1, &o->opt, &err)
                   : tct_fail(&err, TC_ERR_NOMEM, 0, "out of memory");
    if (rc == TC_OK) {
        J.nout = tcs_num_outputs(J.src);
        for (uint32_t k = 0; rc == TC_OK && k < J.nout; k++)
            rc = match_field(&J, k, names, o, &err);
    }
    double t0 = tct_now();
    if (rc == TC_OK)
        rc = compare_all(&J, &err);
    double cmp_s = tct_now() - t0;
    int status = rc ? fail_err(&err) : 0;
    uint64_t n = tc_num_samples(c);
    for (uint32_t k = 0; rc == TC_OK && k < J.nout; k++) {
        const tc_field_info *fi = &J.fi[k];
        double s = 0;
        unsigned passes = 1;
        rc = measure(c, J.field[k], fi, J.has_span[k] ? &J.span[k] : NULL, &s, &passes, &err);
        if (rc) {
            status = fail_err(&err);
            break;
        }
        double bytes = (double)fi->sample_bytes * (double)n * passes;
        double samples = (double)n * passes;
        printf("field %s: %llu/%llu samples identical to %s (%s)\n", fi->name,
               (unsigned long long)J.same[k], (unsigned long long)n,
               tct_basename(tcs_file_path(J.src, 0)), tcs_format_desc(J.src));
        printf("  read throughput: %.2f GB/s, %.0f samples/s (%s, %u pass%s over %.1f MB, "
               "page cache warm); compare with source decoding took %.2f s\n",
               s > 0 ? bytes / s / 1e9 : 0.0, s > 0 ? samples / s : 0.0,
               J.has_span[k] ? "zero-copy tc_span_at" : "tc_gather with LZ4 decoding", passes,
               passes == 1 ? "" : "es", (double)fi->sample_bytes * (double)n / 1e6, cmp_s);
        if (J.same[k] != n)
            status = 1;
    }
    tcs_close(J.src);
    free(names);
    return status;
}

int main(int argc, char **argv)
{
    check_opts o = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("usage: tc-demo-check [--from-layout NCHW] [--dtype D [--shape S]] CACHE "
                   "FIELD=SOURCE [FIELD=SOURCE ...]\n"
                   "Compares every sample of each FIELD of CACHE with the payload of SOURCE "
                   "(same syntax as 'tensorcache pack').\n");
            return 0;
        }
        if (i + 1 >= argc)
            return usage("option needs a value");
        const char *v = argv[++i];
        if (strcmp(a, "--from-layout") == 0 && strcmp(v, "NCHW") == 0)
            o.nchw = true;
        else if (strcmp(a, "--from-layout") == 0 && strcmp(v, "NHWC") == 0)
            o.nchw = false;
        else if (strcmp(a, "--dtype") == 0 && (o.opt.dtype = tc_dtype_from_name(v)) != 0)
            continue;
        else if (strcmp(a, "--shape") == 0 && tct_parse_shape(v, &o.opt.rank, o.opt.shape))
            o.opt.shape_set = 1;
        else
            return usage("unknown option or bad value");
    }
    if (argc - i < 2)
        return usage("need CACHE and at least one FIELD=SOURCE");
    tc_cache *c;
    tc_error err = {0};
    if (tc_open(&c, argv[i], TC_OPEN_DEFAULT, &err) != TC_OK)
        return fail_err(&err);
    int status = 0;
    for (int k = i + 1; k < argc; k++) {
        int rc = check_one(c, argv[k], &o);
        if (rc > status)
            status = rc;
    }
    tc_close(c);
    return status;
}
