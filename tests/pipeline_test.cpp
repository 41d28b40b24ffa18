// End-to-end tests through the real `oversight` binary: real MNIST, a real
// LibTorch judge (trained by the fixture_tiny_judge test), real
// SQLite files, real signals.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/dataset.h"
#include "engine/store.h"
#include "engine/util.h"
#include "net/judge_service.h"
#include "tests/test_util.h"

using namespace oversight;
using namespace oversight::testing;
namespace fs = std::filesystem;

namespace {

// A copy of the fixture database (the trained judge's artifacts stay where
// the fixture wrote them; the copy refers to them by absolute path).
std::string CopyFixture(const TempDir& dir) {
  const std::string db = dir / "runs.db";
  fs::copy_file(TinyJudgeDb(), db);
  return db;
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv{const_cast<char*>(OVERSIGHT_BIN)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(OVERSIGHT_BIN, argv.data());
    _exit(127);
  }
  return pid;
}

int WaitStatus(pid_t pid) {
  int raw = 0;
  waitpid(pid, &raw, 0);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

long CountEpisodes(const std::string& db, const std::string& stage = "direct_k4") {
  try {
    return std::stol(
        QueryOne(db, "SELECT count(*) FROM episodes WHERE stage = '" + stage + "'"));
  } catch (const std::exception&) {
    return 0;  // not created yet
  }
}

// Waits until the run has committed some but not all episodes, then signals.
void SignalMidway(pid_t pid, const std::string& db, int sig, const std::string& stage) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (CountEpisodes(db, stage) >= 50) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, sig);
}

// Starts `oversight run CONFIG --db DB`, presses Ctrl-C once `artifact` is
// among the run's artifacts (a trainer's first checkpoint) and returns the
// exit status.
int InterruptAtArtifact(const TempDir& dir, const std::string& db, const std::string& config,
                        const std::vector<std::string>& extra, const std::string& artifact) {
  std::vector<std::string> args{"run", ConfigPath(config), "--db", db};
  args.insert(args.end(), extra.begin(), extra.end());
  const pid_t pid = Spawn(args, dir / "run.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (QueryOne(db, "SELECT count(*) FROM artifacts WHERE name = '" + artifact + "'") != "0") break;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGINT);
  return WaitStatus(pid);
}

// Starts tiny_episodes.json on `db`, sends `sig` once some episodes are
// committed, and returns the exit status.
int RunAndSignal(const TempDir& dir, const std::string& db, int sig,
                 const std::string& config = "tiny_episodes.json",
                 const std::string& stage = "direct_k4") {
  const pid_t pid = Spawn({"run", ConfigPath(config), "--db", db}, dir / "run.log");
  SignalMidway(pid, db, sig, stage);
  return WaitStatus(pid);
}

// Everything about the episodes of `stage` that must not depend on threads,
// interruption or resumption (ids and times aside), one string per episode.
// `logit_digits` > 0 keeps only the judge's verdict and honest margin to
// that many decimals (torch batches of different sizes differ in the last
// float bits).
std::vector<std::string> EpisodeFingerprints(const std::string& db, const std::string& stage,
                                             int logit_digits = 0) {
  const std::string judgement =
      logit_digits > 0 ? "printf('%." + std::to_string(logit_digits) +
                             "f', json_extract(j.detail, '$.honest_margin'))"
                       : "j.confidence || ':' || j.detail";
  return QueryColumn(
      db,
      "SELECT e.idx || '|' || e.seed || '|' || e.instance || '|' || e.truth || '|' || "
      "e.outcome || '|' || e.correct || '|' || e.status || '|' || "
      "(SELECT group_concat(t.idx || ':' || t.role || ':' || t.action, ';') FROM "
      "  (SELECT * FROM turns WHERE episode_id = e.id ORDER BY idx) t) || '|' || "
      "(SELECT group_concat(j.verdict || ':' || " + judgement + ", ';') "
      "   FROM judgements j WHERE j.episode_id = e.id) "
      "FROM episodes e WHERE e.stage = '" + stage + "' ORDER BY e.idx");
}

// The reference: an uninterrupted run of tiny_episodes.json on 2 workers.
const std::vector<std::string>& Reference() {
  static const std::vector<std::string> ref = [] {
    TempDir dir("reference");
    const std::string db = CopyFixture(dir);
    const CommandResult r =
        RunOversight({"run", ConfigPath("tiny_episodes.json"), "--db", db, "--threads", "2"});
    if (r.status != 0) throw std::runtime_error("reference run failed: " + r.err);
    return EpisodeFingerprints(db, "direct_k4");
  }();
  return ref;
}

}  // namespace

TEST_CASE("The judge learns and its run is fully logged", "[pipeline]") {
  const std::string db = TinyJudgeDb();
  REQUIRE(fs::exists(db));
  CHECK(QueryOne(db, "SELECT status FROM experiments") == "finished");
  CHECK(QueryOne(db, "PRAGMA user_version") == "3");
  const double acc = std::stod(QueryOne(
      db, "SELECT value FROM metrics WHERE name = 'heldout_accuracy' ORDER BY step DESC LIMIT 1"));
  CHECK(acc > 0.25);  // chance is 0.10; 150 batches reach about 0.45
  // Loss falls.
  const auto losses = QueryColumn(db, "SELECT value FROM metrics WHERE name='loss' ORDER BY step");
  REQUIRE(losses.size() == 6);
  CHECK(std::stod(losses.back()) < std::stod(losses.front()) - 0.3);
  // The judge artifact is on disk with the recorded hash.
  const auto path = QueryOne(db, "SELECT path FROM artifacts WHERE kind='judge' AND name='tiny_judge_k6'");
  CHECK(Sha256File(path) ==
        QueryOne(db, "SELECT sha256 FROM artifacts WHERE kind='judge' AND name='tiny_judge_k6'"));
  // 300 direct episodes: 6 reveal turns and one judgement with 10 logits each;
  // correct is exactly (verdict == truth) and the direct accuracy is above chance.
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes WHERE stage='direct'") == "300");
  CHECK(QueryOne(db, "SELECT count(*) FROM turns") == "1800");
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements WHERE judge_kind='model' AND "
                     "json_array_length(json_extract(detail, '$.logits')) = 10") == "300");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e JOIN judgements j ON j.episode_id = e.id "
                     "WHERE e.correct != (j.verdict = e.truth)") == "0");
  CHECK(std::stod(QueryOne(db, "SELECT avg(correct) FROM episodes")) > 0.25);
  // Each revealed pixel is nonzero and distinct within its episode.
  CHECK(QueryOne(db, "SELECT count(*) FROM turns WHERE json_extract(action,'$.value') <= 0") == "0");
  CHECK(QueryOne(db, "SELECT count(*) FROM (SELECT episode_id, json_extract(action,'$.pixel') p "
                     "FROM turns GROUP BY 1, 2 HAVING count(*) > 1)") == "0");
}

TEST_CASE("One and two episode workers give identical episodes", "[pipeline]") {
  TempDir dir("threads");
  const std::string db = CopyFixture(dir);
  const CommandResult r = RunOversight(
      {"run", ConfigPath("tiny_episodes.json"), "--db", db, "--threads", "1"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto one = EpisodeFingerprints(db, "direct_k4");
  CHECK(one.size() == 2000);
  CHECK(one == Reference());
}

TEST_CASE("Ctrl-C marks the experiment interrupted and --resume completes it exactly", "[pipeline]") {
  TempDir dir("sigint");
  const std::string db = CopyFixture(dir);
  CHECK(RunAndSignal(dir, db, SIGINT) == 130);
  CHECK(QueryOne(db, "SELECT status FROM experiments WHERE name='tiny_episodes'") == "interrupted");
  const long partial = CountEpisodes(db);
  CHECK(partial > 0);
  CHECK(partial < 2000);
  // No partial episode: every logged episode has its 4 turns and its judgement.
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e WHERE e.stage = 'direct_k4' AND "
                     "((SELECT count(*) FROM turns t WHERE t.episode_id = e.id) != 4 OR (SELECT count(*) FROM judgements j WHERE "
                     "j.episode_id = e.id) != 1)") == "0");

  const std::vector<std::string> resumed_args{"run", ConfigPath("tiny_episodes.json"), "--db",
                                              db, "--resume"};
  const CommandResult r = RunOversight(resumed_args);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(QueryOne(db, "SELECT status FROM experiments WHERE name='tiny_episodes'") == "finished");
  CHECK(QueryOne(db, "SELECT count(*) FROM experiments WHERE name='tiny_episodes'") == "1");
  CHECK(EpisodeFingerprints(db, "direct_k4") == Reference());
  // A finished experiment cannot be resumed again.
  const CommandResult again = RunOversight(resumed_args);
  CHECK(again.status == 2);
  CHECK_THAT(again.err, Catch::Contains("no unfinished experiment named 'tiny_episodes'"));
}

