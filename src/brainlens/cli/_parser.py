"""The top-level parser: global options, then each command group's commands."""

from __future__ import annotations

import argparse

from brainlens.cli import convert, decode, demo, encode, evaluate, pretrain, subject, synthesize, zoo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainlens",
        description="Images <-> human visual cortex: subject stores, an in-silico subject with known ground truth, "
        "encoding, brain-guided synthesis and decoding.",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # in the order `brainlens --help` lists them
    subject.add_commands(commands)  # simulate, info, validate
    demo.add_commands(commands)
    convert.add_commands(commands)
    zoo.add_commands(commands)
    encode.add_commands(commands)
    synthesize.add_commands(commands)
    decode.add_commands(commands)
    pretrain.add_commands(commands)
    evaluate.add_commands(commands)
    subject.add_insilico_commands(commands)
    return parser
