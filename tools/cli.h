/* cli.h - what the subcommands of the tensorcache command share: the subcommand table, error
 * reports in the form `tensorcache: error: NAME: detail`, one GNU-style option parser (with -h
 * and --help built in), output formatting. tools/cli.c implements it; tools/commands.c holds
 * the table; tools/pack.c and tools/warm.c are subcommands, tools/main.c has the others.
 *
 * Adding a subcommand: write `static int run(int argc, char **argv)` (argv[0] is the name;
 * parse with cli_opts()/cli_next_opt()), a help text whose first line is the synopsis
 * "usage: tensorcache NAME ...", define `const cli_command cli_cmd_NAME = {...}`, add it to
 * cli_commands[] in tools/commands.c and a `## \`NAME\`` section with the same synopsis to
 * docs/CLI.md (tests/e2e/cli_doc.py fails until the two agree). */
#ifndef TC_TOOLS_CLI_H
#define TC_TOOLS_CLI_H

#include "errors.h"
#include "tensorcache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_DATA 1  /* bad or corrupt data, or any failure of the operation */
#define EXIT_USAGE 2 /* bad command line */

/* The command's own version: the header it was built with (the library may be newer). */
#define TOOL_VERSION TC_VERSION_STRING

/* ---- errors ---- */

/* Prints `tensorcache: error: NAME: message`. @return the exit status for err->code. */
int cli_report(const tc_error *err);
/* cli_report() of a code and a formatted message. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a USAGE error for subcommand `cmd` (NULL: the command itself). @return EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes err->message with "NAME: " unless it already starts with NAME. */
void cli_prefix_message(tc_error *err, const char *name);

/* ---- subcommands ---- */

typedef struct {
    const char *name;                  /* "pack" */
    const char *summary;               /* one line of `tensorcache --help` */
    const char *help;                  /* `tensorcache NAME --help`; the first line is the
                                          synopsis, "usage: tensorcache NAME ..." */
    int (*run)(int argc, char **argv); /* argv[0] is the name; @return the exit status */
} cli_command;

/* Every subcommand, in the order `tensorcache --help` lists them; NULL-terminated. */
extern const cli_command *const cli_commands[];
/* The subcommand called `name`, or NULL. */
const cli_command *cli_find_command(const char *name);

extern const cli_command cli_cmd_pack, cli_cmd_info, cli_cmd_verify, cli_cmd_export, cli_cmd_warm;

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
    const char *cmd;             /* for messages: "see 'tensorcache CMD --help'" */
    const cli_command *command;  /* whose help -h/--help prints */
} opt_iter;

enum { OPT_END = -1, OPT_ERROR = -2, OPT_HELP = -3, OPT_POSITIONAL = 0 };

/* An iterator over argv[1..argc) of subcommand `c`. */
opt_iter cli_opts(const cli_command *c, int argc, char **argv);

/* Next option or operand. -h and --help are built in: they print the command's help and give
 * OPT_HELP. @return an option's id (> 0), OPT_POSITIONAL (operand in *arg), OPT_END, OPT_HELP,
 * or OPT_ERROR after printing a usage error. */
int cli_next_opt(opt_iter *it, const opt_spec *specs, const char **arg);
/* The exit status of a subcommand that stops at OPT_HELP (0) or OPT_ERROR (EXIT_USAGE). */
static inline int cli_opt_exit(int id) { return id == OPT_HELP ? 0 : EXIT_USAGE; }
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

/* Called with m samples of a fixed-shape field, back to back (m * sample_bytes bytes). */
typedef int (*cli_chunk_fn)(void *ctx, const uint8_t *samples, uint64_t m, uint64_t sample_bytes,
                            tc_error *err);
/* Feeds every sample of fixed-shape field `field`, in order, to fn in chunks of about
 * `chunk_bytes`, copied out with tc_gather (any stride; LZ4 fields too). @return TC_OK or the
 * first error (the library's or fn's). */
int cli_for_each_chunk(const tc_cache *c, uint32_t field, uint64_t sample_bytes,
                       uint64_t chunk_bytes, cli_chunk_fn fn, void *ctx, tc_error *err);

/* tc_open() that reports failures (naming the file). @return 0 or an exit status. */
int cli_open_cache(tc_cache **c, const char *path, unsigned flags);

/* `tensorcache warm` (warm.c), also the whole of bench's standalone tc-warm. */
int tc_cmd_warm(int argc, char **argv);

#endif