TEST_CASE("After SIGKILL the file is intact and --resume completes it", "[pipeline]") {
  TempDir dir("sigkill");
  const std::string db = CopyFixture(dir);
  CHECK(RunAndSignal(dir, db, SIGKILL) == 128 + SIGKILL);
  CHECK(QueryOne(db, "PRAGMA integrity_check") == "ok");
  CHECK(QueryOne(db, "SELECT status FROM experiments WHERE name='tiny_episodes'") == "running");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e WHERE e.stage = 'direct_k4' AND "
                     "(SELECT count(*) FROM turns t WHERE t.episode_id = e.id) != 4") == "0");
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_episodes.json"), "--db", db, "--resume"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(EpisodeFingerprints(db, "direct_k4") == Reference());
}

TEST_CASE("Resuming with a different config is refused", "[pipeline]") {
  TempDir dir("resume-config");
  const std::string db = CopyFixture(dir);
  REQUIRE(RunAndSignal(dir, db, SIGINT) == 130);
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_episodes.json"), "--db", db,
                                        "--resume", "--set", "seed=12"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("was started with a different config"));
}

TEST_CASE("A missing judge checkpoint is a clear error", "[pipeline]") {
  TempDir dir("nojudge");
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_episodes.json"), "--db",
                                        dir / "runs.db"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("tiny_episodes.json: stages[0].judge.checkpoint: no judge "
                                    "named 'tiny_judge_k6'"));
  CHECK(QueryOne(dir / "runs.db", "SELECT status FROM experiments") == "failed");
  CHECK(QueryOne(dir / "runs.db", "SELECT count(*) FROM episodes") == "0");
}

TEST_CASE("query is read-only and report summarises the run", "[pipeline]") {
  TempDir dir("query");
  const std::string db = CopyFixture(dir);
  const std::string before = ReadFile(db);
  const CommandResult del = RunOversight({"query", "--db", db, "DELETE FROM episodes"});
  CHECK(del.status == 2);
  CHECK(ReadFile(db) == before);
  const CommandResult q = RunOversight(
      {"query", "--db", db, "SELECT count(*) AS n FROM episodes", "--format", "json"});
  CHECK(q.status == 0);
  CHECK(nlohmann::json::parse(q.out)[0]["n"] == 300);
  const CommandResult rep = RunOversight({"report", "--db", db, "--format", "json"});
  REQUIRE(rep.status == 0);
  const CommandResult md = RunOversight({"report", "--db", db});
  CHECK_THAT(md.out, Catch::Contains("| direct | direct | 300 |"));
  CHECK_THAT(md.out, Catch::Contains("heldout_accuracy"));
}

TEST_CASE("Interrupted training resumes from its checkpoint to the same judge", "[pipeline]") {
  const std::vector<std::string> sets{"--set", "stages[0].batches=60",
                                      "--set", "stages[0].checkpoint_every=20",
                                      "--set", "stages[1].instances=10"};
  auto args_for = [&](const std::string& db) {
    std::vector<std::string> a{"run", ConfigPath("tiny_judge.json"), "--db", db};
    a.insert(a.end(), sets.begin(), sets.end());
    return a;
  };
  const std::string judge_sha =
      "SELECT sha256 FROM artifacts WHERE kind = 'judge' AND name = 'tiny_judge_k6'";

  TempDir straight("train-straight");
  const CommandResult r = RunOversight(args_for(straight / "runs.db"));
  REQUIRE(r.status == 0);

  TempDir dir("train-resume");
  const std::string db = dir / "runs.db";
  REQUIRE(InterruptAtArtifact(dir, db, "tiny_judge.json", sets, "tiny_judge_k6.checkpoint") == 130);
  const int64_t stopped_at = std::stoll(QueryOne(db, "SELECT max(step) FROM artifacts"));
  CHECK(stopped_at >= 20);
  CHECK(stopped_at < 60);
  CHECK(QueryOne(db, "SELECT count(*) FROM artifacts WHERE kind = 'judge'") == "0");

  auto resume = args_for(db);
  resume.push_back("--resume");
  const CommandResult resumed = RunOversight(resume);
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.err, Catch::Contains("resuming training at batch " + std::to_string(stopped_at)));
  // Batch b's data and dropout depend only on (seed, stage, b) and the
  // checkpoint holds the Adam state: the resumed judge is bit-identical.
  CHECK(QueryOne(db, judge_sha) == QueryOne(straight / "runs.db", judge_sha));
  CHECK(QueryOne(db, "SELECT count(*) FROM (SELECT step, name FROM metrics "
                     "GROUP BY 1, 2 HAVING count(*) > 1)") == "0");
}

TEST_CASE("Greedy debate lifts the weak judge above its accuracy alone", "[pipeline][debate]") {
  TempDir dir("debate");
  const std::string db = CopyFixture(dir);
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_debate.json"), "--db", db});
  INFO(r.err);
  REQUIRE(r.status == 0);
  // 20 images x 2 orders, each game: 2 claims + 6 reveals alternating.
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes WHERE stage = 'debate'") == "40");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes WHERE stage = 'debate' AND "
                     "instance LIKE '%#first=liar'") == "20");
  CHECK(QueryOne(db, "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id "
                     "WHERE e.stage = 'debate'") == "320");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e WHERE stage = 'debate' AND "
                     "(SELECT group_concat(role, ',') FROM (SELECT role FROM turns WHERE "
                     "episode_id = e.id AND idx >= 2 ORDER BY idx)) NOT IN "
                     "('honest,liar,honest,liar,honest,liar', 'liar,honest,liar,honest,liar,honest')") == "0");
  // The liar claims a wrong label; outcome and correct follow the logged margin.
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e JOIN judgements j ON j.episode_id = e.id "
                     "WHERE e.stage = 'debate' AND (json_extract(j.detail, '$.claims.liar') = e.truth "
                     "OR e.correct != (json_extract(j.detail, '$.honest_margin') > 0) "
                     "OR e.outcome != json_extract(j.detail, '$.winner'))") == "0");
  const double alone = std::stod(QueryOne(db, "SELECT avg(correct) FROM episodes WHERE stage = 'judge_alone'"));
  const double debate = std::stod(QueryOne(db, "SELECT avg(correct) FROM episodes WHERE stage = 'debate'"));
  CHECK(debate > alone + 0.15);

  // Consultancy: 20 images x (honest, lying consultant), one claim turn then
  // 6 reveals by the consultant; correct = honest accepted or lie rejected.
  CHECK(QueryOne(db, "SELECT group_concat(n) FROM (SELECT count(*) n FROM episodes WHERE "
                     "stage = 'consultancy' GROUP BY instance LIKE '%#consultant=liar')") == "20,20");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e WHERE stage = 'consultancy' AND "
                     "(SELECT group_concat(DISTINCT role) FROM turns WHERE episode_id = e.id) != "
                     "substr(e.instance, instr(e.instance, '=') + 1)") == "0");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e JOIN judgements j ON j.episode_id = e.id "
                     "WHERE e.stage = 'consultancy' AND (e.outcome != j.verdict OR e.correct != "
                     "((j.verdict = 'accept') = (e.instance LIKE '%#consultant=honest')) OR "
                     "(json_extract(j.detail, '$.claim') = e.truth) != (e.instance LIKE '%#consultant=honest'))") == "0");
  const double lies_accepted = std::stod(QueryOne(db, "SELECT avg(outcome = 'accept') FROM episodes WHERE "
                                                      "stage = 'consultancy' AND instance LIKE '%#consultant=liar'"));
  const double consultancy = std::stod(QueryOne(db, "SELECT avg(correct) FROM episodes WHERE stage = 'consultancy'"));
  INFO("lies accepted " << lies_accepted << ", consultancy " << consultancy << ", debate " << debate);
  // A greedy liar talks the weak judge into its lie often; debate beats it.
  CHECK(lies_accepted > 0.3);
  CHECK(debate > consultancy + 0.1);
}

// The greedy debaters of an image share one kernel session that carries
// each position's children to the next: the games depend on the order the
// image's games are played in, which must not depend on the workers.
TEST_CASE("Greedy debate with carried children: same episodes on 1 or 2 workers", "[pipeline][debate]") {
  auto run = [](const std::string& name, const std::string& threads) {
    TempDir dir(name);
    const std::string db = CopyFixture(dir);
    const CommandResult r =
        RunOversight({"run", ConfigPath("tiny_debate.json"), "--db", db, "--threads", threads,
                      "--set", "stages[1].protocol.lies=\"all\""});
    INFO(r.err);
    REQUIRE(r.status == 0);
    return EpisodeFingerprints(db, "debate");
  };
  const auto two = run("greedy-2", "2");
  REQUIRE(two.size() == 360);  // 20 images x 9 lies x 2 orders
  CHECK(run("greedy-1", "1") == two);
}

