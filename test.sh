#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs and starts what the tests need where it is
# missing, then runs `cargo test` with every group on (SQLite and PostgreSQL, a real SMTP server,
# headless Chromium) and prints which groups ran.
#
#   ./test.sh                 everything
#   ./test.sh --test staff    extra arguments go to `cargo test`
#
# What it may install (Debian packages need root, or sudo):
#   - PostgreSQL (Debian's `postgresql`), started on 127.0.0.1:5432 with trust auth for loopback,
#     only when nothing answers there; RECTIFY_TEST_POSTGRES_URL picks another server;
#   - `chromium`, `chromium-driver` and `fonts-noto-cjk` (Chinese in screenshots), when missing;
#   - a Python virtual environment with aiosmtpd (PyPI) under target/test-venv.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "test.sh: '$*' needs root (no sudo here); install it by hand" >&2; exit 1
  fi
}

apt_updated=0
apt_install() {
  say "installing $* (Debian packages)"
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- PostgreSQL: every database test runs on it as well as on SQLite. -------------------------
export RECTIFY_TEST_POSTGRES_URL="${RECTIFY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_answers() { command -v psql >/dev/null && psql "$RECTIFY_TEST_POSTGRES_URL" -Atqc 'select 1' >/dev/null 2>&1; }
if ! pg_answers; then
  case "$RECTIFY_TEST_POSTGRES_URL" in
    postgres://postgres@127.0.0.1:5432/*) ;;
    *) echo "test.sh: PostgreSQL does not answer at RECTIFY_TEST_POSTGRES_URL=$RECTIFY_TEST_POSTGRES_URL" >&2; exit 1 ;;
  esac
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-client
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # Loopback only, for the tests' throw-away databases.
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  say "starting PostgreSQL $ver on 127.0.0.1:5432"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null \
    || as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
  for _ in $(seq 1 60); do pg_answers && break; sleep 1; done
  pg_answers || { echo "test.sh: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
fi

# --- Headless Chromium and its WebDriver, with CJK fonts. -------------------------------------
# (grep reads all of fc-list's output: with -q it stopped at the first match, fc-list died of
# SIGPIPE, and under pipefail the fonts looked missing, so every run reinstalled the packages.)
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
  || ! fc-list 2>/dev/null | grep -i 'Noto Sans CJK' >/dev/null; then
  apt_install chromium chromium-driver fonts-noto-cjk fontconfig
fi

# --- A real SMTP server: aiosmtpd in a virtual environment of the project's own. --------------
venv="$root/target/test-venv"
if ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  command -v python3 >/dev/null || apt_install python3
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  say "making $venv with aiosmtpd"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check aiosmtpd
fi
export RECTIFY_TEST_PYTHON="$venv/bin/python"

# --- The suite. The helpers that start PostgreSQL databases, the SMTP server and Chromium write
# one line per test into this folder, so the summary can say that each group really ran.
export RECTIFY_TEST_RECORD="$root/target/test-record"
rm -rf "$RECTIFY_TEST_RECORD"
mkdir -p "$RECTIFY_TEST_RECORD"
say "cargo test $*"
start=$(date +%s)
cargo test "$@"
took=$(( $(date +%s) - start ))

count() { cat "$RECTIFY_TEST_RECORD"/"$1" 2>/dev/null | sort -u | wc -l | tr -d ' '; }
echo
say "all tests passed in ${took}s; of them, tests that used each real part:"
printf '    PostgreSQL (%s): %s\n' "$RECTIFY_TEST_POSTGRES_URL" "$(count postgres)"
printf '    SMTP server (aiosmtpd):   %s\n' "$(count smtp)"
printf '    headless Chromium:        %s\n' "$(count browser)"
if [ $# = 0 ]; then
  for group in postgres smtp browser; do
    if [ "$(count $group)" = 0 ]; then
      echo "test.sh: no test used $group although the whole suite ran; something skips it" >&2
      exit 1
    fi
  done
fi
