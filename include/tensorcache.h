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
 *  - Every function that can fail takes a `tc_error *err` last and fills it with the code, the
 *    errno involved (if any) and a specific message on failure. `err` may be NULL. On success
 *    `err` is left untouched.
 *  - NULL handles: a NULL tc_cache *, tc_writer * or tc_loader * is TC_ERR_INVALID_ARG for
 *    every function that returns an error code; the getters (tc_num_samples, tc_num_fields,
 *    tc_file_size, tc_format_version, tc_writer_count, tc_writer_bytes,
 *    tc_loader_num_batches, tc_loader_num_threads) return 0; tc_close, tc_writer_abort,
 *    tc_loader_release and tc_loader_close do nothing. Output pointers must not be NULL
 *    unless a function says so.
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
#define TC_STRINGIFY_(x) #x
#define TC_STRINGIFY(x) TC_STRINGIFY_(x)
/* "MAJOR.MINOR.PATCH" of this header (tc_version_string() gives the linked library's). */
#define TC_VERSION_STRING                                                                          \
    TC_STRINGIFY(TC_VERSION_MAJOR) "." TC_STRINGIFY(TC_VERSION_MINOR) "." TC_STRINGIFY(TC_VERSION_PATCH)

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

/*! tc_type_size() :
 *  For bindings that declare this header's structs themselves (python/tensorcache/_native.py):
 *  @return sizeof the public struct `name` ("tc_error", "tc_field_info", "tc_view", "tc_span",
 *  "tc_field_spec", "tc_value", "tc_order", "tc_loader_options", "tc_batch_field",
 *  "tc_batch") in the linked library, or 0 for any other name. A binding whose own size
 *  differs must refuse the library. */
TC_API size_t tc_type_size(const char *name);

/*! tc_version() :
 *  The linked library's version, each part on its own (any pointer may be NULL). Unlike
 *  TC_VERSION_NUMBER, no part can overflow into another. */
TC_API void tc_version(unsigned *major, unsigned *minor, unsigned *patch);

/*! tc_format_written() :
 *  The file format version this library writes (TC_FORMAT_MAJOR/MINOR of the linked library;
 *  any pointer may be NULL). It reads every 1.x file. */
TC_API void tc_format_written(unsigned *major, unsigned *minor);

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
    X(PADDING, 32, "padding bytes between regions are not zero")                                   \
    X(EXISTS, 37, "output file exists (overwriting was not requested)")                           \
    X(SAME_FILE, 38, "output is the same file as an input")                                       \
    X(NOT_REGULAR, 39, "output is a directory, socket or block device, which is never replaced")   \
    X(STOPPED, 42, "loader stopped after delivering an error; restart it")                        \
    X(TIMEOUT, 43, "no batch became ready within the timeout")
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

/*! tc_shape_bytes() :
 *  *out = itemsize * shape[0] * ... * shape[rank-1] (itemsize for rank 0), in checked 64-bit
 *  arithmetic: the one place the library and the tensorcache command compute a sample's size.
 *  @return TC_OK, TC_ERR_OVERFLOW (*out untouched), or TC_ERR_INVALID_ARG (rank above
 *  TC_MAX_RANK, NULL out, or NULL shape with rank > 0). */
TC_API int tc_shape_bytes(const uint64_t *shape, uint32_t rank, uint64_t itemsize, uint64_t *out,
                          tc_error *err);

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

/* Open flags, and what each level of checking checks and costs:
 *  TC_OPEN_DEFAULT       at open: the header, the field table and the metadata (each against its
 *                        checksum), every field entry and the regions' placement. Cost
 *                        O(fields + metadata), independent of N. On each access: the index
 *                        entries a variable or LZ4 sample needs, and an LZ4 block must decode to
 *                        exactly its size. Payload bytes are not checksummed.
 *  TC_OPEN_CHECK_BLOCKS  also, on every LZ4 block read (tc_read_sample, tc_gather, ...): the
 *                        block's own XXH3-64 checksum (FORMAT.md section 7) over its compressed
 *                        bytes, before decoding. Cost: one hash pass over the compressed bytes
 *                        read, a few percent of the decode (XXH3 runs at >10 GB/s). Uncompressed
 *                        fields have no per-sample checksum, so nothing changes for them.
 *  TC_OPEN_VERIFY        full validation at open, as tc_verify(): every index entry, every
 *                        region checksum, every LZ4 block checksum, every block decoded, zero
 *                        padding. Cost O(file size): the whole file is read (LZ4 data twice).
 *  TC_OPEN_NO_MMAP       pread backend: no mapping, I/O errors come back as TC_ERR_IO. */
