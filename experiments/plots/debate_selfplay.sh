#!/usr/bin/env bash
# Tables and PNG plots for experiments/results/debate_selfplay.md from the
# logs of debate_selfplay.json (and debate_selfplay_dpo.json where it ran),
# one database per seed:
#
#   experiments/plots/debate_selfplay.sh OUT_DIR SEED1.db [SEED2.db ...]
#
# Writes OUT_DIR/debate_selfplay_honest_wins.png (honest win rate of the
# evaluation debates against training updates, per seed, beside the MCTS,
# greedy and SFT debaters on the same images) and, where the DPO config ran,
# OUT_DIR/debate_selfplay_rm_ppo.png (learned reward and the judge's reward
# during reward model + PPO); prints the markdown tables. Needs sqlite3 and
# gnuplot (scripts/setup.sh installs both).
#
# Rates: "per game" is the share of the 900 evaluation games (50 images x 9
# lies x 2 orders) the honest side won; "per image" is Irving et al.'s rule
# (the liar wins an image and order if any of its 9 lies wins), over the 100
# image-order pairs. Intervals: 95% Wilson on the games or image-order pairs
# of one seed (games of one image are correlated, so the per-game interval
# is too narrow).
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 OUT_DIR SEED1.db [SEED2.db ...]" >&2
  exit 2
fi
out="$1"
shift
mkdir -p "$out"
. "$(dirname "$0")/common.sh"
plots_setup "$@"

# Wilson interval of "wins n" on stdin (common.sh's wilson): "rate lo hi" (percent).
wilson_counts() {
  read -r w n
  wilson "$(awk -v w="$w" -v n="$n" 'BEGIN { print n ? w / n : 0 }')" "$n"
}

# SQL: "wins<TAB>n" for the episodes of stage $2 of experiment $1 on the
# evaluation images ($3: SQL list of image prefixes), per game or per image.
per_game() {
  echo "SELECT sum(correct), count(*) FROM episodes WHERE experiment_id = $1 AND stage = '$2'
        AND substr(instance, 1, instr(instance, '#') - 1) IN ($3)"
}
per_image() {
  echo "SELECT sum(ok), count(*) FROM (SELECT min(correct) AS ok FROM episodes
        WHERE experiment_id = $1 AND stage = '$2' AND substr(instance, 1, instr(instance, '#') - 1) IN ($3)
        GROUP BY substr(instance, 1, instr(instance, ',') - 1))"
}

# "rate lo hi image_rate image_lo image_hi" of stage $3 of experiment $2 in
# database $1 on the evaluation images ($images); nothing without episodes.
rates() {
  local game image
  game="$(q "$1" "$(per_game "$2" "$3" "$images")" | tr '\t' ' ')"
  [ "${game#* }" = "0" ] && return 0
  image="$(q "$1" "$(per_image "$2" "$3" "$images")" | tr '\t' ' ')"
  echo "$(echo "$game" | wilson_counts) $(echo "$image" | wilson_counts)"
}

