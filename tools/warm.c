/* warm.c - `tensorcache warm`: pull a cache file into the page cache, optionally lock it there,
 * and report how much of it is resident.
 *
 *   tensorcache warm [--lock] [--status] FILE
 *
 * Why: every process that maps a cache shares the page cache's one physical copy, so loading it
 * once before a job (or keeping it locked between jobs) takes the first-epoch disk reads out of
 * every reader. Residency is measured with mincore(2) on a mapping of the file, which reports
 * page-cache residency whether or not this process has touched the pages.
 *
 * The file is validated with tc_open() first (it is untrusted input, and warming something that
 * is not a cache is almost certainly a mistake); the pages are then loaded through a separate
 * read-only mapping of the whole file, so headers, indexes and every field are covered.
 *
 * --lock mlock(2)s the mapping and keeps holding it until SIGINT/SIGTERM/SIGHUP: a lock only
 * lasts as long as the process that holds it. --status only reports residency.
 *
 * Exit status: 0 ok, 1 failure (not a valid cache, I/O error, mlock refused), 2 usage.
 * Convention: argv[0] is the subcommand name ("warm") or the program name; options follow. */
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>




#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14; older kernels return EINVAL and we touch pages */
#endif

static const char WARM_HELP[] =
    "usage: tensorcache warm [--lock] [--status] FILE\n"
    "\n"
    "Loads every page of the cache FILE into the page cache and reports how much of it is\n"
    "resident (mincore). Every process that maps FILE then reads memory, not disk.\n"
    "\n"
    "  --lock    also mlock the pages and keep them locked until this command is interrupted\n"
    "            (Ctrl-C, SIGTERM); needs CAP_IPC_LOCK or a large enough `ulimit -l`\n"
    "  --status  only report residency; load nothing\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 usage.\n";

/* Pages of [map, map+size) that are in the page cache. */
static int warm_resident(const void *map, size_t size, size_t page, size_t *resident,
                         size_t *npages)
{
    size_t n = (size + page - 1) / page, in = 0;
    unsigned char vec[4096];
    /* mincore in slices so the vector stays on the stack whatever the file size. */
    for (size_t first = 0; first < n; first += sizeof vec) {
        size_t cnt = n - first < sizeof vec ? n - first : sizeof vec;
        size_t len = cnt * page;
        if (first * page + len > size)
            len = size - first * page;
        if (mincore((char *)map + first * page, len, vec) != 0)
            return -1;
        for (size_t i = 0; i < cnt; i++)
            in += vec[i] & 1;
    }
    *resident = in;
    *npages = n;
    return 0;
}

/* Reads one byte of every page: synchronous, unlike MADV_WILLNEED, so "done" means resident. */
static void warm_touch(const volatile unsigned char *map, size_t size, size_t page)
{
    unsigned char acc = 0;
    for (size_t off = 0; off < size; off += page)
        acc ^= map[off];
    (void)acc;
}

static void warm_load(void *map, size_t size, size_t page)
{
    madvise(map, size, MADV_WILLNEED); /* start readahead of everything at once */
    if (madvise(map, size, MADV_POPULATE_READ) != 0)
        warm_touch(map, size, page);
}

/* Blocks until SIGINT, SIGTERM or SIGHUP; the lock is released when the mapping goes away. */
static void warm_hold(void)
{
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigwait(&set, &sig);
}

static void warm_report(const char *path, size_t size, size_t resident, size_t npages,
                        size_t page, double secs, const char *what)
{
    double pct = npages ? 100.0 * (double)resident / (double)npages : 100.0;
    size_t rbytes = resident * page < size ? resident * page : size;
    printf("%s: %zu bytes, %.1f%% resident (%zu of %zu pages, %zu bytes)", path, size, pct,
           resident, npages, rbytes);
    if (what)
        printf(", %s in %.3f s (%.2f GB/s)", what, secs, secs > 0 ? (double)size / secs / 1e9 : 0.0);
    putchar('\n');
    fflush(stdout);
}

enum { W_LOCK = 1, W_STATUS };
static const opt_spec warm_opts[] = {
    {"lock", 0, false, W_LOCK}, {"status", 0, false, W_STATUS}, {NULL, 0, false, 0}};

int tc_cmd_warm(int argc, char **argv)
{
    opt_iter it = cli_opts(&cli_cmd_warm, argc, argv);
    bool lock = false, status_only = false;
    const char *arg, *path = NULL;
    int id;
    while ((id = cli_next_opt(&it, warm_opts, &arg)) != OPT_END) {
        if (id == OPT_ERROR || id == OPT_HELP)
            return cli_opt_exit(id);
        if (id == W_LOCK)
            lock = true;
        else if (id == W_STATUS)
            status_only = true;
        else if (path)
            return cli_usage_error("warm", "unexpected argument '%s' (one FILE)", arg);
        else
            path = arg;
    }
    if (!path)
        return cli_usage_error("warm", "missing FILE");
    if (lock && status_only)
        return cli_usage_error("warm", "--lock and --status exclude each other");

    tc_cache *cache;
    int rc = cli_open_cache(&cache, path, TC_OPEN_DEFAULT);
    if (rc)
        return rc;
    tc_close(cache);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return cli_fail(TC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    size_t size = (size_t)st.st_size, page = (size_t)sysconf(_SC_PAGESIZE);
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return cli_fail(TC_ERR_IO, "cannot map '%s': %s", path, strerror(errno));

    size_t resident = 0, npages = 0;
    double t0 = tct_now();
    const char *what = NULL;
    int status = 0;
    if (lock) {
        if (mlock(map, size) != 0) {
            int e = errno;
            munmap(map, size);
            return cli_fail(TC_ERR_IO, "cannot lock '%s' in memory: %s (needs CAP_IPC_LOCK or "
                             "`ulimit -l` of at least the file size)", path, strerror(e));
        }
        what = "loaded and locked";
    } else if (!status_only) {
        warm_load(map, size, page);
        what = "loaded";
    }
    double secs = tct_now() - t0;
    if (warm_resident(map, size, page, &resident, &npages) != 0) {
        status = cli_fail(TC_ERR_IO, "mincore on '%s' failed: %s", path, strerror(errno));
    } else {
        warm_report(path, size, resident, npages, page, secs, what);
        if (lock) {
            printf("holding the lock until interrupted (Ctrl-C or kill %ld)\n", (long)getpid());
            fflush(stdout);
            warm_hold();
        }
    }
    munmap(map, size);
    return status;
}

const cli_command cli_cmd_warm = {
    "warm", "load a cache into the page cache (--lock keeps it there), report residency",
    WARM_HELP, tc_cmd_warm};
