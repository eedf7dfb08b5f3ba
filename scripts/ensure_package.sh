#!/bin/sh
# Make sure a Debian package a test needs is installed: ensure_package.sh PACKAGE BINARY PURPOSE.
# Installs PACKAGE with apt-get when BINARY is missing; does nothing otherwise (quick and safe to run
# repeatedly). Needs root (or sudo) and network access the first time. Never fails the build: without
# the package, what needs it says so (a skipped test, a labelled weaker fallback).
set -eu

PACKAGE="$1"
BINARY="$2"
PURPOSE="$3"
if command -v "$BINARY" >/dev/null 2>&1 || [ -x "$BINARY" ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_package: apt-get not found; install $PACKAGE yourself ($PURPOSE)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "ensure_package: not root and no sudo; cannot install $PACKAGE ($PURPOSE)" >&2
        exit 0
    fi
fi

echo "ensure_package: installing $PACKAGE with apt-get (one time)" >&2
export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes
if $SUDO apt-get update -qq >/dev/null \
    && $SUDO apt-get install -y -qq "$PACKAGE" >/dev/null; then
    exit 0
fi
echo "ensure_package: apt-get could not install $PACKAGE ($PURPOSE)" >&2
exit 0
