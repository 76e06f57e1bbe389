/* tu_badcases.h - test helpers: the bad-file cases (append only) and the
 * judge of the library's verdict on them.
 * Part of testutil.h (see there); static inline throughout. */
#ifndef TC_TU_BADCASES_H
#define TC_TU_BADCASES_H

#include "tu_layout.h"

/* ---------------------------------------------------------------------------------------------
 * The bad-file cases. Each starts from one of four small valid "base" caches, applies one
 * mutation (with the checksums that cover it fixed up, unless the checksum is the point), and
 * names the error a reader must report: "CODE" from a default open, or "verify-CODE" for a file
 * that opens and fails only full verification ("OK" for a file that must be accepted).
 *
 * test_badfiles.c runs every case against the library; tests/bad/gen_bad.c writes them to the
 * kept-forever corpus as NNN-slug.CODE.tc, NNN being the position in this table (from 1).
 * APPEND ONLY: never reorder, change or remove an entry (corpus files are named after them).
 * ------------------------------------------------------------------------------------------- */
enum { TU_BASE_PLAIN, TU_BASE_VAR, TU_BASE_LZ4, TU_BASE_WIDE, TU_BASE_COUNT };

/* Fields of each base, in field-number order:
 *   PLAIN: 0 image (u8 4x4x1 NHWC), 1 label (i64 scalar)          N = 5
 *   VAR:   0 tokens (i32 VAR), 1 boxes (i16 VAR x 2)              N = 20
 *   LZ4:   0 label, 1 packed (u16 3x5, LZ4, 3 samples per block)  N = 20
 *   WIDE:  0 label, 1 wide (f32 2x3, stride 64)                   N = 5
 * All carry the metadata TU_SMALL_META. */
static inline void tu_base_params(unsigned base, unsigned *mask, uint64_t *n)
{
    static const unsigned masks[TU_BASE_COUNT] = {TU_IMAGE | TU_LABEL, TU_TOKENS | TU_BOXES,
                                                  TU_LABEL | TU_PACKED, TU_LABEL | TU_WIDE};
    static const uint64_t counts[TU_BASE_COUNT] = {5, 20, 20, 5};
    *mask = masks[base];
    *n = counts[base];
}

static inline void tu_write_base(const char *path, unsigned base)
{
    unsigned mask;
    uint64_t n;
    tu_base_params(base, &mask, &n);
    tu_write_small(path, mask, n, TU_SMALL_META);
}

/* -- mutation helpers -- */
static inline void tu_resize(tu_file *f, size_t size)
{
    uint8_t *p = realloc(f->buf, size + 1);
    if (!p)
        TU_FAILF("out of memory");
    if (size > f->size)
        memset(p + f->size, 0, size - f->size);
    f->buf = p;
    f->size = size;
}

static inline uint64_t tu_round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* Offset of index entry i of variable field k (16 + 8R bytes each). */
static inline uint64_t tu_var_entry(const tu_file *f, uint32_t k, uint64_t i)
{
    uint64_t rank = tu_fget(f, k, TU_F_RANK, 1);
    return tu_fget(f, k, TU_F_INDEX_OFFSET, 8) + i * (16 + 8 * rank);
}

/* Offset of block entry b of LZ4 field k. */
static inline uint64_t tu_lz4_entry(const tu_file *f, uint32_t k, uint64_t b)
{
    return tu_fget(f, k, TU_F_INDEX_OFFSET, 8) + b * TU_LZ4_ENTRY;
}

/* Patches a region byte and fixes nothing, or everything. */
static inline void tu_xor_byte(tu_file *f, uint64_t off, uint8_t x)
{
    tu_put(f, off, 1, tu_get(f, off, 1) ^ x);
}

static inline void tu_set_layout(tu_file *f, uint32_t k, const char *tag, size_t len)
{
    uint64_t e = tu_entry(f, k) + TU_F_LAYOUT;
    memset(f->buf + e, 0, 8);
    memcpy(f->buf + e, tag, len);
    tu_fix(f, TU_FIX_FT | TU_FIX_HEADER);
}

/* Replaces the metadata bytes [at, at+len) and fixes the metadata and header checksums. */
static inline void tu_patch_meta(tu_file *f, uint64_t at, const char *bytes, size_t len)
{
    uint64_t mo = tu_hdr(f, TU_H_META_OFFSET, 8);
    memcpy(f->buf + mo + at, bytes, len);
    tu_fix(f, TU_FIX_META | TU_FIX_HEADER);
}

