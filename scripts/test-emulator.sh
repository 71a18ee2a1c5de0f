#!/usr/bin/env bash
# Runs the entra-emulator test suite, installing the Dovecot 2.3 packages the test rig runs first when one is
# missing (the Dovecot tests fail without them unless EXO_SKIP_DOVECOT=1): IMAP, POP3, submission, and LMTP, through
# which the rig delivers submitted mail. Usage: scripts/test-emulator.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${EXO_SKIP_DOVECOT:-}" != 1 ]; then
  missing=()
  for p in dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-lmtpd; do
    dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -q
    $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends "${missing[@]}"
  fi
fi
export PATH="$PATH:/usr/sbin"
exec cargo test -p entra-emulator "$@"