// A person judges a debate: the experiment (judge "human") waits on the
// queue; oversight-gui, driven by real X11 input events (xdotool) under Xvfb,
// takes the item, picks player B's claim and submits; the experiment logs the
// verdict and finishes. Then an item nobody answers times out.
TEST_CASE("A person judges a live experiment's debate through the GUI queue", "[pipeline][gui]") {
  TempDir dir("human-queue");
  const std::string db = CopyFixture(dir);
  const std::string human =
      "stages[1].judge={\"name\":\"human\",\"model\":{\"name\":\"sparse\","
      "\"checkpoint\":\"tiny_judge_k6\"},\"timeout_s\":120,\"poll_ms\":50}";
  const pid_t run = Spawn({"run", ConfigPath("tiny_debate.json"), "--db", db, "--set", human,
                           "--set", "stages[1].instances=1", "--set",
                           "stages[1].protocol.first=honest"},
                          dir / "run.log");
  // Wait for the item (the debate is played first, then the judge asks).
  bool queued = false;
  for (int i = 0; i < 600 && !queued; ++i) {
    try {
      queued = QueryOne(db, "SELECT count(*) FROM pending_judgements") == "1";
    } catch (const std::exception&) {
    }
    if (!queued) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(queued);
  const std::string choices =
      QueryOne(db, "SELECT json_extract(question, '$.choices') FROM pending_judgements");
  // Take the item, choose "B claims ...", submit (layout of the queue panel
  // at 1280x800: see gui/panels.cpp).
  const std::string script =
      std::string("'") + OVERSIGHT_GUI_BIN + "' --db '" + db +
      "' --panel queue --seconds 120 & gui=$!; " + XWaitForTitle("Oversight Lab", 5) +
      XClickUntilTitle(118, 85, "item ", 120) +
      XClicksUntilTitle({{119, 466}, {118, 545}}, "answered 1", 60) + "kill $gui; wait $gui; true";
  const CommandResult gui = RunUnderXvfb(script);
  INFO(gui.err);
  CHECK(gui.status == 0);
  const int status = WaitStatus(run);
  INFO(ReadFile(dir / "run.log"));
  REQUIRE(status == 0);
  // B's claim is the second choice; the verdict row is the person's.
  const std::string b_claim = QueryOne(db, "SELECT json_extract('" + choices + "', '$[1]')");
  CHECK(QueryOne(db, "SELECT status || ':' || verdict || ':' || confidence FROM pending_judgements") ==
        "answered:" + b_claim + ":0.75");
  CHECK(QueryOne(db, "SELECT j.judge_kind || ':' || j.verdict || ':' || j.confidence FROM judgements j "
                     "JOIN episodes e ON e.id = j.episode_id WHERE e.stage = 'debate'") ==
        "human:" + b_claim + ":0.75");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e JOIN judgements j ON j.episode_id = e.id "
                     "WHERE e.stage = 'debate' AND e.status = 'complete' AND j.latency_ms > 0 AND "
                     "e.correct = (j.verdict = e.truth) AND "
                     "e.outcome = CASE WHEN j.verdict = e.truth THEN 'honest' ELSE 'liar' END") == "1");

  // Nobody answers: after the timeout the episode is kept as timed out,
  // without a judgement, and the experiment finishes.
  TempDir dir2("human-timeout");
  const std::string db2 = CopyFixture(dir2);
  const CommandResult r = RunOversight(
      {"run", ConfigPath("tiny_debate.json"), "--db", db2, "--set",
       "stages[1].judge={\"name\":\"human\",\"model\":{\"name\":\"sparse\",\"checkpoint\":"
       "\"tiny_judge_k6\"},\"timeout_s\":1,\"poll_ms\":50}",
       "--set", "stages[1].instances=1", "--set", "stages[1].protocol.first=honest"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(QueryOne(db2, "SELECT status || ':' || outcome || ':' || coalesce(correct, 'NULL') || ':' || "
                      "(SELECT count(*) FROM judgements WHERE episode_id = e.id) FROM episodes e "
                      "WHERE stage = 'debate'") == "timed_out:timed_out:NULL:0");
  CHECK(QueryOne(db2, "SELECT status FROM pending_judgements") == "timed_out");
}

TEST_CASE("Two people on other machines judge one experiment through oversight serve", "[pipeline][gui]") {
  TempDir dir("serve-judges");
  const std::string db = CopyFixture(dir);
  const pid_t run = Spawn({"run", ConfigPath("tiny_debate.json"), "--db", db, "--set",
                           "stages[1].judge={\"name\":\"human\",\"model\":{\"name\":\"sparse\","
                           "\"checkpoint\":\"tiny_judge_k6\"},\"timeout_s\":120,\"poll_ms\":50}",
                           "--set", "stages[1].instances=2", "--set",
                           "stages[1].protocol.first=honest", "--threads", "1"},
                          dir / "run.log");
  const pid_t serve = Spawn({"serve", "--db", db, "--port", "0", "--judge", "alice=alice-token-1",
                             "--judge", "bob=bob-token-22"},
                            dir / "serve.log");
  // A failed check must not leave the two processes running.
  struct Reap {
    pid_t* pids[2];
    ~Reap() {
      for (pid_t* p : pids)
        if (*p > 0) {
          kill(*p, SIGKILL);
          waitpid(*p, nullptr, 0);
        }
    }
  };
  pid_t run_pid = run, serve_pid = serve;
  Reap reap{{&run_pid, &serve_pid}};
  // The service prints its URL once it listens.
  std::string url;
  for (int i = 0; i < 100 && url.empty(); ++i) {
    std::string log;
    try {
      log = ReadFile(dir / "serve.log");
    } catch (const std::exception&) {  // not created yet
    }
    const size_t at = log.find("http://127.0.0.1:");
    if (at != std::string::npos && log.find(' ', at) != std::string::npos)
      url = log.substr(at, log.find(' ', at) - at);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(!url.empty());

  // Alice judges the first item in the GUI, connected to the service.
  const std::string script =
      std::string("'") + OVERSIGHT_GUI_BIN + "' --connect '" + url +
      "' --token alice-token-1 --panel queue --seconds 120 & gui=$!; " +
      XWaitForTitle("Oversight Lab", 5) + XClickUntilTitle(118, 85, "item ", 240) +
      XClicksUntilTitle({{119, 466}, {118, 545}}, "answered 1", 60) + "kill $gui; wait $gui; true";
  const CommandResult gui = RunUnderXvfb(script);
  INFO(gui.err);
  CHECK(gui.status == 0);
  // Bob judges the second through the HTTP API (as a second GUI would).
  auto bob = MakeRemoteJudgeQueue(url, "bob-token-22");
  std::optional<PendingJudgement> item;
  for (int i = 0; i < 1200 && !item; ++i) {
    item = bob->Claim();
    if (!item) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(item);
  HumanVerdict v;
  v.verdict = nlohmann::json::parse(item->question)["choices"][0].dump();
  v.confidence = 0.9;
  CHECK(bob->Answer(item->id, v));
  const int status = WaitStatus(run);
  run_pid = 0;
  INFO(ReadFile(dir / "run.log"));
  REQUIRE(status == 0);
  kill(serve, SIGINT);
  CHECK(WaitStatus(serve) == 0);
  serve_pid = 0;
  CHECK_THAT(ReadFile(dir / "serve.log"), Catch::Contains("stopped:"));

  CHECK(QueryColumn(db, "SELECT claimed_by || ':' || status || ':' || confidence FROM "
                        "pending_judgements ORDER BY id") ==
        std::vector<std::string>{"alice:answered:0.75", "bob:answered:0.9"});
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements j JOIN episodes e ON e.id = j.episode_id "
                     "WHERE e.stage = 'debate' AND j.judge_kind = 'human' AND e.status = "
                     "'complete'") == "2");
}

TEST_CASE("MCTS debate with a per-image judge cache: same episodes on 1 or 2 workers and after Ctrl-C + resume", "[pipeline][debate]") {
  auto run = [](const std::string& name, const std::vector<std::string>& extra) {
    TempDir dir(name);
    const std::string db = CopyFixture(dir);
    std::vector<std::string> args{"run", ConfigPath("tiny_mcts_debate.json"), "--db", db};
    args.insert(args.end(), extra.begin(), extra.end());
    const CommandResult r = RunOversight(args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return EpisodeFingerprints(db, "debate");
  };
  const auto two = run("mcts-2", {"--threads", "2"});
  // 6 images x 9 lies x 2 orders.
  REQUIRE(two.size() == 108);
  {
    // Table 2 in the report: per order, an image counts for the honest
    // player only if it won all 9 lies (one seed each).
    TempDir dir("mcts-report");
    const std::string db = CopyFixture(dir);
    REQUIRE(RunOversight({"run", ConfigPath("tiny_mcts_debate.json"), "--db", db}).status == 0);
    const CommandResult rep = RunOversight({"report", "--db", db});
    REQUIRE(rep.status == 0);
    for (const char* first : {"honest", "liar"}) {
      const std::string wins = QueryOne(
          db, std::string("SELECT count(*) FROM (SELECT substr(instance, 1, instr(instance, '#') - 1) im, "
                          "min(correct) ok FROM episodes WHERE stage = 'debate' AND instance LIKE '%#first=") +
                  first + "%' GROUP BY im) WHERE ok = 1");
      const double pct = 100.0 * std::stoi(wins) / 6;
      char cell[64];
      std::snprintf(cell, sizeof cell, "| 6 | %s | ", first);
      INFO(rep.out);
      const size_t row = rep.out.find(cell);
      REQUIRE(row != std::string::npos);
      const std::string line = rep.out.substr(row, rep.out.find('\n', row) - row);
      char rate[32];
      std::snprintf(rate, sizeof rate, "| %.1f%% [", pct);
      CHECK_THAT(line, Catch::Contains(rate) && Catch::Contains("n=6 (paper "));
    }
    CHECK(RunOversight({"report", "--db", db, "--lie-rule", "median"}).status == 2);
  }
  CHECK(run("mcts-1", {"--threads", "1"}) == two);
  // Without the shared cache the search makes the same moves: the cache
  // only saves judge calls.
  CHECK(run("mcts-nocache", {"--set", "stages[0].protocol.shared_cache=false"}) == two);
  // Tree reuse keeps statistics between a player's moves: same games, other
  // choices somewhere (a no-op reuse would reproduce `two` exactly).
  const auto reuse = run("mcts-reuse", {"--set", "stages[0].protocol.honest.reuse_tree=true",
                                        "--set", "stages[0].protocol.liar.reuse_tree=true"});
  REQUIRE(reuse.size() == 108);
  CHECK(reuse != two);

  // Interrupted part-way through an image, then resumed: the image's games
  // are replayed to rebuild its cache, and nothing is logged twice.
  TempDir dir("mcts-sigint");
  const std::string db = CopyFixture(dir);
  REQUIRE(RunAndSignal(dir, db, SIGINT, "tiny_mcts_debate.json", "debate") == 130);
  const long partial = CountEpisodes(db, "debate");
  CHECK(partial > 0);
  CHECK(partial < 108);
  const CommandResult r =
      RunOversight({"run", ConfigPath("tiny_mcts_debate.json"), "--db", db, "--resume"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(EpisodeFingerprints(db, "debate") == two);
}

// Batching across games: MCTS with torch-batched leaves on 8 workers, every
// worker's batches merged by the judge's coalescing evaluator, plays the
// same games as the same searches on 2 workers without it (a query's logits
// do not depend on what else is in its batch, up to float rounding), and the
// judge really merged calls.
TEST_CASE("MCTS leaves of all games in flight through one coalescing judge: same episodes", "[pipeline][debate]") {
  auto run = [](const std::string& name, const std::vector<std::string>& extra) {
    TempDir dir(name);
    const std::string db = CopyFixture(dir);
    std::vector<std::string> args{
        "run", ConfigPath("tiny_mcts_debate.json"), "--db", db, "--set",
        "stages[0].protocol.honest={\"name\": \"mcts\", \"rollouts\": 60, \"evaluator\": \"batched\", \"batch\": 16}",
        "--set",
        "stages[0].protocol.liar={\"name\": \"mcts\", \"rollouts\": 60, \"evaluator\": \"batched\", \"batch\": 16}",
        "--set", "stages[0].judge.kernel_logits=false"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CommandResult r = RunOversight(args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    return std::make_pair(EpisodeFingerprints(db, "debate", /*logit_digits=*/4), r.err);
  };
  const auto plain = run("coalesce-off", {"--threads", "2"});
  REQUIRE(plain.first.size() == 108);
  const auto merged = run("coalesce-on", {"--threads", "8", "--set", "stages[0].judge.coalesce=true"});
  CHECK(merged.first == plain.first);
  // The stage reports the coalescer's figures: calls per batch > 1.
  INFO(merged.second);
  const size_t at = merged.second.find("calls per batch");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(merged.second.substr(merged.second.rfind(' ', at - 2) + 1)) > 1.5);
  TempDir dir("coalesce-bad");
  const CommandResult bad = RunOversight({"run", ConfigPath("tiny_mcts_debate.json"), "--db",
                                          CopyFixture(dir), "--set", "stages[0].judge.coalesce_max_batch=0"});
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Contains("stages[0].judge.coalesce_max_batch"));
}

// SFT (issue 5): a policy cloned from logged greedy debates predicts held-out
// moves far above chance (about 1 in 150 legal pixels) and better with
// training, plays as agent "policy" in a later debate stage, and an
// interrupted SFT resumes from its checkpoint to the same policy file.
TEST_CASE("SFT clones logged debater moves, plays them, and resumes exactly", "[pipeline][training]") {
  TempDir straight("sft");
  const std::string db = CopyFixture(straight);
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_sft.json"), "--db", db});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto metric = [&](const std::string& db_path, const std::string& name, int step) {
    return std::stod(QueryOne(db_path, "SELECT value FROM metrics WHERE stage = 'sft' AND name = '" +
                                           name + "' AND step = " + std::to_string(step)));
  };
  CHECK(metric(db, "heldout_accuracy", 300) > 0.05);
  CHECK(metric(db, "heldout_accuracy", 300) > metric(db, "heldout_accuracy", 100));
  CHECK(metric(db, "heldout_nll", 300) < std::log(150.0));
  CHECK(QueryOne(db, "SELECT count(DISTINCT name) FROM metrics WHERE stage = 'sft'") == "7");
  // 10 images x 9 lies x 2 orders; the policy made every honest reveal.
  CHECK(QueryOne(db, "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id WHERE "
                     "e.stage = 'policy_debate' AND t.agent = 'policy:tiny_sft' AND "
                     "t.role = 'honest' AND json_extract(t.action, '$.pixel') IS NOT NULL") == "540");
  const std::string sha =
      "SELECT sha256 FROM artifacts WHERE kind = 'policy' AND name = 'tiny_sft'";
  const std::string want = QueryOne(db, sha);
  REQUIRE(want.size() == 64);

  TempDir dir("sft-resume");
  const std::string db2 = CopyFixture(dir);
  REQUIRE(InterruptAtArtifact(dir, db2, "tiny_sft.json", {}, "tiny_sft.checkpoint") == 130);
  CHECK(QueryOne(db2, "SELECT count(*) FROM artifacts WHERE kind = 'policy'") == "0");
  const CommandResult resumed =
      RunOversight({"run", ConfigPath("tiny_sft.json"), "--db", db2, "--resume"});
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.err, Catch::Contains("resuming SFT at batch"));
  CHECK(QueryOne(db2, sha) == want);
}

TEST_CASE("SFT from a stage without debates is a clear config error", "[pipeline][training]") {
  TempDir dir("sft-bad");
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_sft.json"), "--db", CopyFixture(dir),
                                        "--set", "stages[0].instances=1", "--set",
                                        "stages[1].from_stage=\"greedy\""});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("stages[1].from_stage") && Catch::Contains("no moves to learn from"));
  TempDir dir2("sft-bad-experiment");
  const CommandResult r2 = RunOversight({"run", ConfigPath("tiny_sft.json"), "--db", CopyFixture(dir2),
                                         "--set", "stages[0].instances=1", "--set",
                                         "stages[1].from_experiment=\"no_such_run\""});
  CHECK(r2.status == 2);
  CHECK_THAT(r2.err, Catch::Contains("stages[1].from_experiment") && Catch::Contains("no_such_run"));
}

