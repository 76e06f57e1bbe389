/* output.h - where a subcommand's output goes: the library's output policy (tc_output_open(),
 * tc_writer_create_ex()) plus the command's conventions, in one place for every subcommand that
 * writes a file (docs/CLI.md, "Output files"):
 *   - OUTPUT "-" is standard output (refused when it is a terminal, unless --force);
 *   - an existing OUTPUT is replaced only with --force (-f);
 *   - OUTPUT is never one of the command's input files. */
#ifndef TC_TOOLS_OUTPUT_H
#define TC_TOOLS_OUTPUT_H

#include "tensorcache.h"

#include <stdbool.h>
#include <stddef.h>

/* The --force line every writing subcommand's help shows. */
#define CLI_FORCE_HELP                                                                             \
    "  -f, --force                      replace an existing OUTPUT (a symbolic link is replaced\n" \
    "                                   itself, never its target); never an input file\n"

/* True when `path` names standard output ("-"). */
bool cli_output_is_stdout(const char *path);

/* Opens the output `path` with the policy above and protects inputs[0..ninputs). @return TC_OK
 * or an error code with `err` filled (print it with cli_output_report). */
int cli_output_open(tc_output **out, const char *path, bool force, const char *const *inputs,
                    size_t ninputs, tc_error *err);

/* The same for a cache writer. */
int cli_writer_create(tc_writer **out, const char *path, bool force, const char *const *inputs,
                      size_t ninputs, tc_error *err);

/* cli_report() with the command-line remedy added to output errors (e.g. "use --force").
 * @return the exit status. */
int cli_output_report(tc_error *err);

#endif
