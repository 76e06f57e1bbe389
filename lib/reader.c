/* reader.c - tc_open and every read path.
 *
 * Open validates with pread before mapping anything (FORMAT.md §9, cost O(F)). After that the
 * cache is immutable, so every read function is thread-safe. Per-sample index entries of
 * variable-shape and LZ4 fields are checked lazily, on the access that needs them, which keeps
 * open independent of N; TC_OPEN_VERIFY and tc_verify() check them all up front. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

struct tc_cache {
    int fd;              /* pread backend only; -1 when mapped */
    const uint8_t *map;  /* whole file, PROT_READ; NULL for the pread backend */
    tc_header h;
    tc_field_entry *fields;
    tc_view *views;      /* per field: the sample view of a fixed uncompressed field, data unset */
    uint8_t *meta_copy;  /* pread backend: metadata read into memory */
    const uint8_t *meta; /* points into map or meta_copy */
    unsigned flags;
};

/* ---- raw byte access, shared by both backends ---- */

static int pread_full(int fd, void *dst, size_t n, uint64_t off, tc_error *err)
{
    uint8_t *p = dst;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return tc__fail(err, TC_ERR_IO, errno, "read of %zu bytes at offset %llu failed", n,
                            (unsigned long long)off);
        }
        if (r == 0)
            return tc__fail(err, TC_ERR_TRUNCATED, 0,
                            "unexpected end of file at offset %llu (file shrank?)",
                            (unsigned long long)off);
        p += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return TC_OK;
}

/* Copies file bytes [off, off+n) into dst. Callers have bounds-checked the range. */
static int read_at(const tc_cache *c, uint64_t off, void *dst, size_t n, tc_error *err)
{
    if (c->map) {
        memcpy(dst, c->map + off, n);
        return TC_OK;
    }
    return pread_full(c->fd, dst, n, off, err);
}

/* ---- open ---- */

static int open_file(const char *path, int *fd_out, uint64_t *size_out, tc_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tc__fail(err, TC_ERR_IO, errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tc__fail(err, TC_ERR_IO, e, "cannot stat '%s'", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "'%s' is not a regular file", path);
    }
    *fd_out = fd;
    *size_out = (uint64_t)st.st_size;
    return TC_OK;
}

/* Reads the field table and checks its checksum; *ft_out is the caller's to free. */
static int load_field_table(tc_cache *c, uint8_t **ft_out, tc_error *err)
{
    const tc_header *h = &c->h;
    uint8_t *ft = malloc(h->ft_size);
    c->fields = calloc(h->num_fields, sizeof *c->fields);
    if (!ft || !c->fields) {
        free(ft);
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory for %u fields", h->num_fields);
    }
    int rc = pread_full(c->fd, ft, h->ft_size, h->ft_offset, err);
    if (rc == TC_OK && tc__checksum(ft, h->ft_size) != h->ft_checksum)
        rc = tc__fail(err, TC_ERR_CHECKSUM, 0, "field table checksum mismatch");
    if (rc)
        free(ft);
    else
        *ft_out = ft;
    return rc;
}

static int load_metadata(tc_cache *c, tc_error *err)
{
    const tc_header *h = &c->h;
    if (h->meta_size == 0) {
        c->meta = (const uint8_t *)"";
        return h->meta_checksum == tc__checksum("", 0)
                   ? TC_OK
                   : tc__fail(err, TC_ERR_CHECKSUM, 0, "metadata checksum mismatch");
    }
    c->meta_copy = malloc(h->meta_size);
    if (!c->meta_copy)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory for %llu bytes of metadata",
                        (unsigned long long)h->meta_size);
    int rc = pread_full(c->fd, c->meta_copy, h->meta_size, h->meta_offset, err);
    if (rc)
        return rc;
    c->meta = c->meta_copy;
    if (tc__checksum(c->meta, h->meta_size) != h->meta_checksum)
        return tc__fail(err, TC_ERR_CHECKSUM, 0, "metadata checksum mismatch");
    if (!tc__utf8_valid(c->meta, h->meta_size))
        return tc__fail(err, TC_ERR_METADATA, 0, "metadata is not valid UTF-8");
    return TC_OK;
}

static int parse_fields(tc_cache *c, const uint8_t *ft, tc_error *err)
{
    const tc_header *h = &c->h;
    int rc = TC_OK;
    for (uint32_t k = 0; rc == TC_OK && k < h->num_fields; k++)
        rc = tc__parse_field(ft + (size_t)k * TC_FIELD_ENTRY_SIZE, k, h, &c->fields[k], err);
    if (rc == TC_OK)
        rc = tc__check_unique_names(h, c->fields, err);
    if (rc == TC_OK)
        rc = tc__check_regions(h, c->fields, err);
    return rc;
}

static void fill_c_strides(tc_view *v, uint32_t first, uint32_t ndim, size_t itemsize);

/* A fixed-shape sample view differs from sample to sample only in `data`: prepare the rest once,
 * so that tc_sample() is a bounds check, a copy and a multiply-add. */
static int build_view_templates(tc_cache *c, tc_error *err)
{
    c->views = calloc(c->h.num_fields, sizeof *c->views);
    if (!c->views)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory for %u views", c->h.num_fields);
    for (uint32_t k = 0; k < c->h.num_fields; k++) {
        const tc_field_entry *f = &c->fields[k];
        tc_view *v = &c->views[k];
        if (f->kind != TC_KIND_FIXED)
            continue;
        v->dtype = f->dtype;
        v->ndim = f->rank;
        v->readonly = 1;
        v->nbytes = f->sample_bytes;
        memcpy(v->shape, f->shape, f->rank * sizeof f->shape[0]);
        fill_c_strides(v, 0, f->rank, f->itemsize);
    }
    return TC_OK;
}

