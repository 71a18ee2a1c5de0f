#!/usr/bin/env bash
# Runs the entra-emulator test suite, installing Dovecot 2.3 first when it is missing (the Dovecot test
# fails without it unless EXO_SKIP_DOVECOT=1). Usage: scripts/test-emulator.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ] && [ "${EXO_SKIP_DOVECOT:-}" != 1 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends dovecot-core dovecot-imapd
fi
export PATH="$PATH:/usr/sbin"
exec cargo test -p entra-emulator "$@"
