# Sourced by the plot scripts: checks that every database argument exists,
# makes a temporary directory "$tmp" removed on exit, and defines q DB SQL
# (a read-only query, tab-separated) and wilson P N (a 95% interval).
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

# 95% Wilson interval of a proportion p (0..1) over n trials: prints
# "pct lo hi" in percent ("nan nan nan" when n is 0).
wilson() {
  awk -v p="$1" -v n="$2" 'BEGIN { if (n == 0) { print "nan nan nan"; exit }
    z = 1.959964; d = 1 + z*z/n; c = (p + z*z/(2*n)) / d
    h = z * sqrt(p*(1-p)/n + z*z/(4*n*n)) / d
    printf "%.1f %.1f %.1f\n", 100*p, 100*(c-h), 100*(c+h) }'
}
