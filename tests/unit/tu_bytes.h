/* tu_bytes.h - test helpers: little-endian accessors, FORMAT.md offsets,
 * file surgery (patch a cache, fix its checksums).
 * Part of testutil.h (see there); static inline throughout. */
#ifndef TC_TU_BYTES_H
#define TC_TU_BYTES_H

#include "tu_check.h"

/* ---------------------------------------------------------------------------------------------
 * Little-endian accessors (the format is little-endian whatever the host is).
 * ------------------------------------------------------------------------------------------- */
static inline uint64_t tu_get_le(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void tu_put_le(uint8_t *p, unsigned width, uint64_t v)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---------------------------------------------------------------------------------------------
 * FORMAT.md offsets. Header (section 2) and field table entry (section 3).
 * ------------------------------------------------------------------------------------------- */
enum {
    TU_HEADER_SIZE = 128,
    TU_H_MAGIC = 0,
    TU_H_VMAJOR = 8,
    TU_H_VMINOR = 10,
    TU_H_HEADER_SIZE = 12,
    TU_H_FILE_SIZE = 16,
    TU_H_NUM_SAMPLES = 24,
    TU_H_NUM_FIELDS = 32,
    TU_H_FLAGS = 36,
    TU_H_FT_OFFSET = 40,
    TU_H_FT_SIZE = 48,
    TU_H_META_OFFSET = 56,
    TU_H_META_SIZE = 64,
    TU_H_FT_CHECKSUM = 72,
    TU_H_META_CHECKSUM = 80,
    TU_H_RESERVED = 88, /* 32 bytes */
    TU_H_CHECKSUM = 120,

    TU_ENTRY_SIZE = 256,
    TU_F_NAME = 0, /* 64 bytes */
    TU_F_NAME_LEN = 64,
    TU_F_DTYPE = 66,
    TU_F_RANK = 67,
    TU_F_KIND = 68,
    TU_F_CODEC = 69,
    TU_F_RESERVED0 = 70,
    TU_F_LAYOUT = 72, /* 8 bytes */
    TU_F_SHAPE = 80,  /* 8 x u64 */
    TU_F_FLAGS = 144,
    TU_F_RESERVED1 = 148,
    TU_F_STRIDE = 152,
    TU_F_DATA_OFFSET = 160,
    TU_F_DATA_SIZE = 168,
    TU_F_DATA_CHECKSUM = 176,
    TU_F_INDEX_OFFSET = 184,
    TU_F_INDEX_SIZE = 192,
    TU_F_INDEX_CHECKSUM = 200,
    TU_F_BLOCK_SAMPLES = 208,
    TU_F_RESERVED2 = 216, /* 40 bytes */

    TU_LZ4_ENTRY = 24, /* offset, csize, checksum */
};

#define TU_MAGIC "\x89TCACHE\n" /* 8 bytes, no NUL in the file */
#define TU_XXH3_EMPTY UINT64_C(0x2D06800538D394C2)

/* ---------------------------------------------------------------------------------------------
 * File surgery. Load a cache into memory, patch it, fix up the checksums, write it back.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    uint8_t *buf;
    size_t size;
} tu_file;

static inline void tu_load(tu_file *f, const char *path)
{
    f->size = 0;
    f->buf = tu_read_file(path, &f->size);
    if (!f->buf)
        TU_FAILF("cannot read %s", path);
}

static inline void tu_save(const tu_file *f, const char *path)
{
    tu_write_file(path, f->buf, f->size);
}

static inline void tu_free(tu_file *f)
{
    free(f->buf);
    f->buf = NULL;
    f->size = 0;
}

static inline int tu_in_file(const tu_file *f, uint64_t off, uint64_t len)
{
    return off <= f->size && len <= f->size - off;
}

static inline uint64_t tu_get(const tu_file *f, uint64_t off, unsigned width)
{
    if (!tu_in_file(f, off, width))
        TU_FAILF("surgery read at %llu+%u is past the end (%zu bytes)", (unsigned long long)off,
                 width, f->size);
    return tu_get_le(f->buf + off, width);
}

static inline void tu_put(tu_file *f, uint64_t off, unsigned width, uint64_t v)
{
    if (!tu_in_file(f, off, width))
        TU_FAILF("surgery write at %llu+%u is past the end (%zu bytes)", (unsigned long long)off,
                 width, f->size);
    tu_put_le(f->buf + off, width, v);
}

static inline uint64_t tu_hdr(const tu_file *f, unsigned off, unsigned width)
{
    return tu_get(f, off, width);
}

/* Absolute offset of field table entry k (from the header as it is now). */
static inline uint64_t tu_entry(const tu_file *f, uint32_t k)
{
    return tu_hdr(f, TU_H_FT_OFFSET, 8) + (uint64_t)k * TU_ENTRY_SIZE;
}

static inline uint64_t tu_fget(const tu_file *f, uint32_t k, unsigned off, unsigned width)
{
    return tu_get(f, tu_entry(f, k) + off, width);
}

static inline uint64_t tu_xxh(const tu_file *f, uint64_t off, uint64_t len)
{
    return XXH3_64bits(f->buf + off, (size_t)len);
}

enum {
    TU_FIX_BLOCKS = 1,  /* LZ4 per-block checksums in the index entries */
    TU_FIX_REGIONS = 2, /* every field's data_checksum and index_checksum */
    TU_FIX_FT = 4,      /* header field_table_checksum */
    TU_FIX_META = 8,    /* header metadata_checksum */
    TU_FIX_HEADER = 16, /* header_checksum */
    TU_FIX_ALL = 31,
};

/* Recomputes the checksums selected by `what`, innermost first (block checksums live in an
 * index region, region checksums in the field table, the field table checksum in the header),
 * so that a patched file is consistent everywhere except where the test wants it not to be.
 * Regions that lie outside the file are skipped (the damage under test may be exactly that). */
static inline void tu_fix(tu_file *f, unsigned what)
{
    if (f->size < TU_HEADER_SIZE)
        return;
    uint64_t ft = tu_hdr(f, TU_H_FT_OFFSET, 8), fts = tu_hdr(f, TU_H_FT_SIZE, 8);
    uint64_t nf = tu_hdr(f, TU_H_NUM_FIELDS, 4);
    int ft_ok = tu_in_file(f, ft, fts) && fts / TU_ENTRY_SIZE >= nf;
    if (ft_ok && (what & (TU_FIX_BLOCKS | TU_FIX_REGIONS))) {
        for (uint32_t k = 0; k < nf; k++) {
            uint64_t e = ft + (uint64_t)k * TU_ENTRY_SIZE;
            uint64_t doff = tu_get(f, e + TU_F_DATA_OFFSET, 8);
            uint64_t dsz = tu_get(f, e + TU_F_DATA_SIZE, 8);
            uint64_t ioff = tu_get(f, e + TU_F_INDEX_OFFSET, 8);
            uint64_t isz = tu_get(f, e + TU_F_INDEX_SIZE, 8);
            int lz4 = f->buf[e + TU_F_CODEC] == TC_CODEC_LZ4;
            if ((what & TU_FIX_BLOCKS) && lz4 && tu_in_file(f, ioff, isz) &&
                tu_in_file(f, doff, dsz)) {
                for (uint64_t b = 0; b + TU_LZ4_ENTRY <= isz; b += TU_LZ4_ENTRY) {
                    uint64_t boff = tu_get(f, ioff + b, 8), bsz = tu_get(f, ioff + b + 8, 8);
                    if (boff <= dsz && bsz <= dsz - boff)
                        tu_put(f, ioff + b + 16, 8, tu_xxh(f, doff + boff, bsz));
                }
            }
            if (what & TU_FIX_REGIONS) {
                if (tu_in_file(f, doff, dsz))
                    tu_put(f, e + TU_F_DATA_CHECKSUM, 8, tu_xxh(f, doff, dsz));
                if (tu_in_file(f, ioff, isz))
                    tu_put(f, e + TU_F_INDEX_CHECKSUM, 8, tu_xxh(f, ioff, isz));
            }
        }
    }
    if ((what & TU_FIX_FT) && tu_in_file(f, ft, fts))
        tu_put(f, TU_H_FT_CHECKSUM, 8, tu_xxh(f, ft, fts));
    uint64_t mo = tu_hdr(f, TU_H_META_OFFSET, 8), ms = tu_hdr(f, TU_H_META_SIZE, 8);
    if ((what & TU_FIX_META) && tu_in_file(f, mo, ms))
        tu_put(f, TU_H_META_CHECKSUM, 8, tu_xxh(f, mo, ms));
    if (what & TU_FIX_HEADER)
        tu_put(f, TU_H_CHECKSUM, 8, tu_xxh(f, 0, 120));
}

/* Patch a header field and make the header checksum match again. */
static inline void tu_set_header(tu_file *f, unsigned off, unsigned width, uint64_t v)
{
    tu_put(f, off, width, v);
    tu_fix(f, TU_FIX_HEADER);
}

/* Patch field k's entry and make the field table and header checksums match again. */
static inline void tu_set_field(tu_file *f, uint32_t k, unsigned off, unsigned width, uint64_t v)
{
    tu_put(f, tu_entry(f, k) + off, width, v);
    tu_fix(f, TU_FIX_FT | TU_FIX_HEADER);
}

/* Replace field k's name bytes (name_len = len, rest zero) and fix the checksums. */
static inline void tu_set_name(tu_file *f, uint32_t k, const void *name, size_t len)
{
    uint64_t e = tu_entry(f, k);
    TU_CHECK(len <= 64);
    memset(f->buf + e + TU_F_NAME, 0, 64);
    memcpy(f->buf + e + TU_F_NAME, name, len);
    tu_put(f, e + TU_F_NAME_LEN, 2, len);
    tu_fix(f, TU_FIX_FT | TU_FIX_HEADER);
}

/* Offset of a byte that lies in no region (header, field table, metadata, data, index), i.e. a
 * padding byte, or 0 if the file has none. */
static inline uint64_t tu_find_padding(const tu_file *f)
{
    uint64_t starts[2 + 2 * TC_MAX_FIELDS + 1], ends[2 + 2 * TC_MAX_FIELDS + 1];
    size_t n = 0;
    uint64_t nf = tu_hdr(f, TU_H_NUM_FIELDS, 4);
    starts[n] = 0, ends[n++] = TU_HEADER_SIZE;
    starts[n] = tu_hdr(f, TU_H_FT_OFFSET, 8);
    ends[n] = starts[n] + tu_hdr(f, TU_H_FT_SIZE, 8), n++;
    starts[n] = tu_hdr(f, TU_H_META_OFFSET, 8);
    ends[n] = starts[n] + tu_hdr(f, TU_H_META_SIZE, 8), n++;
    for (uint32_t k = 0; k < nf && k < TC_MAX_FIELDS; k++) {
        starts[n] = tu_fget(f, k, TU_F_DATA_OFFSET, 8);
        ends[n] = starts[n] + tu_fget(f, k, TU_F_DATA_SIZE, 8), n++;
        starts[n] = tu_fget(f, k, TU_F_INDEX_OFFSET, 8);
        ends[n] = starts[n] + tu_fget(f, k, TU_F_INDEX_SIZE, 8), n++;
    }
    for (uint64_t off = TU_HEADER_SIZE; off < f->size; off++) {
        int covered = 0;
        for (size_t r = 0; r < n && !covered; r++)
            covered = off >= starts[r] && off < ends[r];
        if (!covered)
            return off;
    }
    return 0;
}

#endif