#define TC_OPEN_DEFAULT 0u
#define TC_OPEN_VERIFY 1u
#define TC_OPEN_NO_MMAP 2u
#define TC_OPEN_CHECK_BLOCKS 4u

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

/* A view of one sample or a range of samples. `data` points into the mapping and is read-only.
 * Shapes and strides include the leading sample axis for range views only. Strides are in bytes
 * (as NumPy's, unlike DLPack's, which count elements). */
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
/*! tc_file_format() :
 *  The format version recorded in the file's header: *major (always 1 for files this library
 *  opens) and *minor (0..65535; a later minor than tc_format_written() is read as 1.x). Any
 *  pointer may be NULL. */
TC_API void tc_file_format(const tc_cache *cache, unsigned *major, unsigned *minor);

/*! tc_format_version() : DEPRECATED, use tc_file_format().
 *  @return major*100 + minor, which is ambiguous once a minor reaches 100 (1.150 and 2.50 both
 *  give 250); kept so that callers of library 0.1 still build and run. */
TC_API unsigned tc_format_version(const tc_cache *cache);

/*! tc_describe_field() :
 *  Describes field number `field` (0 <= field < tc_num_fields()). @return TC_OK,
 *  TC_ERR_NOT_FOUND, or TC_ERR_INVALID_ARG (NULL cache or out). */
TC_API int tc_describe_field(const tc_cache *cache, uint32_t field, tc_field_info *out,
                             tc_error *err);

/*! tc_find_field() :
 *  Looks up a field by exact name. `field` may be NULL (only ask whether it exists).
 *  @return TC_OK and *field set, TC_ERR_NOT_FOUND, or TC_ERR_INVALID_ARG (NULL cache or name). */
TC_API int tc_find_field(const tc_cache *cache, const char *name, uint32_t *field, tc_error *err);

/*! tc_metadata() :
 *  Hands out the metadata blob (UTF-8 JSON, not NUL-terminated; *data NULL and *size 0 when
 *  absent). The pointer stays valid until tc_close(). `data` or `size` may be NULL.
 *  @return TC_OK, or TC_ERR_INVALID_ARG for a NULL cache. */
TC_API int tc_metadata(const tc_cache *cache, const void **data, size_t *size, tc_error *err);

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

/* tc_advise()'s `field` for "the whole file" (headers, tables and every field). */
#define TC_ALL_FIELDS UINT32_MAX

/*! tc_advise() :
 *  Applies `advice` to field `field`'s regions, or to the whole file when field ==
 *  TC_ALL_FIELDS. @return TC_OK, TC_ERR_NOT_FOUND, TC_ERR_INVALID_ARG (bad advice), TC_ERR_IO. */
TC_API int tc_advise(const tc_cache *cache, uint32_t field, int advice, tc_error *err);

/*! tc_prefetch() :
 *  Asks the kernel to start reading samples idx[0..n) of `field` into the page cache
 *  (madvise(MADV_WILLNEED) per sample, posix_fadvise for the pread backend) and returns without
 *  waiting. Call it for the next batch while the current one is processed: on a cold cache,
 *  random gathers of large samples otherwise fault in one read-around window at a time.
 *  Every index is checked first (TC_ERR_RANGE). Variable-shape fields prefetch their index
 *  entries' samples; LZ4 fields the blocks holding them.
 *  It pays for large samples on cold data; for small samples the kernel's own read-around is
 *  faster, and on resident data it costs one madvise per sample. The measurements are the
 *  tc_prefetch rows of bench/results/latest.md. */
