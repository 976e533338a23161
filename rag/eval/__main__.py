"""`python -m rag.eval ...`: the same as `python -m rag eval ...`."""

import sys

from rag.eval.cli import main

sys.exit(main())
