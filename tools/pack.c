/* pack.c - `tensorcache pack`: streams sources (tools/sources.c) through the library's writer.
 *
 * Order of work, so that every error that can be found early is found before the writer
 * exists: parse the command line, open every source (headers only), compare the counts, plan
 * the fields (names, layouts, conversions, codecs), build the metadata; only then create the
 * writer and stream. Any failure after that aborts the writer: nothing is published. */
#include "cli.h"
#include "output.h"
#include "sources.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITER_NAME "tensorcache " TOOL_VERSION
#define MAX_META_INPUT (64u << 20)


static const char PACK_HELP[] =
    "usage: tensorcache pack [options] OUTPUT NAME=SOURCE [NAME=SOURCE ...]\n"
    "\n"
    "Packs one or more sources into the cache file OUTPUT ('-': standard output). OUTPUT appears\n"
    "only when complete; an existing OUTPUT is replaced only with --force, an input never.\n"
    "Every source must have the same\n"
    "number of samples N. SOURCE is [PREFIX:]FILE[,[PREFIX:]FILE...]: several files are\n"
    "concatenated along N. Formats are detected by content: .npy (1.0/2.0/3.0), IDX, CIFAR-10/100\n"
    "binary batches, and gzip-wrapped versions of these; PREFIX (npy: idx: cifar10: cifar100:\n"
    "raw:) forces one. A CIFAR source yields NAME and NAME_label (CIFAR-100: NAME_coarse_label,\n"
    "NAME_fine_label); write NAME as 'img,lab' (or 'img,coarse,fine') to choose the names.\n"
    "\n"
    "Shapes: a 3-D source (N,H,W) is stored as (N,H,W,1) with layout NHWC; CIFAR images as\n"
    "(N,32,32,3) NHWC. Options marked [FIELD=] apply to every field, or to the named one only.\n"
    "\n"
    "options:\n"
    "  --from-layout [FIELD=]NCHW|NHWC  the layout of 4-D sources: NCHW is converted to NHWC\n"
    "  --layout [FIELD=]auto|none|TAG   layout tag to store; 'none' keeps 3-D shapes as they are\n"
    "  --compress [FIELD=]lz4|none      LZ4 block compression (fixed-shape fields)\n"
    "  --block-size [FIELD=]BYTES       LZ4 block size (uncompressed; default 256K)\n"
    "  --align [FIELD=]BYTES            pad each sample's stride to a power of two (e.g. 64)\n"
    "  --dtype [FIELD=]DTYPE            element type of raw sources (u8 i8 ... f32 f64 bool)\n"
    "  --shape [FIELD=]D1,D2,...        per-sample shape of raw sources (default: scalar)\n"
    "  --meta-json FILE                 a JSON object whose members are added to the metadata\n"
    "  --class-names A,B,...|@FILE      class names (the file: one per line) -> \"classes\"\n"
    CLI_FORCE_HELP
    "  -q, --quiet                      no summary line, no progress\n"
    "  -h, --help                       this help\n"
    "\n"
    "BYTES accepts K, M, G suffixes (powers of 1024). Exit status: 0 ok, 1 error, 2 usage.\n"
    "example:\n"
    "  tensorcache pack train.tc image=train-images-idx3-ubyte.gz label=train-labels-idx1-ubyte.gz\n";

enum {
    P_FROM = 1, P_LAYOUT, P_COMPRESS, P_BLOCK, P_ALIGN, P_DTYPE, P_SHAPE, P_META,
    P_CLASSES, P_QUIET, P_FORCE
};

static const opt_spec pack_opts[] = {
    {"from-layout", 0, true, P_FROM},
    {"layout", 0, true, P_LAYOUT},         {"compress", 0, true, P_COMPRESS},
    {"block-size", 0, true, P_BLOCK},      {"align", 0, true, P_ALIGN},
    {"dtype", 0, true, P_DTYPE},           {"shape", 0, true, P_SHAPE},
    {"meta-json", 0, true, P_META},        {"class-names", 0, true, P_CLASSES},
    {"quiet", 'q', false, P_QUIET},        {"force", 'f', false, P_FORCE},
    {NULL, 0, false, 0},
};

/* A [FIELD=]VALUE option: field == NULL means every field. */
typedef struct {
    char *field;
    const char *value;
    const char *option;
} field_opt;

typedef struct {
    field_opt *items;
    size_t n;
} field_opts;

