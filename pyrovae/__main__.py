"""``python -m pyrovae``: the ``pyrovae`` command."""

import sys

from pyrovae.cli import main

if __name__ == "__main__":  # importing the module (as the docs' reference does) runs nothing
    sys.exit(main())
