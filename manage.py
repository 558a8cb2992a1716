#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Tokens and proofs minted here are for the server `make run` starts, which runs with debug on.
DEVELOPMENT_COMMANDS = ("mint_token", "dpop_proof")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] and sys.argv[1] in DEVELOPMENT_COMMANDS:
        os.environ.setdefault("DJANGO_DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
