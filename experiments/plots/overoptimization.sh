#!/usr/bin/env bash
# Tables and PNG plots for experiments/results/overoptimization.md from the
# logs of overoptimization.json, one database per seed:
#
#   experiments/plots/overoptimization.sh OUT_DIR DB [DB ...]
#
# Every experiment named overoptimization in the databases is a seed (the
# finished ones, and the newest of each database even unfinished). Every best_of_n stage and
# every consultancy ppo stage (one with eval_kl metrics) is a curve: the gold
# and the proxy reward gained since the start (n = 1, update 0) against
# d = sqrt(KL). Prints markdown tables: per curve, the mean over the seeds
# of both at each point with a 95% t interval over seeds (BoN) or the
# per-seed values (PPO, whose d differs by seed); the fits the stages
# logged (engine/goodhart.h: R(d) = d (a - b d) for best-of-n,
# d (a - b log d) for PPO) per seed with their R^2, and the mean of a, b and
# the peak over seeds with 95% t intervals; the proxies' label flip rate and
# held-out accuracy. Writes OUT_DIR/overoptimization_bon.png (best-of-n, one
# panel for the proxy-data sweep, one for the label-noise sweep) and
# OUT_DIR/overoptimization_ppo.png (PPO at each KL coefficient beside
# best-of-n on the same proxy; PPO on proxies of more data and more noise).
# Needs sqlite3 and gnuplot (scripts/setup.sh installs both).
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 OUT_DIR DB [DB ...]" >&2
  exit 2
fi
out="$1"
shift
mkdir -p "$out"
. "$(dirname "$0")/common.sh"
plots_setup "$@"

# awk: the 95% t half-width of the mean of c values with sum `sum` and sum of
# squares `sq` (t, the quantile, passed with -v; 0 for one value).
awk_ci='function ci(sum, sq, c,   m) { m = sum / c; return c > 1 ? t * sqrt((sq - c * m * m) / (c - 1) / c) : 0 }'

# Two-sided 95% t quantile for k - 1 degrees of freedom (k seeds).
tq() { awk -v k="$1" 'BEGIN { split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262", t, " ");
  print (k >= 2 && k <= 10) ? t[k - 1] : 1.96 }'; }

# curve DB EXPERIMENT KIND D GOLD PROXY START: the rows of every stage
# with metric D (gold and proxy gained since step START) into $tmp/points.
curve() {
  local db="$1" e="$2" kind="$3" d="$4" gold="$5" proxy="$6" start="$7"
  q "$db" "SELECT m.stage, m.step, d.value,
                  g.value - (SELECT value FROM metrics WHERE experiment_id = $e AND stage = m.stage AND name = '$gold' AND step = $start),
                  m.value - (SELECT value FROM metrics WHERE experiment_id = $e AND stage = m.stage AND name = '$proxy' AND step = $start),
                  coalesce((SELECT value FROM metrics WHERE experiment_id = $e AND stage = m.stage AND name = 'oracle_gold_reward' AND step = m.step) -
                           (SELECT value FROM metrics WHERE experiment_id = $e AND stage = m.stage AND name = 'oracle_gold_reward' AND step = $start), 'nan')
           FROM metrics m JOIN metrics d ON d.experiment_id = m.experiment_id AND d.stage = m.stage AND d.step = m.step AND d.name = '$d'
                          JOIN metrics g ON g.experiment_id = m.experiment_id AND g.stage = m.stage AND g.step = m.step AND g.name = '$gold'
           WHERE m.experiment_id = $e AND m.name = '$proxy' ORDER BY m.stage, m.step" |
    awk -F'\t' -v db="$db:$e" -v kind="$kind" '{ print db "\t" $1 "\t" kind "\t" $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6 }' >> "$tmp/points"
}

