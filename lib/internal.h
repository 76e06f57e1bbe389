/* internal.h - definitions shared by the files of libtensorcache; not installed.
 *
 * The rooms: error.c (codes, version, dtype table, struct sizes), format.c (decoding and
 * validating header and field table; encoding them), reader.c (tc_open and every read path,
 * tc_verify), writer.c (the streaming writer), loader.c (tc_loader, built on reader.c).
 *
 * Contracts inside the library (the public ones are in include/tensorcache.h):
 *  - Who checks what. Public functions check their arguments (NULL handle -> INVALID_ARG, field
 *    number -> NOT_FOUND, sample index -> RANGE) before calling anything here; tc__ functions
 *    and the static helpers behind them trust their arguments and never check them again.
 *  - What is validated when. tc_open() runs tc__parse_header, tc__parse_field for every entry,
 *    tc__check_regions and tc__check_unique_names: after it, every tc_field_entry of a tc_cache
 *    is valid (dtype, rank, shape, kind, codec, layout, regions inside the file and disjoint,
 *    derived sizes computed without overflow). Per-sample index entries (variable fields) and
 *    LZ4 block entries are NOT validated by tc_open (that would cost O(N)); every path that
 *    uses one checks it first (reader.c: var_entry, block_entry), so a damaged entry is
 *    TC_ERR_INDEX at the read that meets it, never an out-of-bounds access.
 *  - Pointers. `err` may be NULL everywhere (tc__fail accepts NULL). Output pointers of tc__
 *    functions must not be NULL. A tc_cache never changes after tc_open returns, so readers
 *    need no locks; pointers into it (names, metadata, the mapping) live until tc_close.
 *  - Arithmetic. Every size or offset that comes from a file or an argument goes through
 *    tc_add/tc_mul (or tc_shape_bytes) before it is used; tc_align_up is only applied to
 *    values already known to be far below 2^64.
 *  - Errors. Every failure returns a code from TC_ERROR_LIST through tc__fail(), with a message
 *    that names the field, sample and byte range where it applies. */
#ifndef TC_INTERNAL_H
#define TC_INTERNAL_H

#include "tensorcache.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensorcache stores samples in little-endian order and supports little-endian hosts only"
#endif

/* ---- on-disk constants (docs/FORMAT.md) ---- */
#define TC_MAGIC "\x89TCACHE\n"
#define TC_HEADER_SIZE 128u
#define TC_FIELD_ENTRY_SIZE 256u
#define TC_DATA_ALIGN 4096u
#define TC_INDEX_ALIGN 64u
#define TC_SAMPLE_ALIGN 64u   /* variable-shape samples inside their data region */
#define TC_META_ALIGN 8u
#define TC_MAX_METADATA (64u << 20)
#define TC_LZ4_ENTRY_SIZE 24u
#define TC_LZ4_MAX_RAW 2113929216u /* LZ4_MAX_INPUT_SIZE */
#define TC_KIND_FIXED 0u
#define TC_KIND_VARIABLE 1u

/* A field number that names no field: tc_region's header, field table and metadata, and an
 * empty tc__block_cache. (The public TC_ALL_FIELDS has the same value for another purpose.) */
#define TC__NO_FIELD UINT32_MAX

/* header field offsets */
enum {
    H_MAGIC = 0, H_VMAJOR = 8, H_VMINOR = 10, H_HSIZE = 12, H_FILE_SIZE = 16, H_NSAMPLES = 24,
    H_NFIELDS = 32, H_FLAGS = 36, H_FT_OFF = 40, H_FT_SIZE = 48, H_META_OFF = 56, H_META_SIZE = 64,
    H_FT_SUM = 72, H_META_SUM = 80, H_RESERVED = 88, H_RESERVED_SIZE = 32, H_SUM = 120
};
/* field entry offsets */
enum {
    F_NAME = 0, F_NAME_LEN = 64, F_DTYPE = 66, F_RANK = 67, F_KIND = 68, F_CODEC = 69, F_RES0 = 70,
    F_LAYOUT = 72, F_SHAPE = 80, F_FLAGS = 144, F_RES1 = 148, F_STRIDE = 152, F_DATA_OFF = 160,
    F_DATA_SIZE = 168, F_DATA_SUM = 176, F_INDEX_OFF = 184, F_INDEX_SIZE = 192, F_INDEX_SUM = 200,
    F_BLOCK_SAMPLES = 208, F_RES2 = 216, F_RES2_SIZE = 40
};

