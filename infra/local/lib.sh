# shellcheck shell=bash
# Helpers for the local stack (sourced by infra/local/test, infra/local/demo, ...). Not executable on its own.
#
#   source infra/local/lib.sh
#   ensure_venv                         # .venv at the repo root from infra/local/requirements.txt; PATH gets .venv/bin first
#   ensure_browser                      # Debian's chromium + chromedriver (/usr/bin) for the payment page's browser tests
#   trap_cleanup                        # stop the servers on exit, Ctrl-C or TERM
#   start_local_stack                   # moto + localstripe on free loopback ports, waits for both, exports the env
#
# or piece by piece: free_port, start_moto PORT, start_localstripe PORT, wait_http URL [SECONDS],
# export_local_env MOTO_PORT STRIPE_PORT, stop_pids.
#
# Files: logs in .local/logs/{moto,localstripe}.log, pids in .local/pids/{moto,localstripe}.pid (repo root).

# Repo root = two levels above this file, whatever the caller's working directory.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_DIR="${VENV_DIR:-$REPO_ROOT/.venv}"
LOCAL_DIR="$REPO_ROOT/.local"
LOG_DIR="$LOCAL_DIR/logs"
PID_DIR="$LOCAL_DIR/pids"
REQUIREMENTS="$REPO_ROOT/infra/local/requirements.txt"
LINT_VENV_DIR="${LINT_VENV_DIR:-$REPO_ROOT/.venv-lint}"

# Pids started by this shell (stop_pids stops exactly these).
LOCAL_PIDS=()

log() { printf '%s\n' "[local] $*" >&2; }

section() { printf '\n==== %s ====\n' "$*" >&2; }

die() {
  log "ERROR: $*"
  exit 1
}

# The stamp is the hash of a requirements file plus the interpreter version, so a changed pin or a new
# python rebuilds the venv.
_requirements_stamp() {
  {
    cat "$1"
    python3 --version 2>&1
  } | sha256sum | cut -d' ' -f1
}

# _venv_from DIR REQUIREMENTS: create or refresh the venv DIR from the pinned REQUIREMENTS.
_venv_from() {
  local dir="$1" requirements="$2" stamp_file="$1/.requirements.sha256" want have=""
  command -v python3 >/dev/null || die "python3 not found"
  want="$(_requirements_stamp "$requirements")"
  [[ -f "$stamp_file" ]] && have="$(cat "$stamp_file")"
  if [[ -x "$dir/bin/python" && "$have" == "$want" ]]; then
    log "venv up to date: $dir"
    return 0
  fi
  if [[ -x "$dir/bin/python" ]]; then
    log "requirements changed: refreshing venv $dir"
  else
    log "creating venv $dir"
    rm -rf "$dir"
    python3 -m venv "$dir"
  fi
  log "installing $(grep -cvE '^\s*(#|$)' "$requirements") pinned packages (about 1-2 minutes the first time)"
  "$dir/bin/pip" install --disable-pip-version-check --quiet -r "$requirements"
  "$dir/bin/pip" check --disable-pip-version-check >&2
  printf '%s\n' "$want" >"$stamp_file"
  log "venv ready"
}

# Create or refresh .venv from requirements.txt; puts .venv/bin first on PATH.
ensure_venv() {
  _venv_from "$VENV_DIR" "$REQUIREMENTS"
  export VIRTUAL_ENV="$VENV_DIR"
  # First on PATH: moto_server, sam, cfn-lint, cargo-lambda, and the python3 cargo-lambda uses to find zig.
  case ":$PATH:" in
    *":$VENV_DIR/bin:"*) ;;
    *) export PATH="$VENV_DIR/bin:$PATH" ;;
  esac
  # No telemetry / update checks from the SAM CLI.
  export SAM_CLI_TELEMETRY=0
}

# ensure_lint_venv: .venv-lint with the template linters of requirements-lint.txt (checkov), apart from
# .venv: checkov pins libraries (boto3, ...) that moto pins otherwise. Prints the venv's bin directory.
ensure_lint_venv() {
  _venv_from "$LINT_VENV_DIR" "$REPO_ROOT/infra/local/requirements-lint.txt" >&2
  printf '%s\n' "$LINT_VENV_DIR/bin"
}

# ensure_browser: /usr/bin/chromium and /usr/bin/chromedriver (Debian's chromium and chromium-driver), which the
# browser tests of the payment page drive headless; installed with apt-get when either is missing (through sudo
# unless root). The package lists are updated first when they do not know the packages, or when the install fails
# (stale lists name versions the mirror no longer has).
ensure_browser() {
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get) packages=(chromium chromium-driver)
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    log "browser present: /usr/bin/chromium, /usr/bin/chromedriver"
    return 0
  fi
  command -v apt-get >/dev/null || die "no /usr/bin/chromium or /usr/bin/chromedriver, and no apt-get to install them"
  [[ "$(id -u)" -eq 0 ]] || apt=(sudo "${apt[@]}")
  log "installing ${packages[*]} (a minute or two)"
  if ! apt-cache show "${packages[@]}" >/dev/null 2>&1 ||
    ! "${apt[@]}" install -y -qq --no-install-recommends "${packages[@]}" >&2; then
    "${apt[@]}" update -qq >&2
    "${apt[@]}" install -y -qq --no-install-recommends "${packages[@]}" >&2
  fi
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || die "no /usr/bin/chromium or /usr/bin/chromedriver after apt-get"
  log "browser ready: $(/usr/bin/chromium --version 2>/dev/null)"
}

