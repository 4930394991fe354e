# Shared set-up for scripts/demo and scripts/test: everything a fresh machine needs, done once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

# Create .venv and install the project with the given extra; reinstall only when pyproject changes.
ensure_venv() {
  local extra="$1" stamp=".venv/.installed-$1"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  local want; want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing Python dependencies ($extra)…"
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e ".[$extra]"
    echo "$want" > "$stamp"
  fi
}

# Install Debian packages that are missing (as root, or through sudo).
ensure_apt() {
  local missing=()
  for package in "$@"; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]}…"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

wait_for_port() {  # host port seconds
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "nothing listens on $1:$2" >&2; return 1; }
    sleep 0.5
  done
}

# The machine's PostgreSQL and RabbitMQ: start them if they are down (commands from the machine's notes).
ensure_services() {
  if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    rabbitmq-server -detached
  fi
  wait_for_port 127.0.0.1 5432 30
  wait_for_port 127.0.0.1 5672 60
}

# Build the browser app (frontend/) when its sources or lock file changed since the last build:
# npm ci into frontend/node_modules, then vite build into frontend/static/frontend/ (not committed).
ensure_frontend() {
  command -v npm >/dev/null || { echo "npm is needed to build the browser app (Node.js 20.19 or newer)" >&2; return 1; }
  local lock_stamp="frontend/node_modules/.installed-from" build_stamp="frontend/static/frontend/.built-from"
  local lock; lock="$(sha256sum frontend/package-lock.json | cut -d' ' -f1)"
  if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock" ]; then
    echo "installing the browser app's packages…"
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock" > "$lock_stamp"
  fi
  local sources; sources="$(cd frontend && { echo "$lock"; find src vite.config.ts tsconfig.json package.json -type f \
    | sort | xargs sha256sum; } | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$build_stamp" 2>/dev/null)" != "$sources" ]; then
    echo "building the browser app…"
    (cd frontend && npx vite build --logLevel error)
    echo "$sources" > "$build_stamp"
  fi
}
