#!/usr/bin/env bash
# Tables and a PNG plot for experiments/results/amplification.md from the logs
# of the amplify stages (ida_permutation.json, ida_permutation_noisy_h.json,
# ida_assignments.json), one or more databases of one task:
#
#   experiments/plots/amplification.sh OUT_DIR NAME DB [DB ...]
#
# Every amplify stage of the newest experiment of each database is a curve.
# Writes OUT_DIR/amplification_NAME.png: the teacher's accuracy against
# rounds at the smallest evaluation size and at the largest size the
# supervised baseline trained on (or the largest evaluation size below it),
# and the curriculum (instance size; the deepest question asked while the
# depth curriculum runs). Prints markdown tables: the final figures per stage,
# the final accuracy per question depth, accuracy every few evaluations, and
# the comparison the issue asks for: the first round at which IDA reaches 90%
# of the supervised baseline's final accuracy at that size.
#
# Intervals: 95% Wilson over the evaluation's questions (questions_nSIZE of
# them: one per element of each fixed evaluation instance; questions of one
# instance share a permutation, so the interval is somewhat too narrow).
# Needs sqlite3 and gnuplot (scripts/setup.sh installs both).
set -euo pipefail

if [ "$#" -lt 3 ]; then
  echo "usage: $0 OUT_DIR NAME DB [DB ...]" >&2
  exit 2
fi
out="$1"
name="$2"
shift 2
mkdir -p "$out"
. "$(dirname "$0")/common.sh"
plots_setup "$@"
newest() { q "$1" "SELECT max(id) FROM experiments"; }

# One line per stage: db, experiment, stage, mode, h_noise, threshold.
: > "$tmp/stages"
for db in "$@"; do
  e="$(newest "$db")"
  [ -n "$e" ] || { echo "$0: $db: no experiment" >&2; exit 2; }
  q "$db" "SELECT json_extract(s.value, '$.name'), coalesce(json_extract(s.value, '$.mode'), 'ida'),
             coalesce(json_extract(s.value, '$.h_noise'), 0), coalesce(json_extract(s.value, '$.curriculum_threshold'), 0.85)
           FROM experiments x, json_each(x.config_json, '$.stages') s
           WHERE x.id = $e AND json_extract(s.value, '$.kind') = 'amplify'" |
    while IFS=$'\t' read -r stage mode noise thr; do
      # Only stages that logged an evaluation.
      n="$(q "$db" "SELECT count(*) FROM metrics WHERE experiment_id = $e AND stage = '$stage' AND name LIKE 'accuracy_n%'")"
      if [ "$n" -gt 0 ]; then printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$db" "$e" "$stage" "$mode" "$noise" "$thr"; fi
    done >> "$tmp/stages"
done
[ -s "$tmp/stages" ] || { echo "$0: no amplify stage with evaluations in $*" >&2; exit 2; }

metric_at() {  # db exp stage name step -> value
  q "$1" "SELECT value FROM metrics WHERE experiment_id = $2 AND stage = '$3' AND name = '$4' AND step = $5"
}
last_step() {  # db exp stage name -> step
  q "$1" "SELECT max(step) FROM metrics WHERE experiment_id = $2 AND stage = '$3' AND name = '$4'"
}
eval_sizes() {  # db exp stage -> sizes, ascending
  q "$1" "SELECT DISTINCT CAST(substr(name, 11) AS INTEGER) AS s FROM metrics WHERE experiment_id = $2
          AND stage = '$3' AND name LIKE 'accuracy_n%' AND name NOT LIKE '%\_d%' ESCAPE '\\' ORDER BY s"
}

# The comparison size: the largest size the (first) supervised stage reached,
# or the largest evaluation size at or below it.
read -r sdb se sstage _ < <(awk -F'\t' '$4 == "supervised"' "$tmp/stages" | head -n1 | tr '\t' ' ') || true
small="$(eval_sizes "$(head -n1 "$tmp/stages" | cut -f1)" "$(head -n1 "$tmp/stages" | cut -f2)" \
         "$(head -n1 "$tmp/stages" | cut -f3)" | head -n1)"
big="$small"
if [ -n "${sstage:-}" ]; then
  reached="$(q "$sdb" "SELECT CAST(max(value) AS INTEGER) FROM metrics WHERE experiment_id = $se AND stage = '$sstage' AND name = 'size'")"
  for s in $(eval_sizes "$sdb" "$se" "$sstage"); do [ "$s" -le "$reached" ] && big="$s"; done
fi

