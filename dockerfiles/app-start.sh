#!/bin/sh
# The app container's start: with sign-in on (FACEMOOD_AUTH=oidc), first write Streamlit's secrets
# file ([auth] for st.login) from what ECS injected from Secrets Manager; then serve the page.
set -eu
if [ "${FACEMOOD_AUTH:-none}" = "oidc" ]; then
    facemood sign-in-secrets --output "${HOME}/.streamlit/secrets.toml"
fi
# The port: STREAMLIT_SERVER_PORT (8501 in the image). In AWS every line it writes is JSON (facemood page).
exec facemood page --app-dir /srv/facemood/app --server.address 0.0.0.0
