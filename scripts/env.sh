# Sourced by the Makefile: points the service at the project-local cluster unless DATABASE_URL
# is set, and gives the demo a persistent random signing secret.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CIVOP_HOME="${CIVOP_HOME:-$ROOT/.civop}"
if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="postgresql://civop@127.0.0.1:${CIVOP_PG_PORT:-55432}/${CIVOP_DB_NAME:-civop}"
  export CIVOP_LOCAL_CLUSTER=1
fi
if [ -z "${CIVOP_SECRET_KEY:-}" ] && [ "${CIVOP_DEMO:-0}" = 1 ]; then
  mkdir -p "$CIVOP_HOME"
  [ -s "$CIVOP_HOME/secret_key" ] || (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >"$CIVOP_HOME/secret_key")
  CIVOP_SECRET_KEY="$(cat "$CIVOP_HOME/secret_key")"
  export CIVOP_SECRET_KEY
fi
export PATH="$ROOT/.venv/bin:$PATH"
