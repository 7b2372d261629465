#!/bin/sh
# The app container's start: with sign-in on (FACEMOOD_AUTH=oidc), first write Streamlit's secrets
# file ([auth] for st.login) from what ECS injected from Secrets Manager; then serve the page.
set -eu
if [ "${FACEMOOD_AUTH:-none}" = "oidc" ]; then
    facemood sign-in-secrets --output "${HOME}/.streamlit/secrets.toml"
fi
exec streamlit run app.py --server.port 8501 --server.address 0.0.0.0
