/* src_cifar.c - CIFAR-10/-100 binary batches: geometry, the 10-or-100 guess, and records
 * (label bytes checked, images transposed to channels-last). */
#include "sources_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CIFAR_GUESS_RECORDS 16u
#define CIFAR_SUBCHUNK 256u

/* ---- CIFAR ---- */

static uint64_t cifar_record(tcs_format fmt) { return fmt == TCS_CIFAR10 ? 3073 : 3074; }

int tcs_cifar_geometry(tcs_file *f, stream *st, tcs_format fmt, tc_error *err)
{
    if (f->total == UINT64_MAX) {
        int rc = st_total(st, &f->total, err);
        if (rc)
            return rc;
    }
    uint64_t rec = cifar_record(fmt);
    if (f->total % rec != 0)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: size %llu is not a multiple of the %llu-byte %s record", st->path,
                        (unsigned long long)f->total, (unsigned long long)rec,
                        fmt == TCS_CIFAR10 ? "CIFAR-10" : "CIFAR-100");
    f->count = f->total / rec;
    f->record_bytes = rec;
    f->data_bytes = f->total;
    f->header_bytes = 0;
    f->dtype = TC_DTYPE_U8;
    return TC_OK;
}

/* The content heuristic: a size that is a whole number of records and plausible labels in the
 * first records. @return TC_OK with *fmt set, or an error when neither or both fit. */
int tcs_cifar_guess(tcs_file *f, stream *st, tcs_format *fmt, tc_error *err)
{
    *fmt = TCS_AUTO;
    int rc = st_total(st, &f->total, err);
    if (rc)
        return rc;
    size_t want = CIFAR_GUESS_RECORDS * 3074;
    uint8_t *buf = malloc(want);
    if (!buf)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    size_t got;
    rc = st_read(st, buf, want, &got, err);
    if (rc == TC_OK)
        rc = st_rewind(st, err);
    if (rc) {
        free(buf);
        return rc;
    }
    bool c10 = f->total > 0 && f->total % 3073 == 0;
    bool c100 = f->total > 0 && f->total % 3074 == 0;
    for (size_t k = 0; k < CIFAR_GUESS_RECORDS; k++) {
        if ((k + 1) * 3073 <= got && buf[k * 3073] >= 10)
            c10 = false;
        if ((k + 1) * 3074 <= got && (buf[k * 3074] >= 20 || buf[k * 3074 + 1] >= 100))
            c100 = false;
    }
    free(buf);
    if (c10 && c100)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: could be CIFAR-10 or CIFAR-100; say which with the prefix "
                        "cifar10: or cifar100:",
                        st->path);
    *fmt = c10 ? TCS_CIFAR10 : c100 ? TCS_CIFAR100 : TCS_AUTO;
    return TC_OK;
}

int tcs_read_cifar(tcs_source *s, tcs_file *f, uint64_t m, void *const dst[], uint64_t off,
                      tc_error *err)
{
    uint32_t nl = f->format == TCS_CIFAR10 ? 1 : 2;
    uint32_t limits[2] = {nl == 1 ? 10 : 20, 100};
    int rc = tcs_ensure_scratch(s, CIFAR_SUBCHUNK * f->record_bytes, err);
    for (uint64_t done = 0; rc == TC_OK && done < m;) {
        uint64_t k = m - done < CIFAR_SUBCHUNK ? m - done : CIFAR_SUBCHUNK;
        rc = tcs_read_data(s, f, s->scratch, k * f->record_bytes, err);
        for (uint64_t j = 0; rc == TC_OK && j < k; j++) {
            const uint8_t *rec = s->scratch + j * f->record_bytes;
            uint64_t i = off + done + j;
            for (uint32_t l = 0; l < nl; l++) {
                if (rec[l] >= limits[l])
                    return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                                    "%s: record %llu: %slabel %u out of range 0..%u (is this "
                                    "really a %s batch?)",
                                    f->path, (unsigned long long)(s->next + done + j),
                                    nl == 1 ? "" : l == 0 ? "coarse " : "fine ", rec[l],
                                    limits[l] - 1, nl == 1 ? "CIFAR-10" : "CIFAR-100");
                ((uint8_t *)dst[1 + l])[i] = rec[l];
            }
            tcs_hwc_from_chw((uint8_t *)dst[0] + i * CIFAR_PIXELS, rec + nl, 1, 3, CIFAR_SIDE,
                             CIFAR_SIDE, 1);
        }
        done += k;
    }
    return rc;
}
