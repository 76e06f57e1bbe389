/*
 * tensorcache.h - the one public header of libtensorcache.
 *
 * libtensorcache writes and reads tensorcache files: one file per dataset, every field stored
 * channels-last in one aligned region (or an aligned per-sample region plus an index), so that any
 * process can map the file read-only and slice samples without copying. The byte-level contract
 * is docs/FORMAT.md; this header is the C interface to it.
 *
 * Conventions
 *  - Every function that can fail returns an int error code: TC_OK (0) on success, one of the
 *    TC_ERR_* codes below otherwise. Codes have fixed numbers that never change.
 *  - Functions that take a `tc_error *err` fill it with the code, the errno involved (if any) and
 *    a specific message on failure. `err` may be NULL. On success `err` is left untouched.
 *  - All sizes, offsets and counts are 64-bit. Nothing read from a file is trusted before it has
 *    been validated with overflow-checked arithmetic.
 *  - Thread safety: a tc_cache is immutable after tc_open() returns; every read function may be
 *    called from any number of threads at once. A tc_writer must be used by one thread at a time.
 */
#ifndef TENSORCACHE_H
#define TENSORCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Version. The Makefile reads these three lines for the SONAME and tensorcache.pc.
 * ------------------------------------------------------------------------------------------- */
#define TC_VERSION_MAJOR 0
#define TC_VERSION_MINOR 1
#define TC_VERSION_PATCH 0
#define TC_VERSION_NUMBER (TC_VERSION_MAJOR * 10000 + TC_VERSION_MINOR * 100 + TC_VERSION_PATCH)

/* The file format version this library writes (docs/FORMAT.md, "Version history"). */
#define TC_FORMAT_MAJOR 1
#define TC_FORMAT_MINOR 0

#if defined(__GNUC__) && __GNUC__ >= 4
#define TC_API __attribute__((visibility("default")))
#else
#define TC_API
#endif

/*! tc_version_number() :
 *  @return TC_VERSION_NUMBER of the library actually linked (may differ from the header's). */
TC_API unsigned tc_version_number(void);

/*! tc_version_string() :
 *  @return "MAJOR.MINOR.PATCH" of the linked library; a static string. */
TC_API const char *tc_version_string(void);

/* ---------------------------------------------------------------------------------------------
 * Errors. One list of what the library can return; the numbers are part of the ABI and never
 * change or get reused. Numbers increase down the list but may skip reserved ones, so
 * TC_ERR_MAX_CODE is one past the largest code, not the number of codes.
 * X(NAME, number, "description")
 * ------------------------------------------------------------------------------------------- */
#define TC_ERROR_LIST(X)                                                                           \
    X(OK, 0, "no error")                                                                           \
    X(IO, 1, "I/O error")                                                                          \
    X(NOMEM, 2, "out of memory")                                                                   \
    X(INVALID_ARG, 3, "invalid argument")                                                          \
    X(TRUNCATED, 4, "file is truncated")                                                           \
    X(BAD_MAGIC, 5, "not a tensorcache file (bad magic)")                                          \
    X(VERSION, 6, "unsupported format version")                                                    \
    X(HEADER, 7, "invalid header field")                                                           \
    X(SIZE_MISMATCH, 8, "file size differs from the size recorded in the header")                  \
    X(REGION_BOUNDS, 9, "region lies outside the file")                                            \
    X(OVERLAP, 10, "regions overlap")                                                              \
    X(ALIGNMENT, 11, "region or sample is misaligned")                                             \
    X(OVERFLOW, 12, "size arithmetic overflows 64 bits")                                           \
    X(DTYPE, 13, "unknown dtype")                                                                  \
    X(CODEC, 14, "unknown or invalid codec")                                                       \
    X(NAME, 15, "invalid field name")                                                              \
    X(DUPLICATE_NAME, 16, "duplicate field name")                                                  \
    X(RESERVED, 17, "reserved bytes or flag bits are not zero")                                    \
    X(SHAPE, 18, "invalid shape or rank")                                                          \
    X(INDEX, 19, "invalid index entry")                                                            \
    X(CHECKSUM, 20, "checksum mismatch")                                                           \
    X(LAYOUT, 21, "invalid layout tag")                                                            \
    X(NOT_FOUND, 22, "no such field")                                                              \
    X(RANGE, 23, "sample index out of range")                                                      \
    X(WRONG_KIND, 24, "operation not supported for this kind of field")                            \
    X(METADATA, 25, "invalid metadata")                                                            \
    X(STATE, 26, "call not valid in the current writer state")                                     \
    X(SAMPLE_MISMATCH, 27, "sample does not match the declared field")                             \
    X(NO_SPACE, 28, "no space left (disk full or file size limit)")                                \
    X(CORRUPT_BLOCK, 29, "compressed block does not decode to its declared size")                  \
    X(BUFFER_TOO_SMALL, 30, "destination buffer too small")                                        \
    X(FIELD_COUNT, 31, "invalid number of fields")                                                 \
    X(PADDING, 32, "padding bytes between regions are not zero")
