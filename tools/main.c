/* main.c - the `tensorcache` command: dispatch, info, verify, export (pack is in pack.c).
 *
 * The subcommands are listed in tools/commands.c; each defines a cli_command (cli.h).
 * Exit codes: 0 success, 1 bad or corrupt data or any failure of the operation, 2 usage.
 * Every error is printed to stderr as `tensorcache: error: NAME: detail`, NAME being
 * tct_error_name() of the code (a library code, or a tool code of tools/errors.h), so scripts
 * and tests can match it. The reference is
 * docs/CLI.md. */
#include "cli.h"
#include "output.h"
#include "sources.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT_CHUNK_BYTES (8u << 20)

/* ---------------------------------------------------------------------------------------------
 * info
 * ------------------------------------------------------------------------------------------- */

static const char INFO_HELP[] =
    "usage: tensorcache info [--json] [--no-mmap] FILE\n"
    "\n"
    "Describes a cache: format version, N, file size, and per field its name, dtype (and NumPy\n"
    "spelling), per-sample shape, layout, kind, codec (with the compression ratio for LZ4),\n"
    "stride, data and index regions; then the metadata. Opening validates the structure (not\n"
    "the checksums: use 'tensorcache verify').\n"
    "\n"
    "options:\n"
    "  --json       machine-readable JSON output\n"
    "  --no-mmap    read with pread instead of mapping the file\n"
    "  -h, --help   this help\n";

enum { I_JSON = 1, I_NOMMAP };
static const opt_spec info_opts[] = {
    {"json", 0, false, I_JSON}, {"no-mmap", 0, false, I_NOMMAP}, {NULL, 0, false, 0}};

static double lz4_ratio(const tc_cache *c, const tc_field_info *fi, bool *valid)
{
    uint64_t raw;
    *valid = fi->codec == TC_CODEC_LZ4 && fi->data_size > 0 &&
             tct_mul(fi->sample_bytes, tc_num_samples(c), &raw);
    return *valid ? (double)raw / (double)fi->data_size : 0.0;
}

static const char *kind_name(const tc_field_info *fi) { return fi->variable ? "variable" : "fixed"; }
static const char *codec_name(int codec) { return codec == TC_CODEC_LZ4 ? "lz4" : "none"; }

static void info_text_field(const tc_cache *c, uint32_t k, const tc_field_info *fi)
{
    char shape[TC_MAX_RANK * 24 + 8], hs[32];
    cli_shape_text(shape, sizeof shape, fi->shape, fi->rank, true);
    printf("\nfield %u: %s\n", k, fi->name);
    printf("  dtype:        %s (NumPy '%s')\n", tc_dtype_name(fi->dtype), cli_numpy_name(fi->dtype));
    printf("  shape:        %s per sample%s\n", shape,
           fi->variable ? " (? = varies between samples)" : "");
    printf("  layout:       %s\n", fi->layout[0] ? fi->layout : "(none)");
    printf("  kind:         %s\n", kind_name(fi));
    bool rv;
    double ratio = lz4_ratio(c, fi, &rv);
    if (fi->codec == TC_CODEC_LZ4) {
        printf("  codec:        lz4, %llu samples per block", (unsigned long long)fi->block_samples);
        if (rv)
            printf(", ratio %.2f (%llu raw bytes / %llu stored)", ratio,
                   (unsigned long long)(fi->sample_bytes * tc_num_samples(c)),
                   (unsigned long long)fi->data_size);
        printf("\n");
    } else {
        printf("  codec:        none\n");
    }
    if (!fi->variable)
        printf("  sample bytes: %llu\n", (unsigned long long)fi->sample_bytes);
    if (!fi->variable && fi->codec == TC_CODEC_NONE) {
        printf("  stride:       %llu bytes", (unsigned long long)fi->stride);
        if (fi->stride > fi->sample_bytes)
            printf(" (%llu padding bytes per sample)",
                   (unsigned long long)(fi->stride - fi->sample_bytes));
        printf("\n");
    }
    cli_human_bytes(hs, sizeof hs, fi->data_size);
    printf("  data:         offset %llu, size %llu (%s), alignment %llu, checksum %016llx\n",
           (unsigned long long)fi->data_offset, (unsigned long long)fi->data_size, hs,
           (unsigned long long)cli_alignment_of(fi->data_offset),
           (unsigned long long)fi->data_checksum);
    if (fi->index_size || fi->variable || fi->codec != TC_CODEC_NONE)
        printf("  index:        offset %llu, size %llu, alignment %llu, checksum %016llx\n",
               (unsigned long long)fi->index_offset, (unsigned long long)fi->index_size,
               (unsigned long long)cli_alignment_of(fi->index_offset),
               (unsigned long long)fi->index_checksum);
    else
        printf("  index:        none\n");
}