static bool add_field_opt(field_opts *l, const char *option, const char *arg)
{
    field_opt *p = realloc(l->items, (l->n + 1) * sizeof *p);
    if (!p)
        return false;
    l->items = p;
    field_opt *o = &p[l->n++];
    const char *eq = strchr(arg, '=');
    o->option = option;
    o->field = eq ? strndup(arg, (size_t)(eq - arg)) : NULL;
    o->value = eq ? eq + 1 : arg;
    return !eq || o->field;
}

/* The value for `field`: the last per-field setting, else the last global one, else NULL. */
static const char *opt_for(const field_opts *l, const char *field)
{
    const char *global = NULL, *own = NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->items[i].field)
            global = l->items[i].value;
        else if (field && strcmp(l->items[i].field, field) == 0)
            own = l->items[i].value;
    }
    return own ? own : global;
}

static bool opt_has_own(const field_opts *l, const char *field)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].field && strcmp(l->items[i].field, field) == 0)
            return true;
    return false;
}

static void free_field_opts(field_opts *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].field);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

typedef struct {
    char *names;      /* the NAME part, owned */
    const char *spec; /* the SOURCE part */
    tcs_source *src;
    uint32_t first_field; /* index of its first output in the field plan */
} pack_source;

typedef struct {
    char *name;         /* owned */
    uint32_t src, out;  /* which source output feeds it */
    int dtype;
    uint32_t rank;
    uint64_t shape[TC_MAX_RANK];
    uint64_t sample_bytes;
    char layout[TC_MAX_LAYOUT + 1];
    const char *conversion;
    bool nchw;          /* transpose (C,H,W) -> (H,W,C) while streaming */
    uint64_t c, h, w;
    int codec;
    uint64_t align, block_bytes;
    uint8_t *buf, *tbuf;
} pack_field;

typedef struct {
    const char *output;
    pack_source *srcs;
    uint32_t nsrcs;
    pack_field *fields;
    uint32_t nfields;
    field_opts from, layout, compress, block, align, dtype, shape;
    const char *meta_json, *class_names;
    bool quiet, force;
    uint64_t n;
    /* progress */
    bool progress_tty, progress_shown;
    double t0, last_progress;
} pack_ctx;

static void pack_free(pack_ctx *P)
{
    for (uint32_t i = 0; i < P->nsrcs; i++) {
        tcs_close(P->srcs[i].src);
        free(P->srcs[i].names);
    }
    free(P->srcs);
    for (uint32_t i = 0; i < P->nfields; i++) {
        free(P->fields[i].name);
        free(P->fields[i].buf);
        free(P->fields[i].tbuf);
    }
    free(P->fields);
    free_field_opts(&P->from);
    free_field_opts(&P->layout);
    free_field_opts(&P->compress);
    free_field_opts(&P->block);
    free_field_opts(&P->align);
    free_field_opts(&P->dtype);
    free_field_opts(&P->shape);
}

static bool valid_layout_value(const char *v)
{
    if (strcmp(v, "auto") == 0 || strcmp(v, "none") == 0)
        return true;
    size_t n = strlen(v);
    if (n < 1 || n > TC_MAX_LAYOUT)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 'A' || v[i] > 'Z')
            return false;
    return true;
}

/* Checks an option's value as soon as it is parsed, so a typo is a usage error. */
static int check_opt_value(int id, const char *v)
{
    uint64_t x;
    uint32_t rank;
    uint64_t shape[TC_MAX_RANK];
    switch (id) {
    case P_FROM:
        if (strcasecmp(v, "NCHW") && strcasecmp(v, "NHWC"))
            return cli_usage_error("pack", "--from-layout takes NCHW or NHWC, not '%s'", v);
        break;
    case P_LAYOUT:
        if (!valid_layout_value(v))
            return cli_usage_error("pack", "--layout takes auto, none or a tag of 1..8 letters A-Z "
                               "(e.g. NHWC), not '%s'", v);
        break;
    case P_COMPRESS:
        if (strcmp(v, "lz4") && strcmp(v, "none"))
            return cli_usage_error("pack", "--compress takes lz4 or none, not '%s'", v);
        break;
    case P_BLOCK:
        if (!tct_parse_size(v, &x) || x == 0 || x > 2113929216u)
            return cli_usage_error("pack", "--block-size takes a byte count from 1 to 2016M, not "
                               "'%s'", v);
        break;
    case P_ALIGN:
        if (!tct_parse_size(v, &x) || (x & (x - 1)) != 0 || x > (1u << 30))
            return cli_usage_error("pack", "--align takes a power of two up to 1G (bytes), not "
                               "'%s'", v);
        break;
    case P_DTYPE:
        if (!tc_dtype_from_name(v))
            return cli_usage_error("pack", "--dtype: unknown dtype '%s' (bool u8 i8 u16 i16 u32 i32 "
                               "u64 i64 f16 bf16 f32 f64)", v);
        break;
    case P_SHAPE:
        if (!tct_parse_shape(v, &rank, shape))
            return cli_usage_error("pack", "--shape takes up to %d comma-separated dimensions "
                               "(e.g. 3,32,32), not '%s'", TC_MAX_RANK, v);
        break;
    default:
        break;
    }
    return 0;
}