// PPO in the closed loop (issue 5), in miniature: SFT reference -> PPO liar
// against it -> PPO honest against that liar -> DPO for the honest side. Each PPO stage logs its
// metrics once per update and evaluation debates as stages "<name>@<update>";
// interrupted in the liar's training and resumed, it ends with the same
// policies, episodes and metrics as an uninterrupted run.
TEST_CASE("PPO stages train against a fixed opponent, log evaluation debates, and resume exactly", "[pipeline][training]") {
  TempDir straight("ppo");
  const std::string db = CopyFixture(straight);
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_selfplay.json"), "--db", db});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(QueryOne(db, "SELECT group_concat(stage || ':' || n, ' ') FROM (SELECT stage, count(*) n FROM "
                     "episodes WHERE stage LIKE '%@%' GROUP BY stage ORDER BY stage)") ==
        "honest_ppo@0000:54 honest_ppo@0002:54 honest_ppo@0004:54 liar_ppo@0000:54 "
        "liar_ppo@0003:54 liar_ppo@0006:54");
  CHECK(QueryOne(db, "SELECT group_concat(DISTINCT t.role || '=' || t.agent) FROM turns t JOIN episodes e "
                     "ON e.id = t.episode_id WHERE e.stage = 'liar_ppo@0003'") ==
        "honest=policy:tiny_ref,liar=policy:tiny_liar.eval");
  CHECK(QueryOne(db, "SELECT count(*) FROM metrics WHERE stage = 'liar_ppo' AND name = 'win_rate'") == "6");
  CHECK(QueryOne(db, "SELECT count(*) FROM (SELECT stage, name, step FROM metrics GROUP BY stage, name, step "
                     "HAVING count(*) > 1)") == "0");
  // The policy starts as its reference: no KL at the first update, some later.
  CHECK(QueryOne(db, "SELECT value FROM metrics WHERE stage = 'liar_ppo' AND name = 'kl_ref' AND step = 1") == "0.0");
  CHECK(std::stod(QueryOne(db, "SELECT value FROM metrics WHERE stage = 'liar_ppo' AND name = 'kl_ref' AND step = 6")) > 0);
  CHECK(QueryOne(db, "SELECT abs(m.value - (SELECT avg(correct) FROM episodes WHERE stage = 'liar_ppo@0003')) < 1e-9 "
                     "FROM metrics m WHERE m.stage = 'liar_ppo' AND m.name = 'eval_honest_win_rate' AND m.step = 3") == "1");
  CHECK(QueryOne(db, "SELECT group_concat(name) FROM (SELECT name FROM artifacts WHERE kind = 'policy' AND "
                     "name NOT LIKE '%.eval' ORDER BY id)") == "tiny_ref,tiny_liar,tiny_honest,tiny_dpo");
  // DPO on pairs of sampled debates (4 seeds per lie): the implicit reward
  // learns to order its training pairs (it starts at margin 0, accuracy 0).
  CHECK(std::stod(QueryOne(db, "SELECT value FROM metrics WHERE stage = 'honest_dpo' AND name = 'accuracy' "
                               "AND step = 40")) > 0.6);
  CHECK(std::stod(QueryOne(db, "SELECT value FROM metrics WHERE stage = 'honest_dpo' AND name = 'margin' "
                               "AND step = 40")) > std::stod(QueryOne(db, "SELECT value FROM metrics WHERE "
                                                                          "stage = 'honest_dpo' AND name = 'margin' AND step = 10")));
  CHECK(QueryOne(db, "SELECT count(*) FROM metrics WHERE stage = 'honest_dpo' AND name = 'heldout_accuracy'") == "2");
  const std::string fingerprint =
      "SELECT group_concat(name || '=' || sha256, ' ') FROM (SELECT name, sha256 FROM artifacts WHERE "
      "kind = 'policy' AND name NOT LIKE '%.eval' ORDER BY name)";
  const std::string metrics =
      "SELECT group_concat(stage || name || step || '=' || value, ' ') FROM (SELECT * FROM metrics "
      "WHERE stage LIKE '%ppo' AND name != 'moves_per_s' ORDER BY stage, name, step)";

  TempDir dir("ppo-resume");
  const std::string db2 = CopyFixture(dir);
  REQUIRE(InterruptAtArtifact(dir, db2, "tiny_selfplay.json", {}, "tiny_liar.checkpoint") == 130);
  CHECK(QueryOne(db2, "SELECT count(*) FROM artifacts WHERE name = 'tiny_liar'") == "0");
  const CommandResult resumed =
      RunOversight({"run", ConfigPath("tiny_selfplay.json"), "--db", db2, "--resume"});
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.err, Catch::Contains("resuming PPO at update"));
  CHECK(QueryOne(db2, fingerprint) == QueryOne(db, fingerprint));
  CHECK(QueryOne(db2, metrics) == QueryOne(db, metrics));
  for (const char* stage : {"liar_ppo@0003", "honest_ppo@0004"})
    CHECK(EpisodeFingerprints(db2, stage) == EpisodeFingerprints(db, stage));
}

