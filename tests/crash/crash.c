/*
 * crash.c - crash-safety harness: the writer is killed at every file-changing call.
 *
 *   crash CWRITER SHIM.so WORKDIR
 *
 * For each scenario - the target is absent, or holds an old valid cache next to a stale
 * temporary of an earlier writer that died; the writer uses
 * O_TMPFILE or (TC_NO_TMPFILE=1 through the shim) its named-temporary fallback; SIGKILL comes
 * before or after the call - the writer (tests/crash/cwriter.c) is run under the fault-injection
 * shim (tests/crash/shim.c) with TC_CRASH_AT = 1, 2, 3, ... until a run completes without being
 * killed. After every kill:
 *
 *  - the target is absent (if it was), byte-identical to the old cache, or byte-identical to the
 *    complete new cache (which also passes tc_open(TC_OPEN_VERIFY)); never anything else;
 *  - every other file in the directory is a recognisable `.data.tc.tctmp.<PID>.XXXXXX`
 *    temporary of the killed writer;
 *  - a following successful write publishes the new cache and removes the stale temporaries,
 *    so the directory holds the target and nothing else.
 *
 * Ends with "crash: N passed, M failed" (one case per kill point, plus the completed runs).
 */
#include "tensorcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_POINTS 2000

static const char *cwriter, *shim;
static char work[4096];
static uint64_t passed, failed;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crash: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void fail_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_case(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crash: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* ---- files ---- */

typedef struct {
    uint8_t *data;
    size_t size;
} blob;

static bool read_blob(const char *path, blob *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return false;
    }
    b->size = (size_t)st.st_size;
    b->data = malloc(b->size + 1);
    bool ok = b->data && pread(fd, b->data, b->size, 0) == (ssize_t)b->size;
    close(fd);
    if (!ok)
        free(b->data);
    return ok;
}

static bool same_as(const char *path, const blob *want)
{
    blob got;
    if (!read_blob(path, &got))
        return false;
    bool same = got.size == want->size && memcmp(got.data, want->data, got.size) == 0;
    free(got.data);
    return same;
}

static void write_blob(const char *path, const blob *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, b->data, b->size) != (ssize_t)b->size || close(fd) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        die("cannot list %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

static const char *allowed_stale; /* one more name list_leftovers accepts, or NULL */

/* Counts the directory's entries other than `target`; each must start with `tmp_prefix`
 * (NULL: none is allowed) or be `allowed_stale`. Returns the number of temporaries, or -1 on a
 * stranger. */
static int list_leftovers(const char *dir, const char *target, const char *tmp_prefix,
                          char *stranger, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        die("cannot list %s: %s", dir, strerror(errno));
    int temps = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, "..") || !strcmp(nm, target))
            continue;
        size_t pl = tmp_prefix ? strlen(tmp_prefix) : 0;
        if ((tmp_prefix && strncmp(nm, tmp_prefix, pl) == 0 && strlen(nm) == pl + 6) ||
            (tmp_prefix && allowed_stale && strcmp(nm, allowed_stale) == 0)) {
            temps++;
            continue;
        }
        snprintf(stranger, cap, "%s", nm);
        temps = -1;
        break;
    }
    closedir(d);
    return temps;
}

/* ---- running the writer ---- */

typedef struct {
    bool killed;   /* ended by SIGKILL (the injection) */
    char trace[1024]; /* the counted calls in order, space-separated (TC_CRASH_TRACE runs) */
    int status;    /* exit status when not killed */
    pid_t pid;
    char point[160]; /* "K OP before|after" from the shim's log */
    long calls;     /* calls counted in a completed run (from the shim's log), -1 if unknown */
} run_result;