static field_opts *opt_list(pack_ctx *P, int id)
{
    switch (id) {
    case P_FROM: return &P->from;
    case P_LAYOUT: return &P->layout;
    case P_COMPRESS: return &P->compress;
    case P_BLOCK: return &P->block;
    case P_ALIGN: return &P->align;
    case P_DTYPE: return &P->dtype;
    case P_SHAPE: return &P->shape;
    default: return NULL;
    }
}

static int add_source_arg(pack_ctx *P, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return cli_usage_error("pack", "expected NAME=SOURCE, got '%s'", arg);
    pack_source *p = realloc(P->srcs, (P->nsrcs + 1) * sizeof *p);
    if (!p)
        return cli_fail(TC_ERR_NOMEM, "out of memory");
    P->srcs = p;
    pack_source *s = &p[P->nsrcs];
    *s = (pack_source){.spec = eq + 1};
    s->names = strndup(arg, (size_t)(eq - arg));
    if (!s->names)
        return cli_fail(TC_ERR_NOMEM, "out of memory");
    P->nsrcs++;
    for (const char *n = s->names;; n++) { /* "a,,b" or ",a" */
        const char *comma = strchr(n, ',');
        if (comma == n || (!comma && !*n))
            return cli_usage_error("pack", "empty field name in '%s'", arg);
        if (!comma)
            break;
        n = comma;
    }
    return 0;
}

static int parse_pack_args(pack_ctx *P, int argc, char **argv)
{
    opt_iter it = cli_opts(&cli_cmd_pack, argc, argv);
    const char *arg;
    int id;
    while ((id = cli_next_opt(&it, pack_opts, &arg)) != OPT_END) {
        if (id == OPT_ERROR)
            return EXIT_USAGE;
        if (id == OPT_HELP)
            return -1; /* help printed: nothing to pack, exit status 0 */
        int rc = 0;
        if (id == OPT_POSITIONAL) {
            if (!P->output)
                P->output = arg;
            else
                rc = add_source_arg(P, arg);
        } else if (id == P_META) {
            P->meta_json = arg;
        } else if (id == P_CLASSES) {
            P->class_names = arg;
        } else if (id == P_QUIET) {
            P->quiet = true;
        } else if (id == P_FORCE) {
            P->force = true;
        } else {
            const char *value = strchr(arg, '=') ? strchr(arg, '=') + 1 : arg;
            if (strchr(arg, '=') == arg)
                rc = cli_usage_error("pack", "empty field name in '%s'", arg);
            else if (!(rc = check_opt_value(id, value)) &&
                     !add_field_opt(opt_list(P, id), cli_opt_name(pack_opts, id), arg))
                rc = cli_fail(TC_ERR_NOMEM, "out of memory");
        }
        if (rc)
            return rc;
    }
    if (!P->output)
        return cli_usage_error("pack", "missing OUTPUT and NAME=SOURCE arguments");
    if (P->nsrcs == 0)
        return cli_usage_error("pack", "missing NAME=SOURCE arguments after OUTPUT '%s'", P->output);
    const char *eq = strchr(P->output, '=');
    struct stat sb;
    if (eq && stat(P->output, &sb) != 0 && stat(eq + 1, &sb) == 0)
        return cli_usage_error("pack", "OUTPUT '%s' looks like NAME=SOURCE; the output file comes "
                               "first", P->output);
    return 0;
}

/* ---- field planning ---- */

static int open_sources(pack_ctx *P)
{
    for (uint32_t i = 0; i < P->nsrcs; i++) {
        pack_source *s = &P->srcs[i];
        char first[TC_MAX_NAME * 4 + 1];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(s->names, ","), s->names);
        tcs_options o = {0};
        const char *dt = opt_for(&P->dtype, first), *sh = opt_for(&P->shape, first);
        if (dt)
            o.dtype = tc_dtype_from_name(dt);
        if (sh) {
            if (!dt)
                return cli_usage_error("pack", "--shape for '%s' needs --dtype as well", first);
            o.shape_set = 1;
            tct_parse_shape(sh, &o.rank, o.shape);
        }
        tc_error err = {0};
        if (tcs_open(&s->src, s->spec, &o, &err))
            return cli_report(&err);
    }
    return 0;
}

