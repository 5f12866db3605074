"""`python -m tune_ired [COMMAND ARGS]`: lists the commands, or runs one (as the `tune-ired` script does)."""

import sys

from tune_ired.cli import main

if __name__ == "__main__":
    sys.exit(main())