/* 33-36 are reserved: the tensorcache command's own codes (SOURCE_FORMAT, SOURCE_UNSUPPORTED,
 * COUNT_MISMATCH, USAGE in tools/errors.h), which the library never returns. New library codes
 * start at 37. */

typedef enum {
#define TC_X_ENUM(name, num, text) TC_ERR_##name = num,
    TC_ERROR_LIST(TC_X_ENUM)
#undef TC_X_ENUM
    TC_ERR_MAX_CODE
} tc_errcode;

#define TC_OK TC_ERR_OK

/* An optional error report. `message` is always NUL-terminated and specific, e.g.
 * "field 'image': data region ends at 123456, past file size 1000". */
typedef struct {
    int code;          /* a tc_errcode */
    int sys_errno;     /* errno of the failing system call, or 0 */
    char message[320]; /* human-readable detail */
} tc_error;

/*! tc_strerror() :
 *  @return a static description of `code` ("unknown error code" for numbers not in the list). */
TC_API const char *tc_strerror(int code);

/*! tc_error_name() :
 *  @return the static symbolic name of `code` without prefix, e.g. "CHECKSUM", or "UNKNOWN". */
TC_API const char *tc_error_name(int code);

/* ---------------------------------------------------------------------------------------------
 * Data types. Codes are stored in the file (FORMAT.md, "Data types").
 * ------------------------------------------------------------------------------------------- */
#define TC_DTYPE_LIST(X)                                                                           \
    X(BOOL, 1, 1, "bool", "|b1")                                                                   \
    X(U8, 2, 1, "u8", "|u1")                                                                       \
    X(I8, 3, 1, "i8", "|i1")                                                                       \
    X(U16, 4, 2, "u16", "<u2")                                                                     \
    X(I16, 5, 2, "i16", "<i2")                                                                     \
    X(U32, 6, 4, "u32", "<u4")                                                                     \
    X(I32, 7, 4, "i32", "<i4")                                                                     \
    X(U64, 8, 8, "u64", "<u8")                                                                     \
    X(I64, 9, 8, "i64", "<i8")                                                                     \
    X(F16, 10, 2, "f16", "<f2")                                                                    \
    X(BF16, 11, 2, "bf16", "|V2")                                                                  \
    X(F32, 12, 4, "f32", "<f4")                                                                    \
    X(F64, 13, 8, "f64", "<f8")

typedef enum {
    TC_DTYPE_INVALID = 0,
#define TC_X_DTYPE(name, code, size, text, npy) TC_DTYPE_##name = code,
    TC_DTYPE_LIST(TC_X_DTYPE)
#undef TC_X_DTYPE
    TC_DTYPE_MAX_CODE
} tc_dtype;

/*! tc_dtype_size() : @return the item size in bytes of `dtype`, or 0 if it is not a valid code. */
TC_API size_t tc_dtype_size(int dtype);
/*! tc_dtype_name() : @return "u8", "f32", ... or NULL for an invalid code. */
TC_API const char *tc_dtype_name(int dtype);
/*! tc_dtype_numpy() : @return the NumPy array-protocol string ("<f4", "|u1"; "|V2" for bf16). */
TC_API const char *tc_dtype_numpy(int dtype);
/*! tc_dtype_from_name() : parses "u8", "uint8", "float32", "f32", ...; @return 0 if unknown. */
TC_API int tc_dtype_from_name(const char *name);

/* Codecs, stored per field. */
typedef enum { TC_CODEC_NONE = 0, TC_CODEC_LZ4 = 1 } tc_codec;

#define TC_MAX_RANK 8            /* dimensions per sample (the sample axis N is extra) */
#define TC_MAX_NAME 64           /* bytes of UTF-8 in a field name */
#define TC_MAX_LAYOUT 8          /* characters in a layout tag, e.g. "NHWC" */
#define TC_MAX_FIELDS 1024       /* fields per file */
#define TC_DIM_VARIABLE UINT64_MAX /* a per-sample dimension that varies between samples */

