#!/bin/sh
# Headless Chromium for the report's browser test (skipped without it).
exec sh "$(dirname "$0")/ensure_package.sh" chromium "${CHROMIUM:-/usr/bin/chromium}" \
    "the report browser test will be skipped"