# Rows: seed-db, stage, kind (bon/ppo), step, d, gold gained, proxy gained,
# gold gained by the gold's own best of n (bon; nan for ppo).
: > "$tmp/points"
: > "$tmp/fits"
: > "$tmp/proxies"
for db in "$@"; do
  runs="$(q "$db" "SELECT id FROM experiments WHERE name = 'overoptimization' AND (status = 'finished' OR
                   id = (SELECT max(id) FROM experiments WHERE name = 'overoptimization')) ORDER BY id")"
  [ -n "$runs" ] || { echo "$0: $db: no overoptimization experiment" >&2; exit 2; }
  for e in $runs; do
  curve "$db" "$e" bon d gold_reward proxy_reward 1
  curve "$db" "$e" ppo eval_d eval_gold_reward eval_proxy_reward 0
  q "$db" "SELECT stage, max(CASE WHEN name = 'fit_a' THEN value END), max(CASE WHEN name = 'fit_b' THEN value END),
                  max(CASE WHEN name = 'fit_r2' THEN value END), max(CASE WHEN name = 'fit_rmse' THEN value END),
                  coalesce(max(CASE WHEN name = 'fit_peak_d' THEN value END), 'inf'), max(CASE WHEN name = 'fit_points' THEN value END)
           FROM metrics WHERE experiment_id = $e AND name LIKE 'fit_%' GROUP BY stage ORDER BY stage" |
    awk -F'\t' -v db="$db:$e" '{ print db "\t" $0 }' >> "$tmp/fits"
  q "$db" "SELECT stage, max(CASE WHEN name = 'label_flip_rate' THEN value END),
                  (SELECT value FROM metrics h WHERE h.experiment_id = $e AND h.stage = m.stage AND h.name = 'heldout_accuracy' ORDER BY step DESC LIMIT 1)
           FROM metrics m WHERE experiment_id = $e AND name = 'label_flip_rate' GROUP BY stage ORDER BY stage" |
    awk -F'\t' -v db="$db:$e" '{ print db "\t" $0 }' >> "$tmp/proxies"
  done
done
[ -s "$tmp/points" ] || { echo "$0: no best_of_n or consultancy ppo metrics in $*" >&2; exit 2; }
seeds="$(cut -f1 "$tmp/points" | sort -u | wc -l)"
t="$(tq "$seeds")"

echo "### Proxies (label flip rate applied, held-out accuracy against clean gold labels; per seed)"
echo
echo "| proxy | flipped | held-out accuracy |"
echo "|---|---|---|"
sort -t$'\t' -k2,2 -s "$tmp/proxies" | awk -F'\t' '
  { f[$2] = f[$2] sprintf("%s%.1f%%", (f[$2] == "" ? "" : ", "), 100 * $3)
    a[$2] = a[$2] sprintf("%s%.1f%%", (a[$2] == "" ? "" : ", "), 100 * $4); if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
  END { for (i = 1; i <= k; ++i) printf "| %s | %s | %s |\n", order[i], f[order[i]], a[order[i]] }'
echo

echo "### Best-of-n: gold and proxy reward gained over n = 1 (mean over $seeds seeds, 95% t interval)"
echo
awk -F'\t' -v t="$t" "$awk_ci"'
  $3 == "bon" {
    key = $2 "\t" $4; if (!(key in n)) order[++k] = key
    n[key]++; d[key] = $5; g[key] += $6; gg[key] += $6 * $6; p[key] += $7; pp[key] += $7 * $7; o[key] += $8 }
  END {
    print "| proxy | n | d | gold gained | proxy gained | gold gained, best of n by the gold |"; print "|---|---|---|---|---|---|"
    for (i = 1; i <= k; ++i) { key = order[i]; split(key, f, "\t"); c = n[key]
      printf "| %s | %d | %.2f | %+.3f ± %.3f | %+.2f ± %.2f | %+.3f |\n", f[1], f[2], d[key], g[key] / c,
             ci(g[key], gg[key], c), p[key] / c, ci(p[key], pp[key], c), o[key] / c } }' "$tmp/points"
echo

echo "### Peaks: where the gold reward gained is highest on each curve, and where the curve ends (mean over seeds, 95% t interval)"
echo
awk -F'\t' -v t="$t" "$awk_ci"'
  { c = $1 "\t" $2; if (!(c in best) || $6 > best[c]) { best[c] = $6; bestd[c] = $5 }
    last[c] = $6; lastd[c] = $5; lastp[c] = $7; curves[c] = 1 }
  END { for (c in curves) { split(c, f, "\t"); s = f[2]; if (!(s in n)) order[++k] = s; n[s]++
      v[s, 1] += best[c]; q[s, 1] += best[c]^2; v[s, 2] += bestd[c]; q[s, 2] += bestd[c]^2
      v[s, 3] += last[c]; q[s, 3] += last[c]^2; v[s, 4] += lastd[c]; q[s, 4] += lastd[c]^2
      v[s, 5] += lastp[c]; q[s, 5] += lastp[c]^2 }
    print "| curve | peak gold gained | d at the peak | gold gained at the end | d at the end | proxy gained at the end |"
    print "|---|---|---|---|---|---|"
    for (i = 1; i <= k; ++i) { s = order[i]; m = n[s]; line = "| " s
      for (j = 1; j <= 5; ++j) { mu = v[s, j] / m; h = ci(v[s, j], q[s, j], m)
        line = line sprintf(" | %s%.3f ± %.3f", (j == 2 || j == 4) ? "" : (mu >= 0 ? "+" : ""), mu, h) }
      print line " |" } }' "$tmp/points" | { read -r h1; read -r h2; echo "$h1"; echo "$h2"; sort; }
echo

echo "### PPO: gold and proxy reward gained over update 0, per seed (d, gold, proxy)"
echo
awk -F'\t' '$3 == "ppo" { key = $2 "\t" $4; if (!(key in row)) order[++k] = key
    row[key] = row[key] sprintf("%s%.2f / %+.3f / %+.2f", (row[key] == "" ? "" : "; "), $5, $6, $7) }
  END { print "| stage | update | d / gold / proxy per seed |"; print "|---|---|---|"
    for (i = 1; i <= k; ++i) { split(order[i], f, "\t"); printf "| %s | %d | %s |\n", f[1], f[2], row[order[i]] } }' "$tmp/points"
