/* sources_internal.h - what the files of the source readers share (not used outside them).
 *
 * tools/sources.c          the source object: spec parsing, tcs_open, streaming tcs_read
 * tools/src_stream.c       plain and gzip streams with a peek buffer; size checks per file
 * tools/src_detect.c       format detection by content, and tcs_probe() dispatching to:
 * tools/src_npy.c          .npy 1.0/2.0/3.0 headers
 * tools/src_idx.c          IDX (MNIST family)
 * tools/src_cifar.c        CIFAR-10/-100 batches (geometry, guess, records)
 * tools/src_raw.c          raw:FILE with --dtype/--shape
 *
 * A new source kind gets its own src_<kind>.c with a tcs_parse_<kind>() (or _geometry) that
 * fills a tcs_file from the stream, a TCS_<KIND> value in sources.h, a case in tcs_probe()
 * and, if it can be recognised by content, a test in detect() (docs/HACKING.md). */
#ifndef TC_TOOLS_SOURCES_INTERNAL_H
#define TC_TOOLS_SOURCES_INTERNAL_H

#include "sources.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#define PEEK_MAX 64
#define CIFAR_PIXELS 3072u
#define CIFAR_SIDE 32u

/* ---- streams (src_stream.c) ---- */

/* A plain file descriptor or a gzip decoder (zlib's inflate, member by member), plus a small
 * peek buffer so the first bytes can be inspected before the format is known (gzip streams
 * cannot seek back cheaply). */
typedef struct gz_decoder gz_decoder; /* src_stream.c: inflate over the descriptor */

typedef struct {
    const char *path;
    int fd;
    gz_decoder *gz; /* NULL for a plain file */
    uint64_t size; /* plain files: size in bytes */
    uint64_t pos;  /* bytes delivered so far (decompressed bytes for gzip) */
    uint8_t peek[PEEK_MAX];
    size_t peek_len, peek_off;
    bool peeked;
} stream;

int st_open(stream *st, const char *path, tc_error *err);
void st_close(stream *st);
/* Reads up to n bytes; *got < n only at the end of the data. */
int st_read(stream *st, void *buf, size_t n, size_t *got, tc_error *err);
/* The first bytes of the stream, without consuming them. Only valid at position 0. */
int st_peek(stream *st, const uint8_t **data, size_t *n, tc_error *err);
int st_rewind(stream *st, tc_error *err);
/* Reads exactly n bytes of a header; a short read is a truncated header. */
int st_read_header(stream *st, void *buf, size_t n, const char *what, tc_error *err);
/* Total (decompressed) size of the stream: the file size, or one pass through the gzip data;
 * leaves the stream rewound to position 0. */
int st_total(stream *st, uint64_t *total, tc_error *err);

/* ---- one file of a source ---- */

typedef struct {
    char *path;
    tcs_format forced;      /* from the spec's prefix; TCS_AUTO if none */
    tcs_format format;      /* as probed */
    bool gz;
    int dtype;              /* npy/idx/raw: element type */
    uint32_t rank;          /* npy/idx/raw: per-sample rank and shape */
    uint64_t shape[TC_MAX_RANK];
    uint64_t count;         /* samples in this file */
    uint64_t header_bytes;  /* bytes before the data in the (decompressed) stream */
    uint64_t data_bytes;    /* bytes of data the header promises */
    uint64_t record_bytes;  /* bytes per sample in the stream */
    size_t swap;            /* itemsize to byte-swap (big-endian data), or 0 */
    bool fortran;
    uint64_t total;         /* decompressed size when known, else UINT64_MAX */
} tcs_file;

/* Checks the data size of a plain file against what the header promises. */
int tcs_check_plain_size(const stream *st, const tcs_file *f, tc_error *err);
/* Sets count/record_bytes/data_bytes from a full shape (shape[0] = N). */
int tcs_set_array_geometry(tcs_file *f, const stream *st, const uint64_t *full, uint32_t ndim,
                           const char *what, tc_error *err);

/* ---- the format parsers: each reads the header of f (stream at position 0) and leaves the
 * stream at the first data byte ---- */

int tcs_probe(tcs_file *f, stream *st, const tcs_options *opt, tc_error *err); /* src_detect.c */
int tcs_parse_npy(tcs_file *f, stream *st, tc_error *err);                       /* src_npy.c */
int tcs_parse_idx(tcs_file *f, stream *st, tc_error *err);                       /* src_idx.c */
bool tcs_looks_idx(const uint8_t *m, size_t n);
int tcs_cifar_geometry(tcs_file *f, stream *st, tcs_format fmt, tc_error *err);  /* src_cifar.c */
/* Decides CIFAR-10 or -100 from the size and the first records: *fmt stays TCS_AUTO when
 * neither fits; an error when both do. */
int tcs_cifar_guess(tcs_file *f, stream *st, tcs_format *fmt, tc_error *err);
int tcs_raw_geometry(tcs_file *f, stream *st, const tcs_options *opt, tc_error *err); /* src_raw.c */

/* ---- the source object (sources.c) ---- */

struct tcs_source {
    tcs_file *files;
    uint32_t nfiles;
    tcs_options opt;
    uint32_t noutputs;
    tcs_output out[TCS_MAX_OUTPUTS];
    uint64_t count;
    char desc[64];
    /* streaming state */
    uint32_t cur;      /* file being read; nfiles when every file has been checked */
    bool open;
    stream st;
    uint64_t left;     /* samples not yet read from files[cur] */
    uint64_t next;     /* index within files[cur] of the next sample */
    uint8_t *map;      /* Fortran-order files: the whole file, mapped */
    size_t map_len;
    uint8_t *scratch;
    size_t scratch_cap;
};


/* Grows s->scratch to at least n bytes. */
int tcs_ensure_scratch(tcs_source *s, size_t n, tc_error *err);
/* Reads exactly nbytes of files[cur]'s data (a short read is a truncated file). */
int tcs_read_data(tcs_source *s, tcs_file *f, void *buf, uint64_t nbytes, tc_error *err);
/* Reads m CIFAR records of files[cur] into the image and label outputs at sample `off`. */
int tcs_read_cifar(tcs_source *s, tcs_file *f, uint64_t m, void *const dst[], uint64_t off,
                   tc_error *err);

#endif
