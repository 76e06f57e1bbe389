/* output.c - the output policy: where a written file goes, and what may never be replaced.
 *
 * One implementation for the writer (caches), the tensorcache command (every subcommand that
 * writes) and Python (through the writer). The rules (docs/CLI.md, "Output files"):
 *
 *  - An output is built in a temporary and appears only when complete.
 *  - A regular-file target (or an absent one) gets an unnamed O_TMPFILE (or a hidden named
 *    temporary) in its own directory, renamed onto the target once complete. Without
 *    TC_WRITE_OVERWRITE the rename is renameat2(RENAME_NOREPLACE) (or linkat where that is
 *    unsupported): an existing file is never replaced, not even one created while the output
 *    was being written. With it, a regular file or a symbolic link (the link itself, never its
 *    target) is replaced.
 *  - A FIFO or character device (a path that resolves to one, or a caller's descriptor such as
 *    standard output) is never replaced: the output is built in an unnamed temporary under
 *    $TMPDIR and streamed into it once complete. Anything else that is not a regular file (a
 *    directory, socket, block device) is refused: NOT_REGULAR.
 *  - An output that is the same file as a protected input (same st_dev and st_ino, through hard
 *    and symbolic links) is always refused: SAME_FILE, whatever the flags. It is checked when the
 *    output is opened, and again at publication: with TC_WRITE_OVERWRITE the new file is
 *    exchanged with the target (RENAME_EXCHANGE) and the displaced entry inspected; a forbidden
 *    one is exchanged back, so the check cannot race with a concurrent rename either. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TC_TMP_TAG ".tctmp."
#define TC_COPY_BUF (1u << 20)

typedef struct {
    dev_t dev;
    ino_t ino;
} tc_file_id;

enum { OUT_REPLACE, OUT_STREAM };

struct tc_output {
    int mode;
    unsigned flags;
    char *name;       /* for messages: "DIR/BASE", or the stream's path or description */
    char *dir, *base; /* OUT_REPLACE: the target; OUT_STREAM: the temporary's directory */
    int dirfd;        /* the directory of the temporaries */
    int fd;           /* the temporary being written */
    char *named_tmp;  /* path of the temporary while it has a name */
    char *stream_path; /* OUT_STREAM by path: opened at commit; NULL for a caller's fd */
    int stream_fd;     /* OUT_STREAM by descriptor: the caller's (never closed) */
    tc_file_id *inputs;
    size_t ninputs;
};

/* ---- identities ---- */

static bool is_input(const tc_output *o, const struct stat *st)
{
    for (size_t i = 0; i < o->ninputs; i++)
        if (o->inputs[i].dev == st->st_dev && o->inputs[i].ino == st->st_ino)
            return true;
    return false;
}

static bool is_stream_type(mode_t m) { return S_ISFIFO(m) || S_ISCHR(m); }

static const char *type_name(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISSOCK(m) ? "a socket" : S_ISBLK(m) ? "a block device"
         : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : "not a regular file";
}

static int same_file_error(const tc_output *o, tc_error *err)
{
    return tc__fail(err, TC_ERR_SAME_FILE, 0,
                    "'%s' is the same file as an input; refusing to write over what is being read",
                    o->name);
}

/* Judges what is at DIR/NAME (NAME: the target, or the temporary holding a displaced target).
 * @return TC_OK when the policy allows replacing it (or nothing is there). */
