#!/usr/bin/env bash
# Prints the path of a Python 3.12 that actually runs (the assignment's version), or says what to install.
# Order: $PYTHON, python3.12 on PATH (a pyenv shim only counts if it runs), pyenv's own 3.12 builds.
set -u
runs_312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; }
if [ -n "${PYTHON:-}" ]; then
    runs_312 "$PYTHON" && { command -v "$PYTHON"; exit 0; }
    echo "error: PYTHON=$PYTHON is not a working Python 3.12" >&2
    exit 1
fi
for candidate in python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
    if command -v "$candidate" >/dev/null 2>&1 && runs_312 "$candidate"; then
        command -v "$candidate"
        exit 0
    fi
done
echo "error: no working Python 3.12 found; install one (e.g. 'apt-get install python3.12' or 'pyenv install 3.12') or set PYTHON=/path/to/python3.12" >&2
exit 1
