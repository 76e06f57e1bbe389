"""Checks that every subcommand's --help agrees with docs/CLI.md.

    python cli_doc.py TENSORCACHE docs/CLI.md

The command list is read from `tensorcache --help` (generated from tools/commands.c). For each
command NAME: the synopsis (first line of `tensorcache NAME --help`, "usage: tensorcache NAME
...") must appear verbatim in the synopsis block at the top of docs/CLI.md and in the code block
of its section "## `NAME`"; every long option the help lists must be mentioned in that section.
Prints one line per problem and exits 1 if there is any.
"""

import re
import subprocess
import sys


def run(tc, *args):
    return subprocess.run([tc, *args], capture_output=True, text=True, check=True).stdout


def normalise(line):
    return " ".join(line.split())


def commands(tc):
    text = run(tc, "--help")
    block = text.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def sections(doc):
    """{"pack": text of the section "## `pack`" up to the next "## "}."""
    out = {}
    for m in re.finditer(r"^## `([a-z-]+)`\n(.*?)(?=^## |\Z)", doc, re.M | re.S):
        out[m.group(1)] = m.group(2)
    return out


def code_lines(text):
    lines = []
    for block in re.findall(r"^```\n(.*?)^```", text, re.M | re.S):
        lines += [normalise(x) for x in block.splitlines()]
    return lines


def main(tc, doc_path):
    doc = open(doc_path, encoding="utf-8").read()
    top = code_lines(doc.split("\n## ", 1)[0])
    secs = sections(doc)
    problems = []
    names = commands(tc)
    if not names:
        problems.append("`tensorcache --help` lists no commands")
    for name in names:
        help_text = run(tc, name, "--help")
        first = help_text.splitlines()[0]
        if not first.startswith("usage: tensorcache %s" % name):
            problems.append("%s: the help does not start with 'usage: tensorcache %s'"
                            % (name, name))
            continue
        synopsis = normalise(first[len("usage: "):])
        if synopsis not in top:
            problems.append("%s: synopsis '%s' missing from the block at the top of %s"
                            % (name, synopsis, doc_path))
        if name not in secs:
            problems.append("%s: %s has no section '## `%s`'" % (name, doc_path, name))
            continue
        if synopsis not in code_lines(secs[name]):
            problems.append("%s: synopsis '%s' missing from the code block of section '## `%s`'"
                            % (name, synopsis, name))
        for opt in sorted(set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", help_text, re.M))):
            if opt != "--help" and opt not in secs[name]:
                problems.append("%s: option %s of --help is not documented in section '## `%s`'"
                                % (name, opt, name))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