static int judge_entry(const tc_output *o, const char *name, tc_error *err)
{
    struct stat ls, st;
    if (fstatat(o->dirfd, name, &ls, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return TC_OK;
        return tc__fail(err, TC_ERR_IO, errno, "cannot examine '%s'", o->name);
    }
    bool target_ok = fstatat(o->dirfd, name, &st, 0) == 0;
    if (is_input(o, &ls) || (target_ok && is_input(o, &st)))
        return same_file_error(o, err);
    if (S_ISLNK(ls.st_mode) || S_ISREG(ls.st_mode)) {
        if (o->flags & TC_WRITE_OVERWRITE)
            return TC_OK;
        return tc__fail(err, TC_ERR_EXISTS, 0,
                        S_ISLNK(ls.st_mode) ? "'%s' exists (a symbolic link); refusing to replace it"
                                            : "'%s' exists; refusing to replace it",
                        o->name);
    }
    return tc__fail(err, TC_ERR_NOT_REGULAR, 0, "'%s' is %s; it is never replaced", o->name,
                    type_name(ls.st_mode));
}

/* Whether the stream (by path or descriptor) is a protected input. */
static int check_stream(const tc_output *o, tc_error *err)
{
    struct stat st;
    bool known = o->stream_path ? stat(o->stream_path, &st) == 0 : fstat(o->stream_fd, &st) == 0;
    return known && is_input(o, &st) ? same_file_error(o, err) : TC_OK;
}

/* ---- temporaries ---- */

static int open_unnamed(const tc_output *o, int *fd_out, tc_error *err)
{
    *fd_out = -1;
#ifdef O_TMPFILE
    int fd = openat(o->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    if (fd >= 0) {
        *fd_out = fd;
        return TC_OK;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        int e = errno;
        return tc__fail(err, tc__write_errcode(e), e, "cannot create a temporary file in '%s'",
                        o->dir);
    }
#endif
    (void)o, (void)err;
    return TC_OK; /* no O_TMPFILE here: the caller falls back to a named temporary */
}

static char *tmp_path(const tc_output *o)
{
    size_t n = strlen(o->dir) + strlen(o->base) + 64;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/.%.200s" TC_TMP_TAG "%ld.XXXXXX", o->dir, o->base, (long)getpid());
    return p;
}

/* The process umask, read without changing it (umask(2) can only set it, racing other threads);
 * Linux >= 4.7 reports it in /proc/self/status. */
static mode_t current_umask(void)
{
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return mask;
    char line[128];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Umask:", 6) == 0) {
            mask = (mode_t)strtoul(line + 6, NULL, 8);
            break;
        }
    fclose(f);
    return mask & 0777;
}

static int open_named(tc_output *o, bool keep_name, int *fd_out, tc_error *err)
{
    char *p = tmp_path(o);
    if (!p)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    int fd = mkostemp(p, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(p);
        return tc__fail(err, TC_ERR_IO, e, "cannot create a temporary file in '%s'", o->dir);
    }
    fchmod(fd, 0666 & ~current_umask()); /* as O_TMPFILE and open(2) would: honour the umask */
    if (keep_name) {
        o->named_tmp = p;
    } else {
        unlink(p);
        free(p);
    }
    *fd_out = fd;
    return TC_OK;
}

int tc__output_temp(tc_output *o, int *fd_out, tc_error *err)
{
    int rc = open_unnamed(o, fd_out, err);
    if (rc == TC_OK && *fd_out < 0)
        rc = open_named(o, false, fd_out, err);
    return rc;
}

/* The output's own temporary: a named fallback keeps its name (it is published by rename). */
static int open_main_temp(tc_output *o, tc_error *err)
{
    int rc = open_unnamed(o, &o->fd, err);
    if (rc == TC_OK && o->fd < 0)
        rc = open_named(o, o->mode == OUT_REPLACE, &o->fd, err);
    return rc;
}

/* Removes `.BASE.tctmp.PID.*` files left by writers whose process no longer exists. */
static void remove_stale_temps(const tc_output *o)
{
    int fd = dup(o->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    char prefix[300];
    int plen = snprintf(prefix, sizeof prefix, ".%.200s" TC_TMP_TAG, o->base);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, (size_t)plen) != 0)
            continue;
        char *end;
        long pid = strtol(de->d_name + plen, &end, 10);
        if (pid <= 0 || *end != '.' || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(o->dirfd, de->d_name, 0);
    }
    closedir(d);
}

/* ---- open ---- */

static int set_target(tc_output *o, const char *path, tc_error *err)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "'%s' does not name a file", path);
    o->base = strdup(base);
    o->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!o->base || !o->dir)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    size_t n = strlen(o->dir) + strlen(o->base) + 2;
    if (!(o->name = malloc(n)))
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    bool root = o->dir[strlen(o->dir) - 1] == '/';
    snprintf(o->name, n, "%s%s%s", o->dir, root ? "" : "/", o->base);
    return TC_OK;
}

