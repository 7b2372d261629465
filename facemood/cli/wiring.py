"""How the deployables plug into the local stack: the composition root's one wiring helper."""

from __future__ import annotations

from dataclasses import replace

from facemood.augment import load_augment_settings
from facemood.config import Buckets
from facemood.local.event_relay import EventHandler


def augment_handler(buckets: Buckets) -> EventHandler:
    """The augmentation Lambda's handler, called as Lambda calls it, on the stack's ``buckets``."""
    from preprocessing_lambda import augment as augment_lambda  # pylint: disable=import-outside-toplevel

    settings = replace(load_augment_settings(), buckets=buckets)
    return lambda event, client: augment_lambda.handler(event, None, client, settings)
