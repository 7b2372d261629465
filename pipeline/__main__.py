"""ECS entrypoint: ``python -m pipeline [--config PATH] [--data URI] ...`` (see :mod:`pipeline.task`)."""

import sys

from pipeline.task import main

sys.exit(main(sys.argv[1:]))
