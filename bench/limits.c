/* limits.c - the hardware limits an epoch of one field of a cache is held against
 * (bench/README.md, "Epoch table"). Built as build/bench/limits.
 *
 *   limits memcpy FILE FIELD seq|shuf BATCH SEED REPEATS
 *       Hot: the file is read into the page cache and mapped, every page touched; then each
 *       repeat copies every sample of FIELD, in the given order, into a batch buffer of BATCH
 *       samples (memcpy per sample; per batch when sequential). Prints one line per repeat.
 *   limits pread FILE FIELD seq|shuf BATCH SEED THREADS
 *       Cold: the file is evicted (posix_fadvise DONTNEED, checked with mincore), then THREADS
 *       threads pread(2) the samples of FIELD in the given order, each sample once, into the
 *       batch buffers (POSIX_FADV_RANDOM on the descriptor: no read-around). Prints one line.
 *
 * Output lines: key=value pairs: samples_per_s, gbps, resident_before (fraction of the file's
 * pages in the page cache when the timed part began), read_bytes (from /proc/self/io, over the
 * timed part: what the process made the kernel read from storage).
 * Only fixed-shape, uncompressed fields (the ones with a stride). */
#include "tensorcache.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    uint64_t offset, stride, bytes, count; /* the field's region in the file */
    uint64_t *order;                        /* sample numbers in reading order */
    uint64_t batch;
    unsigned char *buf;                     /* threads x batch x bytes */
    atomic_uint_fast64_t next;              /* next position in order to read */
    atomic_int failed;
} job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "limits: %s\n", what);
    exit(1);
}

/* The sample order: identity, or a seeded Fisher-Yates shuffle (splitmix64). */
static uint64_t *make_order(uint64_t n, int shuffle, uint64_t seed)
{
    uint64_t *o = malloc((n ? n : 1) * sizeof *o);
    if (!o)
        die("out of memory");
    for (uint64_t i = 0; i < n; i++)
        o[i] = i;
    for (uint64_t i = n; shuffle && i > 1; i--) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        uint64_t j = z % i, t = o[i - 1];
        o[i - 1] = o[j];
        o[j] = t;
    }
    return o;
}

static uint64_t read_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    unsigned long long v = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "read_bytes: %llu", &v) == 1)
            break;
    fclose(f);
    return v;
}

static double resident_fraction(int fd, uint64_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t pages = (size + (uint64_t)page - 1) / (uint64_t)page, in = 0;
    void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = malloc(pages ? pages : 1);
    if (m == MAP_FAILED || !vec || mincore(m, size, vec) != 0)
        die("mincore");
    for (uint64_t i = 0; i < pages; i++)
        in += vec[i] & 1;
    munmap(m, size);
    free(vec);
    return pages ? (double)in / (double)pages : 0.0;
}

static void locate(const char *path, const char *name, job *j, uint64_t *file_size)
{
    tc_cache *c = NULL;
    tc_error err;
    uint32_t k;
    tc_field_info fi;
    struct stat st;
    if (tc_open(&c, path, 0, &err) != TC_OK)
        die(err.message);
    if (tc_find_field(c, name, &k, &err) != TC_OK || tc_describe_field(c, k, &fi, &err) != TC_OK)
        die(err.message);
    if (fi.stride == 0)
        die("the field has no fixed stride (variable or compressed)");
    j->offset = fi.data_offset;
    j->stride = fi.stride;
    j->bytes = fi.sample_bytes;
    j->count = tc_num_samples(c);
    tc_close(c);
    j->fd = open(path, O_RDONLY);
    if (j->fd < 0 || fstat(j->fd, &st) != 0)
        die("open");
    *file_size = (uint64_t)st.st_size;
}

