#!/usr/bin/env bash
# Build the three images locally with podman, from the same Dockerfiles scripts/deploy.sh pushes,
# and print each image's size against its budget (docs/deploy.md). No registry of base images is
# reachable here, so the bases are stand-ins made from Debian's packages (built once, then cached):
#   localhost/facemood-debian:bookworm   mmdebstrap's minimal Debian with python3
#   localhost/facemood-python:bookworm   ... with python and pip on PATH (for the app and training)
#   localhost/facemood-lambda-base:3.11  ... with the Lambda runtime interface client as entry point
# Usage: scripts/images.sh [lambda|app|pipeline ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v podman >/dev/null 2>&1; then
  echo "Error: podman is not installed: apt-get install -y podman buildah runc mmdebstrap (.ci/run does)" >&2
  exit 1
fi
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/dockerfiles/local-base/containers.conf}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
# The machine's local folder of wheels (pip's find-links) holds torch's CPU build; without one,
# the training image takes torch from PyTorch's CPU index, as on AWS.
WHEELS="${TORCH_WHEELS:-$(pip config get global.find-links 2>/dev/null || true)}"
IMAGES=("${@:-lambda app pipeline}")
read -r -a IMAGES <<<"${IMAGES[*]}"

# Host network: pip inside the build reaches the package registry; the CA bundle is mounted at
# another path for the build only (never baked into an image).
BUILD=(podman build --format docker --network host --layers -v "${CA_BUNDLE}:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)

if ! podman image exists localhost/facemood-debian:bookworm; then
  echo "==> base: Debian bookworm with python3 (mmdebstrap, about a minute; cached afterwards)" >&2
  rootfs=$(mktemp --suffix=.tar)
  trap 'rm -f "$rootfs"' EXIT
  # no manuals, docs (but copyrights) or translations, no package lists: about 60 MB less per image
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' bookworm "$rootfs"
  podman import --quiet "$rootfs" localhost/facemood-debian:bookworm >/dev/null
fi
"${BUILD[@]}" --quiet -t localhost/facemood-python:bookworm -f dockerfiles/local-base/Dockerfile-python . >/dev/null
"${BUILD[@]}" --quiet -t localhost/facemood-lambda-base:3.11 -f dockerfiles/local-base/Dockerfile-lambda . >/dev/null

budget_mb() {
  case "$1" in lambda) echo 600 ;; app) echo 1200 ;; *) echo 0 ;; esac
}
over=0
for image in "${IMAGES[@]}"; do
  args=()
  case "$image" in
    lambda) args+=(--build-arg BASE=localhost/facemood-lambda-base:3.11) ;;
    app) args+=(--build-arg BASE=localhost/facemood-python:bookworm) ;;
    pipeline)
      args+=(--build-arg BASE=localhost/facemood-python:bookworm)
      if [ -n "$WHEELS" ] && [ -d "$WHEELS" ]; then
        args+=(-v "${WHEELS}:/run/wheels:ro" --build-arg "TORCH_SOURCE=--find-links /run/wheels")
      fi ;;
    *) echo "Error: unknown image '$image' (lambda, app or pipeline)" >&2; exit 2 ;;
  esac
  echo "==> building localhost/facemood-${image} (dockerfiles/Dockerfile-${image})" >&2
  started=$SECONDS
  "${BUILD[@]}" "${args[@]}" -t "localhost/facemood-${image}" -f "dockerfiles/Dockerfile-${image}" . >&2
  size=$(( $(podman image inspect --format '{{.Size}}' "localhost/facemood-${image}") / 1000000 ))
  budget=$(budget_mb "$image")
  if [ "$budget" -gt 0 ]; then
    verdict="budget ${budget} MB"
    if [ "$size" -gt "$budget" ]; then verdict="OVER its budget of ${budget} MB"; over=1; fi
  else
    verdict="no budget (torch's CPU build)"
  fi
  printf 'localhost/facemood-%-9s %5d MB  (%s; built in %d s)\n' "$image" "$size" "$verdict" $((SECONDS - started))
done
exit $over