static int check_counts(pack_ctx *P)
{
    P->n = tcs_count(P->srcs[0].src);
    for (uint32_t i = 1; i < P->nsrcs; i++) {
        uint64_t n = tcs_count(P->srcs[i].src);
        if (n != P->n)
            return cli_fail(TCT_ERR_COUNT_MISMATCH,
                        "'%s' has %llu samples but '%s' has %llu (%s vs %s); every source "
                        "must have the same number of samples",
                        P->srcs[i].names, (unsigned long long)n, P->srcs[0].names,
                        (unsigned long long)P->n, P->srcs[i].spec, P->srcs[0].spec);
    }
    return 0;
}

/* The field name of output k of source s: from the "a,b,c" list, or NAME + suffix. */
static char *output_name(const pack_source *s, uint32_t k, const char *suffix, uint32_t nout,
                         int *rc)
{
    uint32_t listed = 1;
    for (const char *p = s->names; *p; p++)
        listed += *p == ',';
    *rc = 0;
    if (listed != 1 && listed != nout) {
        *rc = cli_usage_error("pack", "'%s' names %u fields but source '%s' has %u outputs",
                          s->names, listed, s->spec, nout);
        return NULL;
    }
    const char *p = s->names;
    size_t len = strcspn(p, ",");
    char *name;
    if (listed == 1) {
        size_t sl = strlen(suffix);
        name = malloc(len + sl + 1);
        if (name) {
            memcpy(name, p, len);
            memcpy(name + len, suffix, sl + 1);
        }
    } else {
        for (uint32_t i = 0; i < k; i++) {
            p += len + 1;
            len = strcspn(p, ",");
        }
        name = strndup(p, len);
    }
    if (!name)
        *rc = cli_fail(TC_ERR_NOMEM, "out of memory");
    return name;
}

/* Decides layout, conversion and shape of one field (docs/CLI.md, "Shapes and layouts"). */
static int plan_layout(pack_ctx *P, pack_field *f, const tcs_output *o)
{
    const char *from = opt_for(&P->from, f->name);
    bool from_own = opt_has_own(&P->from, f->name);
    const char *lay = opt_for(&P->layout, f->name);
    f->rank = o->rank;
    memcpy(f->shape, o->shape, sizeof f->shape);
    snprintf(f->layout, sizeof f->layout, "%s", o->layout);
    f->conversion = o->conversion;
    if (o->layout[0]) {
        if (from_own)
            return cli_fail(TC_ERR_SHAPE, "--from-layout %s=%s: field '%s' comes from a source that "
                        "is already channels-last (%s)", f->name, from, f->name, o->layout);
    } else if (from && strcasecmp(from, "NCHW") == 0) {
        if (o->rank == 3) {
            f->nchw = true;
            f->c = o->shape[0];
            f->h = o->shape[1];
            f->w = o->shape[2];
            f->shape[0] = f->h;
            f->shape[1] = f->w;
            f->shape[2] = f->c;
            strcpy(f->layout, "NHWC");
            f->conversion = "NCHW->NHWC";
        } else if (from_own) {
            return cli_fail(TC_ERR_SHAPE, "--from-layout %s=NCHW needs a 4-D source (N,C,H,W); "
                        "field '%s' is %u-D", f->name, f->name, o->rank + 1);
        }
    } else if (from) { /* NHWC: only declares the layout */
        if (o->rank == 3)
            strcpy(f->layout, "NHWC");
        else if (from_own)
            return cli_fail(TC_ERR_SHAPE, "--from-layout %s=NHWC needs a 4-D source (N,H,W,C); "
                        "field '%s' is %u-D", f->name, f->name, o->rank + 1);
    }
    if (lay && strcmp(lay, "none") == 0) {
        f->layout[0] = 0;
    } else if (lay && strcmp(lay, "auto") != 0) {
        snprintf(f->layout, sizeof f->layout, "%s", lay); /* the library checks the rank */
    } else if (!f->layout[0] && o->rank == 2) {
        /* (N,H,W) images: a channel axis of 1, so every image field is NHWC */
        f->rank = 3;
        f->shape[2] = 1;
        strcpy(f->layout, "NHWC");
        f->conversion = "NHW->NHWC";
    }
    return 0;
}

static int plan_field(pack_ctx *P, pack_field *f)
{
    const char *v = opt_for(&P->compress, f->name);
    f->codec = v && strcmp(v, "lz4") == 0 ? TC_CODEC_LZ4 : TC_CODEC_NONE;
    if ((v = opt_for(&P->block, f->name)) != NULL)
        tct_parse_size(v, &f->block_bytes);
    if ((v = opt_for(&P->align, f->name)) != NULL)
        tct_parse_size(v, &f->align);
    return 0;
}