static void json_u64_or_null(tct_buf *b, bool valid, uint64_t v)
{
    if (valid)
        tct_buf_printf(b, "%llu", (unsigned long long)v);
    else
        tct_buf_puts(b, "null");
}

static void info_json_field(tct_buf *b, const tc_cache *c, const tc_field_info *fi)
{
    tct_buf_puts(b, "{\"name\": ");
    tct_buf_json_str(b, fi->name, strlen(fi->name));
    tct_buf_printf(b, ", \"dtype\": \"%s\", \"numpy\": \"%s\", \"shape\": [",
                   tc_dtype_name(fi->dtype), cli_numpy_name(fi->dtype));
    for (uint32_t d = 0; d < fi->rank; d++) {
        tct_buf_puts(b, d ? ", " : "");
        json_u64_or_null(b, fi->shape[d] != TC_DIM_VARIABLE, fi->shape[d]);
    }
    tct_buf_puts(b, "], \"layout\": ");
    if (fi->layout[0])
        tct_buf_json_str(b, fi->layout, strlen(fi->layout));
    else
        tct_buf_puts(b, "null");
    tct_buf_printf(b, ", \"kind\": \"%s\", \"codec\": \"%s\", \"sample_bytes\": ",
                   kind_name(fi), codec_name(fi->codec));
    json_u64_or_null(b, !fi->variable, fi->sample_bytes);
    tct_buf_printf(b, ", \"stride\": %llu, \"block_samples\": %llu, \"compression_ratio\": ",
                   (unsigned long long)fi->stride, (unsigned long long)fi->block_samples);
    bool rv;
    double ratio = lz4_ratio(c, fi, &rv);
    if (rv)
        tct_buf_printf(b, "%.6g", ratio);
    else
        tct_buf_puts(b, "null");
    tct_buf_printf(b, ", \"data\": {\"offset\": %llu, \"size\": %llu, \"alignment\": %llu, "
                   "\"checksum\": \"%016llx\"}, \"index\": ",
                   (unsigned long long)fi->data_offset, (unsigned long long)fi->data_size,
                   (unsigned long long)cli_alignment_of(fi->data_offset),
                   (unsigned long long)fi->data_checksum);
    if (fi->index_size || fi->variable || fi->codec != TC_CODEC_NONE)
        tct_buf_printf(b, "{\"offset\": %llu, \"size\": %llu, \"alignment\": %llu, "
                       "\"checksum\": \"%016llx\"}",
                       (unsigned long long)fi->index_offset, (unsigned long long)fi->index_size,
                       (unsigned long long)cli_alignment_of(fi->index_offset),
                       (unsigned long long)fi->index_checksum);
    else
        tct_buf_puts(b, "null");
    tct_buf_puts(b, "}");
}

static int info_json(const tc_cache *c, const char *path)
{
    tct_buf b = {0};
    unsigned vmaj, vmin;
    tc_file_format(c, &vmaj, &vmin);
    tct_buf_puts(&b, "{\"file\": ");
    tct_buf_json_str(&b, path, strlen(path));
    tct_buf_printf(&b, ", \"format_version\": \"%u.%u\", \"file_size\": %llu, "
                   "\"num_samples\": %llu, \"num_fields\": %u, \"fields\": [",
                   vmaj, vmin, (unsigned long long)tc_file_size(c),
                   (unsigned long long)tc_num_samples(c), tc_num_fields(c));
    for (uint32_t k = 0; k < tc_num_fields(c); k++) {
        tc_field_info fi;
        tc_describe_field(c, k, &fi, NULL);
        tct_buf_puts(&b, k ? ",\n  " : "\n  ");
        info_json_field(&b, c, &fi);
    }
    const void *meta;
    size_t msize;
    tc_metadata(c, &meta, &msize, NULL);
    tct_buf_puts(&b, "],\n \"metadata_is_json\": ");
    bool is_json = msize > 0 && tct_json_check(meta, msize, NULL, NULL, 0);
    tct_buf_puts(&b, is_json ? "true" : "false");
    tct_buf_puts(&b, ", \"metadata\": ");
    if (is_json)
        tct_buf_put(&b, meta, msize);
    else if (msize)
        tct_buf_json_str(&b, meta, msize);
    else
        tct_buf_puts(&b, "null");
    tct_buf_puts(&b, "}\n");
    if (b.oom) {
        tct_buf_free(&b);
        return cli_fail(TC_ERR_NOMEM, "out of memory");
    }
    fwrite(b.p, 1, b.len, stdout);
    tct_buf_free(&b);
    return 0;
}

