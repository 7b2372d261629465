"""ECS entrypoint: ``python -m pipeline [--config PATH] [--data URI]``."""

from facemood.cli import main

main(["train", *__import__("sys").argv[1:]])
