/* warm_main.c - a standalone `tc-warm` built from tools/warm.c, for the benchmark harness and
 * for machines where the `tensorcache` command does not have the `warm` subcommand yet. */
int tc_cmd_warm(int argc, char **argv);

int main(int argc, char **argv) { return tc_cmd_warm(argc, argv); }