static void *pread_worker(void *arg)
{
    job *j = arg;
    unsigned char *slot = malloc(j->batch * j->bytes);
    if (!slot)
        die("out of memory");
    for (;;) {
        uint64_t p = atomic_fetch_add(&j->next, 1);
        if (p >= j->count)
            break;
        unsigned char *dst = slot + (p % j->batch) * j->bytes;
        off_t off = (off_t)(j->offset + j->order[p] * j->stride);
        for (uint64_t got = 0; got < j->bytes;) {
            ssize_t r = pread(j->fd, dst + got, j->bytes - got, off + (off_t)got);
            if (r <= 0) {
                atomic_store(&j->failed, 1);
                break;
            }
            got += (uint64_t)r;
        }
    }
    free(slot);
    return NULL;
}

static void run_pread(job *j, uint64_t file_size, int threads)
{
    pthread_t tid[256];
    if (threads < 1 || threads > 256)
        die("THREADS must be 1..256");
    posix_fadvise(j->fd, 0, 0, POSIX_FADV_DONTNEED);
    posix_fadvise(j->fd, 0, 0, POSIX_FADV_RANDOM);
    double resident = resident_fraction(j->fd, file_size);
    uint64_t rb0 = read_bytes();
    double t0 = now_s();
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, pread_worker, j) != 0)
            die("pthread_create");
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double dt = now_s() - t0;
    if (atomic_load(&j->failed))
        die("pread failed");
    printf("threads=%d samples_per_s=%.6g gbps=%.6g resident_before=%.4f read_bytes=%llu\n",
           threads, (double)j->count / dt, (double)(j->count * j->bytes) / dt / 1e9, resident,
           (unsigned long long)(read_bytes() - rb0));
}

static void run_memcpy(job *j, uint64_t file_size, int shuffle, int repeats)
{
    unsigned char *m = mmap(NULL, file_size, PROT_READ, MAP_SHARED | MAP_POPULATE, j->fd, 0);
    unsigned char *buf = aligned_alloc(64, ((j->batch * j->bytes + 63) / 64) * 64);
    volatile unsigned char sink = 0;
    if (m == MAP_FAILED || !buf)
        die("mmap");
    for (uint64_t i = 0; i < file_size; i += 4096)
        sink ^= m[i];
    const unsigned char *base = m + j->offset;
    for (int r = 0; r < repeats; r++) {
        double resident = resident_fraction(j->fd, file_size);
        double t0 = now_s();
        for (uint64_t p = 0; p < j->count; p += j->batch) {
            uint64_t n = j->count - p < j->batch ? j->count - p : j->batch;
            if (!shuffle && j->stride == j->bytes) {
                memcpy(buf, base + p * j->stride, n * j->bytes);
            } else {
                for (uint64_t k = 0; k < n; k++)
                    memcpy(buf + k * j->bytes, base + j->order[p + k] * j->stride, j->bytes);
            }
            sink ^= buf[0];
        }
        double dt = now_s() - t0;
        printf("repeat=%d samples_per_s=%.6g gbps=%.6g resident_before=%.4f read_bytes=0\n", r,
               (double)j->count / dt, (double)(j->count * j->bytes) / dt / 1e9, resident);
    }
    (void)sink;
    munmap(m, file_size);
    free(buf);
}

int main(int argc, char **argv)
{
    job j;
    uint64_t file_size;
    if (argc != 8 || (strcmp(argv[1], "memcpy") && strcmp(argv[1], "pread")))
        die("usage: limits memcpy|pread FILE FIELD seq|shuf BATCH SEED REPEATS|THREADS");
    memset(&j, 0, sizeof j);
    locate(argv[2], argv[3], &j, &file_size);
    int shuffle = strcmp(argv[4], "shuf") == 0;
    j.batch = strtoull(argv[5], NULL, 10);
    if (j.batch == 0)
        die("BATCH must be > 0");
    j.order = make_order(j.count, shuffle, strtoull(argv[6], NULL, 10));
    if (strcmp(argv[1], "pread") == 0)
        run_pread(&j, file_size, atoi(argv[7]));
    else
        run_memcpy(&j, file_size, shuffle, atoi(argv[7]));
    free(j.order);
    close(j.fd);
    return 0;
}
