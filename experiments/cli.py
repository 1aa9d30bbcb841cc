"""The `pseudocolor` command: LightningCLI's fit/validate/test/predict plus the project's own tools.

Each subcommand imports only what it needs: `colorize`, `evaluate`, `register` and `export` start without
Lightning; fit/validate/test/predict load LightningCLI.
"""

from __future__ import annotations

import importlib
import sys

from pseudocolor.datamodules.errors import PseudocolorError

USER_ERROR_STATUS = 2

# Subcommands that are not LightningCLI's: name -> module whose `main(argv) -> int` runs it.
TOOLS = {
    "evaluate": "pseudocolor.experiments.commands.evaluate",
    "colorize": "pseudocolor.experiments.commands.colorize",
    "register": "pseudocolor.experiments.commands.register",
    "export": "pseudocolor.experiments.commands.export",
    "sync": "pseudocolor.experiments.commands.sync",
}


def main(args: list[str] | None = None) -> None:
    """Entry point of the `pseudocolor` console script (`args` None: the command line).

    An input the user can fix (PseudocolorError) ends in its one sentence and exit status 2; anything else is a
    bug and keeps its traceback.
    """
    argv = sys.argv[1:] if args is None else args
    try:
        if argv and argv[0] in TOOLS:
            sys.exit(importlib.import_module(TOOLS[argv[0]]).main(argv[1:]))
        from pseudocolor.experiments.lightning_cli import PseudocolorCLI

        PseudocolorCLI(args=args)  # None lets LightningCLI read sys.argv itself, without its "args and argv" warning
    except PseudocolorError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USER_ERROR_STATUS)


if __name__ == "__main__":
    main()
