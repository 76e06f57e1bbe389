/* mkvar.c - writes a small cache with a variable-shape field for tests/e2e/run.sh (the command
 * cannot create one: no source format has variable-shape samples).
 *
 *   mkvar OUT.tc      fields: "tokens" (i32, shape (?,)), "id" (u8 scalar); 3 samples */
#include <stdio.h>
#include <tensorcache.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkvar OUT.tc\n");
        return 2;
    }
    tc_error err = {0};
    tc_writer *w;
    if (tc_writer_create(&w, argv[1], &err) != TC_OK)
        goto fail;
    tc_field_spec tokens = {.name = "tokens", .dtype = TC_DTYPE_I32, .rank = 1,
                            .shape = {TC_DIM_VARIABLE}};
    tc_field_spec id = {.name = "id", .dtype = TC_DTYPE_U8, .rank = 0};
    if (tc_writer_add_field(w, &tokens, &err) || tc_writer_add_field(w, &id, &err)) {
        tc_writer_abort(w);
        goto fail;
    }
    int32_t data[6] = {1, 2, 3, 4, 5, 6};
    for (uint64_t i = 0; i < 3; i++) {
        uint64_t shape[1] = {i + 1};
        uint8_t ident = (uint8_t)i;
        tc_value v[2] = {{data, (i + 1) * 4, shape}, {&ident, 1, NULL}};
        if (tc_writer_append(w, v, &err)) {
            tc_writer_abort(w);
            goto fail;
        }
    }
    if (tc_writer_finish(w, &err) == TC_OK)
        return 0;
fail:
    fprintf(stderr, "mkvar: %s: %s\n", tc_error_name(err.code), err.message);
    return 1;
}