static void read_log(const char *log, run_result *r)
{
    r->point[0] = '\0';
    r->trace[0] = '\0';
    r->calls = -1;
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[160];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char op[40];
        if (strncmp(line, "call ", 5) == 0 && sscanf(line + 5, "%*s %39s", op) == 1 &&
            strlen(r->trace) + strlen(op) + 2 < sizeof r->trace) {
            strcat(r->trace, r->trace[0] ? " " : "");
            strcat(r->trace, op);
        }
        if (strncmp(line, "crash ", 6) == 0)
            snprintf(r->point, sizeof r->point, "%s", line + 6);
        else if (strncmp(line, "calls ", 6) == 0)
            r->calls = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* Unprivileged runs: without CAP_DAC_READ_SEARCH, older kernels refuse linkat(AT_EMPTY_PATH)
 * and the writer names its O_TMPFILE through /proc/self/fd instead (a second linkat in the list
 * of calls killed in; recent kernels let the opener of the file link it, so one linkat). */
static uid_t unpriv_uid;
static gid_t unpriv_gid;

static void drop_privileges(void)
{
    if (setgroups(0, NULL) != 0 || setgid(unpriv_gid) != 0 || setuid(unpriv_uid) != 0)
        _exit(126);
}

static run_result run_writer(const char *target, const char *variant, long crash_at,
                             const char *mode, bool named, bool unpriv)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/shim.log", work);
    unlink(log);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        char at[32];
        snprintf(at, sizeof at, "%ld", crash_at);
        setenv("LD_PRELOAD", shim, 1);
        setenv("TC_CRASH_LOG", log, 1);
        if (crash_at > 0) {
            setenv("TC_CRASH_AT", at, 1);
            setenv("TC_CRASH_MODE", mode, 1);
        }
        if (named)
            setenv("TC_NO_TMPFILE", "1", 1);
        if (crash_at < 0)
            setenv("TC_CRASH_TRACE", "1", 1);
        if (unpriv)
            drop_privileges();
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        execl(cwriter, cwriter, target, variant, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    run_result r = {.pid = pid};
    r.killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    read_log(log, &r);
    unlink(log);
    return r;
}

static bool verifies(const char *path)
{
    tc_cache *c;
    tc_error e;
    if (tc_open(&c, path, TC_OPEN_VERIFY, &e) != TC_OK)
        return false;
    tc_close(c);
    return true;
}

/* ---- scenarios ---- */

typedef struct {
    bool old_target; /* the target holds the old cache before the write */
    bool named;      /* TC_NO_TMPFILE: the named-temporary fallback */
    const char *mode; /* "before" / "after" */
    bool unpriv;     /* the writer runs as an unprivileged user */
} scenario;

typedef struct {
    long points;        /* kill points exercised */
    long state_old, state_new, state_absent, with_temps;
    char ops[16][24];   /* the intercepted functions killed in, and how often */
    long op_count[16];
    int nops;
} sc_stats;

/* Counts the function named in a kill point "K OP MODE". */
static void count_op(sc_stats *st, const char *point)
{
    char op[24] = "";
    if (sscanf(point, "%*s %23s", op) != 1)
        return;
    int i;
    for (i = 0; i < st->nops && strcmp(st->ops[i], op); i++)
        ;
    if (i == st->nops) {
        if (st->nops == 16)
            return;
        snprintf(st->ops[st->nops++], sizeof st->ops[0], "%s", op);
    }
    st->op_count[i]++;
}

static const blob *ref_old, *ref_new;

/* "Old" scenarios also start with the temporary of an earlier, dead writer: the writer's
 * cleanup (unlinkat) is then one of the kill points, and the stale file must be gone after the
 * next successful write. */
static char stale_name[128];

static void make_stale_name(void)
{
    pid_t pid = fork(); /* a PID that certainly belongs to no live process once reaped */
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    snprintf(stale_name, sizeof stale_name, ".data.tc.tctmp.%ld.stale1", (long)pid);
}

/* One kill point: the state after the kill, then recovery by a successful write. */
static void check_kill(const scenario *s, const char *dir, const char *target,
                       const run_result *r, sc_stats *st)
{
    bool ok = true;
    struct stat sb;
    bool exists = stat(target, &sb) == 0;
    if (!exists && !s->old_target) {
        st->state_absent++;
    } else if (exists && s->old_target && same_as(target, ref_old)) {
        st->state_old++;
    } else if (exists && same_as(target, ref_new) && verifies(target)) {
        st->state_new++;
    } else {
        ok = false;
        fail_case("killed at %s: target is %s (%lld bytes): neither %s nor the complete new cache",
                  r->point, exists ? "present" : "absent", exists ? (long long)sb.st_size : 0LL,
                  s->old_target ? "the old cache" : "absent");
    }
    char prefix[64], stranger[256];
    snprintf(prefix, sizeof prefix, ".data.tc.tctmp.%ld.", (long)r->pid);
    int temps = list_leftovers(dir, "data.tc", prefix, stranger, sizeof stranger);
    if (temps < 0) {
        ok = false;
        fail_case("killed at %s: unrecognisable file '%s' left in the directory", r->point,
                  stranger);
    } else if (temps > 0) {
        st->with_temps++;
    }
    /* recovery: the next writer publishes and removes the stale temporaries */
    run_result again = run_writer(target, "1", -1, "", s->named, s->unpriv);
    if (again.killed || again.status != 0) {
        ok = false;
        fail_case("killed at %s: the following write failed (status %d)", r->point, again.status);
    } else if (!same_as(target, ref_new)) {
        ok = false;
        fail_case("killed at %s: the following write did not publish the new cache", r->point);
    } else if (list_leftovers(dir, "data.tc", NULL, stranger, sizeof stranger) != 0) {
        ok = false;
        fail_case("killed at %s: '%s' is still there after the following write", r->point,
                  stranger);
    }
    if (ok)
        passed++;
    else
        failed++;
}

static void reset_dir(const scenario *s, const char *dir, const char *target)
{
    empty_dir(dir);
    allowed_stale = NULL;
    if (s->old_target) {
        char stale[4400];
        write_blob(target, ref_old);
        snprintf(stale, sizeof stale, "%s/%s", dir, stale_name);
        write_blob(stale, ref_old);
        allowed_stale = stale_name;
    }
}

static void run_scenario(const scenario *s, int idx)
{
    char dir[4200], target[4300];
    snprintf(dir, sizeof dir, "%s/s%d", work, idx);
    mkdir(dir, 0755);
    if (s->unpriv && chmod(dir, 0777) != 0)
        die("chmod %s: %s", dir, strerror(errno));
    snprintf(target, sizeof target, "%s/data.tc", dir);
    sc_stats st = {0};
    long k;
    for (k = 1; k <= MAX_POINTS; k++) {
        reset_dir(s, dir, target);
        run_result r = run_writer(target, "1", k, s->mode, s->named, s->unpriv);
        if (r.killed) {
            st.points++;
            count_op(&st, r.point);
            check_kill(s, dir, target, &r, &st);
            continue;
        }
        /* not killed: the run had fewer than k calls and must have completed */
        char stranger[256];
        if (r.status != 0) {
            fail_case("%s run with TC_CRASH_AT=%ld exited with status %d", s->mode, k, r.status);
            failed++;
        } else if (!same_as(target, ref_new) || !verifies(target) ||
                   list_leftovers(dir, "data.tc", NULL, stranger, sizeof stranger) != 0) {
            fail_case("completed run left a wrong target or stray files");
            failed++;
        } else if (r.calls != k - 1) {
            fail_case("completed run made %ld calls, expected %ld", r.calls, k - 1);
            failed++;
        } else {
            passed++;
        }
        break;
    }
    if (k > MAX_POINTS) {
        fail_case("the writer was still being killed after %d points", MAX_POINTS);
        failed++;
    }
    printf("  target %-14s %-10s %s kill %-6s: %2ld kill points; after the kill: old %ld, "
           "new %ld, absent %ld; temporaries left %ld times (all removed by the next write)\n",
           s->old_target ? "old + stale," : "absent,", s->named ? "named," : "O_TMPFILE,",
           s->unpriv ? "uid nobody," : "root,", s->mode,
           st.points, st.state_old, st.state_new, st.state_absent, st.with_temps);
    printf("    killed in:");
    for (int i = 0; i < st.nops; i++)
        printf(" %s x%ld", st.ops[i], st.op_count[i]);
    printf("\n");
    empty_dir(dir);
    rmdir(dir);
}

/* Power-loss safety cannot be tested by killing a process (the page cache survives), but the
 * order of the calls that provide it can: the data must be fsynced before the rename publishes
 * it, and the directory fsynced after. */
static void check_durability_order(const char *trace, const char *what)
{
    const char *ren = strstr(trace, "renameat");
    const char *sync_before = strstr(trace, "fsync");
    const char *sync_after = ren ? strstr(ren, "fsync") : NULL;
    bool ok = ren && sync_before && sync_before < ren && sync_after;
    printf("crash: a complete write (%s) calls:", what);
    char prev[40] = "";
    int run = 0;
    for (const char *p = trace;; p += strcspn(p, " "), p += *p == ' ') { /* runs: "op xN" */
        char op[40] = "";
        sscanf(p, "%39s", op);
        if (run && strcmp(op, prev) != 0) {
            printf(run > 1 ? " %s x%d" : " %s", prev, run);
            run = 0;
        }
        if (!op[0])
            break;
        snprintf(prev, sizeof prev, "%s", op);
        run++;
    }
    printf("\n");
    if (ok) {
        passed++;
    } else {
        failed++;
        fail_case("%s: expected fsync before renameat and fsync after it", what);
    }
}

static blob make_reference(const char *variant)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/ref-%s.tc", work, variant);
    run_result r = run_writer(path, variant, -1, "", false, false);
    blob b;
    if (r.killed || r.status != 0 || !read_blob(path, &b))
        die("cannot write the reference cache %s (status %d)", path, r.status);
    /* the writer must be deterministic, or "byte-identical to the new cache" means nothing */
    run_result r2 = run_writer(path, variant, -1, "", true, false);
    if (r2.status != 0 || !same_as(path, &b))
        die("two runs of the writer (O_TMPFILE, named) give different bytes for variant %s",
            variant);
    unlink(path);
    check_durability_order(r.trace, "O_TMPFILE");
    check_durability_order(r2.trace, "named");
    return b;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        die("usage: crash CWRITER SHIM.so WORKDIR");
    cwriter = argv[1];
    shim = argv[2];
    if (access(cwriter, X_OK) != 0 || access(shim, R_OK) != 0)
        die("cannot find %s or %s", cwriter, shim);
    mkdir(argv[3], 0755);
    snprintf(work, sizeof work, "%s/crash.XXXXXX", argv[3]);
    if (!mkdtemp(work))
        die("cannot create a directory in %s: %s", argv[3], strerror(errno));
    blob old = make_reference("0"), new = make_reference("1");
    make_stale_name();
    ref_old = &old;
    ref_new = &new;
    printf("crash: old cache %zu bytes, new cache %zu bytes, in %s\n", old.size, new.size, work);
    int idx = 0;
    for (int o = 0; o < 2; o++)
        for (int n = 0; n < 2; n++)
            for (int m = 0; m < 2; m++) {
                scenario s = {.old_target = o, .named = n, .mode = m ? "after" : "before"};
                run_scenario(&s, idx++);
            }
    const struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : NULL;
    if (pw && chmod(work, 0777) == 0) {
        unpriv_uid = pw->pw_uid;
        unpriv_gid = pw->pw_gid;
        for (int o = 0; o < 2; o++)
            for (int m = 0; m < 2; m++) {
                scenario s = {.old_target = o, .mode = m ? "after" : "before", .unpriv = true};
                run_scenario(&s, idx++);
            }
    } else {
        printf("  (not root or no user 'nobody': the unprivileged scenarios are skipped)\n");
    }
    free(old.data);
    free(new.data);
    rmdir(work);
    printf("crash: %llu passed, %llu failed\n", (unsigned long long)passed,
           (unsigned long long)failed);
    return failed ? 1 : 0;
}