TEST_CASE("PPO config errors name the key before anything runs", "[pipeline][training]") {
  TempDir dir("ppo-bad");
  const std::string db = CopyFixture(dir);
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_selfplay.json"), "--db", db, "--set",
                                        "stages[2].opponent={\"name\": \"grandmaster\"}"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("stages[2].opponent.name") && Catch::Contains("grandmaster"));
  CHECK(QueryOne(db, "SELECT count(*) FROM experiments WHERE name = 'tiny_selfplay'") == "0");
  const CommandResult r2 = RunOversight({"run", ConfigPath("tiny_selfplay.json"), "--db", db, "--set",
                                         "stages[2].clip=-1"});
  CHECK(r2.status == 2);
  CHECK_THAT(r2.err, Catch::Contains("stages[2].clip"));
  const CommandResult r3 = RunOversight({"run", ConfigPath("tiny_selfplay.json"), "--db", db, "--set",
                                         "stages[2].init=\"no_such_policy\"", "--set", "stages[0].instances=1",
                                         "--set", "stages[1].batches=2"});
  CHECK(r3.status == 2);
  CHECK_THAT(r3.err, Catch::Contains("stages[2].init") && Catch::Contains("no policy named 'no_such_policy'"));
}

// A reward model learns a planted preference (issue 5): in every logged pair
// the game the honest side won revealed the image's brightest pixels (the
// cores of the strokes), the one it lost dim ones (their edges); the
// Bradley-Terry model trained on the pairs orders held-out pairs (other
// images) by that rule. PPO against the reward model then teaches an honest
// policy to reveal bright pixels, and a pointwise outcome model trained on
// the same games predicts who won.
TEST_CASE("A Bradley-Terry reward model learns a planted preference, PPO optimizes it, an outcome model predicts it", "[pipeline][training]") {
  TempDir dir("rm");
  const std::string db = dir / "runs.db";
  fs::copy_file(TinyJudgeDb(), db);
  {
    auto store = Store::Open(db);
    const int64_t exp = store->CreateExperiment("planted", "{}", 1, "test");
    const ImageDataset data = LoadImageDataset("mnist", "test");
    std::vector<EpisodeRecord> episodes;
    for (size_t i = 0; i < 80; ++i) {
      std::vector<int> bright, dim;
      for (int p = 0; p < kImagePixels; ++p) {
        if (data.image(i)[p] >= 250) bright.push_back(p);
        if (data.image(i)[p] != 0 && data.image(i)[p] < 128) dim.push_back(p);
      }
      if (bright.size() < 18 || dim.size() < 18) continue;
      for (int seed = 0; seed < 4; ++seed) {
        const bool won = seed % 2 == 0;  // two wins and two losses per image: 4 pairs
        const std::vector<int>& from = won ? bright : dim;
        EpisodeRecord rec;
        rec.experiment_id = exp;
        rec.stage = "debate";
        rec.idx = static_cast<int64_t>(episodes.size());
        rec.protocol = "debate";
        rec.task = "mnist";
        rec.instance = "test/" + std::to_string(data.source_index[i]) +
                       "#first=honest,lie_index=0,seed=" + std::to_string(seed);
        const int truth = data.labels[i];
        rec.truth = std::to_string(truth);
        rec.outcome = won ? "honest" : "liar";
        rec.correct = won ? 1 : 0;
        rec.started_at = rec.finished_at = NowIso();
        const std::string claims[2] = {"{\"claim\":" + std::to_string(truth) + "}",
                                       "{\"claim\":" + std::to_string((truth + 1) % 10) + "}"};
        for (int t = 0; t < 8; ++t) {
          TurnRecord turn;
          turn.idx = t;
          turn.role = t % 2 == 0 ? "honest" : "liar";
          turn.agent = "planted";
          turn.action = t < 2 ? claims[t]
                              : "{\"pixel\":" + std::to_string(from[static_cast<size_t>(seed + 2 * t)]) + "}";
          rec.turns.push_back(turn);
        }
        episodes.push_back(rec);
      }
    }
    REQUIRE(episodes.size() > 200);
    store->InsertEpisodes(episodes);
    store->SetExperimentStatus(exp, "finished");
  }
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_rm.json"), "--db", db});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto metric = [&](const std::string& name, int step) {
    return std::stod(QueryOne(db, "SELECT value FROM metrics WHERE stage = 'rm' AND name = '" + name +
                                      "' AND step = " + std::to_string(step)));
  };
  CHECK(metric("heldout_accuracy", 150) > 0.9);
  CHECK(metric("heldout_margin", 150) > 0.5);
  CHECK(metric("loss", 150) < metric("loss", 25));
  CHECK(QueryOne(db, "SELECT count(*) FROM artifacts WHERE kind = 'reward_model' AND name = 'tiny_rm'") == "1");

  // PPO on the reward model: the learned reward rises, the judge's reward is
  // logged beside it as the gold, and the honest player reveals brighter
  // pixels in the evaluation debates.
  auto ppo_metric = [&](const std::string& name, const std::string& steps) {
    return std::stod(QueryOne(db, "SELECT avg(value) FROM metrics WHERE stage = 'honest_rm_ppo' AND name = '" +
                                      name + "' AND step IN (" + steps + ")"));
  };
  CHECK(ppo_metric("proxy_reward", "13, 14, 15") > ppo_metric("proxy_reward", "1, 2, 3") + 0.5);
  CHECK(QueryOne(db, "SELECT count(*) FROM metrics WHERE stage = 'honest_rm_ppo' AND name = 'gold_reward'") == "15");
  const ImageDataset test_images = LoadImageDataset("mnist", "test");
  auto bright_share = [&](const std::string& stage) {
    const std::string rows = QueryOne(
        db, "SELECT group_concat(substr(e.instance, 6, instr(e.instance, '#') - 6) || ':' || "
            "json_extract(t.action, '$.pixel'), ' ') FROM turns t JOIN episodes e ON e.id = t.episode_id "
            "WHERE e.stage = '" + stage + "' AND t.role = 'honest' AND json_extract(t.action, '$.pixel') IS NOT NULL");
    std::istringstream in(rows);
    std::string item;
    int bright = 0, all = 0;
    while (in >> item) {
      const int source = std::stoi(item.substr(0, item.find(':')));
      const int pixel = std::stoi(item.substr(item.find(':') + 1));
      for (size_t i = 0; i < test_images.size(); ++i)
        if (test_images.source_index[i] == source) bright += test_images.image(i)[pixel] >= 250;
      ++all;
    }
    REQUIRE(all == 180 * 3);  // 10 images x 18 games, 3 honest reveals each
    return static_cast<double>(bright) / all;
  };
  const double before = bright_share("honest_rm_ppo@0000"), after = bright_share("honest_rm_ppo@0015");
  INFO("share of bright pixels among the honest reveals: " << before << " -> " << after);
  CHECK(after > before + 0.2);

  // The pointwise outcome model on the same debates predicts who won games
  // of held-out images.
  const std::string outcome_acc = QueryOne(
      db, "SELECT value FROM metrics WHERE stage = 'outcome' AND name = 'heldout_accuracy' AND step = 150");
  CHECK(std::stod(outcome_acc) > 0.9);
  CHECK(QueryOne(db, "SELECT count(*) FROM artifacts WHERE kind = 'reward_model' AND name = 'tiny_outcome'") == "1");

  // Bad input, on a run of the PPO stage alone (it finds the reward model
  // trained above): a reward model of the other side, one that does not
  // exist, and a changed file.
  const nlohmann::json config = nlohmann::json::parse(ReadFile(ConfigPath("tiny_rm.json")));
  auto ppo_alone = [&](const std::string& key, const std::string& value) {
    nlohmann::json stage = config["stages"][1];
    stage["updates"] = 1;
    stage[key] = value;
    return RunOversight({"run", ConfigPath("tiny_rm.json"), "--db", db, "--set",
                         "stages=" + nlohmann::json::array({stage}).dump()});
  };
  const CommandResult liar = ppo_alone("train_role", "liar");
  CHECK(liar.status == 2);
  CHECK_THAT(liar.err, Catch::Contains("stages[0].reward_model") &&
                           Catch::Contains("'tiny_rm' scores the honest side"));
  const CommandResult missing = ppo_alone("reward_model", "no_such_rm");
  CHECK(missing.status == 2);
  CHECK_THAT(missing.err, Catch::Contains("stages[0].reward_model") &&
                              Catch::Contains("no reward_model named 'no_such_rm'"));
  {
    std::ofstream rm(QueryOne(db, "SELECT path FROM artifacts WHERE kind = 'reward_model' AND name = 'tiny_rm'"),
                     std::ios::app | std::ios::binary);
    rm << "x";
  }
  const CommandResult changed = ppo_alone("reward_model", "tiny_rm");
  CHECK(changed.status == 2);
  CHECK_THAT(changed.err, Catch::Contains("tiny_rm.pt") && Catch::Contains("recorded SHA-256"));

  // An outcome model of a stage without debates.
  nlohmann::json outcome_stage = config["stages"][2];
  outcome_stage["from_stage"] = "no_such_stage";
  const CommandResult no_games = RunOversight({"run", ConfigPath("tiny_rm.json"), "--db", db, "--set",
                                               "stages=" + nlohmann::json::array({outcome_stage}).dump()});
  CHECK(no_games.status == 2);
  CHECK_THAT(no_games.err, Catch::Contains("stages[0].from_stage") && Catch::Contains("no logged debates"));

  // Without pairs (one game per image, claims and order) it is a config error.
  const CommandResult none = RunOversight({"run", ConfigPath("tiny_rm.json"), "--db", db, "--set",
                                           "stages[0].from_stage=\"rm\""});
  CHECK(none.status == 2);
  CHECK_THAT(none.err, Catch::Contains("stages[0].from_stage") && Catch::Contains("no preference pairs"));
}

