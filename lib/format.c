/* format.c - decoding, validating and encoding the header and field table (FORMAT.md §2-§9).
 *
 * Every check here is O(1) per field: together they are the "open" validation level, whose cost
 * does not depend on the number of samples. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

uint64_t tc__checksum(const void *data, size_t n) { return XXH3_64bits(data, n); }

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Python's
 * bytes.decode("utf-8") accepts exactly the same set, which keeps both readers in agreement. */
bool tc__utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t min;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Checks that [off, off+size) lies within the file; `what` names the region in the message. */
static int check_in_file(uint64_t off, uint64_t size, uint64_t file_size, const char *what,
                         tc_error *err)
{
    uint64_t end;
    if (!tc_add(off, size, &end))
        return tc__fail(err, TC_ERR_REGION_BOUNDS, 0, "%s: offset %llu + size %llu overflows", what,
                        (unsigned long long)off, (unsigned long long)size);
    if (end > file_size)
        return tc__fail(err, TC_ERR_REGION_BOUNDS, 0, "%s: region ends at %llu, past file size %llu",
                        what, (unsigned long long)end, (unsigned long long)file_size);
    return TC_OK;
}

int tc__parse_header(const uint8_t *b, uint64_t real_size, tc_header *h, tc_error *err)
{
    if (memcmp(b + H_MAGIC, TC_MAGIC, 8) != 0)
        return tc__fail(err, TC_ERR_BAD_MAGIC, 0, "bad magic: not a tensorcache file");
    h->version_major = tc_le16(b + H_VMAJOR);
    h->version_minor = tc_le16(b + H_VMINOR);
    if (h->version_major != TC_FORMAT_MAJOR)
        return tc__fail(err, TC_ERR_VERSION, 0, "expected format version %d.x, found %u.%u",
                        TC_FORMAT_MAJOR, h->version_major, h->version_minor);
    if (tc_le32(b + H_HSIZE) != TC_HEADER_SIZE)
        return tc__fail(err, TC_ERR_HEADER, 0, "header_size is %u, expected %u",
                        tc_le32(b + H_HSIZE), TC_HEADER_SIZE);
    uint64_t want = tc_le64(b + H_SUM), got = tc__checksum(b, H_SUM);
    if (want != got)
        return tc__fail(err, TC_ERR_CHECKSUM, 0,
                        "header checksum mismatch: stored %016llx, computed %016llx",
                        (unsigned long long)want, (unsigned long long)got);
    if (tc_le32(b + H_FLAGS) != 0 || !all_zero(b + H_RESERVED, H_RESERVED_SIZE))
        return tc__fail(err, TC_ERR_RESERVED, 0, "header flags or reserved bytes are not zero");

    h->file_size = tc_le64(b + H_FILE_SIZE);
    if (real_size < h->file_size)
        return tc__fail(err, TC_ERR_TRUNCATED, 0, "file is %llu bytes, header records %llu",
                        (unsigned long long)real_size, (unsigned long long)h->file_size);
    if (real_size > h->file_size)
        return tc__fail(err, TC_ERR_SIZE_MISMATCH, 0,
                        "file is %llu bytes, larger than the %llu the header records",
                        (unsigned long long)real_size, (unsigned long long)h->file_size);

    h->num_samples = tc_le64(b + H_NSAMPLES);
    h->num_fields = tc_le32(b + H_NFIELDS);
    h->ft_offset = tc_le64(b + H_FT_OFF);
    h->ft_size = tc_le64(b + H_FT_SIZE);
    h->meta_offset = tc_le64(b + H_META_OFF);
    h->meta_size = tc_le64(b + H_META_SIZE);
    h->ft_checksum = tc_le64(b + H_FT_SUM);
    h->meta_checksum = tc_le64(b + H_META_SUM);

    if (h->num_fields < 1 || h->num_fields > TC_MAX_FIELDS)
        return tc__fail(err, TC_ERR_FIELD_COUNT, 0, "num_fields is %u, must be 1..%d",
                        h->num_fields, TC_MAX_FIELDS);
    if (h->ft_size != (uint64_t)h->num_fields * TC_FIELD_ENTRY_SIZE)
        return tc__fail(err, TC_ERR_HEADER, 0, "field_table_size is %llu, expected %u fields x %u",
                        (unsigned long long)h->ft_size, h->num_fields, TC_FIELD_ENTRY_SIZE);
    if (h->meta_size > TC_MAX_METADATA)
        return tc__fail(err, TC_ERR_METADATA, 0, "metadata_size %llu exceeds the %u-byte limit",
                        (unsigned long long)h->meta_size, TC_MAX_METADATA);
    int rc = check_in_file(h->ft_offset, h->ft_size, h->file_size, "field table", err);
    if (rc)
        return rc;
    rc = check_in_file(h->meta_offset, h->meta_size, h->file_size, "metadata", err);
    if (rc)
        return rc;
    if (h->ft_offset % TC_INDEX_ALIGN)
        return tc__fail(err, TC_ERR_ALIGNMENT, 0, "field table offset %llu is not a multiple of %u",
                        (unsigned long long)h->ft_offset, TC_INDEX_ALIGN);
    if (h->meta_offset % TC_META_ALIGN || (h->meta_size == 0 && h->meta_offset != 0))
        return tc__fail(err, TC_ERR_ALIGNMENT, 0, "metadata offset %llu is misaligned",
                        (unsigned long long)h->meta_offset);
    return TC_OK;
}

