"""``python -m regionloss score PRED TARGET [options]``: the same as the ``regionloss`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