stages=(liar_ppo_1 honest_ppo_1 liar_ppo_2 honest_ppo_2)
seed_no=0
for db in "$@"; do
  seed_no=$((seed_no + 1))
  exp="$(q "$db" "SELECT max(id) FROM experiments WHERE name = 'debate_selfplay'")"
  if [ -z "$exp" ]; then
    echo "$0: $db: no debate_selfplay experiment" >&2
    exit 2
  fi
  seed="$(q "$db" "SELECT seed FROM experiments WHERE id = $exp")"
  echo "$seed" >> "$tmp/seeds"
  images="SELECT DISTINCT substr(instance, 1, instr(instance, '#') - 1) FROM episodes
          WHERE experiment_id = $exp AND stage = 'liar_ppo_1@0000'"
  # The evaluation curve: x = updates of the whole alternation.
  offset=0
  for s in "${stages[@]}"; do
    for u in 0 20 40 60 80 100; do
      stage="$(printf '%s@%04d' "$s" "$u")"
      r="$(rates "$db" "$exp" "$stage")"
      [ -n "$r" ] && echo "$((offset + u)) $stage $r $seed" >> "$tmp/curve_$seed_no"
    done
    offset=$((offset + 100))
  done
  # Baselines on the same images: self-play of MCTS (debate_mnist.json,
  # 1,000 rollouts), greedy and SFT policies.
  mcts="$(q "$db" "SELECT max(id) FROM experiments WHERE name = 'debate_mnist'")"
  for b in "mcts:${mcts}:debate_k6_precommit" "greedy:$exp:greedy_eval" "sft:$exp:sft_eval"; do
    IFS=: read -r label bexp bstage <<< "$b"
    [ -z "$bexp" ] && continue
    r="$(rates "$db" "$bexp" "$bstage")"
    [ -n "$r" ] && echo "$label $r $seed" >> "$tmp/baselines"
  done
  # Moves per second: the trained player's, batched across the games of a
  # PPO update (metric moves_per_s), and one game at a time (turn latency).
  q "$db" "SELECT '$seed', avg(value) FROM metrics WHERE experiment_id = $exp AND name = 'moves_per_s'" \
    >> "$tmp/moves_batched"
  q "$db" "SELECT '$seed', t.agent, count(*), avg(t.latency_ms) FROM turns t JOIN episodes e ON e.id = t.episode_id
           WHERE ((e.experiment_id = $exp AND e.stage = 'sft_eval') OR (e.experiment_id = ${mcts:-0} AND
           e.stage = 'debate_k6_precommit')) AND json_extract(t.action, '$.pixel') IS NOT NULL GROUP BY 1, 2" \
    >> "$tmp/latency"
  # Reward model + PPO and DPO (debate_selfplay_dpo.json).
  dpo="$(q "$db" "SELECT max(id) FROM experiments WHERE name = 'debate_selfplay_dpo'")"
  if [ -n "$dpo" ]; then
    for u in 0 20 40 60 80 100; do
      stage="$(printf 'honest_rm_ppo@%04d' "$u")"
      r="$(rates "$db" "$dpo" "$stage")"
      [ -n "$r" ] && echo "$u $stage $r $seed" >> "$tmp/rm_curve_$seed_no"
    done
    q "$db" "SELECT p.step, p.value, g.value, '$seed' FROM metrics p JOIN metrics g ON g.experiment_id = p.experiment_id
             AND g.stage = p.stage AND g.step = p.step AND g.name = 'gold_reward'
             WHERE p.experiment_id = $dpo AND p.stage = 'honest_rm_ppo' AND p.name = 'proxy_reward' ORDER BY p.step" \
      | tr '\t' ' ' > "$tmp/rm_rewards_$seed_no"
    for pair in "sft vs liar_1:$exp:liar_ppo_1@0100" "ppo on the judge:$exp:honest_ppo_1@0100" \
                "reward model + ppo:$dpo:honest_rm_ppo@0100" "dpo:$dpo:dpo_eval"; do
      IFS=: read -r label bexp bstage <<< "$pair"
      r="$(rates "$db" "$bexp" "$bstage")"
      [ -n "$r" ] && echo "$label|$r|$seed" >> "$tmp/honest_methods"
    done
    q "$db" "SELECT '$seed', stage, name, value FROM metrics WHERE experiment_id = $dpo AND
             ((stage = 'rm' AND name IN ('accuracy', 'heldout_accuracy', 'heldout_margin')) OR
              (stage = 'honest_dpo' AND name IN ('accuracy', 'heldout_accuracy', 'heldout_margin')))
             AND step = (SELECT max(step) FROM metrics m WHERE m.experiment_id = $dpo AND m.stage = metrics.stage
                         AND m.name = metrics.name)" >> "$tmp/pref_models"
  fi
done