int tc_shape_bytes(const uint64_t *shape, uint32_t rank, uint64_t itemsize, uint64_t *out,
                   tc_error *err)
{
    if (rank > TC_MAX_RANK || !out || (!shape && rank))
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_shape_bytes: rank %u, out %s, shape %s",
                        rank, out ? "set" : "NULL", shape ? "set" : "NULL");
    uint64_t n = itemsize;
    for (uint32_t d = 0; d < rank; d++)
        if (!tc_mul(n, shape[d], &n))
            return tc__fail(err, TC_ERR_OVERFLOW, 0, "the size of a sample overflows 64 bits");
    *out = n;
    return TC_OK;
}

int tc__check_layout_tag(const char *tag, size_t len, uint32_t rank)
{
    size_t n = 0;
    while (n < len && tag[n])
        n++;
    for (size_t i = n; i < len; i++)
        if (tag[i])
            return TC_ERR_LAYOUT;
    if (n == 0)
        return TC_OK;
    if (n != rank + 1)
        return TC_ERR_LAYOUT;
    for (size_t i = 0; i < n; i++)
        if (tag[i] < 'A' || tag[i] > 'Z')
            return TC_ERR_LAYOUT;
    return TC_OK;
}

static void decode_field(const uint8_t *e, tc_field_entry *f)
{
    memset(f, 0, sizeof *f);
    f->name_len = tc_le16(e + F_NAME_LEN);
    memcpy(f->name, e + F_NAME, f->name_len <= TC_MAX_NAME ? f->name_len : TC_MAX_NAME);
    f->dtype = e[F_DTYPE];
    f->rank = e[F_RANK];
    f->kind = e[F_KIND];
    f->codec = e[F_CODEC];
    memcpy(f->layout, e + F_LAYOUT, TC_MAX_LAYOUT);
    for (int d = 0; d < TC_MAX_RANK; d++)
        f->shape[d] = tc_le64(e + F_SHAPE + 8 * d);
    f->flags = tc_le32(e + F_FLAGS);
    f->stride = tc_le64(e + F_STRIDE);
    f->data_offset = tc_le64(e + F_DATA_OFF);
    f->data_size = tc_le64(e + F_DATA_SIZE);
    f->data_checksum = tc_le64(e + F_DATA_SUM);
    f->index_offset = tc_le64(e + F_INDEX_OFF);
    f->index_size = tc_le64(e + F_INDEX_SIZE);
    f->index_checksum = tc_le64(e + F_INDEX_SUM);
    f->block_samples = tc_le64(e + F_BLOCK_SAMPLES);
    f->itemsize = tc_dtype_size(f->dtype);
}

static int check_name(const uint8_t *e, const tc_field_entry *f, uint32_t k, tc_error *err)
{
    if (f->name_len < 1 || f->name_len > TC_MAX_NAME)
        return tc__fail(err, TC_ERR_NAME, 0, "field %u: name length %u is not 1..%d", k,
                        f->name_len, TC_MAX_NAME);
    if (memchr(e + F_NAME, 0, f->name_len))
        return tc__fail(err, TC_ERR_NAME, 0, "field %u: name contains a NUL byte", k);
    if (!tc__utf8_valid(e + F_NAME, f->name_len))
        return tc__fail(err, TC_ERR_NAME, 0, "field %u: name is not valid UTF-8", k);
    if (!all_zero(e + F_NAME + f->name_len, TC_MAX_NAME - f->name_len))
        return tc__fail(err, TC_ERR_NAME, 0, "field '%s': name padding is not zero", f->name);
    return TC_OK;
}

