"""Secrets Manager: the values the app must never hold in its config (moto's server locally)."""

from __future__ import annotations

import secrets as random_secrets
from typing import Any

from facemood.errors import StorageError


def read_secret(client: Any, secret_id: str) -> str:
    """The current value of secret ``secret_id``; a StorageError naming it when it cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

    try:
        value = client.get_secret_value(SecretId=secret_id).get("SecretString")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise StorageError(f"secret {secret_id}: cannot be read ({code})") from exc
    except BotoCoreError as exc:
        raise StorageError(f"secret {secret_id}: cannot be read ({type(exc).__name__})") from exc
    if not value:
        raise StorageError(f"secret {secret_id}: holds no text value")
    return value


def ensure_random_secret(client: Any, secret_id: str) -> None:
    """Create ``secret_id`` with a random value unless it exists (the local stack's pepper; on AWS
    the template generates it)."""
    from botocore.exceptions import ClientError  # pylint: disable=import-outside-toplevel

    try:
        client.create_secret(Name=secret_id, SecretString=random_secrets.token_urlsafe(48))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
            raise