# --- tables -------------------------------------------------------------
echo "### Honest win rate of the evaluation debates against training updates"
echo
echo "Columns per seed: per game [95% CI] / per image (Irving et al.'s rule) [95% CI]."
echo
header="| update | stage |"
rule="| ---: | --- |"
for f in "$tmp"/curve_*; do
  header="$header seed $(awk 'NR==1{print $9}' "$f") |"
  rule="$rule --- |"
done
echo "$header mean per game | mean per image |"  # means over the seeds that have the row
echo "$rule ---: | ---: |"
awk -v n="$seed_no" '
  FNR == 1 { ++f }
  { key = $1 " " $2; if (!(key in seen)) { seen[key] = 1; order[++rows] = key }
    cell[key, f] = sprintf(" %s%% [%s, %s] / %s%% [%s, %s] |", $3, $4, $5, $6, $7, $8)
    g[key] += $3; im[key] += $6; cnt[key]++ }
  END { for (r = 1; r <= rows; ++r) { key = order[r]; split(key, k, " ")
      line = "| " k[1] " | " k[2] " |"
      for (i = 1; i <= n; ++i) line = line ((key, i) in cell ? cell[key, i] : " — |")
      printf "%s %.1f%% | %.1f%% |\n", line, g[key] / cnt[key], im[key] / cnt[key] } }' "$tmp"/curve_*
echo
echo "### Baselines on the same images (self-play, both sides the same debater)"
echo
echo "| debater | seed db | per game [95% CI] | per image [95% CI] |"
echo "| --- | --- | --- | --- |"
awk '{ printf "| %s | %s | %s%% [%s, %s] | %s%% [%s, %s] |\n", $1, $8, $2, $3, $4, $5, $6, $7 }' "$tmp/baselines"
echo
echo "### Moves per second"
echo
echo "| seed | debater | moves logged | ms per move (one game at a time) |"
echo "| --- | --- | ---: | ---: |"
awk -F'\t' '{ printf "| %s | %s | %d | %.2f |\n", $1, $2, $3, $4 }' "$tmp/latency"
awk -F'\t' '{ printf "\nPPO rollouts, seed %s: %.0f policy moves/s (the games of an update in one forward per round).\n", $1, $2 }' \
  "$tmp/moves_batched"
if [ -s "$tmp/honest_methods" ]; then
  echo
  echo "### The honest policy against selfplay_liar_1, by training method"
  echo
  echo "| method | seed | per game [95% CI] | per image [95% CI] |"
  echo "| --- | --- | --- | --- |"
  awk -F'|' '{ split($2, r, " ")
    printf "| %s | %s | %s%% [%s, %s] | %s%% [%s, %s] |\n", $1, $3, r[1], r[2], r[3], r[4], r[5], r[6] }' \
    "$tmp/honest_methods"
  echo
  echo "### Preference models (last step)"
  echo
  echo "| seed | stage | metric | value |"
  echo "| --- | --- | --- | ---: |"
  awk -F'\t' '{ printf "| %s | %s | %s | %.3f |\n", $1, $2, $3, $4 }' "$tmp/pref_models"
fi

# --- plots ----------------------------------------------------------------
# Two panels (per game, per image), one line per seed, the baselines of the
# first seed's database as horizontal lines.
panel() {  # TITLE RATE_COLUMNS BASELINE_COLUMN
  local parts=() f s label rate lo hi irate ilo ihi bs
  for f in "$tmp"/curve_*; do
    s="$(awk 'NR==1{print $9}' "$f")"
    parts+=("'$f' using 1:$2 with yerrorlines title 'seed $s'")
  done
  while read -r label rate lo hi irate ilo ihi bs; do
    [ "$bs" = "$(head -n1 "$tmp/seeds")" ] || continue
    if [ "$3" = 2 ]; then parts+=("$rate with lines dt 4 lw 2 title '$label self-play'")
    else parts+=("$irate with lines dt 4 lw 2 title '$label self-play'"); fi
  done < "$tmp/baselines"
  echo "set title '$1'"
  echo "plot $(IFS=,; echo "${parts[*]}")"
}
{
  echo "set terminal pngcairo size 1000,900 font 'DejaVu Sans,11'
set output '$out/debate_selfplay_honest_wins.png'
set termoption noenhanced
set multiplot layout 2,1
set xlabel 'PPO updates: liar 1 | honest 1 | liar 2 | honest 2 (evaluation: 50 test images x 9 lies x 2 orders)'
set ylabel 'honest wins (%)'
set key outside right
set grid
set xrange [-5:405]
set arrow 1 from 100, graph 0 to 100, graph 1 nohead dt 3
set arrow 2 from 200, graph 0 to 200, graph 1 nohead dt 3
set arrow 3 from 300, graph 0 to 300, graph 1 nohead dt 3"
  panel "Honest wins per game (95% Wilson)" "3:4:5" 2
  panel "Honest wins per image and order: the liar wins if any of its 9 lies wins" "6:7:8" 5
  echo "unset multiplot"
} | gnuplot

