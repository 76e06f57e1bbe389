/* util.c - helpers shared by the command-line tools (see util.h). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int tct_fail(tc_error *err, int code, int sys_errno, const char *fmt, ...)
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

int tct_write_errcode(int e)
{
    return (e == ENOSPC || e == EFBIG || e == EDQUOT) ? TC_ERR_NO_SPACE : TC_ERR_IO;
}

bool tct_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (!tct_mul(v, 10, &v) || !tct_add(v, (uint64_t)(*p - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

bool tct_parse_size(const char *s, uint64_t *out)
{
    if (!s)
        return false;
    size_t n = strlen(s), digits = 0;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits == 0 || digits > 20)
        return false;
    char num[24];
    memcpy(num, s, digits);
    num[digits] = 0;
    uint64_t v;
    if (!tct_parse_u64(num, &v))
        return false;
    const char *suf = s + digits;
    uint64_t mult = 1;
    if (*suf) {
        static const struct {
            const char *a, *b;
            uint64_t m;
        } units[] = {{"K", "KiB", 1ull << 10}, {"M", "MiB", 1ull << 20}, {"G", "GiB", 1ull << 30}};
        bool ok = false;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strcmp(suf, units[i].a) == 0 || strcmp(suf, units[i].b) == 0 ||
                (suf[0] == units[i].a[0] + 32 && suf[1] == 0)) {
                mult = units[i].m;
                ok = true;
            }
        if (!ok)
            return false;
    }
    return tct_mul(v, mult, out);
}

bool tct_parse_shape(const char *s, uint32_t *rank, uint64_t shape[TC_MAX_RANK])
{
    if (!s)
        return false;
    if (*s == 0 || strcmp(s, "scalar") == 0 || strcmp(s, "()") == 0) {
        *rank = 0;
        return true;
    }
    uint32_t r = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char num[24];
        if (len == 0 || len >= sizeof num || r == TC_MAX_RANK)
            return false;
        memcpy(num, p, len);
        num[len] = 0;
        if (!tct_parse_u64(num, &shape[r]))
            return false;
        r++;
        if (!comma)
            break;
        p = comma + 1;
    }
    for (uint32_t d = r; d < TC_MAX_RANK; d++)
        shape[d] = 0;
    *rank = r;
    return true;
}

const char *tct_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool tct_utf8_valid(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(s + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

double tct_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- string buffer ---- */

void tct_buf_free(tct_buf *b)
{
    free(b->p);
    *b = (tct_buf){0};
}