TC_API int tc_prefetch(const tc_cache *cache, uint32_t field, const uint64_t *idx, size_t n,
                       tc_error *err);

/*! tc_verify() :
 *  Full check of an open cache: every index entry, every region checksum and every LZ4 block
 *  checksum (even when the region's matches), every block decoded, zero padding.
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
 * Batch loader
 *
 * A tc_loader fills a ring of reusable batch buffers from a pool of threads, a few batches ahead
 * of the consumer, in a sequential, shuffled or explicit order:
 *
 *     tc_loader_options o = {0};  o.batch_size = 256;            (all fields, auto threads)
 *     tc_order order = {0};  order.kind = TC_ORDER_SHUFFLE;  order.seed = 42;  order.epoch = e;
 *     tc_loader *l;  const tc_batch *b;
 *     if (tc_loader_create(&l, cache, &o, &order, &err)) ...
 *     while ((rc = tc_loader_next(l, &b, -1, &err)) == TC_OK && b) use(b->fields[0].data ...);
 *     tc_loader_close(l);
 *
 * How it reads. Each worker thread takes a whole batch and copies every sample of every chosen
 * field into the batch's buffers (the threads are the requests in flight).
 *  - mmap backend (the default tc_open): samples are copied from the mapping. In shuffled or
 *    explicit order the loader advises MADV_RANDOM for the whole file (a random fault then reads
 *    one page, not megabytes of read-around) and, when less than 90% of the file is in the page
 *    cache (mincore, once per pass), starts the reads of each batch's samples of 16 KiB or more
 *    with madvise(MADV_WILLNEED) before copying.
 *  - pread backend (tc_open with TC_OPEN_NO_MMAP): every sample is one pread; with many threads
 *    (default 16) many reads are in flight. Use it for cold data: it is immune to SIGBUS, a file
 *    truncated under the loader gives TC_ERR_TRUNCATED/TC_ERR_IO with the batch.
 *    posix_fadvise(RANDOM) is set for shuffled and explicit orders.
 *    Advice applies to the cache as a whole (every user of it); TC_LOADER_NO_ADVICE skips it.
 *  - LZ4 fields are decoded in the worker threads; a worker sorts its batch's samples by block and
 *    decodes each block once per batch.
 *
 * Batch lifetime (the rule): a batch returned by tc_loader_next() -- its buffers, sample list and
 * field array -- stays valid until the next call of tc_loader_next(), tc_loader_release(),
 * tc_loader_restart() or tc_loader_close() on that loader. Its memory is then reused for a later
 * batch: copy out what you keep. Buffers are allocated in the first round; after that no batch
 * allocates (variable-shape buffers grow when a batch needs more bytes than any before it).
 *
 * Variable-shape fields are packed: the samples of a batch lie back to back in `data` (each
 * sample's bytes in C order), sample k spans bytes [offsets[k], offsets[k+1]) and has shape
 * shapes[k*rank .. k*rank+rank). Fixed fields are one C-order array (size, *shape).
 *
 * Errors travel with the batch they belong to: batches before a failing one are delivered
 * normally; tc_loader_next() then returns the failure (batch status; error_field and
 * error_sample name the field number and the sample index; the message names both), and every
 * later call returns TC_ERR_STOPPED until tc_loader_restart(). Thread safety: one consumer
 * thread calls next/release/restart/close; the worker threads are the loader's own.
 *
 * Extending (HACKING): each loaded field has one "materialize" step that writes a batch's samples
 * into the field's slot buffer (lib/loader.c, materialize_fn). A decoder for an encoded field
 * (JPEG/PNG bytes -> a fixed HxWxC slot, with crop and flip) plugs in as one more such step;
 * docs/HACKING.md ("Adding a field kind to the batch loader") says how.
 * ------------------------------------------------------------------------------------------- */

