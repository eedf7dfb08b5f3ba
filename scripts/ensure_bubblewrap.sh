#!/bin/sh
# Make sure bubblewrap (bwrap) is available: the code sandbox runs generated code inside it.
# Installs Debian's bubblewrap package when bwrap is missing; does nothing otherwise (quick and
# safe to run repeatedly). Needs root (or sudo) and network access the first time. Without bwrap
# the sandbox falls back to weaker isolation and labels every code score `sandbox: weak`.
set -eu

if command -v bwrap >/dev/null 2>&1 || [ -x /usr/bin/bwrap ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_bubblewrap: apt-get not found; install bubblewrap yourself (code scores will be labelled sandbox: weak)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "ensure_bubblewrap: not root and no sudo; cannot install bubblewrap (code scores will be labelled sandbox: weak)" >&2
        exit 0
    fi
fi

echo "ensure_bubblewrap: installing bubblewrap with apt-get (one time)" >&2
export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes
if $SUDO apt-get update -qq >/dev/null \
    && $SUDO apt-get install -y -qq bubblewrap >/dev/null; then
    exit 0
fi
echo "ensure_bubblewrap: apt-get could not install bubblewrap (code scores will be labelled sandbox: weak)" >&2
exit 0