static int map_file(tc_cache *c, tc_error *err)
{
    void *m = mmap(NULL, c->h.file_size, PROT_READ, MAP_SHARED, c->fd, 0);
    if (m == MAP_FAILED)
        return tc__fail(err, TC_ERR_IO, errno, "cannot map %llu bytes",
                        (unsigned long long)c->h.file_size);
    c->map = m;
    /* The metadata now lives in the mapping; the copy was only needed for validation. */
    if (c->meta_copy) {
        c->meta = c->map + c->h.meta_offset;
        free(c->meta_copy);
        c->meta_copy = NULL;
    }
    close(c->fd);
    c->fd = -1;
    return build_view_templates(c, err);
}

int tc_open(tc_cache **out, const char *path, unsigned flags, tc_error *err)
{
    if (!out)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_open: out is NULL");
    *out = NULL;
    if (!path)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_open: path is NULL");
    if (flags & ~(TC_OPEN_VERIFY | TC_OPEN_NO_MMAP | TC_OPEN_CHECK_BLOCKS))
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_open: unknown flags 0x%x", flags);
    tc_cache *c = calloc(1, sizeof *c);
    if (!c)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory");
    c->flags = flags;
    uint64_t real_size = 0;
    int rc = open_file(path, &c->fd, &real_size, err);
    if (rc) {
        free(c);
        return rc;
    }
    uint8_t hb[TC_HEADER_SIZE];
    if (real_size < TC_HEADER_SIZE)
        rc = tc__fail(err, TC_ERR_TRUNCATED, 0, "file is %llu bytes, smaller than the %u-byte header",
                      (unsigned long long)real_size, TC_HEADER_SIZE);
    if (rc == TC_OK)
        rc = pread_full(c->fd, hb, sizeof hb, 0, err);
    if (rc == TC_OK)
        rc = tc__parse_header(hb, real_size, &c->h, err);
    uint8_t *ft = NULL;
    if (rc == TC_OK)
        rc = load_field_table(c, &ft, err);
    if (rc == TC_OK)
        rc = load_metadata(c, err);
    if (rc == TC_OK)
        rc = parse_fields(c, ft, err);
    free(ft);
    if (rc == TC_OK && !(flags & TC_OPEN_NO_MMAP))
        rc = map_file(c, err);
    if (rc == TC_OK && (flags & TC_OPEN_VERIFY))
        rc = tc_verify(c, err);
    if (rc) {
        tc_close(c);
        return rc;
    }
    *out = c;
    return TC_OK;
}

void tc_close(tc_cache *c)
{
    if (!c)
        return;
    if (c->map)
        munmap((void *)c->map, c->h.file_size);
    if (c->fd >= 0)
        close(c->fd);
    free(c->fields);
    free(c->views);
    free(c->meta_copy);
    free(c);
}

/* ---- simple accessors ---- */

/* The getters answer 0 for a NULL cache (the header's NULL-handle policy). */
uint64_t tc_num_samples(const tc_cache *c) { return c ? c->h.num_samples : 0; }
uint32_t tc_num_fields(const tc_cache *c) { return c ? c->h.num_fields : 0; }
uint64_t tc_file_size(const tc_cache *c) { return c ? c->h.file_size : 0; }
unsigned tc_format_version(const tc_cache *c)
{
    return c ? c->h.version_major * 100u + c->h.version_minor : 0;
}

void tc_file_format(const tc_cache *c, unsigned *major, unsigned *minor)
{
    if (major)
        *major = c ? c->h.version_major : 0;
    if (minor)
        *minor = c ? c->h.version_minor : 0;
}

int tc_metadata(const tc_cache *c, const void **data, size_t *size, tc_error *err)
{
    if (!c)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_metadata: NULL cache");
    if (data)
        *data = c->meta;
    if (size)
        *size = c->h.meta_size;
    return TC_OK;
}

/* Field `field` of `c`, or NULL with err filled (INVALID_ARG for a NULL cache, else NOT_FOUND). */
static const tc_field_entry *get_field(const tc_cache *c, uint32_t field, tc_error *err)
{
    if (!c) {
        tc__fail(err, TC_ERR_INVALID_ARG, 0, "NULL cache");
        return NULL;
    }
    if (field >= c->h.num_fields) {
        tc__fail(err, TC_ERR_NOT_FOUND, 0, "no field number %u (the file has %u)", field,
                 c->h.num_fields);
        return NULL;
    }
    return &c->fields[field];
}

/* The code get_field() failed with: its callers return it without re-deriving it. */
static int no_field(const tc_cache *c) { return c ? TC_ERR_NOT_FOUND : TC_ERR_INVALID_ARG; }

int tc_describe_field(const tc_cache *c, uint32_t field, tc_field_info *o, tc_error *err)
{
    const tc_field_entry *f = get_field(c, field, err);
    if (!f)
        return no_field(c);
    if (!o)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_describe_field: out is NULL");
    memset(o, 0, sizeof *o);
    o->name = f->name;
    o->dtype = f->dtype;
    o->itemsize = f->itemsize;
    o->rank = f->rank;
    memcpy(o->shape, f->shape, sizeof o->shape);
    o->variable = f->kind == TC_KIND_VARIABLE;
    o->codec = f->codec;
    memcpy(o->layout, f->layout, sizeof o->layout);
    o->flags = f->flags;
    o->sample_bytes = f->sample_bytes;
    o->stride = f->stride;
    o->block_samples = f->block_samples;
    o->data_offset = f->data_offset;
    o->data_size = f->data_size;
    o->data_checksum = f->data_checksum;
    o->index_offset = f->index_offset;
    o->index_size = f->index_size;
    o->index_checksum = f->index_checksum;
    return TC_OK;
}