rm_files=()
for f in "$tmp"/rm_rewards_*; do [ -s "$f" ] && rm_files+=("$f"); done
if [ "${#rm_files[@]}" -gt 0 ]; then
  # Top: the honest policy's evaluation win rate per game against updates,
  # PPO on the judge (honest_ppo_1) and PPO on the reward model, DPO's
  # policy at the right edge. Bottom: the learned and the judge's reward per
  # update, as 10-update running means.
  top=() bottom=()
  for n in $(seq "$seed_no"); do
    [ -s "$tmp/rm_curve_$n" ] || continue
    s="$(awk 'NR==1{print $9}' "$tmp/rm_curve_$n")"
    awk '$2 ~ /^honest_ppo_1@/ { $1 -= 100; print }' "$tmp/curve_$n" > "$tmp/judge_curve_$n"
    awk -F'|' -v s="$s" '$1 == "dpo" && $3 == s { print 100, $2 }' "$tmp/honest_methods" > "$tmp/dpo_$n"
    top+=("'$tmp/judge_curve_$n' using 1:3:4:5 with yerrorlines title 'PPO on the judge, seed $s'")
    top+=("'$tmp/rm_curve_$n' using 1:3:4:5 with yerrorlines title 'PPO on the reward model, seed $s'")
    [ -s "$tmp/dpo_$n" ] && top+=("'$tmp/dpo_$n' using 1:2:3:4 with yerrorbars pt 7 title 'DPO, seed $s'")
  done
  for f in "${rm_files[@]}"; do
    s="$(awk 'NR==1{print $4}' "$f")"
    awk '{ p[NR] = $2; g[NR] = $3; sp += $2; sg += $3; if (NR > 10) { sp -= p[NR-10]; sg -= g[NR-10] }
           k = NR < 10 ? NR : 10; print $1, sp / k, sg / k }' "$f" > "$f.mean"
    bottom+=("'$f.mean' using 1:2 with lines title 'learned reward (proxy), seed $s'")
    bottom+=("'$f.mean' using 1:3 with lines dt 2 axes x1y2 title \"judge's reward (gold), seed $s\"")
  done
  echo "set terminal pngcairo size 1000,900 font 'DejaVu Sans,11'
set output '$out/debate_selfplay_rm_ppo.png'
set termoption noenhanced
set multiplot layout 2,1
set key outside right
set grid
set xrange [-5:105]
set title 'Honest policy vs selfplay_liar_1, evaluation debates (900 games)'
set xlabel 'PPO updates'
set ylabel 'honest wins per game (%)'
plot $(IFS=,; echo "${top[*]}")
set title 'PPO on the reward model: rewards per update (10-update running means)'
set ylabel 'reward model score'
set y2label \"judge's reward (win 1, loss -1)\"
set y2tics
set ytics nomirror
plot $(IFS=,; echo "${bottom[*]}")
unset multiplot" | gnuplot
fi
echo
echo "Plots: $out/debate_selfplay_honest_wins.png$([ -f "$out/debate_selfplay_rm_ppo.png" ] && echo " $out/debate_selfplay_rm_ppo.png")"