static int check_shape(const tc_field_entry *f, tc_error *err)
{
    if (f->kind > TC_KIND_VARIABLE)
        return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': unknown kind %u", f->name, f->kind);
    if (f->rank > TC_MAX_RANK)
        return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': rank %u exceeds %d", f->name, f->rank,
                        TC_MAX_RANK);
    for (int d = f->rank; d < TC_MAX_RANK; d++)
        if (f->shape[d])
            return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': shape[%d] beyond rank %u is not zero",
                            f->name, d, f->rank);
    int nvar = 0;
    for (int d = 0; d < f->rank; d++)
        nvar += f->shape[d] == TC_DIM_VARIABLE;
    if (f->kind == TC_KIND_FIXED && nvar)
        return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': fixed-shape field has a variable dimension",
                        f->name);
    if (f->kind == TC_KIND_VARIABLE && nvar == 0)
        return tc__fail(err, TC_ERR_SHAPE, 0,
                        "field '%s': variable-shape field has no variable dimension", f->name);
    return TC_OK;
}

static int fail_shape(tc_error *err, const tc_field_entry *f, const char *what)
{
    return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': %s", f->name, what);
}

/* Kind-specific sizes (FORMAT.md §5-§7). */
static int check_sizes(tc_field_entry *f, uint64_t n, tc_error *err)
{
    if (f->kind == TC_KIND_FIXED &&
        tc_shape_bytes(f->shape, f->rank, f->itemsize, &f->sample_bytes, NULL) != TC_OK)
        return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s': sample size overflows 64 bits", f->name);

    if (f->kind == TC_KIND_FIXED && f->codec == TC_CODEC_NONE) {
        uint64_t total;
        if (f->stride < f->sample_bytes)
            return fail_shape(err, f, "stride is smaller than the sample size");
        if (!tc_mul(n, f->stride, &total))
            return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s': N x stride overflows 64 bits",
                            f->name);
        if (f->data_size != total)
            return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': data_size %llu != N x stride = %llu",
                            f->name, (unsigned long long)f->data_size, (unsigned long long)total);
        if (f->index_offset || f->index_size || f->block_samples)
            return fail_shape(err, f, "fixed-shape field has index or block fields set");
    } else if (f->kind == TC_KIND_VARIABLE) {
        uint64_t total;
        f->entry_size = 16 + 8ull * f->rank;
        if (f->stride || f->block_samples)
            return fail_shape(err, f, "variable-shape field has stride or block_samples set");
        if (!tc_mul(n, f->entry_size, &total))
            return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s': index size overflows 64 bits",
                            f->name);
        if (f->index_size != total)
            return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': index_size %llu != N x %llu",
                            f->name, (unsigned long long)f->index_size,
                            (unsigned long long)f->entry_size);
    } else { /* fixed + lz4 */
        uint64_t total, raw;
        f->entry_size = TC_LZ4_ENTRY_SIZE;
        if (f->stride)
            return fail_shape(err, f, "compressed field has a stride");
        if (f->block_samples == 0)
            return tc__fail(err, TC_ERR_CODEC, 0, "field '%s': block_samples is 0", f->name);
        f->nblocks = n / f->block_samples + (n % f->block_samples != 0);
        if (!tc_mul(f->block_samples < n ? f->block_samples : n, f->sample_bytes, &raw) ||
            raw > TC_LZ4_MAX_RAW)
            return tc__fail(err, TC_ERR_CODEC, 0, "field '%s': an LZ4 block would exceed %u bytes",
                            f->name, TC_LZ4_MAX_RAW);
        if (!tc_mul(f->nblocks, TC_LZ4_ENTRY_SIZE, &total))
            return tc__fail(err, TC_ERR_OVERFLOW, 0, "field '%s': block index size overflows",
                            f->name);
        if (f->index_size != total)
            return tc__fail(err, TC_ERR_SHAPE, 0, "field '%s': index_size %llu != %llu blocks x %u",
                            f->name, (unsigned long long)f->index_size,
                            (unsigned long long)f->nblocks, TC_LZ4_ENTRY_SIZE);
    }
    return TC_OK;
}

