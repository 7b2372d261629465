"""``python -m facemood``."""
from facemood.cli import main

main()