// Issue 6: the amplify stage runs IDA rounds with evaluations against the
// ground truth and logs each evaluation's subquestion tree as an episode
// (turns with parent_turn_id); the supervised baseline asks H nothing.
TEST_CASE("The amplify stage logs metrics and subquestion trees, and the supervised baseline asks H nothing", "[pipeline][amplify]") {
  TempDir dir("amplify");
  const std::string db = dir / "runs.db";
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_amplify.json"), "--db", db});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("teacher accuracy n8"));
  auto metric = [&](const std::string& name) {
    return std::stod(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = 1 AND stage = 'ida' AND name = '" +
                                      name + "' AND step = 60"));
  };
  CHECK(metric("h_calls") > 60 * 8 * 8);  // every question of every round, several steps each
  CHECK(metric("teacher_calls") > 0);
  CHECK(metric("buffer") == 480);
  for (const char* name : {"accuracy_n8", "accuracy_n12", "teacher_quality"}) {
    CHECK(metric(name) >= 0);
    CHECK(metric(name) <= 1);
  }
  CHECK(QueryOne(db, "SELECT count(*) FROM artifacts WHERE kind = 'answerer' AND name = 'tiny_answerer'") == "1");

  // Two evaluations, two episodes; each a tree: the question at the root, H's
  // subquestions under it, each answered once (lookup or the teacher), H's
  // answer last, and the ground truth beside it.
  REQUIRE(QueryOne(db, "SELECT count(*) FROM episodes WHERE stage = 'ida' AND protocol = 'amplify'") == "2");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes WHERE stage = 'ida' AND truth IS NOT NULL AND correct IN (0, 1)") == "2");
  const std::string roots =
      "SELECT t.id FROM turns t JOIN episodes e ON e.id = t.episode_id WHERE e.stage = 'ida' AND t.idx = 0";
  CHECK(QueryOne(db, "SELECT group_concat(role) FROM turns WHERE id IN (" + roots + ")") == "question,question");
  CHECK(QueryOne(db, "SELECT count(*) FROM turns WHERE role = 'H' AND json_extract(action, '$.subquestion') IS NOT NULL "
                     "AND parent_turn_id NOT IN (" + roots + ")") == "0");
  CHECK(QueryOne(db, "SELECT count(*) FROM turns a WHERE a.role IN ('lookup', 'X') AND NOT EXISTS (SELECT 1 FROM turns q "
                     "WHERE q.id = a.parent_turn_id AND q.role = 'H' AND json_extract(q.action, '$.subquestion') IS NOT NULL)") == "0");
  CHECK(QueryOne(db, "SELECT count(*) FROM turns t WHERE t.role = 'H' AND json_extract(t.action, '$.answer') IS NOT NULL "
                     "AND t.parent_turn_id IN (" + roots + ")") == "2");
  CHECK(std::stoi(QueryOne(db, "SELECT count(*) FROM turns WHERE role IN ('lookup', 'X')")) >= 4);

  // The supervised baseline: same model and rounds, targets from the ground truth.
  const CommandResult s = RunOversight({"run", ConfigPath("tiny_amplify.json"), "--db", db, "--set",
                                        "stages[0].mode=\"supervised\"", "--set", "stages[0].rounds=20",
                                        "--set", "stages[0].eval_every=20", "--set", "stages[0].depth_curriculum=true"});
  INFO(s.err);
  REQUIRE(s.status == 0);
  CHECK(std::stod(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = 2 AND stage = 'ida' AND "
                               "name = 'h_calls' AND step = 20")) == 0);
  CHECK(std::stod(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = 2 AND stage = 'ida' AND "
                               "name = 'buffer' AND step = 20")) == 160);
  // The depth curriculum starts with k of 2 bits (-1 would be every depth);
  // the evaluation asks every depth, 4 instances x 8 questions.
  CHECK(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = 2 AND name = 'max_depth' AND step = 20") == "2.0");
  CHECK(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = 1 AND name = 'max_depth' AND step = 60") == "-1.0");
  CHECK(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = 2 AND name = 'questions_n8' AND step = 20") == "32.0");

  // Bad options name the key.
  const std::vector<std::pair<std::string, std::string>> bad{
      {"stages[0].task=\"hanoi\"", "stages[0].task: unknown amplification task 'hanoi' (known: assignments, permutation)"},
      {"stages[0].hidden=30", "stages[0].hidden: 30 is not a multiple of heads (4)"},
      {"stages[0].eval_sizes=[8, 99]", "stages[0].eval_sizes: every size must be an integer in [1, 64], got 99"},
      {"stages[0].max_difficulty=-1", "stages[0].max_difficulty"},
      {"stages[0].mode=\"oracle\"", "stages[0].mode"},
      {"stages[0].depth_curriculum=\"yes\"", "stages[0].depth_curriculum"}};
  for (const auto& [set, message] : bad) {
    const CommandResult b = RunOversight({"run", ConfigPath("tiny_amplify.json"), "--db", db, "--set", set});
    INFO(set << ": " << b.err);
    CHECK(b.status == 2);
    CHECK_THAT(b.err, Catch::Contains(message));
  }
}

// Issue 7: process supervision end to end. SFT, the policy's samples logged
// as process episodes judged by both oracles, outcome and process reward
// models trained on those logged labels, reranking, PPO with an oracle and a
// learned reward, every policy measured on the same test problems.
TEST_CASE("The process stages log judged step-by-step solutions and train on them", "[pipeline][process]") {
  TempDir dir("process");
  const std::string db = dir / "runs.db";
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_process.json"), "--db", db});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("rerank_prm: final-answer error"));
  auto metric = [&](const std::string& stage, const std::string& name) {
    return std::stod(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = 1 AND stage = '" + stage +
                                      "' AND name = '" + name + "' ORDER BY step DESC LIMIT 1"));
  };
  // Every policy on the same 200 test problems; trace error is the share of
  // the right answers with a wrong step.
  for (const char* stage : {"sft", "rerank_prm", "outcome_rl", "process_rl"}) {
    INFO(stage);
    CHECK(metric(stage, "test_problems") == 200);
    CHECK(metric(stage, "final_error") == Approx(1 - metric(stage, "final_correct") / 200));
    CHECK(metric(stage, "trace_error") == Approx(metric(stage, "trace_errors") / metric(stage, "final_correct")));
  }
  CHECK(metric("sft", "final_error") < 0.85);  // chance is 0.9
  CHECK(metric("rerank_prm", "samples") == 4);
  for (const char* name : {"reward", "kl", "sample_final_error", "sample_trace_error", "approx_kl", "clip_fraction"})
    CHECK_NOTHROW(metric("outcome_rl", name));
  CHECK(metric("prm", "heldout_accuracy") > 0.5);
  CHECK(QueryOne(db, "SELECT group_concat(kind || ':' || name, ' ') FROM (SELECT kind, name FROM artifacts WHERE kind "
                     "LIKE 'stepwise%' ORDER BY id)") ==
        "stepwise_policy:sft stepwise_rm:orm stepwise_rm:prm stepwise_policy:outcome_rl stepwise_policy:process_rl");

  // 100 problems x 2 samples; each episode: the problem, then one turn per
  // step; two oracle judgements; without flips the outcome oracle's label is
  // the episode's correctness and the process oracle's labels the true ones.
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes WHERE stage = 'samples' AND protocol = 'process'") == "200");
  CHECK(QueryOne(db, "SELECT count(DISTINCT instance) FROM episodes WHERE stage = 'samples'") == "100");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes e WHERE stage = 'samples' AND (SELECT count(*) FROM turns t "
                     "WHERE t.episode_id = e.id AND t.role = 'step' AND t.parent_turn_id IS NOT NULL) = 3 AND "
                     "(SELECT role FROM turns t WHERE t.episode_id = e.id AND t.idx = 0) = 'problem'") == "200");
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements j JOIN episodes e ON e.id = j.episode_id WHERE e.stage = 'samples' "
                     "AND j.judge_kind = 'oracle'") == "400");
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements j JOIN episodes e ON e.id = j.episode_id WHERE j.judge = "
                     "'outcome_oracle' AND json_extract(j.detail, '$.label') != e.correct") == "0");
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements WHERE judge = 'process_oracle' AND "
                     "json_extract(detail, '$.labels') != json_extract(detail, '$.true_labels')") == "0");
  // A right answer through a wrong step: the outcome oracle says correct, the
  // process oracle names the step (the SFT policy makes such solutions).
  CHECK(std::stoi(QueryOne(db, "SELECT count(*) FROM judgements o JOIN judgements p ON p.episode_id = o.episode_id "
                               "WHERE o.judge = 'outcome_oracle' AND o.verdict = 'correct' AND p.judge = "
                               "'process_oracle' AND p.verdict = 'invalid'")) > 0);
  // Reranking logs the chosen solution with the reward model's judgement.
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements j JOIN episodes e ON e.id = j.episode_id WHERE e.stage = "
                     "'rerank_prm' AND j.judge = 'rm:prm' AND j.judge_kind = 'reward_model' AND j.confidence "
                     "BETWEEN 0 AND 1 AND json_array_length(j.detail, '$.step_scores') = 3") == "3");
  // Reranking by the exact outcome oracle keeps a right answer whenever one
  // of the 4 samples has it: fewer wrong answers than the greedy policy, and
  // its logged judgement is the chosen solution's correctness.
  CHECK(metric("rerank_outcome_oracle", "final_error") < metric("sft", "final_error"));
  CHECK(metric("rerank_outcome_oracle", "samples") == 4);
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements j JOIN episodes e ON e.id = j.episode_id WHERE e.stage = "
                     "'rerank_outcome_oracle' AND j.judge = 'rerank:outcome_oracle' AND j.judge_kind = 'oracle' AND "
                     "j.confidence = e.correct AND json_extract(j.detail, '$.flip') = 0") == "10");

  // Label noise: every label flipped with probability 0.3.
  const CommandResult n = RunOversight({"run", ConfigPath("tiny_process.json"), "--db", db, "--set",
                                        "stages=[" + QueryOne(db, "SELECT json_extract(config_json, '$.stages[0]') FROM "
                                                                  "experiments WHERE id = 1") +
                                            ", {\"name\": \"noisy\", \"kind\": \"process_episodes\", \"policy\": "
                                            "\"sft\", \"problems\": 200, \"samples_per_problem\": 2, \"flip\": 0.3}]"});
  INFO(n.err);
  REQUIRE(n.status == 0);
  const double flipped = std::stod(QueryOne(
      db, "SELECT avg(json_extract(detail, '$.label') != json_extract(detail, '$.true_label')) FROM judgements j "
          "JOIN episodes e ON e.id = j.episode_id WHERE e.experiment_id = 2 AND j.judge = 'outcome_oracle'"));
  CHECK(flipped > 0.25);
  CHECK(flipped < 0.35);

  // Bad options and bad logs name what was wrong.
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"stages[5].reward=\"process_rm\""}, "stages[5].reward_model"},
      {{"stages[6].reward_model=\"orm\""}, "'orm' is an outcome reward model, but reward is process_rm"},
      {{"stages[4].reward_model=\"nope\""}, "stages[4].reward_model"},
      {{"stages[5].flip=0.1", "stages[5].reward=\"outcome_rm\"", "stages[5].reward_model=\"orm\""}, "stages[5].flip"},
      {{"stages[2].from_stage=\"nothing\""}, "stages[2].from_stage: no logged process episodes"},
      {{"stages[0].embed=30", "stages[0].heads=4"}, "stages[0].embed: 30 is not a multiple of heads (4)"},
      {{"stages[0].steps=0"}, "stages[0].steps"},
      {{"stages[3].embed=32"}, "stages[3].embed: the reward model has the shape of its \"init\" policy 'sft'"},
      {{"stages[3].init=\"orm\""}, "stages[3].init"},
      {{"stages[3].outcome_targets=\"last_step\""},
       "stages[3].outcome_targets: only for an outcome reward model (objective is process)"},
      {{"stages[2].outcome_targets=\"first_step\""}, "stages[2].outcome_targets"},
      {{"stages[4].temperature=0"}, "stages[4].temperature: reranking needs samples that differ"},
      {{"stages[4].oracle=\"outcome\""}, "stages[4].oracle: reranking is by a \"reward_model\" or by an \"oracle\""},
      {{"stages[4].flip=0.1"}, "stages[4].flip: label flips are for an \"oracle\" reranker"},
      {{"stages[7].oracle=\"final\""}, "stages[7].oracle"}};
  for (const auto& [sets, message] : bad) {
    std::vector<std::string> args{"run", ConfigPath("tiny_process.json"), "--db", dir / "bad.db"};
    for (const std::string& s : sets) {
      args.push_back("--set");
      args.push_back(s);
    }
    const CommandResult b = RunOversight(args);
    INFO(sets.front() << ": " << b.err);
    CHECK(b.status == 2);
    CHECK_THAT(b.err, Catch::Contains(message));
  }
  // One sample per test problem at temperature 1: not the greedy solutions.
  const CommandResult t = RunOversight(
      {"run", ConfigPath("tiny_process.json"), "--db", db, "--set",
       "stages=[{\"name\": \"sampled\", \"kind\": \"process_eval\", \"policy\": \"sft\", \"temperature\": 1, "
       "\"test_problems\": 200}]"});
  INFO(t.err);
  REQUIRE(t.status == 0);
  const std::string last = "(SELECT max(id) FROM experiments)";
  CHECK(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = " + last + " AND name = 'temperature'") == "1.0");
  CHECK(QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = " + last + " AND name = 'final_correct'") !=
        QueryOne(db, "SELECT value FROM metrics WHERE experiment_id = 1 AND stage = 'sft' AND name = 'final_correct' "
                     "ORDER BY step DESC LIMIT 1"));

  // A reward model trained on other problems than the policy's.
  const CommandResult m = RunOversight(
      {"run", ConfigPath("tiny_process.json"), "--db", db, "--set",
       "stages=[{\"name\": \"sft4\", \"kind\": \"process_sft\", \"steps\": 4, \"batches\": 5, \"test_problems\": 10, "
       "\"artifact\": \"sft4\"}, {\"name\": \"mismatch\", \"kind\": \"process_eval\", \"policy\": \"sft4\", "
       "\"reward_model\": \"prm\"}]"});
  CHECK(m.status == 2);
  CHECK_THAT(m.err, Catch::Contains("stages[1].reward_model: 'prm' was trained on 3-step problems modulo 10, the "
                                    "policy on 4-step problems modulo 10"));

  // Asides: logged with their own symbol, a process reward model learns from
  // them, and a reward model of problems without asides is refused.
  const CommandResult a = RunOversight(
      {"run", ConfigPath("tiny_process.json"), "--db", db, "--set",
       "stages=[{\"name\": \"sft_aside\", \"kind\": \"process_sft\", \"steps\": 3, \"aside_share\": 0.5, "
       "\"batches\": 20, \"test_problems\": 50, \"artifact\": \"sft_aside\"}, {\"name\": \"aside_samples\", "
       "\"kind\": \"process_episodes\", \"policy\": \"sft_aside\", \"problems\": 40, \"samples_per_problem\": 1}, "
       "{\"name\": \"prm_aside\", \"kind\": \"process_rm\", \"from_stage\": \"aside_samples\", \"init\": "
       "\"sft_aside\", \"batches\": 5, \"artifact\": \"prm_aside\"}, {\"name\": \"aside_mismatch\", \"kind\": "
       "\"process_eval\", \"policy\": \"sft_aside\", \"reward_model\": \"prm\"}]"});
  CHECK(a.status == 2);
  CHECK_THAT(a.err, Catch::Contains("stages[3].reward_model: 'prm' was trained on 3-step problems modulo 10, the "
                                    "policy on 3-step problems modulo 10 with asides"));
  const std::string asides = QueryOne(
      db, "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id WHERE e.stage = 'aside_samples' AND "
          "t.role = 'problem' AND t.action LIKE '%\"?+\"%'");
  CHECK(std::stoi(asides) > 10);  // about 1 in 2 of the first two operations of 40 problems
  CHECK(QueryOne(db, "SELECT count(*) FROM artifacts WHERE name = 'prm_aside'") == "1");

  // A logged step that is not a value: the reward model's trainer names the episode.
  Store::Open(db)->Exec("UPDATE turns SET action = '{\"step\": 1, \"value\": 42}' WHERE id = (SELECT t.id FROM turns t JOIN "
                "episodes e ON e.id = t.episode_id WHERE e.stage = 'samples' AND t.role = 'step' LIMIT 1)", "corrupt a step");
  const CommandResult c = RunOversight({"run", ConfigPath("tiny_process.json"), "--db", db, "--set",
                                        "stages=[{\"name\": \"orm2\", \"kind\": \"process_rm\", \"from_experiment\": "
                                        "\"1\", \"from_stage\": \"samples\", \"artifact\": \"orm2\"}]"});
  CHECK(c.status == 2);
  CHECK_THAT(c.err, Catch::Contains("episode") && Catch::Contains("not a step value in range"));
}