int tc_find_field(const tc_cache *c, const char *name, uint32_t *field, tc_error *err)
{
    if (!c || !name)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_find_field: NULL %s", c ? "name" : "cache");
    size_t n = strlen(name);
    for (uint32_t k = 0; k < c->h.num_fields; k++)
        if (c->fields[k].name_len == n && memcmp(c->fields[k].name, name, n) == 0) {
            if (field)
                *field = k;
            return TC_OK;
        }
    return tc__fail(err, TC_ERR_NOT_FOUND, 0, "no field named '%.*s'", TC_MAX_NAME, name);
}

/* ---- per-sample index entries (FORMAT.md §6, §7), checked on use ---- */

static void decode_var_entry(const uint8_t *p, uint32_t rank, tc_var_entry *e)
{
    e->offset = tc_le64(p);
    e->nbytes = tc_le64(p + 8);
    for (uint32_t d = 0; d < rank; d++)
        e->shape[d] = tc_le64(p + 16 + 8 * d);
}

static int read_var_entry(const tc_cache *c, const tc_field_entry *f, uint64_t i, tc_var_entry *e,
                          tc_error *err)
{
    uint8_t buf[16 + 8 * TC_MAX_RANK];
    uint64_t off = f->index_offset + i * f->entry_size; /* i < N: within the validated index */
    int rc = read_at(c, off, buf, f->entry_size, err);
    if (rc == TC_OK)
        decode_var_entry(buf, f->rank, e);
    return rc;
}

static int bad_entry(tc_error *err, const tc_field_entry *f, uint64_t i, const char *what)
{
    return tc__fail(err, TC_ERR_INDEX, 0, "field '%s': index entry of sample %llu: %s", f->name,
                    (unsigned long long)i, what);
}

/* Checks entry i against the field and against entry i-1 (`prev`, NULL for i = 0). */
static int check_var_entry(const tc_field_entry *f, uint64_t i, const tc_var_entry *e,
                           const tc_var_entry *prev, tc_error *err)
{
    uint64_t nb, end;
    for (uint32_t d = 0; d < f->rank; d++) {
        if (e->shape[d] == TC_DIM_VARIABLE)
            return bad_entry(err, f, i, "dimension is the VARIABLE marker");
        if (f->shape[d] != TC_DIM_VARIABLE && e->shape[d] != f->shape[d])
            return bad_entry(err, f, i, "shape differs from the field's fixed dimensions");
    }
    if (tc_shape_bytes(e->shape, f->rank, f->itemsize, &nb, NULL) != TC_OK)
        return tc__fail(err, TC_ERR_OVERFLOW, 0,
                        "field '%s': sample %llu: shape product overflows 64 bits", f->name,
                        (unsigned long long)i);
    if (nb != e->nbytes)
        return bad_entry(err, f, i, "nbytes differs from the shape's size");
    if (e->offset % TC_SAMPLE_ALIGN)
        return bad_entry(err, f, i, "offset is not a multiple of 64");
    if (!tc_add(e->offset, e->nbytes, &end) || end > f->data_size)
        return bad_entry(err, f, i, "sample extends past the data region");
    if (prev) {
        uint64_t prev_end;
        if (!tc_add(prev->offset, prev->nbytes, &prev_end) || prev_end > e->offset)
            return bad_entry(err, f, i, "sample overlaps or precedes the previous sample");
    }
    return TC_OK;
}

/* Reads and fully checks entry i of a variable-shape field. */
static int var_entry(const tc_cache *c, const tc_field_entry *f, uint64_t i, tc_var_entry *e,
                     tc_error *err)
{
    tc_var_entry prev;
    int rc = read_var_entry(c, f, i, e, err);
    if (rc == TC_OK && i > 0)
        rc = read_var_entry(c, f, i - 1, &prev, err);
    return rc ? rc : check_var_entry(f, i, e, i > 0 ? &prev : NULL, err);
}

static uint64_t block_raw_size(const tc_field_entry *f, uint64_t n, uint64_t b)
{
    uint64_t first = b * f->block_samples; /* b < nblocks: no overflow */
    uint64_t count = n - first < f->block_samples ? n - first : f->block_samples;
    return count * f->sample_bytes; /* bounded by the TC_LZ4_MAX_RAW check at open */
}

static int read_block_entry(const tc_cache *c, const tc_field_entry *f, uint64_t b,
                            tc_block_entry *e, tc_error *err)
{
    uint8_t buf[TC_LZ4_ENTRY_SIZE];
    int rc = read_at(c, f->index_offset + b * TC_LZ4_ENTRY_SIZE, buf, sizeof buf, err);
    if (rc == TC_OK) {
        e->offset = tc_le64(buf);
        e->csize = tc_le64(buf + 8);
        e->checksum = tc_le64(buf + 16);
    }
    return rc;
}

static int check_block_entry(const tc_cache *c, const tc_field_entry *f, uint64_t b,
                             const tc_block_entry *e, const tc_block_entry *prev, tc_error *err)
{
    uint64_t raw = block_raw_size(f, c->h.num_samples, b), end;
    uint64_t bound = (uint64_t)LZ4_compressBound((int)raw);
    if (e->csize < 1 || e->csize > bound || !tc_add(e->offset, e->csize, &end) || end > f->data_size)
        return tc__fail(err, TC_ERR_INDEX, 0,
                        "field '%s': block %llu (samples %llu..): offset %llu size %llu is invalid",
                        f->name, (unsigned long long)b, (unsigned long long)(b * f->block_samples),
                        (unsigned long long)e->offset, (unsigned long long)e->csize);
    if (prev && prev->offset + prev->csize > e->offset) /* prev was checked: no overflow */
        return tc__fail(err, TC_ERR_INDEX, 0, "field '%s': block %llu overlaps block %llu", f->name,
                        (unsigned long long)b, (unsigned long long)(b - 1));
    return TC_OK;
}

