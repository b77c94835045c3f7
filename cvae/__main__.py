"""`python -m cvae`: see cvae.cli."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: keep its INFO chatter off the CLI

from .cli import main

sys.exit(main())
