/* src_raw.c - raw:FILE sources: samples of --dtype and --shape back to back. */
#include "sources_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- raw ---- */

int tcs_raw_geometry(tcs_file *f, stream *st, const tcs_options *opt, tc_error *err)
{
    if (!opt || !opt->dtype)
        return tct_fail(err, TCT_ERR_USAGE, 0,
                        "%s: a raw source needs --dtype (and --shape for non-scalar samples)",
                        st->path);
    f->dtype = opt->dtype;
    f->rank = opt->shape_set ? opt->rank : 0;
    memset(f->shape, 0, sizeof f->shape);
    for (uint32_t d = 0; d < f->rank; d++)
        f->shape[d] = opt->shape[d];
    size_t isz = tc_dtype_size(f->dtype);
    if (tc_shape_bytes(f->shape, f->rank, isz, &f->record_bytes, NULL) != TC_OK)
        return tct_fail(err, TC_ERR_OVERFLOW, 0, "%s: --shape overflows 64 bits", st->path);
    if (f->record_bytes == 0)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: raw samples of 0 bytes (a 0 in --shape) cannot be counted",
                        st->path);
    if (f->total == UINT64_MAX) {
        int rc = st_total(st, &f->total, err);
        if (rc)
            return rc;
    }
    if (f->total % f->record_bytes != 0) {
        char shape[TC_MAX_RANK * 21 + 8] = "";
        size_t k = 0;
        for (uint32_t d = 0; d < f->rank; d++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%llu", d ? "," : "",
                                  (unsigned long long)f->shape[d]);
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: size %llu is not a multiple of the %llu-byte raw sample "
                        "(--dtype %s --shape '%s')",
                        st->path, (unsigned long long)f->total,
                        (unsigned long long)f->record_bytes, tc_dtype_name(f->dtype), shape);
    }
    f->count = f->total / f->record_bytes;
    f->data_bytes = f->total;
    f->header_bytes = 0;
    f->swap = 0;
    return TC_OK;
}