static int block_entry(const tc_cache *c, const tc_field_entry *f, uint64_t b, tc_block_entry *e,
                       tc_error *err)
{
    tc_block_entry prev;
    int rc = read_block_entry(c, f, b, e, err);
    if (rc == TC_OK && b > 0) {
        rc = read_block_entry(c, f, b - 1, &prev, err);
        if (rc == TC_OK)
            rc = check_block_entry(c, f, b - 1, &prev, NULL, err);
    }
    return rc ? rc : check_block_entry(c, f, b, e, b > 0 ? &prev : NULL, err);
}

static int corrupt_block(const tc_field_entry *f, uint64_t b, uint64_t raw, tc_error *err)
{
    return tc__fail(err, TC_ERR_CORRUPT_BLOCK, 0,
                    "field '%s': block %llu (samples %llu..%llu) does not decode to %llu bytes",
                    f->name, (unsigned long long)b, (unsigned long long)(b * f->block_samples),
                    (unsigned long long)(b * f->block_samples + raw / (f->sample_bytes ? f->sample_bytes : 1)),
                    (unsigned long long)raw);
}

static int block_checksum_error(const tc_field_entry *f, uint64_t b, tc_error *err)
{
    return tc__fail(err, TC_ERR_CHECKSUM, 0, "field '%s': block %llu (samples %llu..) checksum "
                    "mismatch", f->name, (unsigned long long)b,
                    (unsigned long long)(b * f->block_samples));
}

/* Decodes block b into *buf, growing it (capacity *cap) only after the entry has been checked
 * (and, with TC_OPEN_CHECK_BLOCKS, its compressed bytes against the entry's checksum). */
static int decode_block(const tc_cache *c, const tc_field_entry *f, uint64_t b, uint8_t **buf,
                        uint64_t *cap, tc_error *err)
{
    tc_block_entry e;
    int rc = block_entry(c, f, b, &e, err);
    if (rc)
        return rc;
    uint64_t raw = block_raw_size(f, c->h.num_samples, b);
    /* LZ4 expands at most 255:1: a block claiming more cannot decode to its size. Say so before
     * allocating up to 2 GB for it. */
    if (raw / 255 > e.csize)
        return corrupt_block(f, b, raw, err);
    if (*cap < raw + 1) {
        uint8_t *nb = realloc(*buf, raw + 1);
        if (!nb)
            return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory for a decoded block");
        *buf = nb, *cap = raw + 1;
    }
    uint8_t *dst = *buf;
    const char *src;
    char *tmp = NULL;
    if (c->map) {
        src = (const char *)c->map + f->data_offset + e.offset;
    } else {
        tmp = malloc(e.csize);
        if (!tmp)
            return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory for a compressed block");
        rc = pread_full(c->fd, tmp, e.csize, f->data_offset + e.offset, err);
        src = tmp;
    }
    if (rc == TC_OK && (c->flags & TC_OPEN_CHECK_BLOCKS) &&
        tc__checksum(src, e.csize) != e.checksum)
        rc = block_checksum_error(f, b, err);
    if (rc == TC_OK) {
        int got = LZ4_decompress_safe(src, (char *)dst, (int)e.csize, (int)raw);
        if (got < 0 || (uint64_t)got != raw)
            rc = corrupt_block(f, b, raw, err);
    }
    free(tmp);
    return rc;
}

/* ---- views ---- */

/* C-order strides. Unsigned arithmetic: when N >= 1 every product is bounded by the file size
 * (< 2^63), and when N = 0 (nothing addressable) a huge declared shape must not be UB. */
static void fill_c_strides(tc_view *v, uint32_t first, uint32_t ndim, size_t itemsize)
{
    uint64_t s = itemsize;
    for (uint32_t d = ndim; d-- > first;) {
        v->strides[d] = (int64_t)s;
        s *= v->shape[d];
    }
}

static int check_index(const tc_cache *c, const tc_field_entry *f, uint64_t i, tc_error *err)
{
    if (i >= c->h.num_samples)
        return tc__fail(err, TC_ERR_RANGE, 0, "field '%s': sample %llu out of range (N = %llu)",
                        f->name, (unsigned long long)i, (unsigned long long)c->h.num_samples);
    return TC_OK;
}

static int need_view(const tc_cache *c, const tc_field_entry *f, tc_error *err)
{
    if (!c->map)
        return tc__fail(err, TC_ERR_WRONG_KIND, 0,
                        "field '%s': zero-copy views need the mmap backend (opened with NO_MMAP)",
                        f->name);
    if (f->codec != TC_CODEC_NONE)
        return tc__fail(err, TC_ERR_WRONG_KIND, 0,
                        "field '%s' is compressed: copy samples out with tc_read_sample/tc_gather",
                        f->name);
    return TC_OK;
}

int tc_sample(const tc_cache *c, uint32_t field, uint64_t i, tc_view *v, tc_error *err)
{
    if (c && c->map && field < c->h.num_fields && i < c->h.num_samples) { /* the hot path */
        const tc_field_entry *f = &c->fields[field];
        if (f->kind == TC_KIND_FIXED && f->codec == TC_CODEC_NONE) {
            *v = c->views[field];
            v->data = c->map + f->data_offset + i * f->stride;
            return TC_OK;
        }
    }
    const tc_field_entry *f = get_field(c, field, err);
    if (!f)
        return no_field(c);
    int rc = need_view(c, f, err);
    if (rc == TC_OK)
        rc = check_index(c, f, i, err);
    if (rc)
        return rc;
    v->dtype = f->dtype;
    v->ndim = f->rank;
    v->readonly = 1;
    if (f->kind == TC_KIND_FIXED) {
        v->data = c->map + f->data_offset + i * f->stride;
        memcpy(v->shape, f->shape, f->rank * sizeof f->shape[0]);
        v->nbytes = f->sample_bytes;
    } else {
        tc_var_entry e;
        if ((rc = var_entry(c, f, i, &e, err)))
            return rc;
        v->data = c->map + f->data_offset + e.offset;
        memcpy(v->shape, e.shape, f->rank * sizeof e.shape[0]);
        v->nbytes = e.nbytes;
    }
    fill_c_strides(v, 0, f->rank, f->itemsize);
    return TC_OK;
}

