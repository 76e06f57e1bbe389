/* cli.c - error reports, option parsing and formatting shared by the subcommands (cli.h). */
#include "cli.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_report(const tc_error *err)
{
    fprintf(stderr, "tensorcache: error: %s: %s\n", tct_error_name(err->code),
            err->message[0] ? err->message : tct_strerror(err->code));
    return err->code == TCT_ERR_USAGE ? EXIT_USAGE : EXIT_DATA;
}

int cli_fail(int code, const char *fmt, ...)
{
    tc_error err = {.code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    return cli_report(&err);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tensorcache: error: USAGE: %s%s%s (see 'tensorcache %s%s--help')\n",
            cmd ? cmd : "", cmd ? ": " : "", msg, cmd ? cmd : "", cmd ? " " : "");
    return EXIT_USAGE;
}


opt_iter cli_opts(const cli_command *c, int argc, char **argv)
{
    return (opt_iter){.argc = argc, .argv = argv, .i = 1, .cmd = c->name, .command = c};
}

const char *cli_opt_name(const opt_spec *specs, int id)
{
    for (const opt_spec *s = specs; s->name; s++)
        if (s->id == id)
            return s->name;
    return "?";
}

/* Next option or positional argument, GNU style (options and operands may be interleaved,
 * "--" ends options, "--name=value" and "--name value" both work). */
int cli_next_opt(opt_iter *it, const opt_spec *specs, const char **arg)
{
    *arg = NULL;
    if (it->i >= it->argc)
        return OPT_END;
    const char *a = it->argv[it->i++];
    if (it->positional_only || a[0] != '-' || a[1] == 0) {
        *arg = a;
        return OPT_POSITIONAL;
    }
    if (strcmp(a, "--") == 0) {
        it->positional_only = true;
        return cli_next_opt(it, specs, arg);
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        if (it->command)
            fputs(it->command->help, stdout);
        return OPT_HELP;
    }
    const opt_spec *hit = NULL;
    const char *inline_val = NULL;
    if (a[1] == '-') {
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        for (const opt_spec *s = specs; s->name; s++)
            if (strlen(s->name) == len && strncmp(s->name, name, len) == 0)
                hit = s;
        if (eq)
            inline_val = eq + 1;
    } else {
        for (const opt_spec *s = specs; s->name; s++)
            if (s->short_name && s->short_name == a[1])
                hit = s;
        if (a[2])
            inline_val = a + 2;
        if (hit && inline_val && !hit->has_arg)
            hit = NULL; /* "-qx": no clustering of short options */
    }
    if (!hit) {
        cli_usage_error(it->cmd, "unknown option '%s'", a);
        return OPT_ERROR;
    }
    if (!hit->has_arg) {
        if (inline_val) {
            cli_usage_error(it->cmd, "option '--%s' takes no value", hit->name);
            return OPT_ERROR;
        }
        return hit->id;
    }
    if (inline_val) {
        *arg = inline_val;
        return hit->id;
    }
    if (it->i >= it->argc) {
        cli_usage_error(it->cmd, "option '%s' needs a value", a);
        return OPT_ERROR;
    }
    *arg = it->argv[it->i++];
    return hit->id;
}

/* ---------------------------------------------------------------------------------------------
 * shared formatting
 * ------------------------------------------------------------------------------------------- */

void cli_shape_text(char *buf, size_t cap, const uint64_t *shape, uint32_t rank,
                       bool python_tuple)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (uint32_t d = 0; d < rank && k < cap; d++) {
        if (shape[d] == TC_DIM_VARIABLE)
            k += (size_t)snprintf(buf + k, cap - k, "%s?", d ? ", " : "");
        else
            k += (size_t)snprintf(buf + k, cap - k, "%s%llu", d ? ", " : "",
                                  (unsigned long long)shape[d]);
    }
    if (k < cap)
        snprintf(buf + k, cap - k, "%s)", python_tuple && rank == 1 ? "," : "");
}

void cli_human_bytes(char *buf, size_t cap, uint64_t n)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
}

/* Largest power of two dividing `off`, capped at 4096 (the format's strongest guarantee). */
uint64_t cli_alignment_of(uint64_t off)
{
    if (off == 0)
        return 0;
    uint64_t a = off & (~off + 1);
    return a > 4096 ? 4096 : a;
}

const char *cli_numpy_name(int dtype)
{
    /* bf16 has no NumPy type: exported and described as its raw 16-bit pattern. */
    return dtype == TC_DTYPE_BF16 ? "<u2" : tc_dtype_numpy(dtype);
}

/* Prefixes err->message with "NAME: " unless it already starts with NAME. */
void cli_prefix_message(tc_error *err, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(err->message, name, n) == 0)
        return;
    char msg[sizeof err->message * 2 + 8];
    snprintf(msg, sizeof msg, "%s: %s", name, err->message);
    size_t len = strlen(msg);
    if (len >= sizeof err->message)
        len = sizeof err->message - 1;
    memcpy(err->message, msg, len);
    err->message[len] = 0;
}

#define CLI_CHUNK_MAX_SAMPLES 65536u

int cli_for_each_chunk(const tc_cache *c, uint32_t field, uint64_t sample_bytes,
                       uint64_t chunk_bytes, cli_chunk_fn fn, void *ctx, tc_error *err)
{
    uint64_t n = tc_num_samples(c);
    if (n == 0 || sample_bytes == 0)
        return TC_OK;
    uint64_t chunk = sample_bytes >= chunk_bytes ? 1 : chunk_bytes / sample_bytes;
    if (chunk > CLI_CHUNK_MAX_SAMPLES) /* the index array costs 8 bytes per sample */
        chunk = CLI_CHUNK_MAX_SAMPLES;
    if (chunk > n)
        chunk = n;
    if (sample_bytes > SIZE_MAX / chunk)
        return tct_fail(err, TC_ERR_NOMEM, 0, "samples too large for memory");
    size_t bytes = (size_t)(chunk * sample_bytes);
    uint8_t *buf = malloc(bytes);
    uint64_t *idx = malloc((size_t)chunk * sizeof *idx);
    int rc = buf && idx ? TC_OK : tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    for (uint64_t done = 0; rc == TC_OK && done < n;) {
        uint64_t m = n - done < chunk ? n - done : chunk;
        for (uint64_t j = 0; j < m; j++)
            idx[j] = done + j;
        rc = tc_gather(c, field, idx, (size_t)m, buf, bytes, err);
        if (rc == TC_OK)
            rc = fn(ctx, buf, m, sample_bytes, err);
        done += m;
    }
    free(buf);
    free(idx);
    return rc;
}

int cli_open_cache(tc_cache **c, const char *path, unsigned flags)
{
    tc_error err = {0};
    int rc = tc_open(c, path, flags, &err);
    if (rc) {
        if (!err.code)
            err.code = rc;
        cli_prefix_message(&err, path);
        return cli_report(&err);
    }
    return 0;
}