/* A stream's temporary lives in $TMPDIR (the stream's own directory, /dev for instance, may
 * not take files). */
static int set_temp_dir(tc_output *o, const char *label, tc_error *err)
{
    const char *t = getenv("TMPDIR");
    o->dir = strdup(t && *t ? t : "/tmp");
    o->base = strdup(label);
    if (!o->dir || !o->base)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    return TC_OK;
}

static int open_dir(tc_output *o, tc_error *err)
{
    o->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (o->dirfd < 0)
        return tc__fail(err, TC_ERR_IO, errno, "cannot open directory '%s'", o->dir);
    return TC_OK;
}

/* Records the identity of every input (a path that does not exist cannot be overwritten). */
static int add_inputs(tc_output *o, const char *const *inputs, size_t n, tc_error *err)
{
    if (n && !inputs)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "inputs is NULL");
    o->inputs = calloc(n ? n : 1, sizeof *o->inputs);
    if (!o->inputs)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    struct stat st;
    for (size_t i = 0; i < n; i++)
        if (inputs[i] && stat(inputs[i], &st) == 0)
            o->inputs[o->ninputs++] = (tc_file_id){st.st_dev, st.st_ino};
    return TC_OK;
}

static int new_output(tc_output **out, unsigned flags, const char *const *inputs, size_t n,
                      tc_error *err)
{
    if (!out)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_output_open: NULL argument");
    *out = NULL;
    if (flags & ~TC_WRITE_OVERWRITE)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "output: unknown flags 0x%x", flags);
    tc_output *o = calloc(1, sizeof *o);
    if (!o)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    o->flags = flags;
    o->dirfd = o->fd = o->stream_fd = -1;
    *out = o;
    return add_inputs(o, inputs, n, err);
}

/* Hands out *out once it has its temporary, or frees it. */
static int output_ready(tc_output **out, int rc, tc_error *err)
{
    if (rc == TC_OK)
        rc = open_main_temp(*out, err);
    if (rc && out) {
        tc_output_abort(*out);
        *out = NULL;
    }
    return rc;
}

static int open_path(tc_output *o, const char *path, tc_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && is_stream_type(st.st_mode)) {
        o->mode = OUT_STREAM;
        o->stream_path = strdup(path);
        o->name = strdup(path);
        if (!o->stream_path || !o->name)
            return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
        int rc = check_stream(o, err);
        if (rc == TC_OK)
            rc = set_temp_dir(o, "tensorcache-stream", err);
        return rc ? rc : open_dir(o, err);
    }
    o->mode = OUT_REPLACE;
    int rc = set_target(o, path, err);
    if (rc == TC_OK)
        rc = open_dir(o, err);
    if (rc == TC_OK) /* fail early; publication checks again, race-free */
        rc = judge_entry(o, o->base, err);
    if (rc == TC_OK)
        remove_stale_temps(o);
    return rc;
}

static int open_fd(tc_output *o, int fd, tc_error *err)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return tc__fail(err, TC_ERR_INVALID_ARG, fd < 0 ? 0 : errno,
                        "output: bad file descriptor %d", fd);
    if (S_ISDIR(st.st_mode))
        return tc__fail(err, TC_ERR_NOT_REGULAR, 0, "file descriptor %d is a directory", fd);
    o->mode = OUT_STREAM;
    o->stream_fd = fd;
    char label[48];
    snprintf(label, sizeof label, fd == 1 ? "standard output" : "file descriptor %d", fd);
    if (!(o->name = strdup(label)))
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    int rc = check_stream(o, err);
    if (rc == TC_OK)
        rc = set_temp_dir(o, "tensorcache-stream", err);
    return rc ? rc : open_dir(o, err);
}

int tc_output_open(tc_output **out, const char *path, unsigned flags,
                   const char *const *inputs, size_t ninputs, tc_error *err)
{
    int rc = new_output(out, flags, inputs, ninputs, err);
    if (rc == TC_OK)
        rc = path ? open_path(*out, path, err)
                  : tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_output_open: NULL path");
    return output_ready(out, rc, err);
}