echo "### Final figures"
echo
echo "| stage | targets | H noise | threshold | rounds | largest size (round) | H calls | teacher calls | accuracy n$small | accuracy n$big | largest eval size |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
while IFS=$'\t' read -r db e stage mode noise thr; do
  last="$(last_step "$db" "$e" "$stage" "accuracy_n$small")"
  size_row="$(q "$db" "SELECT CAST(value AS INTEGER), min(step) FROM metrics WHERE experiment_id = $e AND stage = '$stage'
                       AND name = 'size' AND value = (SELECT max(value) FROM metrics WHERE experiment_id = $e
                       AND stage = '$stage' AND name = 'size')")"
  size_row="${size_row/$'\t'/ (}"
  acc() {
    local a n
    a="$(metric_at "$db" "$e" "$stage" "accuracy_n$1" "$last")"
    n="$(metric_at "$db" "$e" "$stage" "questions_n$1" "$last")"
    [ -n "$a" ] || { echo "-"; return; }
    wilson "$a" "${n:-0}" | awk -v s="$1" '{ printf "%.1f%% [%.1f, %.1f]", $1, $2, $3 }'
  }
  top="$(eval_sizes "$db" "$e" "$stage" | tail -n1)"
  hc="$(metric_at "$db" "$e" "$stage" h_calls "$last")"
  tc="$(metric_at "$db" "$e" "$stage" teacher_calls "$last")"
  targets="H + teacher"
  [ "$mode" = supervised ] && targets="ground truth"
  printf '| %s | %s | %s | %s | %s | %s) | %.0f | %.0f | %s | %s | n%s: %s |\n' "$stage" "$targets" "$noise" "$thr" "$last" \
    "$size_row" "${hc:-0}" "${tc:-0}" "$(acc "$small")" "$(acc "$big")" "$top" "$(acc "$top")"
done < "$tmp/stages"

echo
echo "### Final accuracy per question depth at n$small (%)"
echo
depths="$(q "$(head -n1 "$tmp/stages" | cut -f1)" "SELECT DISTINCT CAST(substr(name, length('accuracy_n$small') + 3) AS INTEGER) AS d
          FROM metrics WHERE name LIKE 'accuracy_n${small}_d%' ORDER BY d")"
printf '| stage |'; for d in $depths; do printf ' depth %s |' "$d"; done; echo
printf '|---|'; for d in $depths; do printf -- '---|'; done; echo
while IFS=$'\t' read -r db e stage _; do
  last="$(last_step "$db" "$e" "$stage" "accuracy_n$small")"
  printf '| %s |' "$stage"
  for d in $depths; do
    v="$(metric_at "$db" "$e" "$stage" "accuracy_n${small}_d$d" "$last")"
    if [ -n "$v" ]; then printf ' %.1f |' "$(awk -v v="$v" 'BEGIN{print 100*v}')"; else printf ' - |'; fi
  done
  echo
done < "$tmp/stages"

# Curves: one file per stage, "round acc lo hi" at both sizes, and the curriculum.
i=0
while IFS=$'\t' read -r db e stage _; do
  i=$((i + 1))
  # The stage name, and the database's when another database has a stage of that name.
  if [ "$(awk -F'\t' -v s="$stage" '$3 == s' "$tmp/stages" | wc -l)" -gt 1 ]; then
    echo "$stage ($(basename "$db" .db))" > "$tmp/label_$i"
  else
    echo "$stage" > "$tmp/label_$i"
  fi
  for s in $(eval_sizes "$db" "$e" "$stage"); do
    q "$db" "SELECT a.step, a.value, n.value FROM metrics a JOIN metrics n ON n.experiment_id = a.experiment_id
             AND n.stage = a.stage AND n.step = a.step AND n.name = 'questions_n$s'
             WHERE a.experiment_id = $e AND a.stage = '$stage' AND a.name = 'accuracy_n$s' ORDER BY a.step" |
      while IFS=$'\t' read -r step a n; do echo "$step $(wilson "$a" "$n")"; done > "$tmp/acc_${i}_$s"
  done
  q "$db" "SELECT s.step, s.value, coalesce(d.value, -1) FROM metrics s LEFT JOIN metrics d ON d.experiment_id = s.experiment_id
           AND d.stage = s.stage AND d.step = s.step AND d.name = 'max_depth'
           WHERE s.experiment_id = $e AND s.stage = '$stage' AND s.name = 'size' ORDER BY s.step" |
    tr '\t' ' ' > "$tmp/size_$i"
done < "$tmp/stages"
count="$i"

echo
echo "### Accuracy at n$small against rounds (%)"
echo
steps="$(cut -d' ' -f1 "$tmp/acc_1_$small" | awk 'NR % 4 == 0')"
printf '| stage |'; for s in $steps; do printf ' %s |' "$s"; done; echo
printf '|---|'; for s in $steps; do printf -- '---|'; done; echo
for i in $(seq 1 "$count"); do
  printf '| %s |' "$(cat "$tmp/label_$i")"
  for s in $steps; do
    v="$(awk -v s="$s" '$1 == s { print $2 }' "$tmp/acc_${i}_$small")"
    printf ' %s |' "${v:--}"
  done
  echo
