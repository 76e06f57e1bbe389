/* error.c - error codes, version, dtype tables. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

unsigned tc_version_number(void) { return TC_VERSION_NUMBER; }

const char *tc_version_string(void)
{
    return TC_VERSION_STRING;
}

size_t tc_type_size(const char *name)
{
#define TC_X_TYPE(t) {#t, sizeof(t)},
    static const struct {
        const char *name;
        size_t size;
    } types[] = {
        TC_X_TYPE(tc_error) TC_X_TYPE(tc_field_info) TC_X_TYPE(tc_view) TC_X_TYPE(tc_span)
        TC_X_TYPE(tc_field_spec) TC_X_TYPE(tc_value) TC_X_TYPE(tc_order)
        TC_X_TYPE(tc_loader_options) TC_X_TYPE(tc_batch_field) TC_X_TYPE(tc_batch)
    };
#undef TC_X_TYPE
    for (size_t i = 0; name && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(name, types[i].name) == 0)
            return types[i].size;
    return 0;
}

void tc_version(unsigned *major, unsigned *minor, unsigned *patch)
{
    if (major)
        *major = TC_VERSION_MAJOR;
    if (minor)
        *minor = TC_VERSION_MINOR;
    if (patch)
        *patch = TC_VERSION_PATCH;
}

void tc_format_written(unsigned *major, unsigned *minor)
{
    if (major)
        *major = TC_FORMAT_MAJOR;
    if (minor)
        *minor = TC_FORMAT_MINOR;
}

const char *tc_strerror(int code)
{
    switch (code) {
#define TC_X_TEXT(name, num, text)                                                                 \
    case num:                                                                                      \
        return text;
        TC_ERROR_LIST(TC_X_TEXT)
#undef TC_X_TEXT
    default:
        return "unknown error code";
    }
}

const char *tc_error_name(int code)
{
    switch (code) {
#define TC_X_NAME(name, num, text)                                                                 \
    case num:                                                                                      \
        return #name;
        TC_ERROR_LIST(TC_X_NAME)
#undef TC_X_NAME
    default:
        return "UNKNOWN";
    }
}

int tc__fail(tc_error *err, int code, int sys_errno, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        err->sys_errno = sys_errno;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        if (sys_errno && n >= 0 && (size_t)n < sizeof err->message)
            snprintf(err->message + n, sizeof err->message - (size_t)n, ": %s", strerror(sys_errno));
    }
    return code;
}

int tc__write_errcode(int e)
{
    return (e == ENOSPC || e == EFBIG || e == EDQUOT) ? TC_ERR_NO_SPACE : TC_ERR_IO;
}

/* ---- dtypes ---- */
typedef struct {
    const char *name, *numpy;
    size_t size;
} tc_dtype_desc;

static const tc_dtype_desc tc_dtypes[TC_DTYPE_MAX_CODE] = {
#define TC_X_DESC(nm, code, sz, text, npy) [code] = {text, npy, sz},
    TC_DTYPE_LIST(TC_X_DESC)
#undef TC_X_DESC
};

static bool tc_dtype_valid(int dtype) { return dtype > 0 && dtype < TC_DTYPE_MAX_CODE; }

size_t tc_dtype_size(int dtype) { return tc_dtype_valid(dtype) ? tc_dtypes[dtype].size : 0; }
const char *tc_dtype_name(int dtype) { return tc_dtype_valid(dtype) ? tc_dtypes[dtype].name : NULL; }
const char *tc_dtype_numpy(int dtype) { return tc_dtype_valid(dtype) ? tc_dtypes[dtype].numpy : NULL; }

int tc_dtype_from_name(const char *name)
{
    static const struct {
        const char *alias;
        int dtype;
    } aliases[] = {
        {"uint8", TC_DTYPE_U8},     {"int8", TC_DTYPE_I8},       {"uint16", TC_DTYPE_U16},
        {"int16", TC_DTYPE_I16},    {"uint32", TC_DTYPE_U32},    {"int32", TC_DTYPE_I32},
        {"uint64", TC_DTYPE_U64},   {"int64", TC_DTYPE_I64},     {"float16", TC_DTYPE_F16},
        {"half", TC_DTYPE_F16},     {"bfloat16", TC_DTYPE_BF16}, {"float32", TC_DTYPE_F32},
        {"float", TC_DTYPE_F32},    {"float64", TC_DTYPE_F64},   {"double", TC_DTYPE_F64},
        {"bool_", TC_DTYPE_BOOL},
    };
    if (!name)
        return 0;
    for (int d = 1; d < TC_DTYPE_MAX_CODE; d++)
        if (strcasecmp(name, tc_dtypes[d].name) == 0 || strcmp(name, tc_dtypes[d].numpy) == 0)
            return d;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0)
            return aliases[i].dtype;
    return 0;
}
