#!/usr/bin/env bash
# Installs the browser libraries of `clickme serve` -- jsPsych 8 and its plugins, pinned in
# experiments/online/web/package.json and package-lock.json -- from the npm registry into
# experiments/online/web/node_modules (not committed). The server serves them from there; nothing
# is fetched at run time. Best effort: without npm, `clickme serve` says how to install and the
# browser tests skip with a reason.
set -u
web="$(cd "$(dirname "$0")/.." && pwd)/experiments/online/web"
cd "$web" || exit 0
if [ -f node_modules/jspsych/dist/index.browser.min.js ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "note: npm not found; jsPsych is not installed (apt-get install -y npm, then rerun $0); browser tests will skip"
    exit 0
fi
echo "installing jsPsych into $web/node_modules (npm ci)"
npm ci --no-audit --no-fund --loglevel=error >/tmp/clickme-npm.log 2>&1 \
    || echo "warning: npm ci failed (see /tmp/clickme-npm.log); clickme serve and the browser tests need it"
exit 0
