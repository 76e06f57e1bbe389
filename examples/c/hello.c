/* hello.c - write a small cache with the streaming writer, then read it back zero-copy.
 *
 *   cc hello.c $(pkg-config --cflags --libs tensorcache) -o hello && ./hello /tmp/hello.tc
 *
 * `make test` builds this against a staged `make install` to prove the installed header,
 * library and tensorcache.pc work. */
#include <tensorcache.h>

#include <stdio.h>
#include <string.h>

#define N 1000

static int fail(const char *what, const tc_error *err)
{
    fprintf(stderr, "hello: %s: %s: %s\n", what, tc_error_name(err->code), err->message);
    return 1;
}

static int write_cache(const char *path)
{
    tc_error err;
    tc_writer *w;
    if (tc_writer_create(&w, path, &err))
        return fail("create", &err);
    tc_field_spec image = {.name = "image", .dtype = TC_DTYPE_U8, .rank = 3,
                           .shape = {8, 8, 3}, .layout = "NHWC"};
    tc_field_spec label = {.name = "label", .dtype = TC_DTYPE_I64, .rank = 0};
    const char *meta = "{\"classes\": [\"even\", \"odd\"]}";
    if (tc_writer_add_field(w, &image, &err) || tc_writer_add_field(w, &label, &err) ||
        tc_writer_set_metadata(w, meta, strlen(meta), &err)) {
        tc_writer_abort(w);
        return fail("declare", &err);
    }
    for (int i = 0; i < N; i++) { /* N need not be known in advance */
        unsigned char pixels[8 * 8 * 3];
        memset(pixels, i & 0xFF, sizeof pixels);
        long long y = i % 2;
        tc_value v[2] = {{pixels, sizeof pixels, NULL}, {&y, sizeof y, NULL}};
        if (tc_writer_append(w, v, &err)) {
            tc_writer_abort(w);
            return fail("append", &err);
        }
    }
    return tc_writer_finish(w, &err) ? fail("finish", &err) : 0; /* atomic rename */
}

static int read_cache(const char *path)
{
    tc_error err;
    tc_cache *c;
    if (tc_open(&c, path, TC_OPEN_VERIFY, &err))
        return fail("open", &err);
    uint32_t image, label;
    tc_view all, one;
    tc_span labels;
    int rc = 0;
    if (tc_find_field(c, "image", &image, &err) || tc_find_field(c, "label", &label, &err) ||
        tc_range(c, image, 0, tc_num_samples(c), &all, &err) ||
        tc_sample(c, image, 77, &one, &err) || tc_field_span(c, label, &labels, &err)) {
        rc = fail("read", &err);
    } else {
        const unsigned char *px = one.data;
        const long long *y = tc_span_at(&labels, 77);
        printf("%s: %llu samples; image field (%llu, %llu, %llu, %llu) %s; sample 77: pixel %u, "
               "label %lld\n",
               path, (unsigned long long)tc_num_samples(c), (unsigned long long)all.shape[0],
               (unsigned long long)all.shape[1], (unsigned long long)all.shape[2],
               (unsigned long long)all.shape[3], tc_dtype_name(all.dtype), px[0], *y);
        rc = (px[0] == 77 && *y == 1 && all.shape[0] == N) ? 0 : 1;
    }
    tc_close(c);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "hello.tc";
    printf("libtensorcache %s\n", tc_version_string());
    return write_cache(path) || read_cache(path);
}