int tc_output_open_fd(tc_output **out, int fd, const char *const *inputs, size_t ninputs,
                      tc_error *err)
{
    int rc = new_output(out, 0, inputs, ninputs, err);
    return output_ready(out, rc ? rc : open_fd(*out, fd, err), err);
}

int tc_output_fd(const tc_output *o) { return o ? o->fd : -1; }

const char *tc__output_name(const tc_output *o) { return o && o->name ? o->name : "?"; }

/* ---- publication ---- */

/* Gives the unnamed temporary a hidden name in the target directory. */
static int name_unnamed(tc_output *o, tc_error *err)
{
    char *p = tmp_path(o);
    if (!p)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    const char *name = p + strlen(o->dir) + 1;
    char *x = p + strlen(p) - 6;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20);
    for (int attempt = 0; attempt < 100; attempt++) {
        for (int i = 0; i < 6; i++, seed = seed * 6364136223846793005ull + 1442695040888963407ull)
            x[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(seed >> 33) % 36];
        if (linkat(o->fd, "", o->dirfd, name, AT_EMPTY_PATH) == 0) {
            o->named_tmp = p;
            return TC_OK;
        }
        if (errno == ENOENT || errno == EPERM || errno == EINVAL) { /* no CAP_DAC_READ_SEARCH */
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
            if (linkat(AT_FDCWD, proc, o->dirfd, name, AT_SYMLINK_FOLLOW) == 0) {
                o->named_tmp = p;
                return TC_OK;
            }
        }
        if (errno != EEXIST) {
            int e = errno;
            free(p);
            return tc__fail(err, tc__write_errcode(e), e, "cannot link the output into '%s'",
                            o->dir);
        }
    }
    free(p);
    return tc__fail(err, TC_ERR_IO, EEXIST, "cannot find a free temporary name in '%s'", o->dir);
}

static bool flags_unsupported(int e) { return e == EINVAL || e == ENOSYS || e == EOPNOTSUPP; }

static int rename_failed(const tc_output *o, int e, tc_error *err)
{
    return tc__fail(err, TC_ERR_IO, e, "cannot rename the output to '%s'", o->name);
}

/* Publishes without ever replacing anything: RENAME_NOREPLACE, or linkat where the file system
 * does not take rename flags (both fail with EEXIST if anything appeared at the target). */
static int publish_noreplace(tc_output *o, const char *tmp, tc_error *err)
{
    if (renameat2(o->dirfd, tmp, o->dirfd, o->base, RENAME_NOREPLACE) == 0)
        return TC_OK;
    int e = errno;
    if (flags_unsupported(e)) {
        if (linkat(o->dirfd, tmp, o->dirfd, o->base, 0) == 0) {
            unlinkat(o->dirfd, tmp, 0);
            return TC_OK;
        }
        e = errno;
    }
    if (e == EEXIST) {
        int rc = judge_entry(o, o->base, err);
        if (rc)
            return rc; /* what appeared there is refused by name */
    }
    return rename_failed(o, e, err);
}

/* Publishes over an allowed target: exchanges the two names, then judges what was displaced
 * (now at the temporary's name) and exchanges back if the policy forbids replacing it. */
static int publish_overwrite(tc_output *o, const char *tmp, tc_error *err)
{
    if (renameat2(o->dirfd, tmp, o->dirfd, o->base, RENAME_EXCHANGE) == 0) {
        int rc = judge_entry(o, tmp, err);
        if (rc) {
            if (renameat2(o->dirfd, tmp, o->dirfd, o->base, RENAME_EXCHANGE) != 0)
                return tc__fail(err, TC_ERR_IO, errno, "'%s' was replaced concurrently and "
                                "cannot be restored; the displaced file is at '%s/%s'",
                                o->name, o->dir, tmp);
            return rc;
        }
        unlinkat(o->dirfd, tmp, 0); /* the displaced regular file or link */
        return TC_OK;
    }
    int e = errno;
    if (e == ENOENT) /* nothing at the target (any more) */
        return publish_noreplace(o, tmp, err);
    if (!flags_unsupported(e))
        return rename_failed(o, e, err);
    int rc = judge_entry(o, o->base, err); /* no exchange here: check, then rename */
    if (rc == TC_OK && renameat(o->dirfd, tmp, o->dirfd, o->base) != 0)
        rc = rename_failed(o, errno, err);
    return rc;
}

