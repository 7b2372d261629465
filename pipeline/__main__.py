"""ECS entrypoint: ``python -m pipeline [--config PATH] [--data URI]`` is ``facemood train``."""

import sys

from facemood.cli import main

main(["train", *sys.argv[1:]])
