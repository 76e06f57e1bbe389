/*
 * shim.c - LD_PRELOAD fault injection: SIGKILL the process at the k-th file-changing call.
 *
 * Intercepted (and counted, in call order): write, pwrite, pwrite64, fsync, fdatasync, rename,
 * renameat, renameat2, link, linkat, copy_file_range, ftruncate, ftruncate64, unlink, unlinkat.
 *
 *   TC_CRASH_AT=k        the k-th counted call (1-based) kills the process with SIGKILL
 *   TC_CRASH_MODE=before kill before the call is made (default)
 *   TC_CRASH_MODE=after  make the call, then kill
 *   TC_CRASH_LOG=path    append "crash K OP MODE" at the kill, "calls N" at a normal exit
 *   TC_CRASH_TRACE=1     also append "call K OP" for every counted call (to check the order of
 *                        fsync and rename)
 *   TC_NO_TMPFILE=1      open/openat with O_TMPFILE fail with EOPNOTSUPP, so the writer takes
 *                        its fallback path (a hidden named temporary from the start)
 *
 * SIGKILL cannot be caught: no atexit handler, no stdio flush, no cleanup runs, which is what a
 * power cut or the OOM killer leaves behind (minus the page cache, which survives here).
 * Built without _FILE_OFFSET_BITS=64 so that pwrite and pwrite64 etc. are distinct symbols.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static long crash_at = -1;
static int crash_after;
static int no_tmpfile;
static const char *log_path;
static int trace;
static long calls;

__attribute__((constructor)) static void shim_init(void)
{
    const char *at = getenv("TC_CRASH_AT"), *mode = getenv("TC_CRASH_MODE");
    crash_at = at && *at ? strtol(at, NULL, 10) : -1;
    crash_after = mode && strcmp(mode, "after") == 0;
    no_tmpfile = getenv("TC_NO_TMPFILE") && strcmp(getenv("TC_NO_TMPFILE"), "1") == 0;
    log_path = getenv("TC_CRASH_LOG");
    trace = getenv("TC_CRASH_TRACE") && strcmp(getenv("TC_CRASH_TRACE"), "1") == 0;
}

/* Appends a line to the log with raw system calls (the intercepted write must not recurse). */
static void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void shim_log(const char *fmt, ...)
{
    if (!log_path || !*log_path)
        return;
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                          0644);
    if (fd < 0)
        return;
    syscall(SYS_write, fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    syscall(SYS_close, fd);
}

__attribute__((destructor)) static void shim_fini(void) { shim_log("calls %ld\n", calls); }

static void die_now(long k, const char *op, const char *when)
{
    shim_log("crash %ld %s %s\n", k, op, when);
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

static long before(const char *op)
{
    long k = ++calls;
    if (trace)
        shim_log("call %ld %s\n", k, op);
    if (k == crash_at && !crash_after)
        die_now(k, op, "before");
    return k;
}

static void after(long k, const char *op)
{
    if (k == crash_at && crash_after)
        die_now(k, op, "after");
}

static void *real_fn(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        static const char msg[] = "tc crash shim: dlsym failed\n";
        syscall(SYS_write, 2, msg, sizeof msg - 1);
        abort();
    }
    return f;
}

/* One wrapper per function: count, maybe die, call, maybe die; errno is preserved. */
#define SHIM_WRAP(ret, name, params, args)                                                         \
    ret name params                                                                                \
    {                                                                                              \
        static ret(*real) params;                                                                  \
        if (!real)                                                                                 \
            *(void **)&real = real_fn(#name);                                                      \
        long k_ = before(#name);                                                                   \
        ret r_ = real args;                                                                        \
        int e_ = errno;                                                                            \
        after(k_, #name);                                                                          \
        errno = e_;                                                                                \
        return r_;                                                                                 \
    }

SHIM_WRAP(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))
SHIM_WRAP(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off), (fd, buf, n, off))
SHIM_WRAP(ssize_t, pwrite64, (int fd, const void *buf, size_t n, off64_t off), (fd, buf, n, off))
SHIM_WRAP(int, fsync, (int fd), (fd))
SHIM_WRAP(int, fdatasync, (int fd), (fd))
SHIM_WRAP(int, rename, (const char *a, const char *b), (a, b))
SHIM_WRAP(int, renameat, (int da, const char *a, int db, const char *b), (da, a, db, b))
SHIM_WRAP(int, renameat2, (int da, const char *a, int db, const char *b, unsigned fl),
          (da, a, db, b, fl))
SHIM_WRAP(int, link, (const char *a, const char *b), (a, b))
SHIM_WRAP(int, linkat, (int da, const char *a, int db, const char *b, int fl), (da, a, db, b, fl))
SHIM_WRAP(ssize_t, copy_file_range,
          (int fi, off64_t *oi, int fo, off64_t *oo, size_t n, unsigned fl),
          (fi, oi, fo, oo, n, fl))
SHIM_WRAP(int, ftruncate, (int fd, off_t len), (fd, len))
SHIM_WRAP(int, ftruncate64, (int fd, off64_t len), (fd, len))
SHIM_WRAP(int, unlink, (const char *p), (p))
SHIM_WRAP(int, unlinkat, (int d, const char *p, int fl), (d, p, fl))

/* ---- O_TMPFILE suppression (not counted) ---- */

static int is_tmpfile(int flags) { return (flags & O_TMPFILE) == O_TMPFILE; }

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || is_tmpfile(flags) ? (mode_t)va_arg(ap, int) : 0;
}

#define SHIM_OPEN(name, params, args)                                                              \
    int name params                                                                                \
    {                                                                                              \
        static int(*real) params;                                                                  \
        if (!real)                                                                                 \
            *(void **)&real = real_fn(#name);                                                      \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = mode_arg(flags, ap);                                                         \
        va_end(ap);                                                                                \
        if (no_tmpfile && is_tmpfile(flags)) {                                                     \
            errno = EOPNOTSUPP;                                                                    \
            return -1;                                                                             \
        }                                                                                          \
        return real args;                                                                          \
    }

SHIM_OPEN(open, (const char *path, int flags, ...), (path, flags, mode))
SHIM_OPEN(open64, (const char *path, int flags, ...), (path, flags, mode))
SHIM_OPEN(openat, (int dir, const char *path, int flags, ...), (dir, path, flags, mode))
SHIM_OPEN(openat64, (int dir, const char *path, int flags, ...), (dir, path, flags, mode))
