#!/bin/sh
# bubblewrap (bwrap): the code sandbox runs generated code inside it. Without it the sandbox falls
# back to weaker isolation and labels every code score `sandbox: weak`.
exec sh "$(dirname "$0")/ensure_package.sh" bubblewrap bwrap \
    "the code sandbox falls back to weak isolation"
