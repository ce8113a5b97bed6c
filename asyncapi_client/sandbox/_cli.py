"""Placeholder: the sandbox command arrives with the sandbox issue."""

from __future__ import annotations

import argparse
from typing import Any


def add_sandbox_command(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("sandbox", help="run the sandbox server")
    parser.set_defaults(handler=lambda args: 0)