/* A validated field table entry plus what is derived from it. */
typedef struct {
    char name[TC_MAX_NAME + 1];
    uint32_t name_len;
    uint8_t dtype, rank, kind, codec;
    char layout[TC_MAX_LAYOUT + 1];
    uint64_t shape[TC_MAX_RANK];
    uint32_t flags;
    uint64_t stride;
    uint64_t data_offset, data_size, data_checksum;
    uint64_t index_offset, index_size, index_checksum;
    uint64_t block_samples;
    /* derived */
    uint64_t itemsize;
    uint64_t sample_bytes; /* fixed-shape fields */
    uint64_t entry_size;   /* bytes per index entry (variable / lz4), else 0 */
    uint64_t nblocks;      /* lz4 */
} tc_field_entry;

typedef struct {
    uint16_t version_major, version_minor;
    uint64_t file_size, num_samples;
    uint32_t num_fields;
    uint64_t ft_offset, ft_size, meta_offset, meta_size, ft_checksum, meta_checksum;
} tc_header;

/* ---- little-endian access ---- */
static inline uint16_t tc_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t tc_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t tc_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void tc_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void tc_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void tc_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ---- checked arithmetic: return false on overflow ---- */
static inline bool tc_add(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_add_overflow(a, b, r); }
static inline bool tc_mul(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static inline uint64_t tc_align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; } /* caller ensures no overflow */

/* ---- errors (error.c) ---- */
int tc__fail(tc_error *err, int code, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps errno of a failed write to TC_ERR_NO_SPACE or TC_ERR_IO. */
int tc__write_errcode(int e);

/* ---- outputs (output.c) ---- */
/* An unnamed scratch file next to the output's temporary (the writer's spill files). */
int tc__output_temp(tc_output *o, int *fd_out, tc_error *err);
/* The output's name for messages: "DIR/BASE", or the stream's path or description. */
const char *tc__output_name(const tc_output *o);

/* ---- format helpers (format.c) ---- */
bool tc__utf8_valid(const uint8_t *s, size_t n);
uint64_t tc__checksum(const void *data, size_t n);
int tc__parse_header(const uint8_t *buf, uint64_t real_size, tc_header *h, tc_error *err);
int tc__parse_field(const uint8_t *entry, uint32_t k, const tc_header *h, tc_field_entry *f,
                    tc_error *err);
int tc__check_layout_tag(const char *tag, size_t len, uint32_t rank);
int tc__check_regions(const tc_header *h, const tc_field_entry *fields, tc_error *err);
/* The header, field table, metadata and every non-empty field region, sorted by offset; the
 * caller frees the array. NULL when out of memory. */
typedef struct {
    uint64_t off, size;
    uint32_t field; /* TC__NO_FIELD for header, field table, metadata */
    const char *what;
} tc_region;
tc_region *tc__sorted_regions(const tc_header *h, const tc_field_entry *fields, size_t *count);
int tc__check_unique_names(const tc_header *h, const tc_field_entry *fields, tc_error *err);
void tc__encode_header(uint8_t *buf, const tc_header *h);
void tc__encode_field(uint8_t *entry, const tc_field_entry *f);

/* Variable-shape index entry, decoded. */
typedef struct {
    uint64_t offset, nbytes;
    uint64_t shape[TC_MAX_RANK];
} tc_var_entry;

/* LZ4 block index entry, decoded. */
typedef struct {
    uint64_t offset, csize, checksum;
} tc_block_entry;

/* ---- for the loader (reader.c) ---- */
/* One decoded LZ4 block kept between reads of the same thread (field TC__NO_FIELD: none yet). */
typedef struct {
    uint8_t *buf;
    uint64_t cap;
    uint32_t field;
    uint64_t block;
} tc__block_cache;
/* tc_read_sample(), but an LZ4 sample whose block is the one in `bc` is copied from it, and a
 * newly decoded block is kept there. Free bc->buf when done. */
int tc__read_sample_cached(const tc_cache *c, uint32_t field, uint64_t i, void *dst,
                           size_t dst_size, tc__block_cache *bc, tc_error *err);
/* true for the mmap backend */
bool tc__is_mapped(const tc_cache *c);
/* Fraction of the file's pages in the page cache (mincore); 1.0 for the pread backend. */
double tc__resident_fraction(const tc_cache *c);

#endif
