// oversight-gui: its log reader (LogView: filters, sorting, paging, one
// episode, bad files) on real SQLite files, and the program itself under
// Xvfb (a real window and OpenGL context; screenshots checked pixel by
// pixel, bad input refused with a message).
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <stb/stb_image.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/store.h"
#include "gui/log_view.h"
#include "test_util.h"

namespace oversight {
namespace {

using testing::QueryColumn;
using testing::TempDir;

// A log of 1,000 episodes over two stages and protocols, with outcomes,
// correct 1 / 0 / NULL and judgements by model and (every 7th) human judges;
// episode 1 is a 4-reveal image debate on MNIST test image 3.
std::string MakeLog(const TempDir& dir) {
  const std::string path = dir / "log.db";
  auto store = Store::Open(path);
  const int64_t x = store->CreateExperiment("gui_test", "{}", 1, "test");
  std::vector<EpisodeRecord> eps;
  for (int i = 0; i < 1000; ++i) {
    EpisodeRecord e;
    e.experiment_id = x;
    e.stage = i < 600 ? "alone" : "debate";
    e.idx = i;
    e.protocol = i < 600 ? "direct" : "debate";
    e.task = "mnist";
    e.instance = "test/" + std::to_string((i * 37) % 200);
    e.truth = std::to_string(i % 10);
    e.outcome = std::to_string((i * 3) % 10);
    if (i % 5 != 4) e.correct = (i % 3 == 0) ? 1 : 0;
    if (i == 0) {
      e.instance = "test/3#first=honest,lie_index=0";
      const int pixels[4] = {350, 378, 406, 434};
      for (int k = 0; k < 4; ++k)
        e.turns.push_back({k, k % 2 ? "liar" : "honest", "greedy",
                           "{\"pixel\":" + std::to_string(pixels[k]) + ",\"value\":0.9}", "", {}, 0});
    }
    JudgementRecord j;
    j.judge = i % 7 == 0 ? "person" : "sparse";
    j.judge_kind = i % 7 == 0 ? JudgeKind::kHuman : JudgeKind::kModel;
    j.verdict = e.outcome;
    j.detail = "{\"logits\":[1,2,3,4,5,-1,-2,-3,-4,-5]}";
    e.judgements.push_back(j);
    eps.push_back(std::move(e));
  }
  store->InsertEpisodes(eps);
  return path;
}

std::vector<int64_t> Ids(const std::vector<EpisodeItem>& rows) {
  std::vector<int64_t> ids;
  for (const auto& r : rows) ids.push_back(r.id);
  return ids;
}

std::vector<int64_t> SqlIds(const std::string& db, const std::string& sql) {
  std::vector<int64_t> ids;
  for (const auto& s : QueryColumn(db, sql)) ids.push_back(std::stoll(s));
  return ids;
}

TEST_CASE("LogView filters, sorts and pages episodes like SQL over the whole table", "[gui]") {
  TempDir dir("logview");
  const std::string db = MakeLog(dir);
  LogView view(db);
  const auto experiments = view.Experiments();
  REQUIRE(experiments.size() == 1);
  CHECK(experiments[0].episodes == 1000);
  const int64_t x = experiments[0].id;
  CHECK(view.Stages(x) == std::vector<std::string>{"alone", "debate"});
  CHECK(view.Protocols(x) == std::vector<std::string>{"debate", "direct"});

  EpisodeFilter f;
  f.experiment_id = x;
  CHECK(view.CountEpisodes(f) == 1000);
  f.stage = "debate";
  f.correct = 1;
  CHECK(view.CountEpisodes(f) ==
        std::stoll(testing::QueryOne(db, "SELECT count(*) FROM episodes WHERE stage = 'debate' AND correct = 1")));
  f = EpisodeFilter{};
  f.experiment_id = x;
  f.correct = 2;  // no ground truth
  CHECK(view.CountEpisodes(f) == 200);
  f.correct = -1;
  f.judge_kind = "human";
  CHECK(view.CountEpisodes(f) == 143);  // i % 7 == 0 for i < 1000
  f.judge_kind.clear();
  f.outcome = "3' OR '1'='1";  // a value, never SQL
  CHECK(view.CountEpisodes(f) == 0);

  // The order, descending by instance (ties by id), is one ORDER BY; pages
  // of 64 read by id come back in that order.
  f = EpisodeFilter{};
  f.experiment_id = x;
  f.protocol = "direct";
  const std::vector<int64_t> order = view.EpisodeIds(f, EpisodeColumn::kInstance, true);
  CHECK(order == SqlIds(db, "SELECT id FROM episodes WHERE protocol = 'direct' "
                            "ORDER BY instance DESC, id DESC"));
  REQUIRE(order.size() == 600);
  std::vector<EpisodeItem> all;
  for (size_t off = 0; off < order.size(); off += 64) {
    const auto page = view.EpisodesByIds(order.data() + off, std::min<size_t>(64, order.size() - off));
    all.insert(all.end(), page.begin(), page.end());
  }
  CHECK(Ids(all) == order);
  CHECK(view.EpisodeIds(f, EpisodeColumn::kCorrect, false) ==
        SqlIds(db, "SELECT id FROM episodes WHERE protocol = 'direct' ORDER BY correct, id"));

  const auto d = view.Episode(all.back().id);
  REQUIRE(d);
  CHECK(d->episode.protocol == "direct");
  CHECK(d->judgements.size() == 1);
  const auto debate = view.Episode(1);
  REQUIRE(debate);
  REQUIRE(debate->turns.size() == 4);
  CHECK(debate->turns[1].role == "liar");
  CHECK(debate->turns[3].action == "{\"pixel\":434,\"value\":0.9}");
  CHECK_FALSE(view.Episode(123456));
  // The image of "test/3" is MNIST test image 3 of our split.
  const auto image = EpisodeImage("mnist", "test/3#first=honest");
  REQUIRE(image.size() == 784);
  CHECK(EpisodeImage("permutation", "n8/1").empty());
}

TEST_CASE("LogView refuses missing, foreign and newer files by name", "[gui]") {
  TempDir dir("logview-bad");
  CHECK_THROWS_WITH(LogView(dir / "none.db"), Catch::Contains("none.db") && Catch::Contains("no such"));
  { std::ofstream(dir / "text.db") << "not a database at all, just text\n"; }
  CHECK_THROWS_WITH(LogView(dir / "text.db"), Catch::Contains("text.db"));
  const std::string newer = MakeLog(dir);
  {
    sqlite3* h = nullptr;
    sqlite3_open(newer.c_str(), &h);
    sqlite3_exec(h, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  CHECK_THROWS_WITH(LogView(newer), Catch::Contains("newer"));
}

// --- the program under Xvfb -------------------------------------------------

testing::CommandResult RunGui(const std::vector<std::string>& args) {
  return testing::RunCommand("xvfb-run -a -s '-screen 0 1280x800x24'", OVERSIGHT_GUI_BIN, args);
}

struct Png {
  int w = 0, h = 0;
  std::vector<unsigned char> rgb;
  bool Load(const std::string& path) {
    int n = 0;
    unsigned char* p = stbi_load(path.c_str(), &w, &h, &n, 3);
    if (!p) return false;
    rgb.assign(p, p + static_cast<size_t>(w) * h * 3);
    stbi_image_free(p);
    return true;
  }
  // Pixels in [x0, x1) x [y0, y1) close to (r, g, b).
  int Count(int x0, int y0, int x1, int y1, int r, int g, int b) const {
    int n = 0;
    for (int y = y0; y < y1 && y < h; ++y)
      for (int x = x0; x < x1 && x < w; ++x) {
        const unsigned char* q = &rgb[(static_cast<size_t>(y) * w + x) * 3];
        if (std::abs(q[0] - r) < 40 && std::abs(q[1] - g) < 40 && std::abs(q[2] - b) < 40) ++n;
      }
    return n;
  }
};

TEST_CASE("The replay panel draws an episode's reveals in the debaters' colours", "[gui]") {
  TempDir dir("gui-replay");
  const std::string db = MakeLog(dir);
  const auto r = RunGui({"--db", db, "--panel", "replay", "--episode", "1", "--screenshot",
                         dir / "replay.png", "--frames", "4"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  Png png;
  REQUIRE(png.Load(dir / "replay.png"));
  CHECK(png.w == 1280);
  CHECK(png.h == 800);
  // Two honest (blue) and two liar (red) 12x12 cells on the canvas, which
  // starts near the top left: about 2 x 144 pixels of each colour (the
  // legend and the step numbers take a few).
  const int blue = png.Count(0, 80, 400, 460, 69, 152, 255);
  const int red = png.Count(0, 80, 400, 460, 255, 83, 69);
  CHECK(blue > 200);
  CHECK(red > 200);
  // An episode without reveals: no coloured cells.
  const auto r2 = RunGui({"--db", db, "--panel", "replay", "--episode", "700", "--screenshot",
                          dir / "replay2.png", "--frames", "4"});
  REQUIRE(r2.status == 0);
  Png png2;
  REQUIRE(png2.Load(dir / "replay2.png"));
  CHECK(png2.Count(0, 80, 400, 460, 69, 152, 255) < 50);
}

TEST_CASE("The replay panel shows a text debate with verified and unverified quotes marked", "[gui]") {
  TempDir dir("gui-text");
  const std::string db = dir / "text.db";
  {
    auto store = Store::Open(db);
    EpisodeRecord e;
    e.experiment_id = store->CreateExperiment("text", "{}", 1, "v");
    e.stage = "debate";
    e.protocol = "debate";
    e.task = "qa";
    e.instance = "lighthouse#first=0";
    e.truth = "0";
    e.outcome = "0";
    e.correct = 1;
    for (int side = 0; side < 2; ++side) {
      TurnRecord t;
      t.idx = side;
      t.role = side == 0 ? "debater_a" : "debater_b";
      t.agent = "remote:m";
      t.action = "{\"answer\":" + std::to_string(side) + ",\"round\":1}";
      t.content = side == 0 ? "It says <v_quote>an electric beacon on the breakwater, replacing the "
                              "old lamp for good and all</v_quote>."
                            : "It says <u_quote>the keeper ran out of oil for the lamp that "
                              "winter, and never bought more</u_quote>.";
      e.turns.push_back(t);
    }
    JudgementRecord j;
    j.judge = "remote:m";
    j.judge_kind = JudgeKind::kRemote;
    j.verdict = "0";
    j.detail = R"({"answers": ["Answer: A\nConfidence: 0.9"]})";
    e.judgements.push_back(j);
    store->InsertEpisodes({e});
  }
  const auto r = RunGui({"--db", db, "--panel", "replay", "--episode", "1", "--screenshot",
                         dir / "replay.png", "--frames", "4"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  Png png;
  REQUIRE(png.Load(dir / "replay.png"));
  // Below the turn table: the verified quote in green, the unverified in red
  // (gui/panels.cpp, DrawMarkedText), each a line of ~80 characters.
  CHECK(png.Count(0, 250, 1280, 600, 102, 230, 102) > 300);
  CHECK(png.Count(0, 250, 1280, 600, 255, 102, 102) > 300);
}

TEST_CASE("The browser lists the episodes, and bad input gets a message, not a crash", "[gui]") {
  TempDir dir("gui-browse");
  const std::string db = MakeLog(dir);
  const auto r = RunGui({"--db", db, "--screenshot", dir / "browse.png", "--frames", "4"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  Png png;
  REQUIRE(png.Load(dir / "browse.png"));
  // The selected experiment and the table's rows: many light text pixels.
  CHECK(png.Count(0, 0, 1280, 800, 255, 255, 255) > 2000);

  const auto missing = RunGui({"--db", dir / "nope.db"});
  CHECK(missing.status == 2);
  CHECK_THAT(missing.err, Catch::Contains("nope.db") && Catch::Contains("no such database"));
  const auto usage = RunGui({"--db", db, "--panel", "dashboard-of-doom"});
  CHECK(usage.status == 2);
  CHECK_THAT(usage.err, Catch::Contains("--panel"));
}

// A person's click, as X11 input events (xdotool) to the real window: the
// first row of the browser opens the replay of episode 1 (two honest and two
// liar reveals).
TEST_CASE("Clicking an episode in the browser opens its replay", "[gui]") {
  TempDir dir("gui-click");
  const std::string db = MakeLog(dir);
  const std::string png_path = dir / "click.png";
  const std::string script =
      std::string("'") + OVERSIGHT_GUI_BIN + "' --db '" + db + "' --seconds 15 --screenshot '" +
      png_path + "' & " + testing::XWaitForTitle("Oversight Lab", 5) +
      testing::XClickUntilTitle(300, 114, "replay 1", 60) + "wait $!";
  const auto r = testing::RunUnderXvfb(script);
  INFO(r.err);
  REQUIRE(r.status == 0);
  Png png;
  REQUIRE(png.Load(png_path));
  CHECK(png.Count(0, 80, 400, 460, 255, 83, 69) > 200);  // the liar's cells
}

// A person judges a debate the GUI plays itself (greedy debaters against the
// tiny fixture judge, on a worker thread): real clicks pick "A is right" and
// submit; the verdict is logged as an episode with judge_kind human.
TEST_CASE("Judging a live debate in the GUI logs the person's verdict", "[gui]") {
  TempDir dir("gui-live");
  const std::string db = dir / "runs.db";
  std::filesystem::copy_file(testing::TinyJudgeDb(), db);
  const std::string judge = testing::QueryOne(
      db, "SELECT path FROM artifacts WHERE kind = 'judge' AND name = 'tiny_judge_k6'");
  // Waits (on the window title) for the verdict controls, clicks an answer
  // and submit until the verdict is logged, then closes the GUI.
  const std::string script =
      std::string("'") + OVERSIGHT_GUI_BIN + "' --db '" + db + "' --panel live --live-judge '" +
      judge + "' --live-start --live-step-ms 50 --seconds 120 & gui=$!; " +
      testing::XWaitForTitle("awaiting verdict", 60) +
      testing::XClicksUntilTitle({{18, 583}, {118, 662}}, "verdict logged 1", 60) +
      "kill $gui; wait $gui; true";
  const auto r = testing::RunUnderXvfb(script);
  INFO(r.err);
  REQUIRE(r.status == 0);
  using testing::QueryOne;
  REQUIRE(QueryOne(db, "SELECT count(*) FROM episodes WHERE stage = 'live'") == "1");
  // 2 claims + 6 reveals; the person's judgement, consistent with the truth.
  CHECK(QueryOne(db, "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id "
                     "WHERE e.stage = 'live'") == "8");
  CHECK(QueryOne(db, "SELECT j.judge_kind || ':' || j.confidence FROM judgements j JOIN episodes e "
                     "ON e.id = j.episode_id WHERE e.stage = 'live'") == "human:0.75");
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements j JOIN episodes e ON e.id = j.episode_id "
                     "WHERE e.stage = 'live' AND e.correct = (j.verdict = e.truth) AND j.verdict IN "
                     "(json_extract(j.detail, '$.claims.honest'), json_extract(j.detail, '$.claims.liar'))") == "1");
  CHECK(QueryOne(db, "SELECT name || ':' || status FROM experiments WHERE name = 'gui_live_debates'") ==
        "gui_live_debates:finished");
}

TEST_CASE("The dashboard shows accuracy and metrics of a log that is being written", "[gui]") {
  TempDir dir("gui-dashboard");
  const std::string db = MakeLog(dir);
  {
    auto store = Store::Open(db);
    std::vector<Store::Metric> loss;
    for (int s = 0; s < 50; ++s) loss.push_back({"loss", s * 10, 2.0 / (1 + s)});
    store->InsertMetrics(1, "alone", loss);
  }
  // An experiment writing beside the GUI: episodes committed in small
  // transactions for as long as the GUI runs.
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    auto store = Store::Open(db);
    for (int batch = 0; !stop && batch < 400; ++batch) {
      std::vector<EpisodeRecord> eps(25);
      for (int k = 0; k < 25; ++k) {
        eps[k].experiment_id = 1;
        eps[k].stage = "live";
        eps[k].idx = batch * 25 + k;
        eps[k].protocol = "direct";
        eps[k].task = "mnist";
        eps[k].instance = "test/" + std::to_string(k);
        eps[k].correct = k % 2;
      }
      store->InsertEpisodes(eps);
      written += 25;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto r = RunGui({"--db", db, "--panel", "dashboard", "--screenshot",
                         dir / "dashboard.png", "--frames", "300"});
  stop = true;
  writer.join();
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(written > 0);
  Png png;
  REQUIRE(png.Load(dir / "dashboard.png"));
  // Accuracy bars (ImGui's yellow) for the three stages, and the loss line
  // (light grey on the plot's blue) in the plot below the table.
  CHECK(png.Count(0, 60, 1280, 200, 230, 179, 0) > 500);
  CHECK(png.Count(0, 150, 520, 400, 156, 156, 156) > 40);
}

}  // namespace
}  // namespace oversight
