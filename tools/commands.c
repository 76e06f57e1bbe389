/* commands.c - the table of subcommands of `tensorcache` (cli.h, "Adding a subcommand").
 * main() dispatches through it, `tensorcache --help` and `tensorcache help NAME` are generated
 * from it, and tests/e2e/cli_doc.py checks every entry's synopsis against docs/CLI.md. */
#include "cli.h"

#include <string.h>

const cli_command *const cli_commands[] = {
    &cli_cmd_pack, &cli_cmd_info, &cli_cmd_verify, &cli_cmd_export, &cli_cmd_warm, NULL,
};

const cli_command *cli_find_command(const char *name)
{
    for (const cli_command *const *c = cli_commands; *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}
