/* util.h - small helpers shared by the tensorcache command, tc-demo-check and the source readers:
 * error reports, checked arithmetic, number parsing, a growable string buffer, JSON output and
 * JSON syntax checking. Nothing here touches a tensorcache file. */
#ifndef TC_TOOLS_UTIL_H
#define TC_TOOLS_UTIL_H

#include "errors.h"
#include "tensorcache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fills `err` (may be NULL) and returns `code`; a non-zero sys_errno appends ": strerror(it)".
 * The library's tc__fail (lib/error.c) does the same for library errors: the tools use the
 * public API only, so this is its twin, kept identical on purpose. */
int tct_fail(tc_error *err, int code, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The code for errno `e` of a failed write: TC_ERR_NO_SPACE (disk full, file size or quota
 * limit) or TC_ERR_IO; the same rule as the library's writer (tc__write_errcode). */
int tct_write_errcode(int e);

/* Checked arithmetic: false on overflow (the result is then unspecified). */
static inline bool tct_mul(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static inline bool tct_add(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_add_overflow(a, b, r); }

/* Decimal unsigned integer, the whole string, no sign, no overflow. @return true when valid. */
bool tct_parse_u64(const char *s, uint64_t *out);

/* A byte count: decimal with an optional suffix K, M, G (or KiB, MiB, GiB; powers of 1024).
 * @return true when valid and representable. */
bool tct_parse_size(const char *s, uint64_t *out);

/* Parses "3,32,32" (or "" / "scalar" for rank 0) into a per-sample shape. @return true if valid. */
bool tct_parse_shape(const char *s, uint32_t *rank, uint64_t shape[TC_MAX_RANK]);

/* The part of `path` after the last '/'. */
const char *tct_basename(const char *path);

/* Strict UTF-8 check (no overlong forms, no surrogates, nothing above U+10FFFF). */
bool tct_utf8_valid(const uint8_t *s, size_t n);

/* Monotonic time in seconds. */
double tct_now(void);

/* ---- growable string buffer ---- */
typedef struct {
    char *p;    /* NUL-terminated while !oom */
    size_t len, cap;
    bool oom;   /* an allocation failed; the contents are incomplete */
} tct_buf;

void tct_buf_free(tct_buf *b);
void tct_buf_put(tct_buf *b, const void *s, size_t n);
void tct_buf_puts(tct_buf *b, const char *s);
void tct_buf_printf(tct_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` (n bytes) as a JSON string literal with quotes; bytes that are not valid UTF-8
 * become U+FFFD so the output is always valid JSON. */
void tct_buf_json_str(tct_buf *b, const char *s, size_t n);

/* ---- JSON syntax checking ---- */
#define TCT_JSON_MAX_KEYS 256
typedef struct {
    /* Filled for a top-level object: its member names, decoded (escapes resolved) and
     * truncated to 127 bytes, and the text between the outer braces. */
    uint32_t nkeys;
    char keys[TCT_JSON_MAX_KEYS][128];
    size_t inner_start, inner_end;
    bool is_object;
} tct_json_info;

/* Checks that s[0..n) is one valid JSON value (RFC 8259) surrounded by optional whitespace.
 * `info` (may be NULL) receives the top-level object's keys. @return true when valid; otherwise
 * `why` (may be NULL, size `why_size`) describes the first problem and its byte offset. */
bool tct_json_check(const char *s, size_t n, tct_json_info *info, char *why, size_t why_size);

#endif