/*! tc_shuffle_index() :
 *  Position i (0 <= i < n) of the seeded permutation of [0, n) for (seed, epoch), in O(1) memory
 *  and O(1) expected time: a 6-round keyed Feistel network over the smallest even number of bits
 *  b >= 2 with 2^b >= n, cycle-walked until the value falls below n (as Grain's index_shuffle).
 *  The same (i, n, seed, epoch) gives the same result on every machine; the definition:
 *    mix(x)  = splitmix64 finalizer of x + 0x9E3779B97F4A7C15 (constants 0xBF58476D1CE4E5B9,
 *              0x94D049BB133111EB; shifts 30, 27, 31), all arithmetic mod 2^64
 *    key[r]  = mix(mix(mix(seed) + epoch) + r), r = 0..5;  h = b / 2;  m = 2^h - 1
 *    round r: (L, R) -> (R, L ^ (mix(R ^ key[r]) & m)), with x = L * 2^h + R
 *    value   = repeat x = feistel(x) starting from x = i, until x < n
 *  Example: n = 10, seed = 42, epoch = 1 gives 6 1 4 7 0 5 3 8 2 9; seed = 0, epoch = 0 gives
 *  0 1 2 9 8 3 4 7 6 5 (tests/unit/test_loader.c checks both).
 *  @return the permuted index; 0 when n <= 1 or i >= n (not a permutation position). */
TC_API uint64_t tc_shuffle_index(uint64_t i, uint64_t n, uint64_t seed, uint64_t epoch);

typedef enum {
    TC_ORDER_SEQUENTIAL = 0, /* positions 0..N-1 are samples 0..N-1 */
    TC_ORDER_SHUFFLE = 1,    /* position p is sample tc_shuffle_index(p, N, seed, epoch) */
    TC_ORDER_INDICES = 2     /* position p is sample indices[p] (any sampler; repeats allowed) */
} tc_order_kind;

/* The order of one epoch. Zero-initialised = sequential, every sample, from the start. */
typedef struct {
    int kind;                /* tc_order_kind */
    uint64_t seed, epoch;    /* TC_ORDER_SHUFFLE */
    const uint64_t *indices; /* TC_ORDER_INDICES: num_indices sample numbers, each < N; copied */
    uint64_t num_indices;
    int drop_last;           /* 1: no final batch shorter than batch_size */
    uint64_t start;          /* first position to load (mid-epoch resume: positions consumed so
                                far); batches are cut from here: [start, start+B), ... */
} tc_order;

#define TC_LOADER_NO_ADVICE 1u /* no madvise/posix_fadvise from the loader */

/* Loader settings. Zero-initialise, then set batch_size (the one required member). */
typedef struct {
    const uint32_t *fields;  /* field numbers to load, in this order; NULL = every field */
    uint32_t num_fields;
    uint64_t batch_size;     /* samples per batch, >= 1 */
    uint32_t num_threads;    /* 0 = automatic: online CPUs (mmap), 16 (pread backend) */
    uint32_t prefetch;       /* ring slots = batches held + loaded ahead; 0 = num_threads + 2 */
    unsigned flags;          /* TC_LOADER_* */
} tc_loader_options;

/* One field of a batch. */
typedef struct {
    uint32_t field;        /* field number in the cache */
    int dtype;             /* tc_dtype */
    uint32_t rank;         /* per-sample rank */
    int variable;          /* 1: packed variable-shape samples (offsets, shapes) */
    void *data;            /* 64-byte aligned, owned by the loader (see the lifetime rule) */
    uint64_t nbytes;       /* bytes of data used by this batch */
    uint64_t sample_bytes; /* fixed fields: bytes per sample (batch = size * sample_bytes) */
    const uint64_t *shape; /* fixed fields: the per-sample shape (rank entries) */
    const uint64_t *offsets; /* variable: size + 1 byte offsets into data */
    const uint64_t *shapes;  /* variable: size * rank dimensions */
} tc_batch_field;

typedef struct {
    uint64_t position;        /* epoch position of the first sample */
    uint64_t size;            /* samples in the batch */
    const uint64_t *samples;  /* size sample numbers: row k is sample samples[k] */
    uint32_t num_fields;
    const tc_batch_field *fields; /* in the order of tc_loader_options.fields */
    int status;               /* TC_OK, or the error this batch carries */
    uint32_t error_field;     /* when status != TC_OK: the field number ... */
    uint64_t error_sample;    /* ... and the sample number that failed */
    tc_error error;           /* when status != TC_OK */
} tc_batch;