static int check_field_regions(const tc_field_entry *f, uint64_t file_size, tc_error *err)
{
    char what[TC_MAX_NAME + 32];
    snprintf(what, sizeof what, "field '%s': data region", f->name);
    int rc = check_in_file(f->data_offset, f->data_size, file_size, what, err);
    if (rc)
        return rc;
    snprintf(what, sizeof what, "field '%s': index region", f->name);
    rc = check_in_file(f->index_offset, f->index_size, file_size, what, err);
    if (rc)
        return rc;
    if (f->data_offset % TC_DATA_ALIGN || (f->data_size == 0 && f->data_offset != 0))
        return tc__fail(err, TC_ERR_ALIGNMENT, 0,
                        "field '%s': data offset %llu is not a multiple of %u", f->name,
                        (unsigned long long)f->data_offset, TC_DATA_ALIGN);
    if (f->index_offset % TC_INDEX_ALIGN || (f->index_size == 0 && f->index_offset != 0))
        return tc__fail(err, TC_ERR_ALIGNMENT, 0,
                        "field '%s': index offset %llu is not a multiple of %u", f->name,
                        (unsigned long long)f->index_offset, TC_INDEX_ALIGN);
    return TC_OK;
}

int tc__parse_field(const uint8_t *e, uint32_t k, const tc_header *h, tc_field_entry *f,
                    tc_error *err)
{
    decode_field(e, f);
    int rc = check_name(e, f, k, err);
    if (rc)
        return rc;
    if (f->itemsize == 0)
        return tc__fail(err, TC_ERR_DTYPE, 0, "field '%s': unknown dtype code %u", f->name, f->dtype);
    if (f->codec > TC_CODEC_LZ4)
        return tc__fail(err, TC_ERR_CODEC, 0, "field '%s': unknown codec %u", f->name, f->codec);
    if (f->codec == TC_CODEC_LZ4 && f->kind != TC_KIND_FIXED)
        return tc__fail(err, TC_ERR_CODEC, 0, "field '%s': LZ4 is only valid for fixed-shape fields",
                        f->name);
    if ((rc = check_shape(f, err)))
        return rc;
    if (f->flags || tc_le16(e + F_RES0) || tc_le32(e + F_RES1) || !all_zero(e + F_RES2, F_RES2_SIZE))
        return tc__fail(err, TC_ERR_RESERVED, 0, "field '%s': flags or reserved bytes are not zero",
                        f->name);
    if (tc__check_layout_tag(f->layout, TC_MAX_LAYOUT, f->rank))
        return tc__fail(err, TC_ERR_LAYOUT, 0,
                        "field '%s': layout tag must be empty or %u letters A-Z", f->name,
                        f->rank + 1);
    if ((rc = check_sizes(f, h->num_samples, err)))
        return rc;
    return check_field_regions(f, h->file_size, err);
}

int tc__check_unique_names(const tc_header *h, const tc_field_entry *fields, tc_error *err)
{
    /* F <= 1024: the quadratic scan costs at most ~0.5M short compares and needs no allocation. */
    for (uint32_t a = 0; a < h->num_fields; a++)
        for (uint32_t b = a + 1; b < h->num_fields; b++)
            if (fields[a].name_len == fields[b].name_len &&
                memcmp(fields[a].name, fields[b].name, fields[a].name_len) == 0)
                return tc__fail(err, TC_ERR_DUPLICATE_NAME, 0,
                                "fields %u and %u are both named '%s'", a, b, fields[a].name);
    return TC_OK;
}