echo

echo "### Fits of the gold reward gained (per seed: a, b, R^2, peak d; mean over seeds with 95% t interval)"
echo
awk -F'\t' -v t="$t" "$awk_ci"'
  {
    s = $2; if (!(s in n)) order[++k] = s; n[s]++
    a[s] += $3; aa[s] += $3 * $3; b[s] += $4; bb[s] += $4 * $4
    if ($7 != "inf") { pk[s] += $7; pkk[s] += $7 * $7; np[s]++ }
    per[s] = per[s] sprintf("%s%.3f, %.3f, %.2f, %s", (per[s] == "" ? "" : "; "), $3, $4, $5, ($7 == "inf" ? "none" : sprintf("%.2f", $7))) }
  END { print "| stage | per seed: a, b, R^2, peak d | a | b | peak d |"; print "|---|---|---|---|---|"
    for (i = 1; i <= k; ++i) { s = order[i]; c = n[s]
      peak = np[s] > 0 ? sprintf("%.2f ± %.2f (%d of %d seeds peak)", pk[s] / np[s], ci(pk[s], pkk[s], np[s]), np[s], c) : "none"
      printf "| %s | %s | %.3f ± %.3f | %.3f ± %.3f | %s |\n", s, per[s], a[s] / c, ci(a[s], aa[s], c), b[s] / c, ci(b[s], bb[s], c), peak } }' "$tmp/fits"

# Plot data: mean curves per stage (bon: by n; ppo: by update, d averaged
# over seeds), and the fitted curve with the mean coefficients.
awk -F'\t' '{ key = $2 "\t" $3 "\t" $4; if (!(key in n)) order[++k] = key
    n[key]++; d[key] += $5; g[key] += $6; p[key] += $7 }
  END { for (i = 1; i <= k; ++i) { key = order[i]; split(key, f, "\t")
      printf "%s\t%s\t%d\t%.6f\t%.6f\t%.6f\n", f[1], f[2], f[3], d[key] / n[key], g[key] / n[key], p[key] / n[key] } }' "$tmp/points" > "$tmp/mean"
awk -F'\t' '{ s = $2; n[s]++; a[s] += $3; b[s] += $4 } END { for (s in n) printf "%s\t%.6f\t%.6f\n", s, a[s] / n[s], b[s] / n[s] }' "$tmp/fits" > "$tmp/coef"
for s in $(cut -f1 "$tmp/mean" | sort -u); do
  awk -F'\t' -v s="$s" '$1 == s { print $4 "\t" $5 "\t" $6 }' "$tmp/mean" > "$tmp/curve_$s"
done