typedef struct tc_loader tc_loader;

/*! tc_loader_create() :
 *  Validates the options and the order (every explicit index < N: TC_ERR_RANGE; start beyond
 *  the end: TC_ERR_INVALID_ARG), allocates the ring and starts the threads, which begin loading
 *  at once. The cache must stay open until tc_loader_close(). @return TC_OK and *out, or an
 *  error (TC_ERR_INVALID_ARG, TC_ERR_NOT_FOUND for a bad field number, TC_ERR_OVERFLOW,
 *  TC_ERR_NOMEM). */
TC_API int tc_loader_create(tc_loader **out, const tc_cache *cache, const tc_loader_options *opt,
                            const tc_order *order, tc_error *err);

/*! tc_loader_next() :
 *  Releases the batch handed out before (if any) and waits for the next one, at most timeout_ms
 *  milliseconds (< 0: no limit). @return
 *    TC_OK with *out set: a batch; TC_OK with *out = NULL: the epoch is over;
 *    the batch's error with *out set to it (see above); TC_ERR_STOPPED after that;
 *    TC_ERR_TIMEOUT with *out = NULL: nothing ready yet, call again (lets a caller poll for
 *    Ctrl-C: the Python binding waits in 100 ms steps). */
TC_API int tc_loader_next(tc_loader *l, const tc_batch **out, int timeout_ms, tc_error *err);

/*! tc_loader_release() : gives the batch handed out back to the ring early (optional). */
TC_API void tc_loader_release(tc_loader *l);

/*! tc_loader_restart() :
 *  Starts a new pass with `order` (a new epoch, a new seed, new indices, a resume position):
 *  waits for the batches being filled, drops the ones loaded ahead and begins again, keeping
 *  threads and buffers. Clears the STOPPED state. @return TC_OK, or an order error (the loader
 *  then keeps its previous order and state). */
TC_API int tc_loader_restart(tc_loader *l, const tc_order *order, tc_error *err);

/*! tc_loader_num_batches() : @return the number of batches this pass delivers. */
TC_API uint64_t tc_loader_num_batches(const tc_loader *l);

/*! tc_loader_num_threads() : @return the number of worker threads. */
TC_API uint32_t tc_loader_num_threads(const tc_loader *l);

/*! tc_loader_close() :
 *  Stops the loader at any point of an epoch: no new batch is started, the batches being filled
 *  finish, every thread is joined, everything is freed. NULL is accepted. */
TC_API void tc_loader_close(tc_loader *l);

/* ---------------------------------------------------------------------------------------------
 * Streaming writer
 * ------------------------------------------------------------------------------------------- */
typedef struct tc_writer tc_writer;
typedef struct tc_output tc_output; /* an output file under the output policy (below) */

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

/* Output flags (tc_writer_create_ex, tc_output_open). */
#define TC_WRITE_DEFAULT 0u   /* never replace anything at the path: TC_ERR_EXISTS */
#define TC_WRITE_OVERWRITE 1u /* replace a regular file, or a symbolic link (the link itself,
                                 never its target) */

/*! tc_writer_create_ex() :
 *  Starts writing the cache `path` under the output policy (tc_output_open() below): nothing
 *  appears at `path` until tc_writer_finish() succeeds; an existing file there is refused
 *  (TC_ERR_EXISTS) unless `flags` has TC_WRITE_OVERWRITE, and refused whatever the flags if it is
 *  the same file as one of inputs[0..ninputs) (paths the caller reads: TC_ERR_SAME_FILE; a path
 *  that does not exist is ignored), or a directory, socket or block device
 *  (TC_ERR_NOT_REGULAR); an existing FIFO or character device is streamed into. Data
 *  goes to an unnamed (O_TMPFILE) or hidden temporary file in the same directory. Stale
 *  temporaries of earlier crashed writers to the same path are removed.
 *  @return TC_OK and *out, or an error. */