/* -- the mutations, in table order -- */
static inline void bc_empty(tu_file *f) { tu_resize(f, 0); }
static inline void bc_trunc1(tu_file *f) { tu_resize(f, 1); }
static inline void bc_trunc64(tu_file *f) { tu_resize(f, 64); }
static inline void bc_trunc127(tu_file *f) { tu_resize(f, 127); }
static inline void bc_trunc128(tu_file *f) { tu_resize(f, 128); }
static inline void bc_trunc_ft(tu_file *f) { tu_resize(f, tu_hdr(f, TU_H_FT_OFFSET, 8) + 100); }
static inline void bc_trunc_data(tu_file *f) { tu_resize(f, tu_fget(f, 0, TU_F_DATA_OFFSET, 8) + 40); }
static inline void bc_trunc_last(tu_file *f) { tu_resize(f, f->size - 1); }
static inline void bc_magic_byte(tu_file *f) { tu_set_header(f, 0, 1, 0x88); }
static inline void bc_magic_png(tu_file *f)
{
    memcpy(f->buf, "\x89PNG\r\n\x1a\n", 8);
    tu_fix(f, TU_FIX_HEADER);
}
static inline void bc_major2(tu_file *f) { tu_set_header(f, TU_H_VMAJOR, 2, 2); }
static inline void bc_major0(tu_file *f) { tu_set_header(f, TU_H_VMAJOR, 2, 0); }
static inline void bc_major2_nofix(tu_file *f) { tu_put(f, TU_H_VMAJOR, 2, 2); }
static inline void bc_minor1(tu_file *f) { tu_set_header(f, TU_H_VMINOR, 2, 1); }
static inline void bc_hsize64(tu_file *f) { tu_set_header(f, TU_H_HEADER_SIZE, 4, 64); }
static inline void bc_hsum(tu_file *f) { tu_xor_byte(f, TU_H_CHECKSUM, 0x01); }
static inline void bc_hbyte(tu_file *f) { tu_put(f, TU_H_NUM_SAMPLES, 8, 4); }
static inline void bc_hflags(tu_file *f) { tu_set_header(f, TU_H_FLAGS, 4, 1); }
static inline void bc_hreserved(tu_file *f) { tu_set_header(f, TU_H_RESERVED + 12, 1, 0x20); }
static inline void bc_fsize_big(tu_file *f) { tu_set_header(f, TU_H_FILE_SIZE, 8, f->size + 1); }
static inline void bc_fsize_small(tu_file *f) { tu_resize(f, f->size + 64); }
static inline void bc_nfields0(tu_file *f) { tu_set_header(f, TU_H_NUM_FIELDS, 4, 0); }
static inline void bc_nfields1025(tu_file *f) { tu_set_header(f, TU_H_NUM_FIELDS, 4, 1025); }
static inline void bc_ftsize(tu_file *f) { tu_set_header(f, TU_H_FT_SIZE, 8, 3 * 256); }
static inline void bc_meta_huge(tu_file *f)
{
    tu_set_header(f, TU_H_META_SIZE, 8, (UINT64_C(64) << 20) + 1);
}
static inline void bc_ft_eof(tu_file *f)
{
    tu_set_header(f, TU_H_FT_OFFSET, 8, tu_round_up(f->size, 64));
}
static inline void bc_ft_wrap(tu_file *f) { tu_set_header(f, TU_H_FT_OFFSET, 8, ~UINT64_C(63)); }
static inline void bc_meta_eof(tu_file *f)
{
    tu_set_header(f, TU_H_META_OFFSET, 8, tu_round_up(f->size, 8) - 8);
}
static inline void bc_ft_misaligned(tu_file *f)
{
    tu_set_header(f, TU_H_FT_OFFSET, 8, tu_hdr(f, TU_H_FT_OFFSET, 8) - 8);
}
static inline void bc_meta_misaligned(tu_file *f)
{
    tu_set_header(f, TU_H_META_OFFSET, 8, tu_hdr(f, TU_H_META_OFFSET, 8) - 4);
}
static inline void bc_ftsum(tu_file *f)
{
    tu_set_header(f, TU_H_FT_CHECKSUM, 8, tu_hdr(f, TU_H_FT_CHECKSUM, 8) ^ 0x100);
}
static inline void bc_metasum(tu_file *f)
{
    tu_xor_byte(f, tu_hdr(f, TU_H_META_OFFSET, 8) + 2, 0x01); /* 't' -> 'u', sum not fixed */
}
static inline void bc_meta_ff(tu_file *f) { tu_patch_meta(f, 3, "\xff", 1); }
static inline void bc_meta_surrogate(tu_file *f)
{
    tu_patch_meta(f, tu_hdr(f, TU_H_META_SIZE, 8) - 4, "\xed\xa0\x80", 3);
}
static inline void bc_meta_cut(tu_file *f)
{
    tu_patch_meta(f, tu_hdr(f, TU_H_META_SIZE, 8) - 1, "\xc3", 1);
}
static inline void bc_name_len0(tu_file *f) { tu_set_field(f, 1, TU_F_NAME_LEN, 2, 0); }
static inline void bc_name_len65(tu_file *f) { tu_set_field(f, 1, TU_F_NAME_LEN, 2, 65); }
static inline void bc_name_nul(tu_file *f) { tu_set_name(f, 1, "la\0el", 5); }
static inline void bc_name_ff(tu_file *f) { tu_set_name(f, 1, "lab\xff", 4); }
static inline void bc_name_overlong(tu_file *f) { tu_set_name(f, 1, "\xc1\xbf", 2); }
static inline void bc_name_pad(tu_file *f) { tu_set_field(f, 1, TU_F_NAME + 6, 1, 'x'); }
static inline void bc_dtype0(tu_file *f) { tu_set_field(f, 1, TU_F_DTYPE, 1, 0); }
static inline void bc_dtype14(tu_file *f) { tu_set_field(f, 1, TU_F_DTYPE, 1, 14); }
_Static_assert(TC_DTYPE_MAX_CODE == 14,
               "dtype 14 exists now, so the bad-file case dtype-14 (and tests/bad/"
               "043-dtype-14.DTYPE.tc) is no longer bad: append a case for the new first unknown "
               "code, make dtype-14 expect what the file now is, regenerate tests/bad "
               "(tests/bad/README.md) and update this number (docs/HACKING.md, 'Adding a dtype')");
