#!/usr/bin/env bash
# Debian's HAProxy, the reference deployment's load balancer (deploy/haproxy.cfg): the
# tests validate that config with it and run it in front of two gateways
# (tests/test_deployment.py). Installed only if missing.
set -euo pipefail
if command -v haproxy >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q --no-install-recommends haproxy
