#!/usr/bin/env bash
# Installs the system programs some tests and the demo use: Xvfb (+ libjack for PsychoPy's
# psychtoolbox keyboard backend), Chromium (the report and the `clickme serve` pages are opened in
# a headless browser), npm (scripts/install_web_deps.sh installs jsPsych with it) and PostgreSQL
# (the `clickme serve` load test starts a throwaway cluster).
# Best effort: without root or apt-get it says what is missing and the tests skip with a reason.
set -u
need=()
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
ldconfig -p 2>/dev/null | grep -q libjack.so.0 || need+=(libjack-jackd2-0)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/tmp/clickme-apt.log 2>&1 \
        || echo "warning: apt-get install ${need[*]} failed (see /tmp/clickme-apt.log); dependent tests will skip"
else
    echo "note: missing ${need[*]} (needs root + apt-get); PsychoPy/browser/PostgreSQL tests will skip"
fi
exit 0
