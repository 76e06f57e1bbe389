/* output.c - output files of the tensorcache command (output.h). The policy itself (what may be
 * replaced, what never) is the library's (lib/output.c); this file maps the command line onto
 * it: "-" for standard output, --force for TC_WRITE_OVERWRITE, the inputs to protect. */
#include "output.h"

#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool cli_output_is_stdout(const char *path) { return strcmp(path, "-") == 0; }

/* How OUTPUT is opened: *std for standard output (binary data on a terminal helps nobody and
 * can upset it: refused unless forced, as gzip does), else with *flags. */
static int output_mode(const char *path, bool force, bool *std, unsigned *flags, tc_error *err)
{
    *std = cli_output_is_stdout(path);
    *flags = force ? TC_WRITE_OVERWRITE : TC_WRITE_DEFAULT;
    if (*std && !force && isatty(STDOUT_FILENO)) {
        *err = (tc_error){.code = TCT_ERR_USAGE};
        snprintf(err->message, sizeof err->message, "standard output is a terminal; refusing to "
                 "write binary data to it (redirect it, or use --force)");
        return TCT_ERR_USAGE;
    }
    return TC_OK;
}

int cli_output_open(tc_output **out, const char *path, bool force, const char *const *inputs,
                    size_t ninputs, tc_error *err)
{
    bool std;
    unsigned flags;
    int rc = output_mode(path, force, &std, &flags, err);
    if (rc)
        return rc;
    return std ? tc_output_open_fd(out, STDOUT_FILENO, inputs, ninputs, err)
               : tc_output_open(out, path, flags, inputs, ninputs, err);
}

int cli_writer_create(tc_writer **out, const char *path, bool force, const char *const *inputs,
                      size_t ninputs, tc_error *err)
{
    tc_output *o;
    int rc = cli_output_open(&o, path, force, inputs, ninputs, err);
    return rc ? rc : tc_writer_create_on(out, o, err);
}

int cli_output_report(tc_error *err)
{
    const char *hint = err->code == TC_ERR_EXISTS      ? " (use --force to replace it)"
                       : err->code == TC_ERR_SAME_FILE ? " (is an argument missing or in the "
                                                         "wrong place?)"
                                                       : "";
    size_t len = strlen(err->message);
    if (len + strlen(hint) < sizeof err->message)
        memcpy(err->message + len, hint, strlen(hint) + 1);
    return cli_report(err);
}