# A gnuplot function per stage's mean fit, f_<stage>(d), drawn over the
# range of d that stage measured only.
: > "$tmp/fns.gp"
while IFS=$'\t' read -r s a b; do
  dmax="$(awk -F'\t' -v s="$s" '$1 == s && $4 > m { m = $4 } END { print m + 0 }' "$tmp/mean")"
  case "$s" in
    bon_*) echo "f_$s(x) = x > $dmax ? NaN : x * ($a - $b * x)" >> "$tmp/fns.gp" ;;
    *) echo "f_$s(x) = x > $dmax ? NaN : x > 0 ? x * ($a - $b * log(x)) : 0" >> "$tmp/fns.gp" ;;
  esac
done < "$tmp/coef"

have() { [ -f "$tmp/curve_$1" ]; }
colors=("#1b9e77" "#d95f02" "#7570b3" "#e7298a" "#66a61e")
# plot_panel TITLE STAGE...: gold gained (solid, points) with its fit and proxy (dashed, right axis).
plot_panel() {
  local title="$1"
  shift
  local cmd="" i=0 s
  for s in "$@"; do
    have "$s" || continue
    local c="${colors[$((i % 5))]}"
    [ -n "$cmd" ] && cmd="$cmd, "
    cmd="$cmd'$tmp/curve_$s' using 1:2 with points pt 7 ps 0.8 lc rgb '$c' title '$s gold'"
    grep -q "^f_$s(" "$tmp/fns.gp" && cmd="$cmd, f_$s(x) with lines lw 2 lc rgb '$c' notitle"
    cmd="$cmd, '$tmp/curve_$s' using 1:3 axes x1y2 with lines dt 2 lw 1.5 lc rgb '$c' title '$s proxy (right)'"
    i=$((i + 1))
  done
  [ -n "$cmd" ] || cmd="0 notitle"
  printf "set title '%s'\nplot %s\n" "$title" "$cmd"
}

{
  echo "set terminal pngcairo noenhanced size 1400,560 font 'sans,10'"
  echo "set output '$out/overoptimization_bon.png'"
  cat "$tmp/fns.gp"
  echo "set multiplot layout 1,2"
  echo "set xlabel 'd = sqrt(KL) (best-of-n: KL = log n - (n-1)/n)'"
  echo "set ylabel 'gold reward gained (nats of log p(true label))'"
  echo "set y2label 'proxy reward gained'"
  echo "set ytics nomirror; set y2tics; set key top left font ',8'; set grid; set samples 400"
  plot_panel "Best-of-n, proxy data N (p = 0.27); lines: fits d(a - b d)" bon_n1k_p27 bon_n4k_p27 bon_n16k_p27 bon_n64k_p27
  plot_panel "Best-of-n, label noise p (N = 16k)" bon_n16k_p0 bon_n16k_p27 bon_n16k_p45
  echo "unset multiplot"
} > "$tmp/bon.gp"
gnuplot "$tmp/bon.gp"

{
  echo "set terminal pngcairo noenhanced size 2000,560 font 'sans,10'"
  echo "set output '$out/overoptimization_ppo.png'"
  cat "$tmp/fns.gp"
  echo "set multiplot layout 1,3"
  echo "set xlabel 'd = sqrt(KL to the initial policy)'"
  echo "set ylabel 'gold reward gained'"
  echo "set y2label 'proxy reward gained'"
  echo "set ytics nomirror; set y2tics; set key top left font ',8'; set grid; set samples 400"
  plot_panel "PPO on the N = 16k, p = 0.27 proxy by KL coefficient, and best-of-n on it; lines: fits" \
    ppo_n16k_p27_kl0 ppo_n16k_p27_kl002 ppo_n16k_p27_kl01 bon_n16k_p27
  plot_panel "PPO without a KL penalty, by proxy data N (p = 0.27)" \
    ppo_n1k_p27_kl0 ppo_n4k_p27_kl0 ppo_n16k_p27_kl0 ppo_n64k_p27_kl0
  plot_panel "PPO without a KL penalty, by label noise p (N = 16k)" \
    ppo_n16k_p0_kl0 ppo_n16k_p27_kl0 ppo_n16k_p45_kl0
  echo "unset multiplot"
} > "$tmp/ppo.gp"
gnuplot "$tmp/ppo.gp"
echo
echo "Plots: $out/overoptimization_bon.png, $out/overoptimization_ppo.png"