static int publish_replace(tc_output *o, tc_error *err)
{
    int rc = o->named_tmp ? TC_OK : name_unnamed(o, err);
    if (rc)
        return rc;
    const char *tmp = strrchr(o->named_tmp, '/') + 1;
    rc = (o->flags & TC_WRITE_OVERWRITE) ? publish_overwrite(o, tmp, err)
                                         : publish_noreplace(o, tmp, err);
    if (rc)
        return rc; /* abort unlinks the temporary */
    free(o->named_tmp);
    o->named_tmp = NULL;
    if (fsync(o->dirfd) != 0)
        return tc__fail(err, TC_ERR_IO, errno, "fsync of directory '%s' failed", o->dir);
    return TC_OK;
}

static int write_stream(const tc_output *o, int dst, const uint8_t *p, size_t n, tc_error *err)
{
    while (n) {
        ssize_t r = write(dst, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            return tc__fail(err, tc__write_errcode(e), e, "writing to '%s' failed", o->name);
        }
        p += r, n -= (size_t)r;
    }
    return TC_OK;
}

/* Copies the complete temporary into the stream, in order, from its first byte. */
static int copy_to_stream(const tc_output *o, int dst, tc_error *err)
{
    uint8_t *buf = malloc(TC_COPY_BUF);
    if (!buf)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    int rc = TC_OK;
    for (off_t off = 0; rc == TC_OK;) {
        ssize_t r = pread(o->fd, buf, TC_COPY_BUF, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = tc__fail(err, TC_ERR_IO, errno, "reading the temporary output failed");
        if (r <= 0)
            break;
        rc = write_stream(o, dst, buf, (size_t)r, err);
        off += r;
    }
    free(buf);
    return rc;
}

static int publish_stream(tc_output *o, tc_error *err)
{
    int dst = o->stream_fd, rc = check_stream(o, err);
    if (rc)
        return rc;
    if (o->stream_path) {
        /* No O_CREAT, no O_TRUNC: only an existing FIFO or device is written into. */
        dst = open(o->stream_path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (dst < 0)
            return tc__fail(err, tc__write_errcode(errno), errno, "cannot open '%s'", o->name);
        struct stat st;
        if (fstat(dst, &st) != 0 || !is_stream_type(st.st_mode) || is_input(o, &st))
            rc = is_input(o, &st) ? same_file_error(o, err)
                                  : tc__fail(err, TC_ERR_NOT_REGULAR, 0, "'%s' changed type while "
                                             "the output was being written", o->name);
    }
    if (rc == TC_OK)
        rc = copy_to_stream(o, dst, err);
    if (o->stream_path && close(dst) != 0 && rc == TC_OK)
        rc = tc__fail(err, TC_ERR_IO, errno, "closing '%s' failed", o->name);
    return rc;
}

int tc_output_commit(tc_output *o, tc_error *err)
{
    if (!o)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_output_commit: NULL output");
    int rc = TC_OK;
    if (o->mode == OUT_REPLACE && fsync(o->fd) != 0)
        rc = tc__fail(err, tc__write_errcode(errno), errno, "%s: fsync of the output failed",
                      o->name);
    if (rc == TC_OK)
        rc = o->mode == OUT_REPLACE ? publish_replace(o, err) : publish_stream(o, err);
    tc_output_abort(o);
    return rc;
}

void tc_output_abort(tc_output *o)
{
    if (!o)
        return;
    if (o->named_tmp) {
        unlink(o->named_tmp);
        free(o->named_tmp);
    }
    if (o->fd >= 0)
        close(o->fd);
    if (o->dirfd >= 0)
        close(o->dirfd);
    free(o->inputs);
    free(o->stream_path);
    free(o->name);
    free(o->dir);
    free(o->base);
    free(o);
}
