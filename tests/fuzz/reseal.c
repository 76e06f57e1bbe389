/*
 * reseal.c - recompute the checksums of a damaged cache, and memfd helpers.
 *
 * A mutated byte almost always breaks a checksum, and the reader stops there. Resealing the
 * mutated file lets the mutation reach the structural checks behind the checksums (field table
 * entries, index entries, LZ4 blocks): exactly the code an attacker who writes a consistent
 * but hostile file would reach.
 */
#include "tcfuzz.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static int region_ok(uint64_t off, uint64_t len, size_t size)
{
    uint64_t end;
    return !__builtin_add_overflow(off, len, &end) && end <= size;
}

/* Block checksums of an LZ4 field: each covers `csize` bytes at data_offset + offset. */
static void reseal_blocks(uint8_t *b, size_t size, const uint8_t *e)
{
    uint64_t doff = rd64(e + 160), dsize = rd64(e + 168);
    uint64_t ioff = rd64(e + 184), isize = rd64(e + 192);
    if (!region_ok(ioff, isize, size) || !region_ok(doff, dsize, size))
        return;
    for (uint64_t j = 0; j + 24 <= isize; j += 24) {
        uint8_t *ent = b + ioff + j;
        uint64_t off = rd64(ent), cs = rd64(ent + 8), end;
        if (__builtin_add_overflow(off, cs, &end) || end > dsize)
            continue;
        wr64(ent + 16, XXH3_64bits(b + doff + off, cs));
    }
}

void tcf_reseal(uint8_t *b, size_t size)
{
    if (size < 128)
        return;
    uint64_t ft_off = rd64(b + 40), ft_size = rd64(b + 48);
    uint64_t meta_off = rd64(b + 56), meta_size = rd64(b + 64);
    if (region_ok(ft_off, ft_size, size)) {
        uint64_t entries = ft_size / 256;
        if (entries > 1024)
            entries = 1024;
        for (uint64_t k = 0; k < entries; k++) {
            uint8_t *e = b + ft_off + k * 256;
            if (e[68] == 0 && e[69] == 1)
                reseal_blocks(b, size, e);
            uint64_t doff = rd64(e + 160), dsize = rd64(e + 168);
            uint64_t ioff = rd64(e + 184), isize = rd64(e + 192);
            if (region_ok(doff, dsize, size))
                wr64(e + 176, XXH3_64bits(b + doff, dsize));
            if (region_ok(ioff, isize, size))
                wr64(e + 200, XXH3_64bits(b + ioff, isize));
        }
        wr64(b + 72, XXH3_64bits(b + ft_off, ft_size));
    }
    if (region_ok(meta_off, meta_size, size))
        wr64(b + 80, XXH3_64bits(b + meta_off, meta_size));
    wr64(b + 120, XXH3_64bits(b, 120));
}

int tcf_memfd_set(int fd, const uint8_t *data, size_t size)
{
    if (ftruncate(fd, (off_t)size) != 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

int tcf_memfd(const uint8_t *data, size_t size)
{
    int fd = memfd_create("tcfuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (tcf_memfd_set(fd, data, size) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}