/* The field behind a whole-field view (tc_range, tc_field_span): mapped, uncompressed, fixed. */
static int fixed_view_field(const tc_cache *c, uint32_t field, const tc_field_entry **out,
                            tc_error *err)
{
    const tc_field_entry *f = get_field(c, field, err);
    if (!f)
        return no_field(c);
    int rc = need_view(c, f, err);
    if (rc)
        return rc;
    if (f->kind != TC_KIND_FIXED)
        return tc__fail(err, TC_ERR_WRONG_KIND, 0,
                        "field '%s' has variable shapes: no range view or span, use tc_sample",
                        f->name);
    *out = f;
    return TC_OK;
}

int tc_range(const tc_cache *c, uint32_t field, uint64_t start, uint64_t n, tc_view *v,
             tc_error *err)
{
    const tc_field_entry *f;
    int rc = fixed_view_field(c, field, &f, err);
    if (rc)
        return rc;
    uint64_t end;
    if (!tc_add(start, n, &end) || end > c->h.num_samples)
        return tc__fail(err, TC_ERR_RANGE, 0, "field '%s': range [%llu, +%llu) exceeds N = %llu",
                        f->name, (unsigned long long)start, (unsigned long long)n,
                        (unsigned long long)c->h.num_samples);
    v->data = c->map + f->data_offset + start * f->stride;
    v->dtype = f->dtype;
    v->ndim = f->rank + 1;
    v->readonly = 1;
    v->shape[0] = n;
    memcpy(v->shape + 1, f->shape, f->rank * sizeof f->shape[0]);
    fill_c_strides(v, 1, f->rank + 1, f->itemsize);
    v->strides[0] = (int64_t)f->stride;
    v->nbytes = n ? (n - 1) * f->stride + f->sample_bytes : 0;
    return TC_OK;
}

int tc_field_span(const tc_cache *c, uint32_t field, tc_span *out, tc_error *err)
{
    const tc_field_entry *f;
    int rc = fixed_view_field(c, field, &f, err);
    if (rc)
        return rc;
    out->base = c->map + f->data_offset;
    out->stride = f->stride;
    out->count = c->h.num_samples;
    return TC_OK;
}

int tc_sample_nbytes(const tc_cache *c, uint32_t field, uint64_t i, uint64_t *nbytes,
                     uint64_t shape[TC_MAX_RANK], tc_error *err)
{
    const tc_field_entry *f = get_field(c, field, err);
    if (!f)
        return no_field(c);
    int rc = check_index(c, f, i, err);
    if (rc)
        return rc;
    if (f->kind == TC_KIND_FIXED) {
        if (nbytes)
            *nbytes = f->sample_bytes;
        if (shape)
            memcpy(shape, f->shape, sizeof f->shape);
        return TC_OK;
    }
    tc_var_entry e;
    if ((rc = var_entry(c, f, i, &e, err)))
        return rc;
    if (nbytes)
        *nbytes = e.nbytes;
    if (shape) {
        memset(shape, 0, TC_MAX_RANK * sizeof shape[0]);
        memcpy(shape, e.shape, f->rank * sizeof e.shape[0]);
    }
    return TC_OK;
}

static int too_small(tc_error *err, const tc_field_entry *f, uint64_t need, size_t have)
{
    return tc__fail(err, TC_ERR_BUFFER_TOO_SMALL, 0,
                    "field '%s': destination holds %zu bytes, %llu needed", f->name, have,
                    (unsigned long long)need);
}

/* Decodes the block holding sample i and copies the sample out. */
static int read_compressed(const tc_cache *c, const tc_field_entry *f, uint64_t i, void *dst,
                           tc_error *err)
{
    uint64_t b = i / f->block_samples, j = i % f->block_samples, cap = 0;
    uint8_t *block = NULL;
    int rc = decode_block(c, f, b, &block, &cap, err);
    if (rc == TC_OK)
        memcpy(dst, block + j * f->sample_bytes, f->sample_bytes);
    free(block);
    return rc;
}

int tc_read_sample(const tc_cache *c, uint32_t field, uint64_t i, void *dst, size_t dst_size,
                   uint64_t *nbytes, tc_error *err)
{
    const tc_field_entry *f = get_field(c, field, err);
    if (!f)
        return no_field(c);
    int rc = check_index(c, f, i, err);
    if (rc)
        return rc;
    uint64_t off, size;
    if (f->kind == TC_KIND_VARIABLE) {
        tc_var_entry e;
        if ((rc = var_entry(c, f, i, &e, err)))
            return rc;
        off = f->data_offset + e.offset, size = e.nbytes;
    } else {
        off = f->data_offset + i * f->stride, size = f->sample_bytes;
    }
    if (nbytes)
        *nbytes = size;
    if (size > dst_size)
        return too_small(err, f, size, dst_size);
    if (f->codec == TC_CODEC_LZ4)
        return read_compressed(c, f, i, dst, err);
    return read_at(c, off, dst, size, err);
}

bool tc__is_mapped(const tc_cache *c) { return c->map != NULL; }

