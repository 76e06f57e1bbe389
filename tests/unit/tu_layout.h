/* tu_layout.h - test helpers: an independent check of a file's layout
 * from FORMAT.md and the raw bytes.
 * Part of testutil.h (see there); static inline throughout. */
#ifndef TC_TU_LAYOUT_H
#define TC_TU_LAYOUT_H

#include "tu_small.h"

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

#endif