static bool field_known(const pack_ctx *P, const char *name)
{
    for (uint32_t i = 0; i < P->nfields; i++)
        if (strcmp(P->fields[i].name, name) == 0)
            return true;
    return false;
}

/* Every FIELD= in a per-field option must name a field of the plan (--dtype/--shape: a source
 * NAME, which is also the name of its first field). */
static int check_opt_fields(const pack_ctx *P)
{
    const field_opts *lists[] = {&P->from, &P->layout, &P->compress, &P->block,
                                 &P->align, &P->dtype, &P->shape};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
        for (size_t i = 0; i < lists[l]->n; i++) {
            const field_opt *o = &lists[l]->items[i];
            if (o->field && !field_known(P, o->field))
                return cli_usage_error("pack", "--%s %s=%s: there is no field '%s'", o->option,
                                   o->field, o->value, o->field);
        }
    return 0;
}

static int plan_fields(pack_ctx *P)
{
    for (uint32_t i = 0; i < P->nsrcs; i++) {
        pack_source *s = &P->srcs[i];
        uint32_t nout = tcs_num_outputs(s->src);
        s->first_field = P->nfields;
        pack_field *fs = realloc(P->fields, (P->nfields + nout) * sizeof *fs);
        if (!fs)
            return cli_fail(TC_ERR_NOMEM, "out of memory");
        P->fields = fs;
        for (uint32_t k = 0; k < nout; k++) {
            const tcs_output *o = tcs_output_info(s->src, k);
            pack_field *f = &P->fields[P->nfields];
            *f = (pack_field){.src = i, .out = k, .dtype = o->dtype,
                              .sample_bytes = o->sample_bytes};
            int rc;
            f->name = output_name(s, k, o->suffix, nout, &rc);
            if (rc)
                return rc;
            P->nfields++;
        }
    }
    int rc = check_opt_fields(P);
    for (uint32_t i = 0; rc == 0 && i < P->nfields; i++) {
        pack_field *f = &P->fields[i];
        rc = plan_layout(P, f, tcs_output_info(P->srcs[f->src].src, f->out));
        if (rc == 0)
            rc = plan_field(P, f);
    }
    return rc;
}

/* ---- metadata ---- */