double tc__resident_fraction(const tc_cache *c)
{
    if (!c->map || c->h.file_size == 0)
        return 1.0;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t pages = (c->h.file_size + page - 1) / page, resident = 0;
    unsigned char vec[4096]; /* in slices, so the vector stays small whatever the file size */
    for (uint64_t first = 0; first < pages; first += sizeof vec) {
        uint64_t n = pages - first < sizeof vec ? pages - first : sizeof vec;
        uint64_t len = n * page;
        if (first * page + len > c->h.file_size)
            len = c->h.file_size - first * page;
        if (mincore((void *)(c->map + first * page), len, vec) != 0)
            return 1.0; /* unknown: assume hot (no extra advice) */
        for (uint64_t k = 0; k < n; k++)
            resident += vec[k] & 1;
    }
    return (double)resident / (double)pages;
}

int tc__read_sample_cached(const tc_cache *c, uint32_t field, uint64_t i, void *dst,
                           size_t dst_size, tc__block_cache *bc, tc_error *err)
{
    const tc_field_entry *f = field < c->h.num_fields ? &c->fields[field] : NULL;
    if (!f || f->codec != TC_CODEC_LZ4 || i >= c->h.num_samples)
        return tc_read_sample(c, field, i, dst, dst_size, NULL, err);
    if (f->sample_bytes > dst_size)
        return too_small(err, f, f->sample_bytes, dst_size);
    uint64_t b = i / f->block_samples;
    if (bc->field != field || bc->block != b) {
        bc->field = TC__NO_FIELD; /* a failed decode leaves no valid block behind */
        int rc = decode_block(c, f, b, &bc->buf, &bc->cap, err);
        if (rc)
            return rc;
        bc->field = field, bc->block = b;
    }
    memcpy(dst, bc->buf + (i % f->block_samples) * f->sample_bytes, f->sample_bytes);
    return TC_OK;
}

static int gather_compressed(const tc_cache *c, const tc_field_entry *f, const uint64_t *idx,
                             size_t n, uint8_t *dst, tc_error *err)
{
    uint8_t *block = NULL;
    uint64_t cap = 0, cur = UINT64_MAX;
    int rc = TC_OK;
    for (size_t k = 0; k < n && rc == TC_OK; k++) {
        uint64_t b = idx[k] / f->block_samples;
        if (b != cur && (rc = decode_block(c, f, b, &block, &cap, err)) == TC_OK)
            cur = b;
        if (rc == TC_OK)
            memcpy(dst + k * f->sample_bytes, block + (idx[k] % f->block_samples) * f->sample_bytes,
                   f->sample_bytes);
    }
    free(block);
    return rc;
}

int tc_gather(const tc_cache *c, uint32_t field, const uint64_t *idx, size_t n, void *dst,
              size_t dst_size, tc_error *err)
{
    const tc_field_entry *f = get_field(c, field, err);
    if (!f)
        return no_field(c);
    if (f->kind != TC_KIND_FIXED)
        return tc__fail(err, TC_ERR_WRONG_KIND, 0,
                        "field '%s' has variable shapes: gather needs fixed-shape samples", f->name);
    uint64_t need;
    if (!tc_mul(n, f->sample_bytes, &need))
        return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s': gather size overflows", f->name);
    if (need > dst_size)
        return too_small(err, f, need, dst_size);
    for (size_t k = 0; k < n; k++) {
        int rc = check_index(c, f, idx[k], err);
        if (rc)
            return rc;
    }
    uint8_t *out = dst;
    const uint64_t sb = f->sample_bytes;
    if (f->codec == TC_CODEC_LZ4)
        return gather_compressed(c, f, idx, n, out, err);
    if (c->map) {
        const uint8_t *base = c->map + f->data_offset;
        for (size_t k = 0; k < n; k++)
            memcpy(out + k * sb, base + idx[k] * f->stride, sb);
        return TC_OK;
    }
    for (size_t k = 0; k < n; k++) {
        int rc = pread_full(c->fd, out + k * sb, sb, f->data_offset + idx[k] * f->stride, err);
        if (rc)
            return rc;
    }
    return TC_OK;
}

/* ---- hints ---- */

static int advise_range(const tc_cache *c, uint64_t off, uint64_t size, int advice, tc_error *err)
{
    if (size == 0)
        return TC_OK;
    static const int madv[] = {MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM, MADV_WILLNEED};
    static const int fadv[] = {POSIX_FADV_NORMAL, POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                               POSIX_FADV_WILLNEED};
    if (!c->map) {
        int e = posix_fadvise(c->fd, (off_t)off, (off_t)size, fadv[advice]);
        return e ? tc__fail(err, TC_ERR_IO, e, "posix_fadvise failed") : TC_OK;
    }
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = off / page * page;
    if (madvise((void *)(c->map + start), off + size - start, madv[advice]) != 0)
        return tc__fail(err, TC_ERR_IO, errno, "madvise failed");
    return TC_OK;
}

int tc_advise(const tc_cache *c, uint32_t field, int advice, tc_error *err)
{
    if (!c)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_advise: NULL cache");
    if (advice < TC_ADVICE_NORMAL || advice > TC_ADVICE_WILLNEED)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_advise: invalid advice %d", advice);
    if (field == TC_ALL_FIELDS)
        return advise_range(c, 0, c->h.file_size, advice, err);
    const tc_field_entry *f = get_field(c, field, err);
    if (!f)
        return no_field(c);
    int rc = advise_range(c, f->data_offset, f->data_size, advice, err);
    return rc ? rc : advise_range(c, f->index_offset, f->index_size, advice, err);
}

