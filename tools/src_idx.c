/* src_idx.c - IDX files (MNIST family): 00 00 TYPE NDIM, big-endian dims and data. */
#include "sources_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int idx_dtype(uint8_t type)
{
    switch (type) {
    case 0x08: return TC_DTYPE_U8;
    case 0x09: return TC_DTYPE_I8;
    case 0x0B: return TC_DTYPE_I16;
    case 0x0C: return TC_DTYPE_I32;
    case 0x0D: return TC_DTYPE_F32;
    case 0x0E: return TC_DTYPE_F64;
    default: return 0;
    }
}

bool tcs_looks_idx(const uint8_t *m, size_t n)
{
    return n >= 4 && m[0] == 0 && m[1] == 0 && idx_dtype(m[2]) != 0 && m[3] >= 1;
}

/* ---- IDX ---- */

int tcs_parse_idx(tcs_file *f, stream *st, tc_error *err)
{
    uint8_t m[4];
    int rc = st_read_header(st, m, 4, "IDX header", err);
    if (rc)
        return rc;
    if (m[0] != 0 || m[1] != 0 || idx_dtype(m[2]) == 0 || m[3] == 0)
        return tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0,
                        "%s: bad IDX magic %02x %02x %02x %02x (expected 00 00, a type byte "
                        "08/09/0b/0c/0d/0e and a dimension count >= 1)",
                        st->path, m[0], m[1], m[2], m[3]);
    if (m[3] > TC_MAX_RANK + 1)
        return tct_fail(err, TCT_ERR_SOURCE_UNSUPPORTED, 0,
                        "%s: IDX file with %u dimensions: at most %d are supported", st->path,
                        m[3], TC_MAX_RANK + 1);
    uint32_t ndim = m[3];
    uint8_t dimbuf[4 * (TC_MAX_RANK + 1)];
    rc = st_read_header(st, dimbuf, 4u * ndim, "IDX header", err);
    if (rc)
        return rc;
    uint64_t full[TC_MAX_RANK + 1];
    for (uint32_t d = 0; d < ndim; d++) {
        const uint8_t *p = dimbuf + 4 * d;
        full[d] = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    }
    f->dtype = idx_dtype(m[2]);
    size_t isz = tc_dtype_size(f->dtype);
    f->swap = isz > 1 ? isz : 0;
    f->header_bytes = 4 + 4 * (uint64_t)ndim;
    rc = tcs_set_array_geometry(f, st, full, ndim, "IDX array", err);
    return rc ? rc : tcs_check_plain_size(st, f, err);
}