static int read_small_file(const char *path, const char *what, char **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cli_fail(TC_ERR_IO, "%s '%s': cannot open: %s", what, path, strerror(errno));
    tct_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        tct_buf_put(&b, chunk, n);
        if (b.len > MAX_META_INPUT) {
            fclose(fp);
            tct_buf_free(&b);
            return cli_fail(TC_ERR_METADATA, "%s '%s' is larger than 64 MiB", what, path);
        }
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad || b.oom) {
        tct_buf_free(&b);
        return cli_fail(bad ? TC_ERR_IO : TC_ERR_NOMEM, "%s '%s': cannot read", what, path);
    }
    tct_buf_put(&b, "", 0);
    if (b.oom) {
        tct_buf_free(&b);
        return cli_fail(TC_ERR_NOMEM, "out of memory");
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

static void add_class_name(tct_buf *b, const char *s, size_t n, bool *first)
{
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    tct_buf_puts(b, *first ? "" : ", ");
    tct_buf_json_str(b, s, n);
    *first = false;
}

/* "classes": [...] from "a,b,c" or "@FILE" (one name per line, blank lines skipped). */
static int class_names_json(const char *spec, tct_buf *b)
{
    char *text = NULL;
    size_t len;
    char sep = ',';
    const char *s = spec;
    if (spec[0] == '@') {
        int rc = read_small_file(spec + 1, "--class-names file", &text, &len);
        if (rc)
            return rc;
        s = text;
        sep = '\n';
    } else {
        len = strlen(spec);
    }
    if (!tct_utf8_valid((const uint8_t *)s, len)) {
        free(text);
        return cli_fail(TC_ERR_METADATA, "--class-names: not valid UTF-8");
    }
    tct_buf_puts(b, "[");
    bool first = true;
    for (const char *p = s; p < s + len;) {
        const char *e = memchr(p, sep, (size_t)(s + len - p));
        size_t n = e ? (size_t)(e - p) : (size_t)(s + len - p);
        if (sep == ',' || (n > 0 && !(n == 1 && p[0] == '\r')))
            add_class_name(b, p, n, &first);
        p += n + 1;
    }
    tct_buf_puts(b, "]");
    free(text);
    return 0;
}

static bool user_has_key(const tct_json_info *info, const char *key)
{
    if (!info)
        return false;
    for (uint32_t i = 0; i < info->nkeys; i++)
        if (strcmp(info->keys[i], key) == 0)
            return true;
    return false;
}

static void meta_files_json(tct_buf *b, const tcs_source *src)
{
    uint32_t nf = tcs_num_files(src);
    if (nf == 1) {
        const char *base = tct_basename(tcs_file_path(src, 0));
        tct_buf_json_str(b, base, strlen(base));
        return;
    }
    tct_buf_puts(b, "[");
    for (uint32_t i = 0; i < nf; i++) {
        const char *base = tct_basename(tcs_file_path(src, i));
        tct_buf_puts(b, i ? ", " : "");
        tct_buf_json_str(b, base, strlen(base));
    }
    tct_buf_puts(b, "]");
}

/* Reads --meta-json: must be one JSON object. *info receives its member names. */
static int load_user_meta(const char *path, char **text, size_t *len, tct_json_info **info)
{
    int rc = read_small_file(path, "--meta-json", text, len);
    if (rc)
        return rc;
    char why[120];
    *info = malloc(sizeof **info);
    if (!*info)
        return cli_fail(TC_ERR_NOMEM, "out of memory");
    if (!tct_json_check(*text, *len, *info, why, sizeof why))
        return cli_fail(TC_ERR_METADATA, "--meta-json '%s' is not valid JSON: %s", path, why);
    if (!(*info)->is_object)
        return cli_fail(TC_ERR_METADATA, "--meta-json '%s' must hold a JSON object {...}", path);
    return 0;
}

/* Appends `"key": ` after the separator of a member that is not the first. */
static void meta_key(tct_buf *b, const char *key, bool *first)
{
    tct_buf_puts(b, *first ? "" : ", ");
    tct_buf_json_str(b, key, strlen(key));
    tct_buf_puts(b, ": ");
    *first = false;
}

/* "source": per field, the base name of its file or an array of them. */
static void meta_sources(const pack_ctx *P, tct_buf *b)
{
    tct_buf_puts(b, "{");
    bool first = true;
    for (uint32_t i = 0; i < P->nfields; i++) {
        meta_key(b, P->fields[i].name, &first);
        meta_files_json(b, P->srcs[P->fields[i].src].src);
    }
    tct_buf_puts(b, "}");
}

/* "source_format": per field, the detected format of its (first) file. */
static void meta_formats(const pack_ctx *P, tct_buf *b)
{
    tct_buf_puts(b, "{");
    bool first = true;
    for (uint32_t i = 0; i < P->nfields; i++) {
        const char *d = tcs_format_desc(P->srcs[P->fields[i].src].src);
        meta_key(b, P->fields[i].name, &first);
        tct_buf_json_str(b, d, strlen(d));
    }
    tct_buf_puts(b, "}");
}

/* "conversions": per converted field, e.g. "NCHW->NHWC". */
static void meta_conversions(const pack_ctx *P, tct_buf *b)
{
    tct_buf_puts(b, "{");
    bool first = true;
    for (uint32_t i = 0; i < P->nfields; i++) {
        const pack_field *f = &P->fields[i];
        if (f->conversion) {
            meta_key(b, f->name, &first);
            tct_buf_json_str(b, f->conversion, strlen(f->conversion));
        }
    }
    tct_buf_puts(b, "}");
}

/* The members of the --meta-json object, verbatim, after the writer's own. */
static void meta_user_members(tct_buf *b, const char *user, const tct_json_info *info,
                              bool first)
{
    const char *in = user + info->inner_start;
    size_t n = info->inner_end - info->inner_start;
    while (n && (*in == ' ' || *in == '\n' || *in == '\t' || *in == '\r')) {
        in++;
        n--;
    }
    if (n) {
        tct_buf_puts(b, first ? "" : ", ");
        tct_buf_put(b, in, n);
    }
}

/* Builds the metadata object (FORMAT.md section 8). Members of --meta-json come last and
 * replace the writer's members of the same name. */
static int build_metadata(pack_ctx *P, tct_buf *b)
{
    char *user = NULL;
    size_t ulen = 0;
    tct_json_info *info = NULL;
    int rc = P->meta_json ? load_user_meta(P->meta_json, &user, &ulen, &info) : 0;
    bool first = true;
    tct_buf_puts(b, "{");
    if (rc == 0 && !user_has_key(info, "tensorcache")) {
        meta_key(b, "tensorcache", &first);
        tct_buf_printf(b, "{\"writer\": \"" WRITER_NAME "\", \"format\": \"%d.%d\"}",
                       TC_FORMAT_MAJOR, TC_FORMAT_MINOR);
    }
    if (rc == 0 && !user_has_key(info, "source")) {
        meta_key(b, "source", &first);
        meta_sources(P, b);
    }
    if (rc == 0 && !user_has_key(info, "source_format")) {
        meta_key(b, "source_format", &first);
        meta_formats(P, b);
    }
    if (rc == 0 && !user_has_key(info, "conversions")) {
        meta_key(b, "conversions", &first);
        meta_conversions(P, b);
    }
    if (rc == 0 && P->class_names && !user_has_key(info, "classes")) {
        meta_key(b, "classes", &first);
        rc = class_names_json(P->class_names, b);
    }
    if (rc == 0 && info)
        meta_user_members(b, user, info, first);
    tct_buf_puts(b, "}");
    if (rc == 0 && b->oom)
        rc = cli_fail(TC_ERR_NOMEM, "out of memory");
    free(user);
    free(info);
    return rc;
}

/* ---- streaming ---- */

static void progress(pack_ctx *P, uint64_t done, uint64_t bytes, bool end)
{
    if (!P->progress_tty)
        return;
    double now = tct_now(), el = now - P->t0;
    if (end) {
        if (P->progress_shown)
            fputs("\r\033[K", stderr);
        return;
    }
    /* Only packs that take a while get a progress line, refreshed a few times a second. */
    if (el < 1.0 || now - P->last_progress < 0.25)
        return;
    P->last_progress = now;
    P->progress_shown = true;
    double rate = (double)done / el, mbs = (double)bytes / el / 1e6;
    double eta = rate > 0 ? (double)(P->n - done) / rate : 0;
    fprintf(stderr, "\r\033[Kpacking %s: %5.1f%% %llu/%llu samples, %.0f samples/s, %.1f MB/s, "
            "ETA %.0f s", tct_basename(P->output), P->n ? 100.0 * (double)done / (double)P->n : 100.0,
            (unsigned long long)done, (unsigned long long)P->n, rate, mbs, eta);
    fflush(stderr);
}

static int alloc_buffers(pack_ctx *P, uint64_t chunk, tc_error *err)
{
    for (uint32_t i = 0; i < P->nfields; i++) {
        pack_field *f = &P->fields[i];
        uint64_t bytes;
        if (!tct_mul(chunk, f->sample_bytes, &bytes) || bytes > SIZE_MAX)
            return tct_fail(err, TC_ERR_NOMEM, 0, "field '%s': samples too large", f->name);
        f->buf = malloc(bytes ? (size_t)bytes : 1);
        if (f->nchw)
            f->tbuf = malloc(bytes ? (size_t)bytes : 1);
        if (!f->buf || (f->nchw && !f->tbuf))
            return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory (%llu bytes for field '%s')",
                            (unsigned long long)bytes, f->name);
    }
    return TC_OK;
}