/* The file bytes that sample i of f occupies (for LZ4: its block), for prefetching. */
static int sample_extent(const tc_cache *c, const tc_field_entry *f, uint64_t i, uint64_t *off,
                         uint64_t *size, tc_error *err)
{
    if (f->kind == TC_KIND_VARIABLE) {
        tc_var_entry e;
        int rc = var_entry(c, f, i, &e, err);
        if (rc == TC_OK)
            *off = f->data_offset + e.offset, *size = e.nbytes;
        return rc;
    }
    if (f->codec == TC_CODEC_LZ4) {
        tc_block_entry e;
        int rc = block_entry(c, f, i / f->block_samples, &e, err);
        if (rc == TC_OK)
            *off = f->data_offset + e.offset, *size = e.csize;
        return rc;
    }
    *off = f->data_offset + i * f->stride, *size = f->sample_bytes;
    return TC_OK;
}

int tc_prefetch(const tc_cache *c, uint32_t field, const uint64_t *idx, size_t n, tc_error *err)
{
    const tc_field_entry *f = get_field(c, field, err);
    if (!f)
        return no_field(c);
    if (n && !idx)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_prefetch: idx is NULL");
    for (size_t k = 0; k < n; k++) {
        int rc = check_index(c, f, idx[k], err);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < n; k++) {
        uint64_t off, size;
        int rc = sample_extent(c, f, idx[k], &off, &size, err);
        if (rc == TC_OK)
            rc = advise_range(c, off, size, TC_ADVICE_WILLNEED, err);
        if (rc)
            return rc;
    }
    return TC_OK;
}

/* ---- full verification (FORMAT.md §9, "full") ---- */

static int verify_var_index(const tc_cache *c, const tc_field_entry *f, tc_error *err)
{
    tc_var_entry prev, cur;
    for (uint64_t i = 0; i < c->h.num_samples; i++) {
        int rc = read_var_entry(c, f, i, &cur, err);
        if (rc == TC_OK)
            rc = check_var_entry(f, i, &cur, i ? &prev : NULL, err);
        if (rc)
            return rc;
        prev = cur;
    }
    return TC_OK;
}

static int verify_block_index(const tc_cache *c, const tc_field_entry *f, tc_error *err)
{
    tc_block_entry prev, cur;
    for (uint64_t b = 0; b < f->nblocks; b++) {
        int rc = read_block_entry(c, f, b, &cur, err);
        if (rc == TC_OK)
            rc = check_block_entry(c, f, b, &cur, b ? &prev : NULL, err);
        if (rc)
            return rc;
        prev = cur;
    }
    return TC_OK;
}

#define TC_VERIFY_CHUNK (1u << 20)

/* XXH3-64 of file bytes [off, off+size). */
static int hash_range(const tc_cache *c, uint64_t off, uint64_t size, uint64_t *out, tc_error *err)
{
    if (c->map) {
        *out = XXH3_64bits(c->map + off, size);
        return TC_OK;
    }
    XXH3_state_t *st = XXH3_createState();
    uint8_t *buf = malloc(size < TC_VERIFY_CHUNK ? (size ? size : 1) : TC_VERIFY_CHUNK);
    int rc = (st && buf) ? TC_OK : tc__fail(err, TC_ERR_NOMEM, 0, "out of memory verifying");
    if (rc == TC_OK)
        XXH3_64bits_reset(st);
    for (uint64_t done = 0; rc == TC_OK && done < size;) {
        size_t n = size - done < TC_VERIFY_CHUNK ? (size_t)(size - done) : TC_VERIFY_CHUNK;
        rc = pread_full(c->fd, buf, n, off + done, err);
        if (rc == TC_OK)
            XXH3_64bits_update(st, buf, n);
        done += n;
    }
    if (rc == TC_OK)
        *out = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    free(buf);
    return rc;
}

/* A region checksum says only that the region differs; the message names the byte range and,
 * for fixed fields, the samples it holds. LZ4 fields are narrowed to a block by the caller. */
static int checksum_error(const tc_field_entry *f, const char *region, uint64_t off, uint64_t size,
                          uint64_t want, uint64_t got, tc_error *err)
{
    if (f->kind == TC_KIND_FIXED && f->codec == TC_CODEC_NONE && f->stride)
        return tc__fail(err, TC_ERR_CHECKSUM, 0,
                        "field '%s': %s region (bytes %llu..%llu, samples 0..%llu) checksum mismatch: "
                        "stored %016llx, computed %016llx",
                        f->name, region, (unsigned long long)off, (unsigned long long)(off + size),
                        (unsigned long long)(size / f->stride), (unsigned long long)want,
                        (unsigned long long)got);
    return tc__fail(err, TC_ERR_CHECKSUM, 0,
                    "field '%s': %s region (bytes %llu..%llu) checksum mismatch: stored %016llx, "
                    "computed %016llx",
                    f->name, region, (unsigned long long)off, (unsigned long long)(off + size),
                    (unsigned long long)want, (unsigned long long)got);
}

static int verify_checksums(const tc_cache *c, const tc_field_entry *f, tc_error *err)
{
    uint64_t got;
    int rc = hash_range(c, f->data_offset, f->data_size, &got, err);
    if (rc)
        return rc;
    if (got != f->data_checksum)
        return checksum_error(f, "data", f->data_offset, f->data_size, f->data_checksum, got, err);
    if ((rc = hash_range(c, f->index_offset, f->index_size, &got, err)))
        return rc;
    if (got != f->index_checksum)
        return checksum_error(f, "index", f->index_offset, f->index_size, f->index_checksum, got,
                              err);
    return TC_OK;
}

static int verify_block_checksums(const tc_cache *c, const tc_field_entry *f, tc_error *err)
{
    for (uint64_t b = 0; b < f->nblocks; b++) {
        tc_block_entry e;
        uint64_t got;
        int rc = read_block_entry(c, f, b, &e, err);
        if (rc == TC_OK)
            rc = hash_range(c, f->data_offset + e.offset, e.csize, &got, err);
        if (rc)
            return rc;
        if (got != e.checksum)
            return block_checksum_error(f, b, err);
    }
    return TC_OK;
}

