/* sources.h - streaming readers for the dataset files the tensorcache command packs.
 *
 * A *source* is one or more files, concatenated along the sample axis, that yield N samples of
 * one or more *outputs* (a .npy, IDX or raw file has one output; a CIFAR batch has the image and
 * one or two label outputs). Formats are recognised by content (docs/CLI.md, "Sources"):
 *
 *   gzip (1f 8b)        wrapper around any of the formats below, streamed through zlib
 *   .npy 1.0/2.0/3.0    "\x93NUMPY"; little/big-endian; C order, or Fortran order when mappable
 *   IDX                 00 00 TYPE NDIM, big-endian dims and data (MNIST family)
 *   CIFAR-10/-100       records of 1 (or 2) label bytes + 3x32x32 u8; prefix cifar10:/cifar100:
 *                       or the size/label heuristic; images come out channels-last (32,32,3)
 *   raw                 prefix raw:, or any undetected file when a raw dtype is given
 *
 * Files are never read whole: tcs_read() streams a bounded number of samples at a time, and
 * every multi-byte value comes out little-endian. Every size taken from a file is checked for
 * overflow; every malformation is TCT_ERR_SOURCE_FORMAT, every valid-but-unsupported feature
 * TCT_ERR_SOURCE_UNSUPPORTED, each with a message that names the file. */
#ifndef TC_TOOLS_SOURCES_H
#define TC_TOOLS_SOURCES_H

#include "errors.h"
#include "tensorcache.h"

#include <stdint.h>

#define TCS_MAX_OUTPUTS 3

typedef enum {
    TCS_AUTO = 0,
    TCS_NPY,
    TCS_IDX,
    TCS_CIFAR10,
    TCS_CIFAR100,
    TCS_RAW,
} tcs_format;

/* What the caller knows about raw sources (the --dtype / --shape options). */
typedef struct {
    int dtype;                    /* element type of raw files; 0 = not given */
    int shape_set;                /* 1 if rank/shape were given (default: rank 0) */
    uint32_t rank;
    uint64_t shape[TC_MAX_RANK];
} tcs_options;

/* One output of a source: the per-sample description of what tcs_read() delivers. */
typedef struct {
    const char *suffix;           /* appended to the field name: "" for the main output,
                                     "_label", "_coarse_label", "_fine_label" */
    int dtype;                    /* tc_dtype */
    uint32_t rank;                /* per-sample rank */
    uint64_t shape[TC_MAX_RANK];  /* per-sample shape */
    uint64_t sample_bytes;
    const char *layout;           /* a tag the reader already guarantees ("NHWC"), or "" */
    const char *conversion;       /* a conversion the reader applied ("NCHW->NHWC"), or NULL */
} tcs_output;

typedef struct tcs_source tcs_source;

/*! tcs_open() :
 *  `spec` is "[PREFIX:]FILE[,[PREFIX:]FILE...]", PREFIX one of npy idx cifar10 cifar100 raw
 *  (a prefix applies to its file and every following file until the next prefix). A spec that
 *  names an existing file as a whole is one file, even if it contains commas. Reads every
 *  file's header (and, for gzipped CIFAR/raw files, counts the decompressed bytes) so the total
 *  N is known; all files must agree on outputs, dtypes and shapes. `opt` may be NULL. */
int tcs_open(tcs_source **out, const char *spec, const tcs_options *opt, tc_error *err);

/*! tcs_close() : NULL accepted. */
void tcs_close(tcs_source *s);

uint64_t tcs_count(const tcs_source *s);                 /* total N over all files */
uint32_t tcs_num_outputs(const tcs_source *s);
const tcs_output *tcs_output_info(const tcs_source *s, uint32_t k);
uint32_t tcs_num_files(const tcs_source *s);
const char *tcs_file_path(const tcs_source *s, uint32_t i);
/* e.g. "idx+gzip", "npy", "npy(big-endian,fortran)", "cifar10", "raw" (first file's format). */
const char *tcs_format_desc(const tcs_source *s);

/*! tcs_read() :
 *  Reads the next min(max, remaining) samples; output k's samples go back to back to dst[k]
 *  (capacity max * sample_bytes(k)). *got = 0 once all samples have been delivered. A file's
 *  end (no trailing bytes, intact gzip trailer) is checked as soon as its last sample is read. */
int tcs_read(tcs_source *s, uint64_t max, void *const dst[], uint64_t *got, tc_error *err);

/*! tcs_finish() :
 *  After all N samples: checks the end of the files not checked yet (files with 0 samples).
 *  @return TC_OK or the first problem. */
int tcs_finish(tcs_source *s, tc_error *err);

/*! tcs_hwc_from_chw() :
 *  Transposes `n` samples of shape (C,H,W) (items of `itemsize` bytes) to (H,W,C). */
void tcs_hwc_from_chw(void *dst, const void *src, uint64_t n, uint64_t c, uint64_t h, uint64_t w,
                      size_t itemsize);

/* Samples per read chunk for outputs of `total_sample_bytes` bytes per sample (~8 MiB). */
uint64_t tcs_chunk_samples(uint64_t total_sample_bytes);

#endif
