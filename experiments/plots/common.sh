# Sourced by the plot scripts: checks that every database argument exists,
# makes a temporary directory "$tmp" removed on exit, and defines q DB SQL
# (a read-only query, tab-separated).
#
#   plots_setup "$@"   # the databases
plots_setup() {
  for db in "$@"; do
    if [ ! -f "$db" ]; then
      echo "$0: $db: no such database" >&2
      exit 2
    fi
  done
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
}

q() { sqlite3 -readonly -separator $'\t' "$1" "$2"; }