static int check_zero(const tc_cache *c, uint64_t off, uint64_t end, tc_error *err)
{
    uint8_t buf[4096];
    while (off < end) {
        size_t n = end - off < sizeof buf ? (size_t)(end - off) : sizeof buf;
        int rc = read_at(c, off, buf, n, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (buf[i])
                return tc__fail(err, TC_ERR_PADDING, 0, "padding byte at offset %llu is not zero",
                                (unsigned long long)(off + i));
        off += n;
    }
    return TC_OK;
}

static int verify_padding(const tc_cache *c, tc_error *err)
{
    size_t n;
    tc_region *r = tc__sorted_regions(&c->h, c->fields, &n);
    if (!r)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory verifying padding");
    uint64_t pos = 0;
    int rc = TC_OK;
    for (size_t i = 0; i < n && rc == TC_OK; i++) {
        if (r[i].off > pos)
            rc = check_zero(c, pos, r[i].off, err);
        if (r[i].off + r[i].size > pos) /* ends were checked at open: no overflow */
            pos = r[i].off + r[i].size;
    }
    if (rc == TC_OK)
        rc = check_zero(c, pos, c->h.file_size, err);
    free(r);
    return rc;
}

/* Zero bytes inside a field's data region: stride padding (§5), gaps between variable samples
 * (§6) and between LZ4 blocks (§7). The region checksum cannot catch these when a (re-checksummed)
 * field table shrinks a sample, so full verification checks them explicitly. */
static int field_padding_error(const tc_field_entry *f, uint64_t where, tc_error *err)
{
    return tc__fail(err, TC_ERR_PADDING, 0,
                    "field '%s': padding inside the data region (near sample/block %llu) is not zero",
                    f->name, (unsigned long long)where);
}

static int verify_field_padding(const tc_cache *c, const tc_field_entry *f, tc_error *err)
{
    const uint64_t base = f->data_offset, n = c->h.num_samples;
    uint64_t pos = 0;
    int rc = TC_OK;
    if (f->kind == TC_KIND_FIXED && f->codec == TC_CODEC_NONE) {
        if (f->stride == f->sample_bytes)
            return TC_OK;
        for (uint64_t i = 0; i < n && rc == TC_OK; i++)
            if (check_zero(c, base + i * f->stride + f->sample_bytes, base + (i + 1) * f->stride,
                           NULL) != TC_OK)
                rc = field_padding_error(f, i, err);
        return rc;
    }
    uint64_t count = f->kind == TC_KIND_VARIABLE ? n : f->nblocks;
    for (uint64_t i = 0; i < count && rc == TC_OK; i++) {
        uint64_t off, len;
        if (f->kind == TC_KIND_VARIABLE) {
            tc_var_entry e;
            rc = read_var_entry(c, f, i, &e, err);
            off = e.offset, len = e.nbytes;
        } else {
            tc_block_entry e;
            rc = read_block_entry(c, f, i, &e, err);
            off = e.offset, len = e.csize;
        }
        if (rc)
            return rc;
        /* entries were checked in order and in bounds by verify_*_index */
        if (check_zero(c, base + pos, base + off, NULL) != TC_OK)
            rc = field_padding_error(f, i, err);
        pos = off + len;
    }
    if (rc == TC_OK && check_zero(c, base + pos, base + f->data_size, NULL) != TC_OK)
        rc = field_padding_error(f, count, err);
    return rc;
}

static int verify_blocks_decode(const tc_cache *c, const tc_field_entry *f, tc_error *err)
{
    uint8_t *block = NULL;
    uint64_t cap = 0;
    int rc = TC_OK;
    for (uint64_t b = 0; b < f->nblocks && rc == TC_OK; b++)
        rc = decode_block(c, f, b, &block, &cap, err);
    free(block);
    return rc;
}

int tc_verify(const tc_cache *c, tc_error *err)
{
    if (!c)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_verify: cache is NULL");
    int rc = TC_OK;
    for (uint32_t k = 0; k < c->h.num_fields && rc == TC_OK; k++) {
        const tc_field_entry *f = &c->fields[k];
        if (f->kind == TC_KIND_VARIABLE)
            rc = verify_var_index(c, f, err);
        else if (f->codec == TC_CODEC_LZ4)
            rc = verify_block_index(c, f, err);
    }
    for (uint32_t k = 0; k < c->h.num_fields && rc == TC_OK; k++) {
        rc = verify_checksums(c, &c->fields[k], err);
        /* Every LZ4 block carries its own checksum: check it even when the region's matches (a
         * re-sealed region), and use it to narrow a region mismatch down to one block. */
        if ((rc == TC_OK || rc == TC_ERR_CHECKSUM) && c->fields[k].codec == TC_CODEC_LZ4) {
            tc_error narrow;
            int brc = verify_block_checksums(c, &c->fields[k], &narrow);
            if (brc == TC_ERR_CHECKSUM || (brc && rc == TC_OK)) {
                rc = brc;
                if (err)
                    *err = narrow;
            }
        }
    }
    if (rc == TC_OK)
        rc = verify_padding(c, err);
    for (uint32_t k = 0; k < c->h.num_fields && rc == TC_OK; k++)
        rc = verify_field_padding(c, &c->fields[k], err);
    for (uint32_t k = 0; k < c->h.num_fields && rc == TC_OK; k++)
        if (c->fields[k].codec == TC_CODEC_LZ4)
            rc = verify_blocks_decode(c, &c->fields[k], err);
    return rc;
}