# Print a TCP port that is free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# _start NAME CMD...: run CMD in the background, log to .local/logs/NAME.log, record the pid.
_start() {
  local name="$1"
  shift
  mkdir -p "$LOG_DIR" "$PID_DIR"
  "$@" >"$LOG_DIR/$name.log" 2>&1 &
  local pid=$!
  LOCAL_PIDS+=("$pid")
  printf '%s\n' "$pid" >"$PID_DIR/$name.pid"
  log "started $name (pid $pid, log ${LOG_DIR#"$REPO_ROOT"/}/$name.log)"
}

# start_moto PORT: moto server (all AWS services) on 127.0.0.1:PORT, with its DynamoDB writes serialized
# (infra/local/moto_server.py says why).
start_moto() {
  local port="${1:?start_moto PORT}"
  [[ -x "$VENV_DIR/bin/moto_server" ]] || die "moto_server not in $VENV_DIR (run ensure_venv first)"
  _start moto "$VENV_DIR/bin/python" "$REPO_ROOT/infra/local/moto_server.py" -H 127.0.0.1 -p "$port"
}

# start_localstripe PORT: localstripe on 127.0.0.1:PORT (its own CLI binds every interface, so not that).
start_localstripe() {
  local port="${1:?start_localstripe PORT}"
  [[ -x "$VENV_DIR/bin/python" ]] || die "no venv python in $VENV_DIR (run ensure_venv first)"
  _start localstripe "$VENV_DIR/bin/python" "$REPO_ROOT/infra/local/localstripe_server.py" "$port"
}

# wait_http URL [SECONDS=30]: poll until URL answers with any HTTP status; non-zero on timeout.
wait_http() {
  local url="${1:?wait_http URL [SECONDS]}" timeout="${2:-30}"
  if python3 - "$url" "$timeout" <<'PY'; then
import sys, time, urllib.error, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        break
    except urllib.error.HTTPError:
        break  # an HTTP error status is still an answer
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.1)
PY
    log "up: $url"
  else
    log "no answer from $url after ${timeout}s"
    return 1
  fi
}

# stop_pids: stop every process started by this shell (TERM, then KILL after 5 s). Safe to call twice.
stop_pids() {
  local pid name i
  for pid in "${LOCAL_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${LOCAL_PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still running after 5 s: KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    # Drop the pid file only if it still names this pid (another run may have rewritten it).
    for name in "$PID_DIR"/*.pid; do
      [[ -f "$name" && "$(cat "$name")" == "$pid" ]] && rm -f "$name"
    done
  done
  [[ ${#LOCAL_PIDS[@]} -gt 0 ]] && log "stopped ${#LOCAL_PIDS[@]} local server(s)"
  LOCAL_PIDS=()
}

# trap_cleanup: stop_pids on EXIT, and turn INT/TERM into an exit so the EXIT trap runs (background
# children of a non-interactive shell ignore Ctrl-C, so without this they would outlive the script).
trap_cleanup() {
  trap stop_pids EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# export_local_env MOTO_PORT STRIPE_PORT: the environment the integration tests and the functions read.
export_local_env() {
  local moto_port="${1:?export_local_env MOTO_PORT STRIPE_PORT}" stripe_port="${2:?export_local_env MOTO_PORT STRIPE_PORT}"
  export MOTO_PORT="$moto_port" STRIPE_PORT="$stripe_port"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  export AWS_REGION=eu-central-1
  export AWS_DEFAULT_REGION=eu-central-1
  export AWS_ACCESS_KEY_ID=test
  export AWS_SECRET_ACCESS_KEY=test
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN
  export STRIPE_API_BASE="http://127.0.0.1:$stripe_port"
}

# start_local_stack: moto + localstripe on free loopback ports, wait until both answer, export the env.
# The caller owns the cleanup: call trap_cleanup (or `trap stop_pids EXIT`) first.
start_local_stack() {
  local moto_port stripe_port
  moto_port="$(free_port)"
  stripe_port="$(free_port)"
  while [[ "$stripe_port" == "$moto_port" ]]; do stripe_port="$(free_port)"; done
  start_moto "$moto_port"
  start_localstripe "$stripe_port"
  wait_http "http://127.0.0.1:$moto_port/moto-api/" 60 || {
    tail -n 20 "$LOG_DIR/moto.log" >&2
    die "moto did not start"
  }
  wait_http "http://127.0.0.1:$stripe_port/v1/balance" 60 || {
    tail -n 20 "$LOG_DIR/localstripe.log" >&2
    die "localstripe did not start"
  }
  export_local_env "$moto_port" "$stripe_port"
  log "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL STRIPE_API_BASE=$STRIPE_API_BASE"
}
