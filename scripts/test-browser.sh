#!/usr/bin/env bash
# The "system browser" of the tests: BROWSER=/abs/path/scripts/test-browser.sh (webbrowser and xdg honour it).
#
# Given one URL (the last argument), it fetches it with curl and follows HTTP redirects itself, one hop at a
# time, with a private cookie jar (the emulator's ESTSAUTH session):
# - a Location that is not http(s) (the app's deep link, dev.exosetup.wizard://…) is handed over the way the
#   OS does it: `gio open "<url>"`, and the script ends with gio's status;
# - a loopback redirect http://localhost:<port>/… is fetched like any page: that GET is the delivery;
# - it stops at the first answer that is not a redirect: prints "test-browser: HTTP <status> <url>" to stderr
#   and exits 0 for 2xx, 1 otherwise.
# Knobs (environment):
#   TEST_BROWSER_LOGIN_HINT  replace the login_hint query parameter of the first URL (sign in as someone else)
#   TEST_BROWSER_LOG         append every visited URL to this file (one per line)
#   TEST_BROWSER_DELAY       sleep this many seconds before starting
#   TEST_BROWSER_MAX_HOPS    give up after this many redirects (default 20)
# It needs no terminal and no parent: webbrowser starts it in the background with /dev/null as stdio and does
# not wait for it.
set -euo pipefail

[ "$#" -ge 1 ] || { echo "usage: $0 URL" >&2; exit 2; }
url="${!#}"

log() { [ -z "${TEST_BROWSER_LOG:-}" ] || printf '%s\n' "$1" >>"$TEST_BROWSER_LOG"; }

# Percent-encodes a query parameter value (RFC 3986 unreserved characters are kept).
urlencode() {
  local s="$1" out="" c i
  local LC_ALL=C
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [A-Za-z0-9._~-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

if [ -n "${TEST_BROWSER_DELAY:-}" ]; then sleep "$TEST_BROWSER_DELAY"; fi

if [ -n "${TEST_BROWSER_LOGIN_HINT:-}" ]; then
  hint="$(urlencode "$TEST_BROWSER_LOGIN_HINT")"
  case "$url" in
    *[?\&]login_hint=*) url="$(printf '%s' "$url" | sed -E "s/([?&])login_hint=[^&#]*/\1login_hint=$hint/")" ;;
    *\?*) url="$url&login_hint=$hint" ;;
    *) url="$url?login_hint=$hint" ;;
  esac
fi

work="$(mktemp -d -t exo-test-browser.XXXXXX)"
trap 'rm -rf "$work"' EXIT
jar="$work/cookies" headers="$work/headers"
: >"$jar"

max_hops="${TEST_BROWSER_MAX_HOPS:-20}"
hop=0
while :; do
  case "$url" in
    http://* | https://*) ;;
    *)
      # A custom scheme: what the desktop does with it (the app registered itself as its handler).
      log "$url"
      echo "test-browser: handing over to the OS: ${url%%:*}:…" >&2
      exec gio open "$url"
      ;;
  esac
  log "$url"
  : >"$headers"
  out="$(curl -sS --max-time 30 -o /dev/null -D "$headers" -b "$jar" -c "$jar" \
    -w '%{http_code} %{redirect_url}' "$url")" || { echo "test-browser: request failed: $url" >&2; exit 1; }
  status="${out%% *}"
  resolved="${out#* }"
  case "$status" in
    301 | 302 | 303 | 307 | 308)
      # The raw Location (curl's redirect_url is empty for schemes it does not speak).
      location="$(tr -d '\r' <"$headers" | sed -n 's/^[Ll][Oo][Cc][Aa][Tt][Ii][Oo][Nn]:[[:space:]]*//p' | tail -n 1)"
      [ -n "$location" ] || { echo "test-browser: HTTP $status without Location: $url" >&2; exit 1; }
      if [[ "$location" =~ ^[A-Za-z][A-Za-z0-9+.-]*: ]]; then
        url="$location"                  # absolute (another scheme is handed over at the top of the loop)
      else
        url="${resolved:-$location}"     # relative: curl resolved it against the current URL
      fi
      hop=$((hop + 1))
      [ "$hop" -le "$max_hops" ] || { echo "test-browser: more than $max_hops redirects" >&2; exit 1; }
      ;;
    2??)
      echo "test-browser: HTTP $status ${url%%\?*}" >&2
      exit 0
      ;;
    *)
      echo "test-browser: HTTP $status ${url%%\?*}" >&2
      exit 1
      ;;
  esac
done