done

sidx="$(awk -F'\t' '$4 == "supervised" { print NR; exit }' "$tmp/stages")"
# compare SIZE: IDA's stages against the supervised baseline's final accuracy at SIZE.
compare() {
  local size="$1" sfinal sround sfirst
  [ -s "$tmp/acc_${sidx}_$size" ] || return 0
  echo
  echo "### IDA against the supervised baseline at n$size"
  echo
  sfinal="$(awk 'END { print $2 }' "$tmp/acc_${sidx}_$size")"
  sround="$(awk 'END { print $1 }' "$tmp/acc_${sidx}_$size")"
  sfirst="$(awk -v a="$sfinal" '$2 >= 0.9 * a { print $1; exit }' "$tmp/acc_${sidx}_$size")"
  echo "Supervised ($sstage) after $sround rounds: $sfinal%; 90% of it: $(awk -v a="$sfinal" 'BEGIN{printf "%.1f", 0.9*a}')%,"
  echo "which the supervised baseline itself first reached at round $sfirst."
  echo
  echo "| stage | first round at >= 90% of it | / supervised's final round | / supervised's first round there | best accuracy (round) |"
  echo "|---|---|---|---|---|"
  for i in $(seq 1 "$count"); do
    [ "$i" = "$sidx" ] && continue
    [ -s "$tmp/acc_${i}_$size" ] || continue
    awk -v a="$sfinal" -v sr="$sround" -v sf="$sfirst" -v label="$(cat "$tmp/label_$i")" '
      $2 >= 0.9 * a && !hit { hit = $1 }
      $2 > best { best = $2; at = $1 }
      END { printf "| %s | %s | %s | %s | %.1f%% (%d) |\n", label, hit ? hit : "not reached",
                   hit ? sprintf("%.2fx", hit / sr) : "-", hit ? sprintf("%.2fx", hit / sf) : "-", best, at }' \
      "$tmp/acc_${i}_$size"
  done
}
if [ -n "${sstage:-}" ]; then
  # At the largest size the baseline trained on, and at the smallest largest
  # size of the other stages (the largest size all of them trained on).
  compare "$big"
  common="$big"
  while IFS=$'\t' read -r db e stage _; do
    r="$(q "$db" "SELECT CAST(max(value) AS INTEGER) FROM metrics WHERE experiment_id = $e AND stage = '$stage' AND name = 'size'")"
    [ "$r" -lt "$common" ] && common="$r"
  done < "$tmp/stages"
  if [ "$common" != "$big" ]; then compare "$common"; fi
fi

colors=(black '#d62728' '#1f77b4' '#2ca02c' '#9467bd' '#ff7f0e' '#8c564b')
{
  echo "set terminal pngcairo size 1000,1100 font 'DejaVu Sans,11'
set output '$out/amplification_$name.png'
set termoption noenhanced
set multiplot layout 3,1
set key outside right
set grid
set xlabel 'rounds (one distillation step each)'"
  for s in "$small" "$big"; do
    parts=()
    for i in $(seq 1 "$count"); do
      c="${colors[$(((i - 1) % ${#colors[@]}))]}"
      parts+=("'$tmp/acc_${i}_$s' using 1:2:3:4 with yerrorlines lc rgb '$c' title '$(cat "$tmp/label_$i")'")
    done
    echo "set title 'Teacher accuracy at $s elements, every question depth (95% Wilson)'"
    echo "set ylabel 'accuracy (%)'"
    echo "set yrange [0:100]"
    echo "plot $(IFS=,; echo "${parts[*]}")"
  done
  parts=()
  for i in $(seq 1 "$count"); do
    c="${colors[$(((i - 1) % ${#colors[@]}))]}"
    parts+=("'$tmp/size_$i' using 1:2 with lines lw 2 lc rgb '$c' title '$(cat "$tmp/label_$i")'")
    parts+=("'$tmp/size_$i' using 1:(\$3 < 0 ? 1/0 : \$3) axes x1y2 with lines dt 3 lc rgb '$c' notitle")
  done
  echo "set title 'Curriculum: size (solid); deepest question while the depth curriculum runs (dotted, right axis)'
set ylabel 'elements'
set y2label 'question depth'
set y2tics
set yrange [7.5:16.5]
set y2range [0:7]"
  echo "plot $(IFS=,; echo "${parts[*]}")"
  echo "unset multiplot"
} | gnuplot
echo
echo "Plot: $out/amplification_$name.png"
