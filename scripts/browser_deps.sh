#!/usr/bin/env bash
# Install what the browser tests and a readable report need, whichever of it is missing:
# Debian's chromium, and the Japanese and emoji fonts (without them chromium draws Japanese
# text and emoji as empty boxes, even when chromium itself is installed).
# Called by `scripts/setup.sh --browser`; CHROMIUM overrides where chromium is looked for.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
# Debian package -> the font family fc-list must know once it is installed
FONTS=("fonts-ipafont-gothic:IPAGothic" "fonts-noto-color-emoji:Noto Color Emoji")

missing=()
if [ ! -x "$CHROMIUM" ]; then
  missing+=(chromium)
fi
if ! command -v fc-list >/dev/null 2>&1; then
  missing+=(fontconfig)
fi
for entry in "${FONTS[@]}"; do
  package=${entry%%:*}
  family=${entry#*:}
  if ! command -v fc-list >/dev/null 2>&1 || ! fc-list -q "$family"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "chromium and the Japanese and emoji fonts are installed" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "installing ${missing[*]} for the browser tests and the report's Japanese text and emoji" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