static int stream_samples(pack_ctx *P, tc_writer *w, tc_error *err)
{
    uint64_t per_sample = 0;
    for (uint32_t i = 0; i < P->nfields; i++)
        if (!tct_add(per_sample, P->fields[i].sample_bytes, &per_sample))
            return tct_fail(err, TC_ERR_OVERFLOW, 0, "sample size overflows");
    uint64_t chunk = tcs_chunk_samples(per_sample);
    if (chunk > P->n)
        chunk = P->n; /* N = 0: no buffers at all, however large a sample would be */
    int rc = alloc_buffers(P, chunk, err);
    tc_value *values = calloc(P->nfields, sizeof *values);
    if (!values)
        rc = tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    for (uint64_t done = 0; rc == TC_OK && done < P->n;) {
        uint64_t m = P->n - done < chunk ? P->n - done : chunk;
        for (uint32_t i = 0; rc == TC_OK && i < P->nsrcs; i++) {
            pack_source *s = &P->srcs[i];
            void *dst[TCS_MAX_OUTPUTS];
            for (uint32_t k = 0; k < tcs_num_outputs(s->src); k++)
                dst[k] = P->fields[s->first_field + k].buf;
            uint64_t got;
            rc = tcs_read(s->src, m, dst, &got, err);
            if (rc == TC_OK && got != m)
                rc = tct_fail(err, TCT_ERR_SOURCE_FORMAT, 0, "'%s': source ended after %llu "
                              "samples, expected %llu", s->names,
                              (unsigned long long)(done + got), (unsigned long long)P->n);
        }
        for (uint32_t i = 0; rc == TC_OK && i < P->nfields; i++) {
            pack_field *f = &P->fields[i];
            const void *data = f->buf;
            if (f->nchw) {
                tcs_hwc_from_chw(f->tbuf, f->buf, m, f->c, f->h, f->w, tc_dtype_size(f->dtype));
                data = f->tbuf;
            }
            values[i] = (tc_value){data, m * f->sample_bytes, NULL};
        }
        if (rc == TC_OK)
            rc = tc_writer_append_batch(w, m, values, err);
        done += m;
        if (rc == TC_OK)
            progress(P, done, tc_writer_bytes(w), false);
    }
    for (uint32_t i = 0; rc == TC_OK && i < P->nsrcs; i++)
        rc = tcs_finish(P->srcs[i].src, err);
    free(values);
    progress(P, 0, 0, true);
    return rc;
}