static inline void bc_dtype255(tu_file *f) { tu_set_field(f, 1, TU_F_DTYPE, 1, 255); }
static inline void bc_codec2(tu_file *f) { tu_set_field(f, 0, TU_F_CODEC, 1, 2); }
static inline void bc_lz4_var(tu_file *f) { tu_set_field(f, 0, TU_F_CODEC, 1, TC_CODEC_LZ4); }
static inline void bc_lz4_bs0(tu_file *f) { tu_set_field(f, 1, TU_F_BLOCK_SAMPLES, 8, 0); }
static inline void bc_lz4_raw_limit(tu_file *f)
{
    /* 2^16 x 2^15 u16 = 4 GiB per sample, over LZ4_MAX_INPUT_SIZE */
    tu_put(f, tu_entry(f, 1) + TU_F_SHAPE, 8, UINT64_C(1) << 16);
    tu_set_field(f, 1, TU_F_SHAPE + 8, 8, UINT64_C(1) << 15);
}
static inline void bc_kind2(tu_file *f) { tu_set_field(f, 0, TU_F_KIND, 1, 2); }
static inline void bc_rank9(tu_file *f) { tu_set_field(f, 0, TU_F_RANK, 1, 9); }
static inline void bc_shape_beyond(tu_file *f) { tu_set_field(f, 0, TU_F_SHAPE + 3 * 8, 8, 1); }
static inline void bc_var_in_fixed(tu_file *f)
{
    tu_set_field(f, 0, TU_F_SHAPE, 8, TC_DIM_VARIABLE);
}
static inline void bc_var_no_var(tu_file *f) { tu_set_field(f, 0, TU_F_SHAPE, 8, 5); }
static inline void bc_fflags(tu_file *f) { tu_set_field(f, 0, TU_F_FLAGS, 4, 1); }
static inline void bc_fres0(tu_file *f) { tu_set_field(f, 0, TU_F_RESERVED0, 2, 0x100); }
static inline void bc_fres1(tu_file *f) { tu_set_field(f, 0, TU_F_RESERVED1, 4, 7); }
static inline void bc_fres2(tu_file *f) { tu_set_field(f, 0, TU_F_RESERVED2 + 39, 1, 1); }
static inline void bc_layout_lower(tu_file *f) { tu_set_layout(f, 0, "nhwc", 4); }
static inline void bc_layout_len(tu_file *f) { tu_set_layout(f, 0, "NHW", 3); }
static inline void bc_layout_gap(tu_file *f) { tu_set_layout(f, 0, "NH\0C", 4); }
static inline void bc_shape_overflow(tu_file *f)
{
    tu_put(f, tu_entry(f, 0) + TU_F_SHAPE, 8, UINT64_C(1) << 32);
    tu_set_field(f, 0, TU_F_SHAPE + 8, 8, UINT64_C(1) << 32);
}
static inline void bc_stride_overflow(tu_file *f)
{
    tu_set_field(f, 0, TU_F_STRIDE, 8, UINT64_C(1) << 62);
}
static inline void bc_stride_small(tu_file *f) { tu_set_field(f, 0, TU_F_STRIDE, 8, 15); }
static inline void bc_data_size(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_SIZE, 8, tu_fget(f, 0, TU_F_DATA_SIZE, 8) - 16);
}
static inline void bc_fixed_index(tu_file *f) { tu_set_field(f, 1, TU_F_INDEX_SIZE, 8, 24); }
static inline void bc_var_index_size(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_SIZE, 8, tu_fget(f, 0, TU_F_INDEX_SIZE, 8) - 24);
}
static inline void bc_lz4_index_size(tu_file *f)
{
    tu_set_field(f, 1, TU_F_INDEX_SIZE, 8, tu_fget(f, 1, TU_F_INDEX_SIZE, 8) + 24);
}
static inline void bc_lz4_stride(tu_file *f) { tu_set_field(f, 1, TU_F_STRIDE, 8, 30); }
static inline void bc_data_eof(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_OFFSET, 8, tu_round_up(f->size, 4096));
}
static inline void bc_var_data_size_eof(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_SIZE, 8, f->size);
}
static inline void bc_data_wrap(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_OFFSET, 8, ~UINT64_C(4095));
}
static inline void bc_index_eof(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_OFFSET, 8, tu_round_up(f->size, 64));
}
static inline void bc_data_misaligned(tu_file *f)
{
    tu_set_field(f, 0, TU_F_DATA_OFFSET, 8, tu_fget(f, 0, TU_F_DATA_OFFSET, 8) - 64);
}
static inline void bc_index_misaligned(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_OFFSET, 8, tu_fget(f, 0, TU_F_INDEX_OFFSET, 8) - 8);
}
static inline void bc_dup_name(tu_file *f) { tu_set_name(f, 1, "image", 5); }
static inline void bc_overlap_data(tu_file *f)
{
    tu_set_field(f, 1, TU_F_DATA_OFFSET, 8, tu_fget(f, 0, TU_F_DATA_OFFSET, 8));
}
static inline void bc_overlap_header(tu_file *f) { tu_set_field(f, 1, TU_F_DATA_OFFSET, 8, 0); }
static inline void bc_overlap_ft(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_OFFSET, 8, tu_hdr(f, TU_H_FT_OFFSET, 8));
}
/* Variable index damage: entry 19 of "tokens" (1 element, 4 bytes) or of "boxes" (3 rows). */
static inline void bc_var_past(tu_file *f)
{
    tu_put(f, tu_var_entry(f, 0, 19), 8, tu_fget(f, 0, TU_F_DATA_SIZE, 8));
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_misaligned(tu_file *f)
{
    uint64_t e = tu_var_entry(f, 0, 19);
    tu_put(f, e, 8, tu_get(f, e, 8) + 4);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_overlap(tu_file *f)
{
    tu_put(f, tu_var_entry(f, 0, 19), 8, tu_get(f, tu_var_entry(f, 0, 18), 8));
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_nbytes(tu_file *f)
{
    tu_put(f, tu_var_entry(f, 0, 19) + 8, 8, 8);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_fixed_dim(tu_file *f)
{
    /* boxes sample 19 is (3, 2): claim (2, 3), same byte count, wrong fixed dimension */
    uint64_t e = tu_var_entry(f, 1, 19);
    tu_put(f, e + 16, 8, 2);
    tu_put(f, e + 24, 8, 3);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_var_overflow(tu_file *f)
{
    tu_put(f, tu_var_entry(f, 0, 19) + 16, 8, UINT64_C(1) << 62);
    tu_fix(f, TU_FIX_ALL);
}
/* LZ4 index damage: block 2 of "packed" (samples 6..8). */
static inline void bc_lz4_csize0(tu_file *f)
{
    tu_put(f, tu_lz4_entry(f, 1, 2) + 8, 8, 0);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_lz4_past(tu_file *f)
{
    uint64_t e = tu_lz4_entry(f, 1, 6); /* the last block */
    tu_put(f, e, 8, tu_fget(f, 1, TU_F_DATA_SIZE, 8) - 1);
    tu_fix(f, TU_FIX_REGIONS | TU_FIX_FT | TU_FIX_HEADER);
}
static inline void bc_lz4_overlap(tu_file *f)
{
    tu_put(f, tu_lz4_entry(f, 1, 3), 8, tu_get(f, tu_lz4_entry(f, 1, 2), 8));
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_lz4_truncated(tu_file *f)
{
    uint64_t e = tu_lz4_entry(f, 1, 2);
    tu_put(f, e + 8, 8, tu_get(f, e + 8, 8) - 1);
    tu_fix(f, TU_FIX_ALL);
}
static inline void bc_lz4_flip(tu_file *f)
{
    uint64_t e = tu_lz4_entry(f, 1, 2);
    tu_xor_byte(f, tu_fget(f, 1, TU_F_DATA_OFFSET, 8) + tu_get(f, e, 8), 0x40);
}
/* Block checksums alone: the block's stored checksum is wrong, or its bytes changed, while the
 * index and data region checksums, the field table and the header are re-sealed. */
static inline void bc_lz4_block_sum(tu_file *f)
{
    uint64_t e = tu_lz4_entry(f, 1, 2);
    tu_put(f, e + 16, 8, tu_get(f, e + 16, 8) ^ 1);
    tu_fix(f, TU_FIX_REGIONS | TU_FIX_FT | TU_FIX_HEADER);
}
static inline void bc_lz4_flip_resealed(tu_file *f)
{
    bc_lz4_flip(f);
    tu_fix(f, TU_FIX_REGIONS | TU_FIX_FT | TU_FIX_HEADER);
}
static inline void bc_payload(tu_file *f)
{
    tu_xor_byte(f, tu_fget(f, 0, TU_F_DATA_OFFSET, 8) + 17, 0x01); /* image sample 1 */
}
static inline void bc_data_sum(tu_file *f)
{
    tu_set_field(f, 1, TU_F_DATA_CHECKSUM, 8, tu_fget(f, 1, TU_F_DATA_CHECKSUM, 8) ^ 1);
}
static inline void bc_index_sum(tu_file *f)
{
    tu_set_field(f, 0, TU_F_INDEX_CHECKSUM, 8, tu_fget(f, 0, TU_F_INDEX_CHECKSUM, 8) ^ 1);
}
static inline void bc_padding(tu_file *f)
{
    uint64_t off = tu_find_padding(f);
    if (off == 0)
        TU_FAILF("the base file has no padding byte");
    tu_put(f, off, 1, 0x01);
}
static inline void bc_order_fields(tu_file *f)
{
    /* field 1 has a bad dtype, field 0 a bad name: field 0 is reported first */
    tu_put(f, tu_entry(f, 1) + TU_F_DTYPE, 1, 99);
    tu_set_field(f, 0, TU_F_NAME_LEN, 2, 0);
}
static inline void bc_order_dup_overlap(tu_file *f)
{
    bc_overlap_data(f);
    bc_dup_name(f);
}
static inline void bc_order_ftsum_dtype(tu_file *f)
{
    tu_put(f, tu_entry(f, 1) + TU_F_DTYPE, 1, 99); /* field table checksum not fixed */
    tu_fix(f, TU_FIX_HEADER);
}
static inline void bc_order_size_magic(tu_file *f)
{
    /* too short AND wrong magic: size is checked first */
    f->buf[0] = 'X';
    tu_resize(f, 100);
}
static inline void bc_order_version_header_size(tu_file *f)
{
    tu_put(f, TU_H_VMAJOR, 2, 3);
    tu_set_header(f, TU_H_HEADER_SIZE, 4, 256);
}
static inline void bc_meta_empty_offset(tu_file *f)
{
    /* metadata_size 0 but an offset past the end: the empty region is still out of bounds */
    tu_set_header(f, TU_H_META_SIZE, 8, 0);
    tu_set_header(f, TU_H_META_CHECKSUM, 8, TU_XXH3_EMPTY);
    tu_set_header(f, TU_H_META_OFFSET, 8, tu_round_up(f->size, 8) + 4096);
}

typedef struct {
    const char *slug;    /* lower-case words joined by '-' */
    const char *expect;  /* "CODE", "verify-CODE" or "OK" */
    unsigned base;       /* TU_BASE_* */
    void (*mutate)(tu_file *f);
    const char *mention; /* the message must contain this (a field name), or NULL */
} tu_badcase;

/* The table (APPEND ONLY). Returns it and its length. */
static inline const tu_badcase *tu_badcases(size_t *count)
{
    static const tu_badcase cases[] = {
        {"empty-file", "TRUNCATED", TU_BASE_PLAIN, bc_empty, NULL},
        {"truncated-to-1-byte", "TRUNCATED", TU_BASE_PLAIN, bc_trunc1, NULL},
        {"truncated-to-64-bytes", "TRUNCATED", TU_BASE_PLAIN, bc_trunc64, NULL},
        {"truncated-to-127-bytes", "TRUNCATED", TU_BASE_PLAIN, bc_trunc127, NULL},
        {"truncated-to-header", "TRUNCATED", TU_BASE_PLAIN, bc_trunc128, NULL},
        {"truncated-mid-field-table", "TRUNCATED", TU_BASE_PLAIN, bc_trunc_ft, NULL},
        {"truncated-mid-data", "TRUNCATED", TU_BASE_PLAIN, bc_trunc_data, NULL},
        {"truncated-last-byte", "TRUNCATED", TU_BASE_PLAIN, bc_trunc_last, NULL},
        {"bad-magic-byte", "BAD_MAGIC", TU_BASE_PLAIN, bc_magic_byte, NULL},
        {"bad-magic-png", "BAD_MAGIC", TU_BASE_PLAIN, bc_magic_png, NULL},
        {"version-major-2", "VERSION", TU_BASE_PLAIN, bc_major2, NULL},
        {"version-major-0", "VERSION", TU_BASE_PLAIN, bc_major0, NULL},
        {"version-before-header-checksum", "VERSION", TU_BASE_PLAIN, bc_major2_nofix, NULL},
        {"future-minor-version", "OK", TU_BASE_PLAIN, bc_minor1, NULL},
        {"header-size-64", "HEADER", TU_BASE_PLAIN, bc_hsize64, NULL},
        {"header-checksum-wrong", "CHECKSUM", TU_BASE_PLAIN, bc_hsum, NULL},
        {"header-byte-changed", "CHECKSUM", TU_BASE_PLAIN, bc_hbyte, NULL},
        {"header-flags-set", "RESERVED", TU_BASE_PLAIN, bc_hflags, NULL},
        {"header-reserved-byte-set", "RESERVED", TU_BASE_PLAIN, bc_hreserved, NULL},
        {"file-size-larger-than-file", "TRUNCATED", TU_BASE_PLAIN, bc_fsize_big, NULL},
        {"file-longer-than-file-size", "SIZE_MISMATCH", TU_BASE_PLAIN, bc_fsize_small, NULL},
        {"num-fields-0", "FIELD_COUNT", TU_BASE_PLAIN, bc_nfields0, NULL},
        {"num-fields-1025", "FIELD_COUNT", TU_BASE_PLAIN, bc_nfields1025, NULL},
        {"field-table-size-wrong", "HEADER", TU_BASE_PLAIN, bc_ftsize, NULL},
        {"metadata-over-64-mib", "METADATA", TU_BASE_PLAIN, bc_meta_huge, NULL},
        {"field-table-past-eof", "REGION_BOUNDS", TU_BASE_PLAIN, bc_ft_eof, NULL},
        {"field-table-offset-wraps", "REGION_BOUNDS", TU_BASE_PLAIN, bc_ft_wrap, NULL},
        {"metadata-past-eof", "REGION_BOUNDS", TU_BASE_PLAIN, bc_meta_eof, NULL},
        {"field-table-misaligned", "ALIGNMENT", TU_BASE_PLAIN, bc_ft_misaligned, NULL},
        {"metadata-misaligned", "ALIGNMENT", TU_BASE_PLAIN, bc_meta_misaligned, NULL},
        {"field-table-checksum-wrong", "CHECKSUM", TU_BASE_PLAIN, bc_ftsum, NULL},
        {"metadata-checksum-wrong", "CHECKSUM", TU_BASE_PLAIN, bc_metasum, NULL},
        {"metadata-invalid-byte", "METADATA", TU_BASE_PLAIN, bc_meta_ff, NULL},
        {"metadata-surrogate", "METADATA", TU_BASE_PLAIN, bc_meta_surrogate, NULL},
        {"metadata-cut-utf8-sequence", "METADATA", TU_BASE_PLAIN, bc_meta_cut, NULL},
        {"name-len-0", "NAME", TU_BASE_PLAIN, bc_name_len0, NULL},
        {"name-len-65", "NAME", TU_BASE_PLAIN, bc_name_len65, NULL},
        {"name-with-nul", "NAME", TU_BASE_PLAIN, bc_name_nul, NULL},
        {"name-invalid-utf8", "NAME", TU_BASE_PLAIN, bc_name_ff, NULL},
        {"name-overlong-utf8", "NAME", TU_BASE_PLAIN, bc_name_overlong, NULL},
        {"name-padding-nonzero", "NAME", TU_BASE_PLAIN, bc_name_pad, NULL},
        {"dtype-0", "DTYPE", TU_BASE_PLAIN, bc_dtype0, "label"},
        {"dtype-14", "DTYPE", TU_BASE_PLAIN, bc_dtype14, "label"},
        {"dtype-255", "DTYPE", TU_BASE_PLAIN, bc_dtype255, "label"},
        {"codec-2", "CODEC", TU_BASE_PLAIN, bc_codec2, "image"},
        {"lz4-on-variable-field", "CODEC", TU_BASE_VAR, bc_lz4_var, "tokens"},
        {"lz4-block-samples-0", "CODEC", TU_BASE_LZ4, bc_lz4_bs0, "packed"},
        {"lz4-raw-size-over-limit", "CODEC", TU_BASE_LZ4, bc_lz4_raw_limit, "packed"},
        {"kind-2", "SHAPE", TU_BASE_PLAIN, bc_kind2, "image"},
        {"rank-9", "SHAPE", TU_BASE_PLAIN, bc_rank9, "image"},
        {"shape-beyond-rank-nonzero", "SHAPE", TU_BASE_PLAIN, bc_shape_beyond, "image"},
        {"variable-dim-in-fixed-field", "SHAPE", TU_BASE_PLAIN, bc_var_in_fixed, "image"},
        {"variable-field-without-variable-dim", "SHAPE", TU_BASE_VAR, bc_var_no_var, "tokens"},
        {"field-flags-set", "RESERVED", TU_BASE_PLAIN, bc_fflags, "image"},
        {"field-reserved0-set", "RESERVED", TU_BASE_PLAIN, bc_fres0, "image"},
        {"field-reserved1-set", "RESERVED", TU_BASE_PLAIN, bc_fres1, "image"},
        {"field-reserved2-set", "RESERVED", TU_BASE_PLAIN, bc_fres2, "image"},
        {"layout-lowercase", "LAYOUT", TU_BASE_PLAIN, bc_layout_lower, "image"},
        {"layout-wrong-length", "LAYOUT", TU_BASE_PLAIN, bc_layout_len, "image"},
        {"layout-letter-after-zero", "LAYOUT", TU_BASE_PLAIN, bc_layout_gap, "image"},
        {"shape-product-overflow", "OVERFLOW", TU_BASE_PLAIN, bc_shape_overflow, "image"},
        {"n-times-stride-overflow", "OVERFLOW", TU_BASE_PLAIN, bc_stride_overflow, "image"},
        {"stride-below-sample-bytes", "SHAPE", TU_BASE_PLAIN, bc_stride_small, "image"},
        {"data-size-not-n-times-stride", "SHAPE", TU_BASE_PLAIN, bc_data_size, "image"},
        {"fixed-field-with-index", "SHAPE", TU_BASE_PLAIN, bc_fixed_index, "label"},
        {"variable-index-size-wrong", "SHAPE", TU_BASE_VAR, bc_var_index_size, "tokens"},
        {"lz4-index-size-wrong", "SHAPE", TU_BASE_LZ4, bc_lz4_index_size, "packed"},
        {"lz4-stride-nonzero", "SHAPE", TU_BASE_LZ4, bc_lz4_stride, "packed"},
        {"data-region-past-eof", "REGION_BOUNDS", TU_BASE_PLAIN, bc_data_eof, "image"},
        {"variable-data-size-past-eof", "REGION_BOUNDS", TU_BASE_VAR, bc_var_data_size_eof, "tokens"},
        {"data-offset-wraps", "REGION_BOUNDS", TU_BASE_PLAIN, bc_data_wrap, "image"},
        {"index-region-past-eof", "REGION_BOUNDS", TU_BASE_VAR, bc_index_eof, "tokens"},
        {"data-offset-misaligned", "ALIGNMENT", TU_BASE_PLAIN, bc_data_misaligned, "image"},
        {"index-offset-misaligned", "ALIGNMENT", TU_BASE_VAR, bc_index_misaligned, "tokens"},
        {"duplicate-name", "DUPLICATE_NAME", TU_BASE_PLAIN, bc_dup_name, "image"},
        {"data-regions-overlap", "OVERLAP", TU_BASE_PLAIN, bc_overlap_data, "image"},
        {"data-overlaps-header", "OVERLAP", TU_BASE_PLAIN, bc_overlap_header, "label"},
        {"index-overlaps-field-table", "OVERLAP", TU_BASE_VAR, bc_overlap_ft, "tokens"},
        {"var-entry-past-data", "verify-INDEX", TU_BASE_VAR, bc_var_past, "tokens"},
        {"var-entry-misaligned", "verify-INDEX", TU_BASE_VAR, bc_var_misaligned, "tokens"},
        {"var-entry-overlaps-previous", "verify-INDEX", TU_BASE_VAR, bc_var_overlap, "tokens"},
        {"var-entry-nbytes-wrong", "verify-INDEX", TU_BASE_VAR, bc_var_nbytes, "tokens"},
        {"var-entry-fixed-dim-wrong", "verify-INDEX", TU_BASE_VAR, bc_var_fixed_dim, "boxes"},
        {"var-entry-shape-overflow", "verify-OVERFLOW", TU_BASE_VAR, bc_var_overflow, "tokens"},
        {"lz4-block-csize-0", "verify-INDEX", TU_BASE_LZ4, bc_lz4_csize0, "packed"},
        {"lz4-block-past-data", "verify-INDEX", TU_BASE_LZ4, bc_lz4_past, "packed"},
        {"lz4-blocks-overlap", "verify-INDEX", TU_BASE_LZ4, bc_lz4_overlap, "packed"},
        {"lz4-block-truncated", "verify-CORRUPT_BLOCK", TU_BASE_LZ4, bc_lz4_truncated, "packed"},
        {"lz4-block-byte-flipped", "verify-CHECKSUM", TU_BASE_LZ4, bc_lz4_flip, "packed"},
        {"payload-byte-flipped", "verify-CHECKSUM", TU_BASE_PLAIN, bc_payload, "image"},
        {"data-checksum-wrong", "verify-CHECKSUM", TU_BASE_PLAIN, bc_data_sum, "label"},
        {"index-checksum-wrong", "verify-CHECKSUM", TU_BASE_VAR, bc_index_sum, "tokens"},
        {"padding-byte-nonzero", "verify-PADDING", TU_BASE_PLAIN, bc_padding, NULL},
        {"first-field-reported-first", "NAME", TU_BASE_PLAIN, bc_order_fields, NULL},
        {"duplicate-before-overlap", "DUPLICATE_NAME", TU_BASE_PLAIN, bc_order_dup_overlap, "image"},
        {"field-table-checksum-before-fields", "CHECKSUM", TU_BASE_PLAIN, bc_order_ftsum_dtype, NULL},
        {"size-before-magic", "TRUNCATED", TU_BASE_PLAIN, bc_order_size_magic, NULL},
        {"version-before-header-size", "VERSION", TU_BASE_PLAIN, bc_order_version_header_size, NULL},
        {"empty-metadata-offset-past-eof", "REGION_BOUNDS", TU_BASE_PLAIN, bc_meta_empty_offset, NULL},
        {"lz4-block-checksum-wrong-resealed", "verify-CHECKSUM", TU_BASE_LZ4, bc_lz4_block_sum, "block 2"},
        {"lz4-block-byte-flipped-resealed", "verify-CHECKSUM", TU_BASE_LZ4, bc_lz4_flip_resealed, "block 2"},
    };
    *count = sizeof cases / sizeof cases[0];
    return cases;
}

/* Splits an expectation ("CODE", "verify-CODE", "OK") into (open code, verify code). */
static inline int tu_parse_expect(const char *expect, int *open_code, int *verify_code)
{
    if (strncmp(expect, "verify-", 7) == 0) {
        *open_code = TC_OK;
        *verify_code = tu_code_from_name(expect + 7);
        return *verify_code > 0 ? 0 : -1;
    }
    *open_code = *verify_code = tu_code_from_name(expect);
    return *open_code >= 0 ? 0 : -1;
}

/* Checks the library's verdict on the file at `path` against (open_code, verify_code):
 * default, pread and verifying opens, and tc_verify after a default open. Returns the number of
 * disagreements, each described on stderr (so a corpus run can list them all). */
static inline int tu_judge_file(const char *path, int open_code, int verify_code,
                                const char *mention)
{
    static const unsigned plain_flags[] = {TC_OPEN_DEFAULT, TC_OPEN_NO_MMAP};
    int bad = 0;
    tc_error err;
    for (size_t i = 0; i < 2; i++) {
        tc_cache *c = NULL;
        memset(&err, 0, sizeof err);
        int rc = tc_open(&c, path, plain_flags[i], &err);
        if (rc != open_code) {
            fprintf(stderr, "%s: open(flags %u) gave %s, expected %s: %s\n", path,
                    plain_flags[i], tc_error_name(rc), tc_error_name(open_code), err.message);
            bad++;
        } else if (rc != TC_OK && (err.code != rc || !err.message[0])) {
            fprintf(stderr, "%s: open gave %s with err.code %d, message '%s'\n", path,
                    tc_error_name(rc), err.code, err.message);
            bad++;
        } else if (rc != TC_OK && mention && !strstr(err.message, mention)) {
            fprintf(stderr, "%s: message '%s' does not mention '%s'\n", path, err.message,
                    mention);
            bad++;
        }
        if (rc == TC_OK) {
            memset(&err, 0, sizeof err);
            int vrc = tc_verify(c, &err);
            if (vrc != verify_code) {
                fprintf(stderr, "%s: tc_verify(flags %u) gave %s, expected %s: %s\n", path,
                        plain_flags[i], tc_error_name(vrc), tc_error_name(verify_code),
                        err.message);
                bad++;
            } else if (vrc != TC_OK && mention && !strstr(err.message, mention)) {
                fprintf(stderr, "%s: verify message '%s' does not mention '%s'\n", path,
                        err.message, mention);
                bad++;
            }
            tc_close(c);
        }
    }
    for (unsigned extra = 0; extra <= TC_OPEN_NO_MMAP; extra += TC_OPEN_NO_MMAP) {
        tc_cache *c = NULL;
        memset(&err, 0, sizeof err);
        int rc = tc_open(&c, path, TC_OPEN_VERIFY | extra, &err);
        if (rc != verify_code) {
            fprintf(stderr, "%s: open(VERIFY|%u) gave %s, expected %s: %s\n", path, extra,
                    tc_error_name(rc), tc_error_name(verify_code), err.message);
            bad++;
        }
        if (rc == TC_OK)
            tc_close(c);
        else if (c != NULL) {
            fprintf(stderr, "%s: failed open left *out non-NULL\n", path);
            bad++;
        }
    }
    return bad;
}

/* Builds case `bc` (its base written under the temp dir) into memory. */
static inline void tu_build_badcase(const tu_badcase *bc, tu_file *f)
{
    char base[PATH_MAX];
    char name[64];
    snprintf(name, sizeof name, "base-%u.tc", bc->base);
    tu_path(base, sizeof base, name);
    if (!tu_exists(base))
        tu_write_base(base, bc->base);
    tu_load(f, base);
    bc->mutate(f);
}

#endif