// Issue 8 at toy scale: proxies trained on gold-labelled comparisons (with
// and without label noise), best-of-n under a proxy, PPO of a consultant
// from the uniform policy on the proxy.
TEST_CASE("Overoptimization stages: noisy proxies, best-of-n curves with their KL and fit, consultancy PPO", "[pipeline][goodhart]") {
  TempDir dir("goodhart");
  const std::string db = CopyFixture(dir);
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_overoptimization.json"), "--db", db});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto metric = [&](const std::string& stage, const std::string& name, int64_t step) {
    return std::stod(QueryOne(db, "SELECT value FROM metrics WHERE stage = '" + stage + "' AND name = '" +
                                      name + "' AND step = " + std::to_string(step)));
  };
  // Label noise at the requested rate: none without it; 30% +- 4 binomial sd of 300.
  CHECK(metric("proxy_clean", "label_flip_rate", 0) == 0.0);
  CHECK(metric("proxy_noisy", "label_flip_rate", 0) == Approx(0.3).margin(0.11));
  CHECK(metric("proxy_noisy", "label_flip_rate", 0) > 0.0);
  CHECK(QueryOne(db, "SELECT count(*) FROM metrics WHERE stage = 'proxy_clean' AND name = 'heldout_accuracy'") != "0");
  CHECK(QueryOne(db, "SELECT group_concat(name) FROM (SELECT name FROM artifacts WHERE kind = 'reward_model' "
                     "ORDER BY id)") == "tiny_proxy_clean,tiny_proxy_noisy");

  // Best-of-n: every power of two up to n_max, the KL formula, the ceiling.
  CHECK(QueryOne(db, "SELECT group_concat(step) FROM (SELECT step FROM metrics WHERE stage = 'bon_clean' AND "
                     "name = 'gold_reward' ORDER BY step)") == "1,2,4,8,16,32");
  double last_proxy = -1e9, last_oracle = -1e9;
  for (int64_t n : {1, 2, 4, 8, 16, 32}) {
    INFO("n = " << n);
    CHECK(metric("bon_clean", "kl", n) == Approx(std::log(double(n)) - (n - 1.0) / n).margin(1e-12));
    CHECK(metric("bon_clean", "d", n) == Approx(std::sqrt(metric("bon_clean", "kl", n))).margin(1e-12));
    // The proxy's best of n scores higher under the proxy as n grows; the
    // gold judge's own best of n is the gold ceiling.
    CHECK(metric("bon_clean", "proxy_reward", n) >= last_proxy - 1e-9);
    CHECK(metric("bon_clean", "oracle_gold_reward", n) >= last_oracle - 1e-9);
    CHECK(metric("bon_clean", "oracle_gold_reward", n) >= metric("bon_clean", "gold_reward", n) - 1e-9);
    CHECK(metric("bon_clean", "gold_reward", n) < 0);  // a log-probability
    last_proxy = metric("bon_clean", "proxy_reward", n);
    last_oracle = metric("bon_clean", "oracle_gold_reward", n);
  }
  // n = 1 is one sample of the initial policy, whoever selects.
  CHECK(metric("bon_clean", "gold_reward", 1) == Approx(metric("bon_clean", "oracle_gold_reward", 1)).margin(1e-9));
  CHECK(metric("bon_clean", "oracle_gold_reward", 32) > metric("bon_clean", "oracle_gold_reward", 1) + 0.1);
  CHECK(metric("bon_clean", "fit_points", 32) == 6);
  CHECK(metric("bon_clean", "fit_r2", 32) <= 1.0);
  CHECK(QueryOne(db, "SELECT count(*) FROM metrics WHERE stage = 'bon_clean' AND name IN ('fit_a', 'fit_b', 'fit_rmse')") == "3");

  // Consultancy PPO: starts at the uniform reference (KL 0), moves away,
  // logs the gold reward (the judge's log-probability) beside the proxy's.
  CHECK(QueryOne(db, "SELECT group_concat(step) FROM (SELECT step FROM metrics WHERE stage = 'ppo_clean' AND "
                     "name = 'eval_kl' ORDER BY step)") == "0,2,4");
  CHECK(std::fabs(metric("ppo_clean", "eval_kl", 0)) < 1e-5);
  CHECK(std::fabs(metric("ppo_clean", "kl_exact", 1)) < 1e-5);
  CHECK(metric("ppo_clean", "eval_kl", 4) > 1e-4);
  CHECK(metric("ppo_clean", "eval_d", 4) == Approx(std::sqrt(metric("ppo_clean", "eval_kl", 4))).margin(1e-12));
  CHECK(metric("ppo_clean", "gold_reward", 4) < 0);
  CHECK(metric("ppo_clean", "eval_gold_reward", 0) < 0);
  CHECK(QueryOne(db, "SELECT count(*) FROM metrics WHERE stage = 'ppo_clean' AND name = 'eval_gold_reward_ci'") == "3");
  CHECK(metric("ppo_clean", "fit_points", 4) == 3);
  CHECK(QueryOne(db, "SELECT count(*) FROM artifacts WHERE kind = 'policy' AND name = 'tiny_consultant'") == "1");
  // No evaluation debates: a consultancy is evaluated by its metrics.
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes WHERE stage LIKE 'ppo_clean%'") == "0");
}

