/*
 * test_badcorpus.c - every file of the known-bad corpus (tests/bad, or $TC_BAD_DIR) gives the
 * exact result its name states: NNN-description.CODE.tc fails to open with TC_ERR_CODE;
 * NNN-description.verify-CODE.tc opens, and fails full verification with TC_ERR_CODE;
 * NNN-description.OK.tc opens and verifies. See tests/bad/README.md.
 */
#include <ctype.h>

#include "testutil.h"

#define MIN_CORPUS_FILES 30

static const char *corpus_dir(void)
{
    const char *d = getenv("TC_BAD_DIR");
    return d && *d ? d : "tests/bad";
}

/* Parses "NNN-slug.EXPECT.tc"; returns 0 and the expectation (in `expect`), or -1. */
static int parse_name(const char *name, char *expect, size_t cap)
{
    size_t len = strlen(name);
    if (len < 9 || strcmp(name + len - 3, ".tc") != 0)
        return -1;
    if (!isdigit((unsigned char)name[0]) || !isdigit((unsigned char)name[1]) ||
        !isdigit((unsigned char)name[2]) || name[3] != '-')
        return -1;
    const char *stem_end = name + len - 3;
    const char *dot = NULL;
    for (const char *p = name + 4; p < stem_end; p++)
        if (*p == '.')
            dot = p;
    if (!dot || dot == name + 4)
        return -1;
    for (const char *p = name + 4; p < dot; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return -1;
    size_t elen = (size_t)(stem_end - dot - 1);
    if (elen == 0 || elen >= cap)
        return -1;
    memcpy(expect, dot + 1, elen);
    expect[elen] = '\0';
    return 0;
}

static int is_corpus_support_file(const char *name)
{
    return strcmp(name, "README.md") == 0 || strcmp(name, "gen_bad.c") == 0 || name[0] == '.';
}

static void test_name_parser(void **state)
{
    (void)state;
    char e[64];
    assert_int_equal(parse_name("012-duplicate-name.DUPLICATE_NAME.tc", e, sizeof e), 0);
    assert_string_equal(e, "DUPLICATE_NAME");
    assert_int_equal(parse_name("090-payload.verify-CHECKSUM.tc", e, sizeof e), 0);
    assert_string_equal(e, "verify-CHECKSUM");
    assert_int_equal(parse_name("1-x.OK.tc", e, sizeof e), -1);
    assert_int_equal(parse_name("001-x.tc", e, sizeof e), -1);
    assert_int_equal(parse_name("001-Bad.OK.tc", e, sizeof e), -1);
    assert_int_equal(parse_name("001-x.OK.tcx", e, sizeof e), -1);
    int o, v;
    assert_int_equal(tu_parse_expect("verify-PADDING", &o, &v), 0);
    assert_int_equal(o, TC_OK);
    assert_int_equal(v, TC_ERR_PADDING);
    assert_int_equal(tu_parse_expect("NOT_A_CODE", &o, &v), -1);
    assert_int_equal(tu_parse_expect("verify-OK", &o, &v), -1);
}

static void test_corpus(void **state)
{
    (void)state;
    const char *dir = corpus_dir();
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open the corpus directory '%s': %s (set TC_BAD_DIR)", dir,
                 strerror(errno));
    int files = 0, failures = 0, numbers[1000] = {0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            is_corpus_support_file(de->d_name))
            continue;
        char expect[64], path[PATH_MAX];
        int open_code, verify_code;
        if (parse_name(de->d_name, expect, sizeof expect) != 0 ||
            tu_parse_expect(expect, &open_code, &verify_code) != 0) {
            print_error("%s/%s: name does not follow NNN-description.CODE.tc\n", dir,
                        de->d_name);
            failures++;
            continue;
        }
        int number = atoi(de->d_name);
        if (numbers[number]++)
            print_error("%s: number %03d is used twice\n", de->d_name, number), failures++;
        tu_join(path, sizeof path, dir, de->d_name);
        int64_t size = tu_file_size(path);
        if (size < 0 || size >= 16 * 1024)
            print_error("%s: %lld bytes, corpus files stay under 16 KiB\n", de->d_name,
                        (long long)size),
                failures++;
        files++;
        failures += tu_judge_file(path, open_code, verify_code, NULL) ? 1 : 0;
    }
    closedir(d);
    print_message("  %d corpus files in %s, %d failing\n", files, dir, failures);
    if (failures)
        fail_msg("%d corpus file(s) fail", failures);
    if (files < MIN_CORPUS_FILES)
        fail_msg("only %d corpus files in %s, expected at least %d", files, dir,
                 MIN_CORPUS_FILES);
}

int main(void)
{
    tu_tmp_init("test_badcorpus");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_parser),
        cmocka_unit_test(test_corpus),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmp_cleanup();
    return rc;
}