TC_API int tc_writer_create_ex(tc_writer **out, const char *path, unsigned flags,
                               const char *const *inputs, size_t ninputs, tc_error *err);

/*! tc_writer_create() :
 *  tc_writer_create_ex(out, path, TC_WRITE_OVERWRITE, NULL, 0, err): as library 0.1, which
 *  replaced an existing file. New code should use tc_writer_create_ex() with TC_WRITE_DEFAULT
 *  unless replacing is what the user asked for. */
TC_API int tc_writer_create(tc_writer **out, const char *path, tc_error *err);

/*! tc_writer_create_on() :
 *  Starts writing a cache into `o`, an output opened with tc_output_open() or
 *  tc_output_open_fd() (below), e.g. standard output. The writer owns `o` from now on, even
 *  when this call fails; tc_writer_finish() commits it. */
TC_API int tc_writer_create_on(tc_writer **out, tc_output *o, tc_error *err);

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
 *  Lays out the file, writes field table, metadata and header, fsyncs, and publishes it under
 *  the output policy (tc_output_commit(): an atomic rename onto `path`, then an fsync of the
 *  directory; or a copy into the stream). Frees `w` whatever the outcome; on failure `path` is
 *  untouched and no temporary file is left. */
TC_API int tc_writer_finish(tc_writer *w, tc_error *err);

/*! tc_writer_abort() : discards everything written; `path` is untouched. Frees `w`. NULL ok. */
TC_API void tc_writer_abort(tc_writer *w);

/* ---------------------------------------------------------------------------------------------
 * Output files: the policy of tc_writer_create_ex(), for any file a program writes (the
 * tensorcache command uses it for `export` too). Rules, in order (docs/CLI.md, "Output files"):
 *   1. same file as a protected input (st_dev and st_ino, through links)  -> TC_ERR_SAME_FILE
 *   2. path resolves to a FIFO or character device       -> streamed into at commit, never replaced
 *   3. directory, socket, block device                   -> TC_ERR_NOT_REGULAR
 *   4. regular file or symbolic link, no TC_WRITE_OVERWRITE -> TC_ERR_EXISTS
 *   5. regular file or symbolic link, TC_WRITE_OVERWRITE -> replaced atomically (a link itself,
 *                                                           never its target)
 *   6. nothing there                                     -> created atomically
 * The checks run at open (to fail early) and again at commit, race-free: without
 * TC_WRITE_OVERWRITE by renameat2(RENAME_NOREPLACE) (linkat where unsupported); with it by
 * RENAME_EXCHANGE and a check of the displaced entry, which is put back if it is refused.
 * ------------------------------------------------------------------------------------------- */
/*! tc_output_open() :
 *  Starts an output to `path` (rules above); inputs[0..ninputs) are the paths the caller reads,
 *  which the output may never be (NULL entries and paths that do not exist are ignored). Write
 *  the content through tc_output_fd(); nothing appears at `path` before tc_output_commit().
 *  @return TC_OK and *out, or an error (*out = NULL). */
TC_API int tc_output_open(tc_output **out, const char *path, unsigned flags,
                          const char *const *inputs, size_t ninputs, tc_error *err);

/*! tc_output_open_fd() :
 *  An output streamed into the open descriptor `fd` (not closed) at commit. */
TC_API int tc_output_open_fd(tc_output **out, int fd, const char *const *inputs, size_t ninputs,
                             tc_error *err);

/*! tc_output_fd() :
 *  @return the descriptor of the temporary that becomes the output: a regular file, open for
 *  reading and writing, positioned at 0 (write() and pwrite() both work). Do not close it. */
TC_API int tc_output_fd(const tc_output *o);

/*! tc_output_commit() :
 *  fsyncs the temporary and publishes it (rename, or copy into the stream). Frees `o` whatever
 *  the outcome; on failure the path is untouched and no temporary is left. */
TC_API int tc_output_commit(tc_output *o, tc_error *err);

/*! tc_output_abort() : discards the output; the path is untouched. Frees `o`. NULL ok. */
TC_API void tc_output_abort(tc_output *o);

#ifdef __cplusplus
}
#endif
#endif /* TENSORCACHE_H */
