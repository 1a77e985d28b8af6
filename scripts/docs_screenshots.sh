#!/usr/bin/env bash
# Render three pages of the built documentation site with headless Chromium into PNG files, so
# that a person can look at them: the home page, the API page and a gallery example.
#
#   sphinx-build -W docs docs/_build/html && bash scripts/docs_screenshots.sh [OUT_DIR]
#
# Needs Chromium (Debian: apt-get install chromium). Writes OUT_DIR/{home,api,gallery}.png
# (default OUT_DIR: docs/_build/screenshots) and prints their paths, then one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
html="$PWD/docs/_build/html"
out="${1:-docs/_build/screenshots}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "docs_screenshots.sh: no Chromium found; install it (Debian: apt-get install chromium)" >&2
  exit 2
fi
if [ ! -f "$html/index.html" ]; then
  echo "docs_screenshots.sh: $html/index.html is missing; build the site first: sphinx-build -W docs docs/_build/html" >&2
  exit 2
fi
mkdir -p "$out"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
shot() {  # shot NAME PAGE
  "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1280,1600 \
    --screenshot="$out/$1.png" "file://$html/$2" >/dev/null 2>&1
  echo "$out/$1.png"
}
shot home index.html
shot api api.html
shot gallery auto_examples/plot_1_fit_a_pyro_vae.html
printf '{"home": "%s", "api": "%s", "gallery": "%s"}\n' "$out/home.png" "$out/api.png" "$out/gallery.png"
