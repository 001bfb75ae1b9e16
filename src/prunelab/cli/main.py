"""Entry point: parse the subcommand, run it, turn PrunelabError into a one-line message."""

import argparse
import difflib
import sys

from prunelab.cli import commands
from prunelab.errors import PrunelabError
from prunelab.foundations import wait_policy


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="prunelab", description="Prune, quantize and encode LeNet models; measure the cost.")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    root.commands = {}
    for name, (register, help_text) in commands.COMMANDS.items():
        root.commands[name] = sub.add_parser(name, help=help_text, description=help_text)
        register(root.commands[name])
    return root


def parse(argv=None) -> argparse.Namespace:
    """The arguments; an unknown flag gets its command's usage and the nearest flag it has."""
    root = parser()
    args, extra = root.parse_known_args(argv)
    if extra:
        command = root.commands[args.command]
        flags = [flag for action in command._actions for flag in action.option_strings]
        unknown = next((a.split("=")[0] for a in extra if a.startswith("--")), "")
        near = difflib.get_close_matches(unknown, flags, n=1)
        command.error(f"unrecognized arguments: {' '.join(extra)}" + (f"; did you mean {near[0]}?" if near else ""))
    return args


MAX_MESSAGE = 400  # characters: an echoed input (a 100,000-character dataset name) is cut, not printed whole


def one_line(message: str) -> str:
    """The message on one line of at most MAX_MESSAGE characters."""
    flat = " ".join(message.split())
    return flat if len(flat) <= MAX_MESSAGE else flat[:MAX_MESSAGE - 3] + "..."


def main(argv=None) -> int:
    args = parse(argv)
    # nothing imported so far loads torch: the threads this process will run are known now (a sweep's
    # workers get theirs from the sweep, sweeps/runner.py)
    wait_policy.decide(threads=getattr(args, "threads", None))
    try:
        return args.handler(args) or 0
    except PrunelabError as exc:
        print(f"prunelab: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write the library does not wrap (a figure, an ONNX file): still one line
        # a file descriptor (an int) is no name a user knows: say only what went wrong
        where = f"{exc.filename}: " if exc.filename and not isinstance(exc.filename, int) else ""
        print(f"prunelab: error: {one_line(where + str(exc.strerror or exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prunelab: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
