#!/usr/bin/env bash
# Make `promtool` available for the alerting-rule tests (tests/unit/test_prometheus_rules.py).
#
# promtool comes with Debian's `prometheus` package. Nothing here needs a running Prometheus: the package is
# installed for its promtool binary only, and its service is kept from starting (a policy-rc.d that refuses
# every service start while apt runs; if a service manager started it anyway, it is stopped and disabled).
#
# Idempotent: exits at once when promtool is already on PATH. Installing needs root (apt-get).
set -euo pipefail

log() { printf '[promtool] %s\n' "$*" >&2; }

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  log "promtool is missing and installing Debian's prometheus package needs root:"
  log "  sudo apt-get install -y --no-install-recommends prometheus"
  exit 1
fi

POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $POLICY ]]; then
  # 101 = "action not allowed": invoke-rc.d / deb-systemd-invoke start no service while this file exists.
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  created_policy=1
fi
cleanup() { if [[ $created_policy -eq 1 ]]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT

log "installing Debian's prometheus package for promtool"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends prometheus >/dev/null; then
  apt-get update -qq
  apt-get install -y --no-install-recommends prometheus >/dev/null
fi

# Belt and braces: where a service manager runs, make sure the package left no daemon behind.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
elif [[ -x /etc/init.d/prometheus ]]; then
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

command -v promtool >/dev/null 2>&1 || { log "promtool still missing after installing prometheus"; exit 1; }
log "$(promtool --version 2>&1 | head -n 1)"
