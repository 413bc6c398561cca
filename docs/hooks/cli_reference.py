"""MkDocs hook: the CLI reference page is generated from ``fingerspell.cli.build_parser``, so
it cannot drift from the code. A page asks for it with the marker ``<!-- cli-reference -->``."""

from __future__ import annotations

import argparse

MARKER = "<!-- cli-reference -->"


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of each subcommand, in the parser's order."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            found += [(name, sub, helps.get(name) or "") for name, sub in action.choices.items()]
    return found


def _section(name: str, parser: argparse.ArgumentParser, summary: str, level: int) -> list[str]:
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
    lines = [f"{'#' * level} `{name}`", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    lines += ["```text", parser.format_help().rstrip(), "```", ""]
    for sub_name, sub, sub_help in _subcommands(parser):
        lines += _section(f"{name} {sub_name}", sub, sub_help, level + 1)
    return lines


def cli_reference() -> str:
    from fingerspell.cli import build_parser

    parser = build_parser()
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
    lines = ["## `fingerspell`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub, summary in _subcommands(parser):
        lines += _section(f"fingerspell {name}", sub, summary, 2)
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: object) -> str:
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown
