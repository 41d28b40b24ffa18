#!/usr/bin/env bash
# Tables and a PNG plot for experiments/results/process_supervision.md from
# the logs of process_vs_outcome.json, one database per seed:
#
#   experiments/plots/process_supervision.sh [--name NAME] OUT_DIR DB [DB ...]
#
# Every stage that measured a policy on the test problems (process_sft,
# process_ppo, process_eval) in the finished experiments of each database
# (and its newest) is a method; its last evaluation counts (a later
# experiment's stage of the same name replaces an earlier one). Prints markdown tables: per method the
# final-answer error and trace error (Uesato et al.: the share of
# final-answer-correct solutions with a wrong step) of each seed, and pooled
# over the seeds (counts summed) with 95% Wilson intervals; the trace error
# of each process-supervised method over that of its outcome counterpart;
# the reward models' held-out accuracy. Writes OUT_DIR/NAME.png (NAME:
# process_supervision unless --name): both errors against PPO updates,
# pooled over the seeds.
#
# Intervals: Wilson over the test problems (final-answer error) or over the
# final-answer-correct solutions (trace error). The seeds differ in
# everything (demonstrations, test problems, initialisation), so the pooled
# interval does not include the spread between seeds; the per-seed columns show it.
# Needs sqlite3 and gnuplot (scripts/setup.sh installs both).
set -euo pipefail

name=process_supervision
if [ "${1:-}" = "--name" ]; then
  name="${2:?usage: $0 [--name NAME] OUT_DIR DB [DB ...]}"
  shift 2
fi
if [ "$#" -lt 2 ]; then
  echo "usage: $0 [--name NAME] OUT_DIR DB [DB ...]" >&2
  exit 2
fi
out="$1"
shift
mkdir -p "$out"
. "$(dirname "$0")/common.sh"
plots_setup "$@"

# The last evaluation of every evaluated stage: db, experiment, stage, kind,
# problems, final_correct, trace_errors.
: > "$tmp/rows"
for db in "$@"; do
  [ -n "$(q "$db" "SELECT max(id) FROM experiments")" ] || { echo "$0: $db: no experiment" >&2; exit 2; }
  for e in $(q "$db" "SELECT id FROM experiments WHERE status = 'finished' OR id = (SELECT max(id) FROM experiments) ORDER BY id"); do
    q "$db" "SELECT json_extract(s.value, '$.name'), json_extract(s.value, '$.kind')
             FROM experiments x, json_each(x.config_json, '$.stages') s WHERE x.id = $e ORDER BY s.key" |
      while IFS=$'\t' read -r stage kind; do
        row="$(q "$db" "SELECT max(CASE WHEN name = 'test_problems' THEN value END),
                               max(CASE WHEN name = 'final_correct' THEN value END),
                               max(CASE WHEN name = 'trace_errors' THEN value END)
                        FROM metrics WHERE experiment_id = $e AND stage = '$stage' AND step =
                          (SELECT max(step) FROM metrics WHERE experiment_id = $e AND stage = '$stage' AND name = 'test_problems')")"
        case "$row" in '' | $'\t\t') continue ;; esac
        printf '%s\t%s\t%s\t%s\t%s\n' "$db" "$e" "$stage" "$kind" "$row"
      done
  done
done > "$tmp/all"
# A stage evaluated again by a later experiment of the same file: the later one counts.
awk -F'\t' '{ key = $1 SUBSEP $3; if (!(key in row)) order[++k] = key; row[key] = $0 }
             END { for (i = 1; i <= k; i++) print row[order[i]] }' "$tmp/all" > "$tmp/rows"
[ -s "$tmp/rows" ] || { echo "$0: no evaluated process stage in $*" >&2; exit 2; }
seeds="$#"

# Per method (in config order): per-seed figures, then pooled.
cut -f3 "$tmp/rows" | awk '!seen[$0]++' > "$tmp/methods"
{
  printf '| method |'
  for db in "$@"; do printf ' %s: final / trace |' "$(basename "$db" .db)"; done
  printf ' pooled final-answer error [95%%] | pooled trace error [95%%] |\n|---|'
  for _ in "$@"; do printf -- '---|'; done
  printf -- '---|---|\n'
  while read -r m; do
    printf '| %s |' "$m"
    for db in "$@"; do
      awk -F'\t' -v db="$db" -v m="$m" '$1 == db && $3 == m {
        printf " %.1f%% / %.1f%% |", 100 * (1 - $6 / $5), ($6 > 0 ? 100 * $7 / $6 : 0); found = 1 }
        END { if (!found) printf " - |" }' "$tmp/rows"
    done
    read -r n c t < <(awk -F'\t' -v m="$m" '$3 == m { n += $5; c += $6; t += $7 } END { print n, c, t }' "$tmp/rows")
    f="$(wilson "$(awk -v n="$n" -v c="$c" 'BEGIN { print 1 - c / n }')" "$n")"
    r="$(wilson "$(awk -v c="$c" -v t="$t" 'BEGIN { print (c > 0 ? t / c : 0) }')" "$c")"
    echo "$f" | awk '{ printf " %.1f%% [%.1f, %.1f] |", $1, $2, $3 }'
    echo "$r" | awk -v t="$t" -v c="$c" '{ printf " %.1f%% [%.1f, %.1f] (%d of %d) |\n", $1, $2, $3, t, c }'
  done < "$tmp/methods"
} > "$tmp/table"
echo "Each method on the same test problems of its seed ($seeds seeds), greedy unless reranking:"
echo
cat "$tmp/table"
echo