/* Every file pack reads: OUTPUT must not be one of them. */
static int create_writer(const pack_ctx *P, tc_writer **w, tc_error *err)
{
    size_t n = 0, cap = 2;
    for (uint32_t i = 0; i < P->nsrcs; i++)
        cap += tcs_num_files(P->srcs[i].src);
    const char **inputs = calloc(cap, sizeof *inputs);
    if (!inputs)
        return tct_fail(err, TC_ERR_NOMEM, 0, "out of memory");
    for (uint32_t i = 0; i < P->nsrcs; i++)
        for (uint32_t k = 0; k < tcs_num_files(P->srcs[i].src); k++)
            inputs[n++] = tcs_file_path(P->srcs[i].src, k);
    if (P->meta_json)
        inputs[n++] = P->meta_json;
    if (P->class_names && P->class_names[0] == '@')
        inputs[n++] = P->class_names + 1;
    int rc = cli_writer_create(w, P->output, P->force, inputs, n, err);
    free(inputs);
    return rc;
}

static int write_cache(pack_ctx *P, const tct_buf *meta, uint64_t *payload)
{
    tc_error err = {0};
    tc_writer *w = NULL;
    int rc = create_writer(P, &w, &err);
    for (uint32_t i = 0; rc == TC_OK && i < P->nfields; i++) {
        const pack_field *f = &P->fields[i];
        tc_field_spec spec = {.name = f->name, .dtype = f->dtype, .rank = f->rank,
                              .layout = f->layout, .codec = f->codec, .align = f->align,
                              .block_bytes = f->block_bytes};
        memcpy(spec.shape, f->shape, sizeof spec.shape);
        rc = tc_writer_add_field(w, &spec, &err);
    }
    if (rc == TC_OK)
        rc = tc_writer_set_metadata(w, meta->p, meta->len, &err);
    if (rc == TC_OK)
        rc = stream_samples(P, w, &err);
    if (rc == TC_OK) {
        *payload = tc_writer_bytes(w);
        rc = tc_writer_finish(w, &err); /* frees w whatever happens */
        w = NULL;
    }
    if (w)
        tc_writer_abort(w); /* nothing appears at OUTPUT, no temporary stays behind */
    if (rc) {
        if (!err.code)
            err.code = rc;
        return cli_output_report(&err);
    }
    return 0;
}

static int cmd_pack(int argc, char **argv)
{
    pack_ctx P = {0};
    int rc = parse_pack_args(&P, argc, argv);
    tct_buf meta = {0};
    if (rc == 0)
        rc = open_sources(&P);
    if (rc == 0)
        rc = check_counts(&P);
    if (rc == 0)
        rc = plan_fields(&P);
    if (rc == 0)
        rc = build_metadata(&P, &meta);
    uint64_t payload = 0;
    P.t0 = tct_now();
    P.progress_tty = !P.quiet && isatty(STDERR_FILENO);
    if (rc == 0)
        rc = write_cache(&P, &meta, &payload);
    if (rc == 0 && !P.quiet) {
        double el = tct_now() - P.t0;
        struct stat sb;
        bool std = cli_output_is_stdout(P.output); /* the summary must not join the cache */
        uint64_t size = !std && stat(P.output, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        char hs[32];
        cli_human_bytes(hs, sizeof hs, size);
        fprintf(std ? stderr : stdout, "packed %s: %llu samples, %u fields, %llu bytes (%s) in %.2f s "
               "(%.0f samples/s, %.1f MB/s)\n",
               P.output, (unsigned long long)P.n, P.nfields, (unsigned long long)size, hs, el,
               el > 0 ? (double)P.n / el : 0.0, el > 0 ? (double)payload / el / 1e6 : 0.0);
    }
    tct_buf_free(&meta);
    pack_free(&P);
    return rc < 0 ? 0 : rc;
}

const cli_command cli_cmd_pack = {
    "pack", "pack .npy / IDX / CIFAR / raw sources (plain or gzipped) into a cache", PACK_HELP,
    cmd_pack};
