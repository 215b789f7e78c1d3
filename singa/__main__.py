"""``python -m singa``: the ``singa-onnx`` command."""

import sys

from .cli import main

sys.exit(main())