# Process over outcome, pooled: the ratio of trace errors and the difference
# of final-answer errors, for each pair the config has.
pooled() {
  awk -F'\t' -v m="$1" '$3 == m { n += $5; c += $6; t += $7 } END { if (n) printf "%.4f %.4f\n", 1 - c / n, (c ? t / c : 0) }' "$tmp/rows"
}
echo "| process-based | outcome-based | final-answer error difference (points) | trace error ratio |"
echo "|---|---|---|---|"
for pair in "process_rl outcome_rl" "process_rm_rl outcome_rm_rl" "rerank_prm rerank_orm" \
             "process_rl_flip20 outcome_rl" "rerank_prm_flip20 rerank_orm" \
             "rerank_process_oracle rerank_outcome_oracle" "rerank_process_oracle_flip20 rerank_outcome_oracle" \
             "rerank_prm rerank_outcome_oracle" "rerank_prm rerank_orm_steps" "rerank_prm rerank_orm_steps_64k" \
             "rerank_prm_flip20 rerank_outcome_oracle" \
             "sampled_process_rl sampled_outcome_rl" "sampled_process_rm_rl sampled_outcome_rm_rl" \
             "sampled_process_rl_flip20 sampled_outcome_rl"; do
  read -r p o <<< "$pair"
  a="$(pooled "$p")"; b="$(pooled "$o")"
  [ -n "$a" ] && [ -n "$b" ] || continue
  read -r pf pt <<< "$a"; read -r of ot <<< "$b"
  awk -v p="$p" -v o="$o" -v pf="$pf" -v pt="$pt" -v of="$of" -v ot="$ot" 'BEGIN {
    printf "| %s | %s | %+.1f | %s |\n", p, o, 100 * (pf - of), (ot > 0 ? sprintf("%.2f", pt / ot) : "-") }'
done
echo

# PPO's own samples (temperature 1, fresh problems every update): the mean
# over the last 50 updates of each seed, then over the seeds.
echo "| PPO stage | sampled final-answer error (T = 1, last 50 updates) | sampled trace error |"
echo "|---|---|---|"
awk -F'\t' '$4 == "process_ppo" { print $1 "\t" $2 "\t" $3 }' "$tmp/rows" | while IFS=$'\t' read -r db e stage; do
  q "$db" "SELECT stage, avg(CASE WHEN name = 'sample_final_error' THEN value END), avg(CASE WHEN name = 'sample_trace_error' THEN value END)
           FROM metrics m WHERE experiment_id = $e AND stage = '$stage' AND name IN ('sample_final_error', 'sample_trace_error')
             AND step > (SELECT max(step) FROM metrics WHERE experiment_id = $e AND stage = '$stage') - 50"
done | awk -F'\t' '!($1 in n) { order[++k] = $1 } { n[$1]++; f[$1] += $2; t[$1] += $3 }
         END { for (i = 1; i <= k; i++) { s = order[i]; printf "| %s | %.1f%% | %.1f%% |\n", s, 100 * f[s] / n[s], 100 * t[s] / n[s] } }'
echo

# Trace error at matched final-answer error: every logged figure of PPO's
# own samples (a mean over log_every updates) falls in a bin of its sampled
# final-answer error; per stage and bin, the mean sampled trace error over
# all seeds (and how many logged figures).
echo "Trace error of PPO's own samples at matched final-answer error (mean over the logged figures in each bin, all seeds):"
echo
awk -F'\t' '$4 == "process_ppo" { print $1 "\t" $2 "\t" $3 }' "$tmp/rows" | while IFS=$'\t' read -r db e stage; do
  q "$db" "SELECT '$stage', f.value, t.value FROM metrics f JOIN metrics t ON t.experiment_id = f.experiment_id AND
             t.stage = f.stage AND t.step = f.step AND t.name = 'sample_trace_error'
           WHERE f.experiment_id = $e AND f.stage = '$stage' AND f.name = 'sample_final_error'"
done | awk -F'\t' '
  function bin(f) { return f >= 0.3 ? 0 : f >= 0.2 ? 1 : f >= 0.1 ? 2 : f >= 0.05 ? 3 : f >= 0.02 ? 4 : 5 }
  BEGIN { label[0] = ">= 30%"; label[1] = "20-30%"; label[2] = "10-20%"; label[3] = "5-10%"; label[4] = "2-5%"; label[5] = "< 2%" }
  { if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } b = bin($2); n[$1, b]++; t[$1, b] += $3 }
  END {
    printf "| PPO stage |"; for (b = 0; b <= 5; b++) printf " final error %s |", label[b]; printf "\n|---|"
    for (b = 0; b <= 5; b++) printf "---|"; printf "\n"
    for (i = 1; i <= k; i++) { s = order[i]; printf "| %s |", s
      for (b = 0; b <= 5; b++) if (n[s, b]) printf " %.1f%% (%d) |", 100 * t[s, b] / n[s, b], n[s, b]; else printf " - |"
      printf "\n" } }'
