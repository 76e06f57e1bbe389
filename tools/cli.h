/* cli.h - what the subcommands of the tensorcache command share: error reports in the form
 * `tensorcache: error: NAME: detail`, a small GNU-style option parser, output formatting.
 * tools/cli.c implements it; tools/pack.c is the pack subcommand, tools/main.c the others. */
#ifndef TC_TOOLS_CLI_H
#define TC_TOOLS_CLI_H

#include "errors.h"
#include "tensorcache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_DATA 1  /* bad or corrupt data, or any failure of the operation */
#define EXIT_USAGE 2 /* bad command line */

#define TC_STR2(x) #x
#define TC_STR(x) TC_STR2(x)
/* The command's own version: the header it was built with (the library may be newer). */
#define TOOL_VERSION TC_STR(TC_VERSION_MAJOR) "." TC_STR(TC_VERSION_MINOR) "." TC_STR(TC_VERSION_PATCH)

/* ---- errors ---- */

/* Prints `tensorcache: error: NAME: message`. @return the exit status for err->code. */
int cli_report(const tc_error *err);
/* cli_report() of a code and a formatted message. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a USAGE error for subcommand `cmd` (NULL: the command itself). @return EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes err->message with "NAME: " unless it already starts with NAME. */
void cli_prefix_message(tc_error *err, const char *name);

/* ---- options ---- */

typedef struct {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 if none */
    bool has_arg;
    int id;
} opt_spec;

typedef struct {
    int argc;
    char **argv;
    int i;
    bool positional_only;
    const char *cmd;
} opt_iter;

enum { OPT_END = -1, OPT_ERROR = -2, OPT_POSITIONAL = 0 };

/* Next option or operand. @return an option's id, OPT_POSITIONAL (operand in *arg), OPT_END,
 * or OPT_ERROR after printing a usage error. */
int cli_next_opt(opt_iter *it, const opt_spec *specs, const char **arg);
/* The long name of option `id`. */
const char *cli_opt_name(const opt_spec *specs, int id);

/* ---- output ---- */

/* "(28, 28, 1)"; "?" for variable dimensions; python_tuple: "(5,)" for rank 1. */
void cli_shape_text(char *buf, size_t cap, const uint64_t *shape, uint32_t rank,
                    bool python_tuple);
/* "44.9 MiB" */
void cli_human_bytes(char *buf, size_t cap, uint64_t n);
/* Largest power of two dividing `off`, capped at 4096 (0 for offset 0). */
uint64_t cli_alignment_of(uint64_t off);
/* NumPy type string of a dtype; bf16 (no NumPy type) as its raw bits, "<u2". */
const char *cli_numpy_name(int dtype);

/* tc_open() that reports failures (naming the file). @return 0 or an exit status. */
int cli_open_cache(tc_cache **c, const char *path, unsigned flags);

/* ---- subcommands implemented outside main.c ---- */

extern const char cli_pack_help[];

/* tensorcache warm (warm.c) */
int tc_cmd_warm(int argc, char **argv);
extern const char tc_cmd_warm_help[];
/* `tensorcache pack`; argv[0] is "pack". @return the exit status. */
int cli_pack(int argc, char **argv);

#endif