/* ---------------------------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------------------------- */
typedef struct tc_cache tc_cache;

/* Open flags. */
#define TC_OPEN_DEFAULT 0u
#define TC_OPEN_VERIFY 1u  /* full validation: every index entry, every checksum (cost O(file)) */
#define TC_OPEN_NO_MMAP 2u /* pread backend: no mapping, I/O errors come back as TC_ERR_IO */

/* A field's description. Pointers stay valid until tc_close(). */
typedef struct {
    const char *name;           /* NUL-terminated UTF-8 */
    int dtype;                  /* tc_dtype */
    size_t itemsize;            /* bytes per element */
    uint32_t rank;              /* per-sample rank (0 = scalar per sample) */
    uint64_t shape[TC_MAX_RANK]; /* per-sample shape; TC_DIM_VARIABLE where it varies */
    int variable;               /* 1 if samples have different shapes (index + data region) */
    int codec;                  /* tc_codec */
    char layout[TC_MAX_LAYOUT + 1]; /* e.g. "NHWC", or "" when none was recorded */
    uint32_t flags;             /* field flags (none defined in format 1.0) */
    uint64_t sample_bytes;      /* fixed fields: bytes of one sample; variable: 0 */
    uint64_t stride;            /* fixed uncompressed fields: bytes between samples; else 0 */
    uint64_t block_samples;     /* lz4 fields: samples per block; else 0 */
    uint64_t data_offset, data_size, data_checksum;
    uint64_t index_offset, index_size, index_checksum;
} tc_field_info;

/* A view of one sample or a range of samples (dlpack-style). `data` points into the mapping and
 * is read-only. Shapes and strides include the leading sample axis for range views only. */
typedef struct {
    const void *data;
    int dtype;
    uint32_t ndim;
    uint64_t shape[TC_MAX_RANK + 1];
    int64_t strides[TC_MAX_RANK + 1]; /* in bytes */
    uint64_t nbytes;                  /* bytes spanned by the view's elements */
    int readonly;                     /* always 1 */
} tc_view;

/*! tc_open() :
 *  Opens `path`, reads and validates the header and field table with pread, then maps the file
 *  PROT_READ/MAP_SHARED (unless TC_OPEN_NO_MMAP). Validation is everything FORMAT.md lists as
 *  "open"; its cost does not depend on the number of samples of fixed-shape fields. With
 *  TC_OPEN_VERIFY it also checks every index entry and every checksum (as tc_verify()).
 *  @return TC_OK and *out set, or an error code (and *out = NULL). */
TC_API int tc_open(tc_cache **out, const char *path, unsigned flags, tc_error *err);

/*! tc_close() :
 *  Unmaps and frees. Every pointer obtained from the cache (views, names, metadata) becomes
 *  invalid. NULL is accepted. */
TC_API void tc_close(tc_cache *cache);

/*! tc_num_samples() : @return N, the number of samples (the same for every field). */
TC_API uint64_t tc_num_samples(const tc_cache *cache);
/*! tc_num_fields() : @return the number of fields. */
TC_API uint32_t tc_num_fields(const tc_cache *cache);
/*! tc_file_size() : @return the size of the file in bytes. */
TC_API uint64_t tc_file_size(const tc_cache *cache);
/*! tc_format_version() : @return the file's format version as major*100 + minor (format minor
 *  versions stay below 100, so the number is unambiguous). */
TC_API unsigned tc_format_version(const tc_cache *cache);

/*! tc_describe_field() :
 *  Describes field number `field` (0 <= field < tc_num_fields()). @return TC_OK or
 *  TC_ERR_NOT_FOUND. */
TC_API int tc_describe_field(const tc_cache *cache, uint32_t field, tc_field_info *out);

/*! tc_find_field() :
 *  Looks up a field by exact name. @return TC_OK and *field set, or TC_ERR_NOT_FOUND. */
TC_API int tc_find_field(const tc_cache *cache, const char *name, uint32_t *field);

/*! tc_metadata() :
 *  Hands out the metadata blob (UTF-8 JSON, not NUL-terminated; size 0 when absent). The pointer
 *  stays valid until tc_close(). */
TC_API void tc_metadata(const tc_cache *cache, const void **data, size_t *size);