static bool buf_reserve(tct_buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void tct_buf_put(tct_buf *b, const void *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void tct_buf_puts(tct_buf *b, const char *s) { tct_buf_put(b, s, strlen(s)); }

void tct_buf_printf(tct_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void tct_buf_json_str(tct_buf *b, const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    tct_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        uint8_t c = u[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            tct_buf_put(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            static const char *named[] = {['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n",
                                          ['\r'] = "\\r", ['\t'] = "\\t"};
            if (c < sizeof named / sizeof named[0] && named[c])
                tct_buf_puts(b, named[c]);
            else
                tct_buf_printf(b, "\\u%04x", c);
            i++;
        } else {
            size_t l = utf8_seq(u + i, n - i);
            if (l == 0) {
                tct_buf_puts(b, "\\ufffd");
                i++;
            } else {
                tct_buf_put(b, u + i, l);
                i += l;
            }
        }
    }
    tct_buf_put(b, "\"", 1);
}

/* ---- JSON syntax check: recursive descent over RFC 8259 ---- */

typedef struct {
    const uint8_t *s;
    size_t n, i;
    int depth;
    const char *why;
    tct_json_info *info;
} json_parser;

#define JSON_MAX_DEPTH 512

static bool json_fail(json_parser *p, const char *why)
{
    if (!p->why)
        p->why = why;
    return false;
}

static void json_ws(json_parser *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool json_hex4(json_parser *p, uint32_t *out)
{
    if (p->n - p->i < 4)
        return json_fail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex_val(p->s[p->i + (size_t)k]);
        if (h < 0)
            return json_fail(p, "bad \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    p->i += 4;
    *out = v;
    return true;
}

/* Appends code point cp as UTF-8 to key (capacity 128, truncating). */
static void key_append(char *key, size_t *klen, uint32_t cp)
{
    uint8_t tmp[4];
    size_t l;
    if (cp < 0x80) {
        tmp[0] = (uint8_t)cp;
        l = 1;
    } else if (cp < 0x800) {
        tmp[0] = (uint8_t)(0xC0 | cp >> 6);
        tmp[1] = (uint8_t)(0x80 | (cp & 0x3F));
        l = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (uint8_t)(0xE0 | cp >> 12);
        tmp[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (uint8_t)(0x80 | (cp & 0x3F));
        l = 3;
    } else {
        tmp[0] = (uint8_t)(0xF0 | cp >> 18);
        tmp[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (uint8_t)(0x80 | (cp & 0x3F));
        l = 4;
    }
    if (*klen + l < 128) {
        memcpy(key + *klen, tmp, l);
        *klen += l;
        key[*klen] = 0;
    }
}

/* A string literal; when `key` is not NULL its decoded text is stored there. */
static bool json_string(json_parser *p, char *key)
{
    size_t klen = 0;
    if (key)
        key[0] = 0;
    p->i++; /* opening quote */
    while (p->i < p->n) {
        uint8_t c = p->s[p->i];
        if (c == '"') {
            p->i++;
            return true;
        }
        if (c < 0x20)
            return json_fail(p, "control character in string");
        if (c == '\\') {
            if (++p->i >= p->n)
                return json_fail(p, "truncated escape");
            uint8_t e = p->s[p->i++];
            uint32_t cp;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (!json_hex4(p, &cp))
                    return false;
                /* A surrogate pair is two escapes; lone surrogates are tolerated as JSON text
                 * but not decoded into keys. */
                if (cp >= 0xD800 && cp <= 0xDBFF && p->n - p->i >= 6 && p->s[p->i] == '\\' &&
                    p->s[p->i + 1] == 'u') {
                    uint32_t lo;
                    p->i += 2;
                    if (!json_hex4(p, &lo))
                        return false;
                    if (lo >= 0xDC00 && lo <= 0xDFFF)
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                break;
            default:
                return json_fail(p, "bad escape in string");
            }
            if (key && !(cp >= 0xD800 && cp <= 0xDFFF))
                key_append(key, &klen, cp);
            continue;
        }
        size_t l = utf8_seq(p->s + p->i, p->n - p->i);
        if (l == 0)
            return json_fail(p, "invalid UTF-8 in string");
        if (key)
            for (size_t k = 0; k < l && klen < 127; k++) {
                key[klen++] = (char)p->s[p->i + k];
                key[klen] = 0;
            }
        p->i += l;
    }
    return json_fail(p, "unterminated string");
}

static bool json_digits(json_parser *p)
{
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
        p->i++;
    return p->i > start || json_fail(p, "bad number");
}

static bool json_number(json_parser *p)
{
    if (p->s[p->i] == '-')
        p->i++;
    if (p->i < p->n && p->s[p->i] == '0')
        p->i++;
    else if (!json_digits(p))
        return false;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (!json_digits(p))
            return false;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (!json_digits(p))
            return false;
    }
    return true;
}

static bool json_literal(json_parser *p, const char *word)
{
    size_t l = strlen(word);
    if (p->n - p->i < l || memcmp(p->s + p->i, word, l) != 0)
        return json_fail(p, "unexpected character");
    p->i += l;
    return true;
}

static bool json_value(json_parser *p);

static bool json_object(json_parser *p)
{
    bool top = p->depth == 1 && p->info;
    if (top) {
        p->info->is_object = true;
        p->info->inner_start = p->i + 1;
    }
    p->i++;
    json_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        if (top)
            p->info->inner_end = p->i;
        p->i++;
        return true;
    }
    for (;;) {
        json_ws(p);
        if (p->i >= p->n || p->s[p->i] != '"')
            return json_fail(p, "expected a member name");
        char *key = NULL;
        if (top && p->info->nkeys < TCT_JSON_MAX_KEYS)
            key = p->info->keys[p->info->nkeys++];
        if (!json_string(p, key))
            return false;
        json_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':')
            return json_fail(p, "expected ':'");
        p->i++;
        if (!json_value(p))
            return false;
        json_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            if (top)
                p->info->inner_end = p->i;
            p->i++;
            return true;
        }
        return json_fail(p, "expected ',' or '}'");
    }
}

static bool json_array(json_parser *p)
{
    p->i++;
    json_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return true;
    }
    for (;;) {
        if (!json_value(p))
            return false;
        json_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return true;
        }
        return json_fail(p, "expected ',' or ']'");
    }
}

static bool json_value(json_parser *p)
{
    json_ws(p);
    if (p->i >= p->n)
        return json_fail(p, "unexpected end of text");
    if (++p->depth > JSON_MAX_DEPTH)
        return json_fail(p, "nesting too deep");
    bool ok;
    uint8_t c = p->s[p->i];
    if (c == '{')
        ok = json_object(p);
    else if (c == '[')
        ok = json_array(p);
    else if (c == '"')
        ok = json_string(p, NULL);
    else if (c == '-' || (c >= '0' && c <= '9'))
        ok = json_number(p);
    else if (c == 't')
        ok = json_literal(p, "true");
    else if (c == 'f')
        ok = json_literal(p, "false");
    else if (c == 'n')
        ok = json_literal(p, "null");
    else
        ok = json_fail(p, "unexpected character");
    p->depth--;
    return ok;
}

bool tct_json_check(const char *s, size_t n, tct_json_info *info, char *why, size_t why_size)
{
    json_parser p = {.s = (const uint8_t *)s, .n = n, .info = info};
    if (info) {
        info->nkeys = 0;
        info->is_object = false;
        info->inner_start = info->inner_end = 0;
    }
    bool ok = json_value(&p);
    if (ok) {
        json_ws(&p);
        if (p.i != p.n)
            ok = json_fail(&p, "unexpected text after the value");
    }
    if (!ok && why && why_size)
        snprintf(why, why_size, "%s at byte %zu", p.why ? p.why : "invalid JSON", p.i);
    return ok;
}

/* The tool codes' names and descriptions, from TCT_ERROR_LIST; NULL for other codes. */
static const char *tool_code_text(int code, bool name)
{
    switch (code) {
#define TCT_X_TEXT(nm, num, text)                                                                  \
    case num:                                                                                      \
        return name ? #nm : text;
        TCT_ERROR_LIST(TCT_X_TEXT)
#undef TCT_X_TEXT
    default:
        return NULL;
    }
}

const char *tct_error_name(int code)
{
    const char *s = tool_code_text(code, true);
    return s ? s : tc_error_name(code);
}

const char *tct_strerror(int code)
{
    const char *s = tool_code_text(code, false);
    return s ? s : tc_strerror(code);
}

/* Never called: it does not compile if a tool code reuses a library code (duplicate case). */
void tct_codes_are_disjoint(int code);
void tct_codes_are_disjoint(int code)
{
    switch (code) {
#define TCT_X_CASE(name, num, text) case num:
        TC_ERROR_LIST(TCT_X_CASE)
        TCT_ERROR_LIST(TCT_X_CASE)
#undef TCT_X_CASE
        break;
    }
}