echo

# The reward models: held-out accuracy against the logged (possibly noisy)
# labels and against the true ones, per seed.
echo "| reward model | objective | held-out accuracy (logged labels) | (true labels) |"
echo "|---|---|---|---|"
for db in "$@"; do
  q "$db" "SELECT x.id, json_extract(s.value, '$.name'), coalesce(json_extract(s.value, '$.objective'), 'process'),
                  coalesce(json_extract(s.value, '$.outcome_targets'), 'last_step')
           FROM experiments x, json_each(x.config_json, '$.stages') s
           WHERE (x.status = 'finished' OR x.id = (SELECT max(id) FROM experiments))
             AND json_extract(s.value, '$.kind') = 'process_rm' ORDER BY x.id, s.key" |
    while IFS=$'\t' read -r e stage objective targets; do
      [ "$objective" = outcome ] && objective="outcome ($targets)"
      read -r a t < <(q "$db" "SELECT max(CASE WHEN name = 'heldout_accuracy' THEN value END),
                                      max(CASE WHEN name = 'heldout_true_accuracy' THEN value END)
                               FROM metrics WHERE experiment_id = $e AND stage = '$stage' AND step =
                                 (SELECT max(step) FROM metrics WHERE experiment_id = $e AND stage = '$stage')" | tr '\t' ' ')
      awk -v s="$(basename "$db" .db)/$stage" -v o="$objective" -v a="${a:-0}" -v t="${t:-0}" \
        'BEGIN { printf "| %s | %s | %.1f%% | %.1f%% |\n", s, o, 100 * a, 100 * t }'
    done
done
echo

# Curves: PPO stages, pooled over the seeds, at every evaluation.
: > "$tmp/curves"
awk -F'\t' '$4 == "process_ppo" { print $3 }' "$tmp/rows" | awk '!seen[$0]++' > "$tmp/ppo"
while read -r m; do
  awk -F'\t' -v m="$m" '$3 == m { print $1 "\t" $2 }' "$tmp/rows" | while IFS=$'\t' read -r db e; do
    q "$db" "SELECT step, max(CASE WHEN name = 'test_problems' THEN value END), max(CASE WHEN name = 'final_correct' THEN value END),
                    max(CASE WHEN name = 'trace_errors' THEN value END)
             FROM metrics WHERE experiment_id = $e AND stage = '$m' AND name IN ('test_problems', 'final_correct', 'trace_errors')
             GROUP BY step"
  done | awk -F'\t' '{ n[$1] += $2; c[$1] += $3; t[$1] += $4 }
           END { for (s in n) printf "%d %.4f %.4f\n", s, 100 * (1 - c[s] / n[s]), (c[s] ? 100 * t[s] / c[s] : 0) }' |
    sort -n > "$tmp/curve_$m"
done < "$tmp/ppo"
# The SFT policy is every PPO stage's update 0.
sft="$(awk -F'\t' '$4 == "process_sft" { print $3; exit }' "$tmp/rows")"
if [ -n "$sft" ]; then
  sft_point="$(pooled "$sft" | awk '{ printf "0 %.4f %.4f", 100 * $1, 100 * $2 }')"
  while read -r m; do
    { echo "$sft_point"; cat "$tmp/curve_$m"; } > "$tmp/c" && mv "$tmp/c" "$tmp/curve_$m"
  done < "$tmp/ppo"
fi
if [ ! -s "$tmp/ppo" ]; then
  echo
  echo "(no PPO stage has evaluated yet: no plot)"
  exit 0
fi
colors=('#d62728' '#1f77b4' '#2ca02c' '#9467bd' '#ff7f0e' '#8c564b')
{
  echo "set terminal pngcairo size 1000,800 font 'DejaVu Sans,11'
set output '$out/$name.png'
set termoption noenhanced
set multiplot layout 2,1
set key outside right
set grid
set xlabel 'PPO updates (256 problems each)'"
  for col in 2 3; do
    if [ "$col" = 2 ]; then echo "set ylabel 'final-answer error (%)'"; else echo "set ylabel 'trace error (%)'"; fi
    parts=()
    i=0
    while read -r m; do
      parts+=("'$tmp/curve_$m' using 1:$col with linespoints lw 2 lc rgb '${colors[$((i % ${#colors[@]}))]}' title '$m'")
      i=$((i + 1))
    done < "$tmp/ppo"
    (IFS=,; echo "plot ${parts[*]}")
  done
  echo "unset multiplot"
} | gnuplot
echo
echo "Plot: $out/$name.png"