TEST_CASE("Overoptimization config errors name the key", "[pipeline][goodhart]") {
  TempDir dir("goodhart-bad");
  const std::string db = CopyFixture(dir);
  struct Case {
    std::vector<std::string> sets;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"stages[2].n_max=65"}, "stages[2].n_max: 65 is more than the pool of 64 samples"},
      {{"stages[3].opponent={\"name\": \"random\"}"}, "stages[3].opponent: a consultancy has no opponent"},
      {{"stages[0].label_noise=1.5"}, "stages[0].label_noise"},
      {{"stages[0].batches=10"}, "stages[0].batches: not an option of proxy_rm"},
      {{"stages[1].comparisons=null"}, "stages[1].comparisons"},
      {{"stages[3].reward=\"logprob\""}, "stages[3].reward"},
      {{"stages[2].judge={\"name\": \"sparse\"}"}, "stages[2].judge.checkpoint"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"run", ConfigPath("tiny_overoptimization.json"), "--db", db};
    for (const std::string& s : c.sets) {
      args.push_back("--set");
      args.push_back(s);
    }
    const CommandResult r = RunOversight(args);
    INFO(c.sets[0] << "\n" << r.err);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains(c.message));
  }
  CHECK(QueryOne(db, "SELECT count(*) FROM experiments WHERE name = 'tiny_overoptimization'") == "0");
  // A proxy that does not exist fails the stage when it runs, naming it, and
  // leaves no partial curve.
  const CommandResult r = RunOversight(
      {"run", ConfigPath("tiny_overoptimization.json"), "--db", db, "--set",
       "stages=[{\"kind\": \"best_of_n\", \"name\": \"bon\", \"task\": {\"name\": \"mnist\", \"split\": "
       "\"test\"}, \"judge\": {\"name\": \"sparse\", \"checkpoint\": \"tiny_judge_k6\"}, \"reward_model\": "
       "\"no_such_proxy\", \"images\": 2, \"samples\": 4, \"n_max\": 2}]"});
  INFO(r.err);
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Catch::Contains("stages[0].reward_model") &&
                        Catch::Contains("train one first with a proxy_rm stage whose \"artifact\" is 'no_such_proxy'"));
  CHECK(QueryOne(db, "SELECT count(*) FROM metrics WHERE stage = 'bon'") == "0");
  CHECK(QueryOne(db, "SELECT status FROM experiments WHERE name = 'tiny_overoptimization'") == "failed");
}