/* Prints metadata for people: a JSON object with one top-level member per line (members
 * themselves stay compact), anything else verbatim (the reader guarantees valid UTF-8). */
static void print_metadata(const char *m, size_t n)
{
    tct_json_info *info = malloc(sizeof *info);
    bool object = info && tct_json_check(m, n, info, NULL, 0) && info->is_object;
    free(info);
    if (!object) {
        printf("  ");
        fwrite(m, 1, n, stdout);
        printf("\n");
        return;
    }
    int depth = 0;
    bool in_str = false, esc = false, skip_ws = false;
    printf("  ");
    for (size_t i = 0; i < n; i++) {
        char ch = m[i];
        if (in_str) {
            putchar(ch);
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
            continue;
        }
        if (skip_ws && (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'))
            continue;
        skip_ws = false;
        if (ch == '"')
            in_str = true;
        if ((ch == '}' || ch == ']') && --depth == 0) {
            printf("\n  %c", ch);
            continue;
        }
        putchar(ch);
        if (ch == '{' || ch == '[') {
            if (++depth == 1) {
                printf("\n    ");
                skip_ws = true;
            }
        } else if (ch == ',' && depth == 1) {
            printf("\n    ");
            skip_ws = true;
        }
    }
    printf("\n");
}

static int info_text(const tc_cache *c, const char *path)
{
    unsigned vmaj, vmin;
    tc_file_format(c, &vmaj, &vmin);
    char hs[32];
    cli_human_bytes(hs, sizeof hs, tc_file_size(c));
    printf("file:           %s\n", path);
    printf("format version: %u.%u\n", vmaj, vmin);
    printf("file size:      %llu bytes (%s)\n", (unsigned long long)tc_file_size(c), hs);
    printf("samples (N):    %llu\n", (unsigned long long)tc_num_samples(c));
    printf("fields:         %u\n", tc_num_fields(c));
    for (uint32_t k = 0; k < tc_num_fields(c); k++) {
        tc_field_info fi;
        tc_describe_field(c, k, &fi, NULL);
        info_text_field(c, k, &fi);
    }
    const void *meta;
    size_t msize;
    tc_metadata(c, &meta, &msize, NULL);
    printf("\nmetadata (%zu bytes):%s", msize, msize ? "\n" : " none\n");
    if (msize)
        print_metadata(meta, msize);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    opt_iter it = cli_opts(&cli_cmd_info, argc, argv);
    const char *arg, *path = NULL;
    bool json = false;
    unsigned flags = TC_OPEN_DEFAULT;
    int id;
    while ((id = cli_next_opt(&it, info_opts, &arg)) != OPT_END) {
        if (id == OPT_ERROR || id == OPT_HELP)
            return cli_opt_exit(id);
        if (id == I_JSON)
            json = true;
        else if (id == I_NOMMAP)
            flags |= TC_OPEN_NO_MMAP;
        else if (path)
            return cli_usage_error("info", "unexpected argument '%s' (one FILE)", arg);
        else
            path = arg;
    }
    if (!path)
        return cli_usage_error("info", "missing FILE");
    tc_cache *c;
    int rc = cli_open_cache(&c, path, flags);
    if (rc)
        return rc;
    rc = json ? info_json(c, path) : info_text(c, path);
    tc_close(c);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
        rc = cli_fail(TC_ERR_IO, "cannot write to standard output: %s", strerror(errno));
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * verify
 * ------------------------------------------------------------------------------------------- */

static const char VERIFY_HELP[] =
    "usage: tensorcache verify [--no-mmap] FILE [FILE ...]\n"
    "\n"
    "Full validation: the structure, every index entry, every LZ4 block, every checksum and\n"
    "all padding. Prints 'OK ...' per file, or the precise error; exit status 1 if any file\n"
    "fails.\n"
    "\n"
    "options:\n"
    "  --no-mmap    read with pread instead of mapping the file\n"
    "  -h, --help   this help\n";

static const opt_spec verify_opts[] = {{"no-mmap", 0, false, I_NOMMAP}, {NULL, 0, false, 0}};

static int cmd_verify(int argc, char **argv)
{
    opt_iter it = cli_opts(&cli_cmd_verify, argc, argv);
    const char *arg;
    unsigned flags = TC_OPEN_VERIFY;
    char **paths = calloc((size_t)argc, sizeof *paths);
    int npaths = 0, id;
    if (!paths)
        return cli_fail(TC_ERR_NOMEM, "out of memory");
    while ((id = cli_next_opt(&it, verify_opts, &arg)) != OPT_END) {
        if (id == OPT_ERROR || id == OPT_HELP) {
            free(paths);
            return cli_opt_exit(id);
        }
        if (id == I_NOMMAP)
            flags |= TC_OPEN_NO_MMAP;
        else
            paths[npaths++] = (char *)arg;
    }
    if (npaths == 0) {
        free(paths);
        return cli_usage_error("verify", "missing FILE");
    }
    int status = 0;
    for (int i = 0; i < npaths; i++) {
        tc_cache *c;
        double t0 = tct_now();
        int rc = cli_open_cache(&c, paths[i], flags);
        if (rc) {
            status = rc;
            continue;
        }
        double el = tct_now() - t0;
        unsigned vmaj, vmin;
        tc_file_format(c, &vmaj, &vmin);
        printf("OK %s: format %u.%u, %llu samples, %u fields, %llu bytes verified in %.2f s\n",
               paths[i], vmaj, vmin,
               (unsigned long long)tc_num_samples(c), tc_num_fields(c),
               (unsigned long long)tc_file_size(c), el);
        tc_close(c);
    }
    free(paths);
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * export
 * ------------------------------------------------------------------------------------------- */

static const char EXPORT_HELP[] =
    "usage: tensorcache export [--no-mmap] [--force] FILE FIELD -o OUT.npy\n"
    "\n"
    "Writes a fixed-shape field (compressed or not) as a C-order .npy array of shape\n"
    "(N, *sample_shape), with the header NumPy itself writes (format 1.0, or 2.0 when the\n"
    "header needs it). The file appears atomically: a temporary in OUT's directory is renamed\n"
    "onto OUT once complete. An existing OUT is replaced only with --force, FILE never; OUT '-'\n"
    "is standard output, and an existing FIFO or device is written into. bf16 fields are\n"
    "written as '<u2' (their raw bit patterns).\n"
    "\n"
    "options:\n"
    "  -o, --output OUT   the .npy file to write (required; '-': standard output)\n"
    "  -f, --force        replace an existing OUT (a symbolic link itself, never its target)\n"
    "  --no-mmap          read with pread instead of mapping the cache\n"
    "  -h, --help         this help\n";

enum { E_OUT = 1, E_NOMMAP, E_FORCE };
static const opt_spec export_opts[] = {
    {"output", 'o', true, E_OUT}, {"no-mmap", 0, false, E_NOMMAP}, {"force", 'f', false, E_FORCE},
    {NULL, 0, false, 0}};

/* The .npy header exactly as NumPy (1.24) writes it: the dict with sorted keys, room for the
 * first dimension to grow to 21 digits, spaces and '\n' up to a multiple of 64 bytes. */
static int npy_header(tct_buf *b, const char *descr, uint64_t n, const tc_field_info *fi)
{
    uint64_t shape[TC_MAX_RANK + 1];
    shape[0] = n;
    for (uint32_t d = 0; d < fi->rank; d++)
        shape[d + 1] = fi->shape[d];
    char st[(TC_MAX_RANK + 1) * 24 + 8];
    cli_shape_text(st, sizeof st, shape, fi->rank + 1, true);
    char first[24];
    int flen = snprintf(first, sizeof first, "%llu", (unsigned long long)n);
    tct_buf dict = {0};
    tct_buf_printf(&dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, st);
    for (int i = flen; i < 21; i++)
        tct_buf_puts(&dict, " ");
    if (dict.oom) {
        tct_buf_free(&dict);
        return TC_ERR_NOMEM;
    }
    size_t hlen = dict.len + 1;
    for (int version = 1; version <= 2; version++) {
        size_t prefix = version == 1 ? 10 : 12;
        size_t pad = 64 - ((prefix + hlen) % 64);
        size_t total = hlen + pad;
        if (version == 1 && total > 65535)
            continue;
        uint8_t pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (uint8_t)version, 0};
        for (size_t i = 0; i < prefix - 8; i++)
            pre[8 + i] = (uint8_t)(total >> (8 * i));
        tct_buf_put(b, pre, prefix);
        tct_buf_put(b, dict.p, dict.len);
        for (size_t i = 0; i < pad; i++)
            tct_buf_put(b, " ", 1);
        tct_buf_put(b, "\n", 1);
        break;
    }
    tct_buf_free(&dict);
    return b->oom ? TC_ERR_NOMEM : TC_OK;
}

static int write_all(int fd, const void *p, size_t n, tc_error *err)
{
    const uint8_t *q = p;
    while (n) {
        ssize_t w = write(fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            return tct_fail(err, tct_write_errcode(e), e, "write failed");
        }
        q += w;
        n -= (size_t)w;
    }
    return TC_OK;
}

/* cli_chunk_fn: writes the samples to the fd in *ctx. */
static int write_chunk(void *ctx, const uint8_t *samples, uint64_t m, uint64_t sample_bytes,
                       tc_error *err)
{
    return write_all(*(const int *)ctx, samples, (size_t)(m * sample_bytes), err);
}

/* Streams the field's samples to fd in chunks (tc_gather: works for LZ4 fields and strides). */
static int export_data(const tc_cache *c, uint32_t field, const tc_field_info *fi, int fd,
                       tc_error *err)
{
    return cli_for_each_chunk(c, field, fi->sample_bytes, EXPORT_CHUNK_BYTES, write_chunk, &fd,
                              err);
}

/* Writes header + data as the output `out` (tools/output.h: atomic, never over an input). */
static int export_to(const tc_cache *c, uint32_t field, const tc_field_info *fi,
                     const tct_buf *header, const char *out, const char *input, bool force,
                     tc_error *err)
{
    tc_output *o = NULL;
    int rc = cli_output_open(&o, out, force, &input, 1, err);
    if (rc == TC_OK)
        rc = write_all(tc_output_fd(o), header->p, header->len, err);
    if (rc == TC_OK)
        rc = export_data(c, field, fi, tc_output_fd(o), err);
    if (rc == TC_OK)
        return tc_output_commit(o, err);
    tc_output_abort(o);
    return rc;
}

static int cmd_export(int argc, char **argv)
{
    opt_iter it = cli_opts(&cli_cmd_export, argc, argv);
    const char *arg, *path = NULL, *field = NULL, *out = NULL;
    unsigned flags = TC_OPEN_CHECK_BLOCKS; /* never export a block that fails its checksum */
    bool force = false;
    int id;
    while ((id = cli_next_opt(&it, export_opts, &arg)) != OPT_END) {
        if (id == OPT_ERROR || id == OPT_HELP)
            return cli_opt_exit(id);
        if (id == E_OUT)
            out = arg;
        else if (id == E_NOMMAP)
            flags |= TC_OPEN_NO_MMAP;
        else if (id == E_FORCE)
            force = true;
        else if (!path)
            path = arg;
        else if (!field)
            field = arg;
        else
            return cli_usage_error("export", "unexpected argument '%s'", arg);
    }
    if (!path || !field)
        return cli_usage_error("export", "missing %s", path ? "FIELD" : "FILE and FIELD");
    if (!out)
        return cli_usage_error("export", "missing -o OUT.npy");
    tc_cache *c;
    int rc = cli_open_cache(&c, path, flags);
    if (rc)
        return rc;
    uint32_t k = 0;
    tc_field_info fi = {0};
    tc_error err = {0};
    if (tc_find_field(c, field, &k, NULL) != TC_OK) {
        tct_buf names = {0};
        for (uint32_t i = 0; i < tc_num_fields(c); i++) {
            tc_describe_field(c, i, &fi, NULL);
            tct_buf_printf(&names, "%s%s", i ? ", " : "", fi.name);
        }
        rc = tct_fail(&err, TC_ERR_NOT_FOUND, 0, "%s: no field '%s' (fields: %s)", path, field,
                      names.p ? names.p : "");
        tct_buf_free(&names);
    } else {
        tc_describe_field(c, k, &fi, NULL);
        if (fi.variable)
            rc = tct_fail(&err, TC_ERR_WRONG_KIND, 0,
                          "%s: field '%s' is variable-shape; only fixed-shape fields can be "
                          "exported as one .npy array", path, field);
    }
    tct_buf header = {0};
    if (rc == TC_OK && npy_header(&header, cli_numpy_name(fi.dtype), tc_num_samples(c), &fi))
        rc = tct_fail(&err, TC_ERR_NOMEM, 0, "out of memory");
    if (rc == TC_OK)
        rc = export_to(c, k, &fi, &header, out, path, force, &err);
    if (rc == TC_OK && fi.dtype == TC_DTYPE_BF16)
        fprintf(stderr, "tensorcache: note: bf16 has no NumPy dtype; '%s' holds the raw bit "
                "patterns as '<u2' (view them with torch or ml_dtypes)\n", out);
    tct_buf_free(&header);
    tc_close(c);
    if (rc) {
        if (!err.code)
            err.code = rc;
        return cli_output_report(&err);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

const cli_command cli_cmd_info = {"info", "describe a cache (--json for machine-readable output)",
                                  INFO_HELP, cmd_info};
const cli_command cli_cmd_verify = {
    "verify", "check a cache completely: structure, index entries, checksums, padding",
    VERIFY_HELP, cmd_verify};
const cli_command cli_cmd_export = {"export", "write a field of a cache as a .npy file",
                                    EXPORT_HELP, cmd_export};

/* `tensorcache --help`: the command list comes from cli_commands[]. */
static void main_help(void)
{
    fputs("usage: tensorcache COMMAND [options] ...\n"
          "\n"
          "Converts datasets into one cache file that any process maps read-only and slices\n"
          "without copying.\n"
          "\n"
          "commands:\n",
          stdout);
    for (const cli_command *const *c = cli_commands; *c; c++)
        printf("  %-8s %s\n", (*c)->name, (*c)->summary);
    fputs("\n"
          "'tensorcache COMMAND --help' describes a command. Exit status: 0 ok, 1 bad or corrupt\n"
          "data or any other failure, 2 usage. Errors: 'tensorcache: error: NAME: detail'.\n"
          "\n"
          "options:\n"
          "  -h, --help     this help\n"
          "  --version      print the version\n",
          stdout);
}

/* "pack, info, verify, export, warm" for messages. */
static const char *command_names(void)
{
    static char buf[256];
    size_t k = 0;
    for (const cli_command *const *c = cli_commands; *c && k < sizeof buf; c++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", k ? ", " : "", (*c)->name);
    return buf;
}

int main(int argc, char **argv)
{
    /* A file-size limit must surface as a write error (NO_SPACE), not kill the process with a
     * half-written temporary around. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2)
        return cli_usage_error(NULL, "missing COMMAND (%s)", command_names());
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
        (strcmp(cmd, "help") == 0 && argc < 3)) {
        main_help();
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("tensorcache %s (libtensorcache %s, file format %d.%d)\n", TOOL_VERSION,
               tc_version_string(), TC_FORMAT_MAJOR, TC_FORMAT_MINOR);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        const cli_command *sub = cli_find_command(argv[2]);
        if (!sub)
            return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
        fputs(sub->help, stdout);
        return 0;
    }
    const cli_command *c = cli_find_command(cmd);
    int rc;
    if (c)
        rc = c->run(argc - 1, argv + 1);
    else if (cmd[0] == '-')
        rc = cli_usage_error(NULL, "unknown option '%s'", cmd);
    else
        rc = cli_usage_error(NULL, "unknown command '%s' (%s)", cmd, command_names());
    if (fflush(stdout) != 0 && rc == 0)
        rc = cli_fail(TC_ERR_IO, "cannot write to standard output: %s", strerror(errno));
    return rc;
}
