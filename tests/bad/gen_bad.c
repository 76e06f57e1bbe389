/*
 * gen_bad.c - writes the known-bad file corpus of tests/bad/.
 *
 * Each case of the table in tests/unit/testutil.h (tu_badcases) becomes one file
 *     NNN-slug.CODE.tc          tc_open must fail with TC_ERR_CODE
 *     NNN-slug.verify-CODE.tc   tc_open succeeds; TC_OPEN_VERIFY / tc_verify give TC_ERR_CODE
 *     NNN-slug.OK.tc            must be accepted (forward compatibility)
 * where NNN is the case's position in the table. A number that already has a file in the output
 * directory is skipped: committed corpus files are never regenerated, so that the corpus keeps
 * testing what it tested when it was made, even after the writer's layout changes.
 *
 * Not built by `make`. From the repository root, after `make`:
 *     cc -std=c11 -D_GNU_SOURCE -Iinclude -Itests/unit tests/bad/gen_bad.c \
 *        build/libtensorcache.a -llz4 -lxxhash -lz -o build/gen_bad
 *     build/gen_bad tests/bad
 * It checks each new file against the linked library and reports any disagreement (the file is
 * written anyway: its name states what FORMAT.md requires, the library may be the one that is
 * wrong).
 */
#define TU_NO_CMOCKA
#include "testutil.h"

#define MAX_CORPUS_FILE (16 * 1024)

/* 1 if `dir` already holds a file whose name starts with "NNN-". */
static int number_taken(const char *dir, size_t number)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%03zu-", number);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot list %s: %s\n", dir, strerror(errno));
        exit(1);
    }
    struct dirent *de;
    int taken = 0;
    while (!taken && (de = readdir(d)) != NULL)
        taken = strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return taken;
}

int main(int argc, char **argv)
{
    const char *outdir = argc > 1 ? argv[1] : "tests/bad";
    size_t n;
    const tu_badcase *cases = tu_badcases(&n);
    int written = 0, skipped = 0, disagreements = 0;
    tu_tmp_init("gen_bad");
    for (size_t i = 0; i < n; i++) {
        const tu_badcase *bc = &cases[i];
        if (number_taken(outdir, i + 1)) {
            skipped++;
            continue;
        }
        int open_code, verify_code;
        if (tu_parse_expect(bc->expect, &open_code, &verify_code) != 0) {
            fprintf(stderr, "case %zu: bad expectation '%s'\n", i + 1, bc->expect);
            return 1;
        }
        tu_file f;
        tu_build_badcase(bc, &f);
        if (f.size >= MAX_CORPUS_FILE) {
            fprintf(stderr, "case %zu (%s): %zu bytes, over the corpus limit\n", i + 1, bc->slug,
                    f.size);
            return 1;
        }
        char name[256], path[PATH_MAX];
        snprintf(name, sizeof name, "%03zu-%s.%s.tc", i + 1, bc->slug, bc->expect);
        tu_join(path, sizeof path, outdir, name);
        tu_save(&f, path);
        tu_free(&f);
        int bad = tu_judge_file(path, open_code, verify_code, bc->mention);
        if (bad) {
            fprintf(stderr, "WARNING: %s: the library disagrees (see above)\n", name);
            disagreements++;
        }
        printf("wrote %s\n", name);
        written++;
    }
    tu_tmp_cleanup();
    printf("%d written, %d already present, %d disagreement(s) with the library\n", written,
           skipped, disagreements);
    return 0;
}