/*! tc_sample() :
 *  Zero-copy view of sample `i` of an uncompressed field: bounds check and pointer arithmetic for
 *  fixed-shape fields; one index-entry check for variable-shape fields. ndim = field rank.
 *  @return TC_OK, TC_ERR_RANGE, TC_ERR_NOT_FOUND, TC_ERR_WRONG_KIND (compressed field: use
 *  tc_read_sample; also for a cache opened with TC_OPEN_NO_MMAP, which has no mapping),
 *  TC_ERR_INDEX (damaged index entry). The view stays valid until tc_close(). */
TC_API int tc_sample(const tc_cache *cache, uint32_t field, uint64_t i, tc_view *out,
                     tc_error *err);

/*! tc_range() :
 *  Zero-copy view of samples [start, start+n) of a fixed-shape uncompressed field, as one
 *  array of ndim = rank + 1 with shape (n, ...). @return as tc_sample(); TC_ERR_WRONG_KIND for
 *  variable or compressed fields. */
TC_API int tc_range(const tc_cache *cache, uint32_t field, uint64_t start, uint64_t n,
                    tc_view *out, tc_error *err);

/*! tc_sample_nbytes() :
 *  Bytes that sample `i` of `field` occupies when copied out (works for every kind of field). */
TC_API int tc_sample_nbytes(const tc_cache *cache, uint32_t field, uint64_t i, uint64_t *nbytes,
                            uint64_t shape[TC_MAX_RANK], tc_error *err);

/*! tc_read_sample() :
 *  Copies sample `i` of any field (fixed, variable, compressed; mmap or pread backend) into
 *  `dst` (capacity `dst_size`). Decompresses at most one block. *nbytes (may be NULL) receives
 *  the sample size. @return TC_OK, TC_ERR_BUFFER_TOO_SMALL, TC_ERR_RANGE, ... */
TC_API int tc_read_sample(const tc_cache *cache, uint32_t field, uint64_t i, void *dst,
                          size_t dst_size, uint64_t *nbytes, tc_error *err);

/*! tc_gather() :
 *  Copies samples idx[0..n) of a fixed-shape field into `dst`, packed back to back (n *
 *  sample_bytes bytes, which must fit in dst_size). Every index is checked before anything is
 *  copied. Works for compressed fields (one decode per distinct block run). Thread-safe. */
TC_API int tc_gather(const tc_cache *cache, uint32_t field, const uint64_t *idx, size_t n,
                     void *dst, size_t dst_size, tc_error *err);

/* Access hints, forwarded to madvise(2) (no-op for the pread backend). */
typedef enum { TC_ADVICE_NORMAL = 0, TC_ADVICE_SEQUENTIAL, TC_ADVICE_RANDOM, TC_ADVICE_WILLNEED } tc_advice;

/*! tc_advise() :
 *  Applies `advice` to field `field`'s regions, or to the whole file when field == UINT32_MAX. */
TC_API int tc_advise(const tc_cache *cache, uint32_t field, int advice, tc_error *err);

/*! tc_prefetch() :
 *  Asks the kernel to start reading samples idx[0..n) of `field` into the page cache
 *  (madvise(MADV_WILLNEED) per sample, posix_fadvise for the pread backend) and returns without
 *  waiting. Call it for the next batch while the current one is processed: on a cold cache,
 *  random gathers of large samples otherwise fault in one read-around window at a time.
 *  Every index is checked first (TC_ERR_RANGE). Variable-shape fields prefetch their index
 *  entries' samples; LZ4 fields the blocks holding them.
 *  Measured (bench/): on a cold cache it makes random batches of 150 KB samples ~6x faster; for
 *  small samples (784 B) it is slower than the kernel's own read-around, and on resident data
 *  it costs one madvise per sample (~0.4-2.5 us). Use it for large samples on cold data. */
TC_API int tc_prefetch(const tc_cache *cache, uint32_t field, const uint64_t *idx, size_t n,
                       tc_error *err);

/*! tc_verify() :
 *  Full check of an open cache: every index entry, every block, every checksum, zero padding.
 *  @return TC_OK or the first problem found, with field, sample range and byte range in err. */
TC_API int tc_verify(const tc_cache *cache, tc_error *err);

/* Fast path for fixed-shape uncompressed fields: take a span once, then index it inline.
 * tc_span_at() is a bounds check and one multiply-add. A span stays valid until tc_close(). */
typedef struct {
    const uint8_t *base; /* first sample */
    uint64_t stride;     /* bytes between samples */
    uint64_t count;      /* N */
} tc_span;

