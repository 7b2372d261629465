"""A real OpenID Connect provider on loopback (``oidc-provider-mock``): sign-in runs end to end
on one machine. Its login form takes any subject; any client id and secret are accepted."""

from __future__ import annotations

import contextlib
import logging
import secrets
import warnings
from dataclasses import dataclass
from typing import Any

from facemood.errors import LocalStackError
from facemood.sign_in import CALLBACK_PATH, SignInSecrets

log = logging.getLogger(__name__)
LOCAL_CLIENT_ID = "facemood-local"


@dataclass
class LocalProvider:
    """A running provider and how to stop it."""

    issuer: str
    _exit: contextlib.ExitStack

    @property
    def metadata_url(self) -> str:
        """Its discovery document."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def secrets_for(self, app_url: str) -> SignInSecrets:
        """Sign-in settings for the app served at ``app_url`` (fresh client and cookie secrets)."""
        return SignInSecrets(LOCAL_CLIENT_ID, secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                             self.metadata_url, app_url.rstrip("/") + CALLBACK_PATH)

    def add_user(self, subject: str, claims: dict[str, str]) -> None:
        """Give ``subject`` these claims (e-mail, name) in the tokens the provider issues for it."""
        import json
        import urllib.parse
        import urllib.request

        request = urllib.request.Request(f"{self.issuer}/users/{urllib.parse.quote(subject, safe='')}",
                                         data=json.dumps(claims).encode(), method="PUT",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        """Stop serving."""
        self._exit.close()


def require_oidc_provider() -> None:
    """Raise LocalStackError, saying how to install it, unless the test provider is installed (the
    ``sign-in`` extra: the demo without sign-in leaves it out)."""
    try:
        _import_provider()
    except ModuleNotFoundError as exc:
        raise LocalStackError("sign-in on this machine needs the OpenID Connect test provider, which is not "
                              "installed: `make demo SIGN_IN=1` installs it (or pip install -e '.[sign-in]')") from exc


def _import_provider() -> Any:
    """The ``oidc_provider_mock`` module. Its Authlib imports warn of Authlib's own future renames
    (Authlib forces them "always"): recorded here and dropped, not printed over the demo's output."""
    with warnings.catch_warnings(record=True):
        import oidc_provider_mock
    return oidc_provider_mock


def start_oidc_provider(port: int = 0) -> LocalProvider:
    """Serve the test provider on localhost (``port`` 0: any free one) in a background thread."""
    exit_stack = contextlib.ExitStack()
    server = exit_stack.enter_context(_import_provider().run_server_in_thread(port=port, require_nonce=True))
    issuer = f"http://localhost:{server.server_port}"
    log.info("OpenID Connect test provider listening on %s", issuer)
    return LocalProvider(issuer, exit_stack)