static int region_cmp(const void *a, const void *b)
{
    const tc_region *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

tc_region *tc__sorted_regions(const tc_header *h, const tc_field_entry *fields, size_t *count)
{
    size_t n = 0;
    tc_region *r = malloc((3 + 2 * (size_t)h->num_fields) * sizeof *r);
    if (!r)
        return NULL;
    r[n++] = (tc_region){0, TC_HEADER_SIZE, TC__NO_FIELD, "header"};
    r[n++] = (tc_region){h->ft_offset, h->ft_size, TC__NO_FIELD, "field table"};
    if (h->meta_size)
        r[n++] = (tc_region){h->meta_offset, h->meta_size, TC__NO_FIELD, "metadata"};
    for (uint32_t k = 0; k < h->num_fields; k++) {
        if (fields[k].data_size)
            r[n++] = (tc_region){fields[k].data_offset, fields[k].data_size, k, "data"};
        if (fields[k].index_size)
            r[n++] = (tc_region){fields[k].index_offset, fields[k].index_size, k, "index"};
    }
    qsort(r, n, sizeof *r, region_cmp);
    *count = n;
    return r;
}

static void describe_region(const tc_region *r, const tc_field_entry *fields, char *buf, size_t n)
{
    if (r->field == TC__NO_FIELD)
        snprintf(buf, n, "%s [%llu, %llu)", r->what, (unsigned long long)r->off,
                 (unsigned long long)(r->off + r->size));
    else
        snprintf(buf, n, "field '%s': %s region [%llu, %llu)", fields[r->field].name, r->what,
                 (unsigned long long)r->off, (unsigned long long)(r->off + r->size));
}

int tc__check_regions(const tc_header *h, const tc_field_entry *fields, tc_error *err)
{
    size_t n;
    tc_region *r = tc__sorted_regions(h, fields, &n);
    if (!r)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory checking regions");
    int rc = TC_OK;
    for (size_t i = 1; i < n; i++) {
        /* ends cannot overflow: every region was checked to end within the file */
        if (r[i - 1].off + r[i - 1].size > r[i].off) {
            char a[TC_MAX_NAME + 80], b[TC_MAX_NAME + 80];
            describe_region(&r[i - 1], fields, a, sizeof a);
            describe_region(&r[i], fields, b, sizeof b);
            rc = tc__fail(err, TC_ERR_OVERLAP, 0, "%s overlaps %s", a, b);
            break;
        }
    }
    free(r);
    return rc;
}

void tc__encode_header(uint8_t *b, const tc_header *h)
{
    memset(b, 0, TC_HEADER_SIZE);
    memcpy(b + H_MAGIC, TC_MAGIC, 8);
    tc_put16(b + H_VMAJOR, h->version_major);
    tc_put16(b + H_VMINOR, h->version_minor);
    tc_put32(b + H_HSIZE, TC_HEADER_SIZE);
    tc_put64(b + H_FILE_SIZE, h->file_size);
    tc_put64(b + H_NSAMPLES, h->num_samples);
    tc_put32(b + H_NFIELDS, h->num_fields);
    tc_put64(b + H_FT_OFF, h->ft_offset);
    tc_put64(b + H_FT_SIZE, h->ft_size);
    tc_put64(b + H_META_OFF, h->meta_offset);
    tc_put64(b + H_META_SIZE, h->meta_size);
    tc_put64(b + H_FT_SUM, h->ft_checksum);
    tc_put64(b + H_META_SUM, h->meta_checksum);
    tc_put64(b + H_SUM, tc__checksum(b, H_SUM));
}

void tc__encode_field(uint8_t *e, const tc_field_entry *f)
{
    memset(e, 0, TC_FIELD_ENTRY_SIZE);
    memcpy(e + F_NAME, f->name, f->name_len);
    tc_put16(e + F_NAME_LEN, (uint16_t)f->name_len);
    e[F_DTYPE] = f->dtype;
    e[F_RANK] = f->rank;
    e[F_KIND] = f->kind;
    e[F_CODEC] = f->codec;
    memcpy(e + F_LAYOUT, f->layout, strnlen(f->layout, TC_MAX_LAYOUT));
    for (int d = 0; d < f->rank; d++)
        tc_put64(e + F_SHAPE + 8 * d, f->shape[d]);
    tc_put32(e + F_FLAGS, f->flags);
    tc_put64(e + F_STRIDE, f->stride);
    tc_put64(e + F_DATA_OFF, f->data_offset);
    tc_put64(e + F_DATA_SIZE, f->data_size);
    tc_put64(e + F_DATA_SUM, f->data_checksum);
    tc_put64(e + F_INDEX_OFF, f->index_offset);
    tc_put64(e + F_INDEX_SIZE, f->index_size);
    tc_put64(e + F_INDEX_SUM, f->index_checksum);
    tc_put64(e + F_BLOCK_SAMPLES, f->block_samples);
}