/*! tc_field_span() : @return TC_OK, or TC_ERR_WRONG_KIND for variable/compressed fields or the
 *  pread backend. */
TC_API int tc_field_span(const tc_cache *cache, uint32_t field, tc_span *out, tc_error *err);

/*! tc_span_at() : @return a pointer to sample i, or NULL when i >= count. */
static inline const void *tc_span_at(const tc_span *span, uint64_t i)
{
    return i < span->count ? span->base + i * span->stride : (const void *)0;
}

/* ---------------------------------------------------------------------------------------------
 * Streaming writer
 * ------------------------------------------------------------------------------------------- */
typedef struct tc_writer tc_writer;

/* A field declaration. */
typedef struct {
    const char *name;            /* UTF-8, 1..TC_MAX_NAME bytes, unique */
    int dtype;                   /* tc_dtype */
    uint32_t rank;               /* per-sample rank, 0..TC_MAX_RANK */
    uint64_t shape[TC_MAX_RANK]; /* per-sample shape; TC_DIM_VARIABLE makes the field variable */
    const char *layout;          /* e.g. "NHWC" (rank+1 letters A-Z), or NULL/"" for none */
    int codec;                   /* TC_CODEC_NONE or TC_CODEC_LZ4 (fixed-shape fields only) */
    uint64_t align;              /* fixed fields: pad each sample's stride to this power of two
                                    (0 or 1 = packed); ignored otherwise */
    uint64_t block_bytes;        /* lz4: target uncompressed bytes per block (0 = 256 KiB) */
} tc_field_spec;

/* The value of one field for one sample (tc_writer_append) or for a batch of samples
 * (tc_writer_append_batch, fixed fields: n samples back to back, C order). */
typedef struct {
    const void *data;
    uint64_t nbytes;                 /* must equal the declared/actual size */
    const uint64_t *shape;           /* variable fields: this sample's shape (rank entries) */
} tc_value;

/*! tc_writer_create() :
 *  Starts writing `path`. Nothing appears at `path` until tc_writer_finish() succeeds: data goes
 *  to an unnamed (O_TMPFILE) or hidden temporary file in the same directory. Stale temporaries of
 *  earlier crashed writers to the same path are removed. @return TC_OK and *out, or an error. */
TC_API int tc_writer_create(tc_writer **out, const char *path, tc_error *err);

/*! tc_writer_add_field() : declares a field; only before the first append. */
TC_API int tc_writer_add_field(tc_writer *w, const tc_field_spec *spec, tc_error *err);

/*! tc_writer_set_metadata() : sets the metadata blob (copied; UTF-8, normally a JSON object). */
TC_API int tc_writer_set_metadata(tc_writer *w, const void *data, size_t size, tc_error *err);

/*! tc_writer_append() :
 *  Appends one sample: values[k] is field k's value, in declaration order. Memory use does not
 *  grow with the number of samples appended (beyond one lz4 block per compressed field).
 *  Every value is checked before anything is written. Any failure (TC_ERR_SAMPLE_MISMATCH, I/O)
 *  poisons the writer: later calls return TC_ERR_STATE and tc_writer_finish() returns the first
 *  error and publishes nothing, so an ignored error can never yield a file missing a sample. */
TC_API int tc_writer_append(tc_writer *w, const tc_value *values, tc_error *err);

/*! tc_writer_append_batch() :
 *  Appends n samples. values[k] of a fixed field holds n samples back to back; a variable field
 *  takes an array of n tc_value via values[k].data (cast to const tc_value *). */
TC_API int tc_writer_append_batch(tc_writer *w, uint64_t n, const tc_value *values,
                                  tc_error *err);

/*! tc_writer_count() : @return the number of samples appended so far. */
TC_API uint64_t tc_writer_count(const tc_writer *w);

/*! tc_writer_bytes() : @return payload bytes appended so far (for progress reports). */
TC_API uint64_t tc_writer_bytes(const tc_writer *w);

/*! tc_writer_finish() :
 *  Lays out the file, writes field table, metadata and header, fsyncs, renames over `path`
 *  atomically and fsyncs the directory. Frees `w` whatever the outcome; on failure `path` is
 *  untouched and no temporary file is left. */
TC_API int tc_writer_finish(tc_writer *w, tc_error *err);

/*! tc_writer_abort() : discards everything written; `path` is untouched. Frees `w`. NULL ok. */
TC_API void tc_writer_abort(tc_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* TENSORCACHE_H */
