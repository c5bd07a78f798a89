#!/usr/bin/env bash
# Renders an HTML report in headless Chromium as a person's browser would, for the browser test.
#
#   render_report.sh REPORT.html OUT_DIR [WIDTHxHEIGHT]
#
# Writes OUT_DIR/screenshot.png (the page at WIDTHxHEIGHT, default 1280x5000), OUT_DIR/dom.html (the DOM after
# loading, --dump-dom) and OUT_DIR/chromium.log (Chromium's log of both runs; page console messages appear in it as
# "CONSOLE" lines), then prints the CONSOLE lines it found. Installs Debian's chromium with apt-get when it is
# missing. Exit codes: 0 rendered; 1 Chromium failed; 2 usage; 3 Chromium is not installed and cannot be.
set -euo pipefail

if [[ $# -lt 2 ]]; then echo "usage: $0 REPORT.html OUT_DIR [WIDTHxHEIGHT]" >&2; exit 2; fi
report=$(realpath "$1")
out=$2
size=${3:-1280x5000}
[[ -f "$report" ]] || { echo "no such report: $report" >&2; exit 2; }
mkdir -p "$out"

find_chromium() { command -v chromium || command -v chromium-browser || true; }
browser=$(find_chromium)
if [[ -z "$browser" ]]; then
  echo "chromium not found: installing Debian's chromium with apt-get" >&2
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core; } >"$out/apt.log" 2>&1 || true
  fi
  browser=$(find_chromium)
  [[ -n "$browser" ]] || { echo "SKIP: chromium is not installed and apt-get could not install it (see $out/apt.log)" >&2; exit 3; }
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile"
       --enable-logging=stderr --v=0)
url="file://$report"
: >"$out/chromium.log"
timeout 60 "$browser" "${flags[@]}" --window-size="${size/x/,}" --screenshot="$out/screenshot.png" "$url" \
  >/dev/null 2>>"$out/chromium.log" || { echo "chromium --screenshot failed (see $out/chromium.log)" >&2; exit 1; }
timeout 60 "$browser" "${flags[@]}" --dump-dom "$url" >"$out/dom.html" 2>>"$out/chromium.log" \
  || { echo "chromium --dump-dom failed (see $out/chromium.log)" >&2; exit 1; }
[[ -s "$out/screenshot.png" && -s "$out/dom.html" ]] || { echo "chromium wrote no screenshot or DOM" >&2; exit 1; }
grep -a ':CONSOLE' "$out/chromium.log" || true
exit 0
