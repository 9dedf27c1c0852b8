"""The Streamlit secrets file that switches on ``st.login`` (OIDC), made from WICS settings.

Streamlit reads its identity-provider settings from an ``[auth]`` table in a secrets.toml.
``wics up`` writes that file from the ``WICS_OIDC_*`` settings into
``WICS_HOME/streamlit/secrets.toml`` (0600, it holds the client secret) and starts the
dashboard with ``--secrets.files`` pointing at it, so all of WICS's configuration stays in the
environment and ``WICS_HOME``. The cookie secret is generated once and kept in that file: a
restart does not sign everybody out.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from pathlib import Path

from pipelines.settings import Settings


def secrets_path(settings: Settings) -> Path:
    return settings.home / "streamlit" / "secrets.toml"


def _toml_string(value: str) -> str:
    # A JSON string with ASCII escapes is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def write_streamlit_secrets(settings: Settings, redirect_uri: str) -> Path:
    """Write the [auth] table for st.login; keeps the cookie secret of an earlier file."""
    if not settings.oidc_configured:
        raise ValueError("WICS_OIDC_METADATA_URL and WICS_OIDC_CLIENT_ID are not both set")
    path = secrets_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    cookie_secret = ""
    if path.exists():
        cookie_secret = str(tomllib.loads(path.read_text()).get("auth", {})
                            .get("cookie_secret", ""))
    auth = {
        "redirect_uri": settings.oidc_redirect_uri or redirect_uri,
        "cookie_secret": cookie_secret or secrets.token_urlsafe(32),
        "client_id": settings.oidc_client_id,
        "client_secret": settings.oidc_client_secret,
        "server_metadata_url": settings.oidc_metadata_url,
    }
    text = "# Written by `wics up` from the WICS_OIDC_* settings; edits are overwritten.\n[auth]\n"
    text += "".join(f"{key} = {_toml_string(value)}\n" for key, value in auth.items())
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return path
