/*
 * tcfuzz.h - code shared by the fuzz targets (tests/fuzz/), the corruption sweep (tests/sweep/)
 * and the seed-corpus generator.
 *
 *  - tcf_exercise(): opens a file with every open mode and touches every byte of every sample of
 *    every field through every read path, checking the invariants that must hold between the
 *    paths (mmap vs pread backend, view vs copy vs gather, "verify passed" => "every read
 *    succeeds") and against an independent model of the file bytes.
 *  - tcf_reseal(): recomputes every checksum of a (possibly damaged) file in place, so that a
 *    mutation gets past the checksums and reaches the structural validation behind them.
 *
 * An invariant violation is a library bug. It is reported through tcf_violation(), which the
 * fuzz targets leave at its default (print and abort(), so libFuzzer saves the input) and the
 * sweep replaces with a counter.
 */
#ifndef TC_TCFUZZ_H
#define TC_TCFUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "tensorcache.h"

typedef struct {
    uint64_t sample_cap; /* samples visited per field: all when N <= cap, else first/last cap/2 */
    uint64_t byte_cap;   /* largest sample copied out (bigger ones: BUFFER_TOO_SMALL probe) */
    const uint8_t *file; /* the file's bytes for the model checks, or NULL */
    size_t file_size;
    int skip_pread_verify; /* skip tc_verify on the pread backend (it is the costly part of a
                              case under ASan: one 1 MiB buffer per region hashed) */
} tcf_opts;

typedef struct {
    int open_rc;        /* tc_open(TC_OPEN_DEFAULT) */
    int open_nommap_rc; /* tc_open(TC_OPEN_NO_MMAP) */
    int open_verify_rc; /* tc_open(TC_OPEN_VERIFY) */
    int verify_rc;      /* tc_verify() on the default-open cache; -1 when open failed */
    int read_rc;        /* first error of a read path on an in-range sample, 0 if none */
    uint64_t reads;     /* read calls made */
    uint64_t bytes;     /* bytes touched */
} tcf_result;

/* Called for every violated invariant (printf-style message). Default: print, abort(). */
extern void (*tcf_violation)(const char *msg);

/* Exercises the cache at `path`; fills *r. */
void tcf_exercise(const char *path, const tcf_opts *o, tcf_result *r);

/* Recomputes, where the recorded regions lie inside the buffer, every LZ4 block checksum, every
 * data and index checksum, the field table and metadata checksums and the header checksum. */
void tcf_reseal(uint8_t *buf, size_t size);

/* Writes `size` bytes to a fresh memfd and returns its fd (path: /proc/self/fd/FD), or -1. */
int tcf_memfd(const uint8_t *data, size_t size);

/* Replaces the memfd's contents. Returns 0 or -1. */
int tcf_memfd_set(int fd, const uint8_t *data, size_t size);

#endif
