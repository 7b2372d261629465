"""Campus sign-in: the ``[auth]`` section of Streamlit's secrets file, which ``st.login`` reads.

Streamlit (with Authlib) runs the whole OpenID Connect flow; FaceMood only writes its settings:
on AWS from the Cognito client and cookie secrets that ECS injects from Secrets Manager into the
container's environment at start (``facemood sign-in-secrets``), locally from the test provider
the local stack starts. The file is written owner-only and never logged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from facemood.config import ENV
from facemood.errors import ConfigError

CALLBACK_PATH = "/oauth2callback"  # Streamlit's fixed redirect path


@dataclass(frozen=True)
class SignInSecrets:
    """What ``st.login`` needs to reach one OpenID Connect provider."""

    client_id: str
    client_secret: str
    cookie_secret: str  # signs Streamlit's identity cookie
    server_metadata_url: str  # the provider's /.well-known/openid-configuration
    redirect_uri: str  # https://<the page's host>/oauth2callback (http only on loopback)

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value:
                raise ConfigError(f"sign-in: {name} is empty")
        if not self.redirect_uri.endswith(CALLBACK_PATH):
            raise ConfigError(f"sign-in: redirect_uri must end with {CALLBACK_PATH}, got {self.redirect_uri!r}")
        for name in ("redirect_uri", "server_metadata_url"):
            url = getattr(self, name)
            if not (url.startswith("https://") or url.startswith(("http://127.0.0.1", "http://localhost"))):
                raise ConfigError(f"sign-in: {name} must use https:// (http only on loopback), got {url!r}")
        if len(self.cookie_secret) < 32:
            raise ConfigError("sign-in: cookie_secret must be at least 32 characters")

    def toml(self) -> str:
        """The ``[auth]`` section (TOML basic strings accept JSON's escapes)."""
        lines = ["[auth]"] + [f"{name} = {json.dumps(value)}" for name, value in vars(self).items()]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        """Write the secrets file, readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(self.toml())
        return path


def secrets_from_environment() -> SignInSecrets:
    """The sign-in settings the app's container receives (ECS injects the two secrets)."""
    names = {"client_id": ENV.OIDC_CLIENT_ID, "client_secret": ENV.OIDC_CLIENT_SECRET,
             "cookie_secret": ENV.COOKIE_SECRET, "server_metadata_url": ENV.OIDC_METADATA_URL,
             "redirect_uri": ENV.OIDC_REDIRECT_URI}
    missing = [variable for variable in names.values() if not os.environ.get(variable)]
    if missing:
        raise ConfigError(f"sign-in: set {', '.join(missing)} (auth: oidc needs them)")
    return SignInSecrets(**{name: os.environ[variable] for name, variable in names.items()})
