#!/usr/bin/env bash
# Install the project into .venv (created if missing) and run the whole test suite.
# This is the README's test command, and .ci/run runs exactly this script.
# Arguments are passed on to pytest, e.g. `bash scripts/test.sh -k export -x`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}
venv=.venv

# Reuse .venv when its interpreter still runs; otherwise (first run, moved tree, removed Python) make it anew.
if ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
    "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
        echo "error: $python is $("$python" --version 2>&1); the portal needs Python 3.11 or newer (set PYTHON=...)" >&2
        exit 1
    }
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi

# The browser tests drive Debian's Chromium (browser downloads are not possible everywhere); install it when missing.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing Debian's chromium for the browser tests (apt-get)…"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "error: the browser tests need Chromium: install Debian's 'chromium' package (sudo apt-get install chromium)" >&2
        exit 1
    fi
fi

log=$venv/pip-install.log
start=$SECONDS
if ! "$venv/bin/python" -m pip install -r requirements.txt -e . >"$log" 2>&1; then
    echo "error: pip install failed; the last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
echo "Installed requirements.txt and the project into $venv in $((SECONDS - start)) s (log: $log)"

# Lint, format and type checks (configured in pyproject.toml: [tool.ruff], [tool.mypy]; mypy reads its files there).
checked=(src/portal ui pages app.py bench scripts tests)
"$venv/bin/python" -m ruff check "${checked[@]}" || {
    echo "error: ruff check found problems (above); fix them (ruff check --fix applies the safe fixes)" >&2
    exit 1
}
"$venv/bin/python" -m ruff format --check "${checked[@]}" || {
    echo "error: these files are not formatted: run ruff format ${checked[*]}" >&2
    exit 1
}
"$venv/bin/python" -m mypy || {
    echo "error: mypy found type errors (above)" >&2
    exit 1
}

# pytest exits 5 when it collected no test: a run that tests nothing must not pass for a green one.
status=0
"$venv/bin/python" -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: no test ran (pytest collected none with these arguments: $*)" >&2
    exit 1
fi
exit "$status"
