"""``python -m tda_interp`` runs the command line."""

import sys

from tda_interp.cli import main

if __name__ == "__main__":
    sys.exit(main())
