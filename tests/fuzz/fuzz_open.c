/*
 * fuzz_open.c - libFuzzer target: the input is a cache file.
 *
 * The input goes into a memfd and is opened through /proc/self/fd/N with every open mode; every
 * byte of every sample of every field is read through every read path (tcf_exercise()). Then
 * the same bytes with every checksum recomputed (tcf_reseal()) take the same path, so that the
 * mutations reach the validation behind the checksums. Any invariant violation aborts;
 * ASan/UBSan report memory and arithmetic errors.
 */
#include "tcfuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_one(int fd, const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (tcf_memfd_set(fd, data, size) != 0)
        abort(); /* the harness itself failed: not an input problem, but must not pass silently */
    tcf_opts o = {.sample_cap = 64, .byte_cap = 16u << 20, .file = data, .file_size = size};
    tcf_result r;
    tcf_exercise(path, &o, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0 && (fd = tcf_memfd(NULL, 0)) < 0)
        abort();
    run_one(fd, data, size);
    if (size >= 128) {
        uint8_t *copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        tcf_reseal(copy, size);
        if (memcmp(copy, data, size) != 0)
            run_one(fd, copy, size);
        free(copy);
    }
    return 0;
}
