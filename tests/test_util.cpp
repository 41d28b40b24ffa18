#include "tests/test_util.h"

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace oversight::testing {
namespace fs = std::filesystem;

TempDir::TempDir(const std::string& label) {
  static std::atomic<int> counter{0};
  path_ = std::string(OVERSIGHT_TEST_DIR) + "/" + label + "-" + std::to_string(getpid()) +
          "-" + std::to_string(counter++);
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  if (!std::getenv("OVERSIGHT_KEEP_TEST_DATA")) {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
}

namespace {
std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}
std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

CommandResult RunOversight(const std::vector<std::string>& args) {
  return RunCommand("", OVERSIGHT_BIN, args);
}

CommandResult RunUnderXvfb(const std::string& script) {
  return RunCommand("xvfb-run -a -s '-screen 0 1280x800x24'", "sh", {"-c", script});
}

std::string XWaitForTitle(const std::string& title, int seconds) {
  return "for i in $(seq " + std::to_string(10 * seconds) + "); do xdotool search --name " +
         Quote(title) + " >/dev/null 2>&1 && break; sleep 0.1; done; ";
}

std::string XClick(int x, int y) {
  return "xdotool mousemove " + std::to_string(x) + " " + std::to_string(y) + " click 1; ";
}

std::string XClickUntilTitle(int x, int y, const std::string& title, int tries) {
  return XClicksUntilTitle({{x, y}}, title, tries);
}

std::string XClicksUntilTitle(const std::vector<std::pair<int, int>>& points,
                              const std::string& title, int tries) {
  std::string clicks;
  for (const auto& [x, y] : points) clicks += XClick(x, y) + "sleep 0.5; ";
  // After each round, up to 2 s for the title before clicking again.
  return "for i in $(seq " + std::to_string(tries) + "); do " + clicks +
         "for j in $(seq 20); do xdotool search --name " + Quote(title) +
         " >/dev/null 2>&1 && break 2; sleep 0.1; done; done; ";
}

CommandResult RunCommand(const std::string& prefix, const std::string& program,
                         const std::vector<std::string>& args) {
  TempDir tmp("cmd");
  std::string cmd = prefix + (prefix.empty() ? "" : " ") + Quote(program);
  for (const auto& a : args) cmd += " " + Quote(a);
  cmd += " >" + Quote(tmp / "out") + " 2>" + Quote(tmp / "err") + " </dev/null";
  const int raw = std::system(cmd.c_str());
  CommandResult r;
  if (WIFEXITED(raw)) r.status = WEXITSTATUS(raw);
  else if (WIFSIGNALED(raw)) r.status = 128 + WTERMSIG(raw);
  r.out = Slurp(tmp / "out");
  r.err = Slurp(tmp / "err");
  return r;
}

std::vector<std::string> QueryColumn(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string msg = h ? sqlite3_errmsg(h) : "out of memory";
    sqlite3_close(h);
    throw std::runtime_error(db + ": " + msg);
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(h);
    sqlite3_close(h);
    throw std::runtime_error(db + ": " + sql + ": " + msg);
  }
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    out.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

std::string QueryOne(const std::string& db, const std::string& sql) {
  auto col = QueryColumn(db, sql);
  if (col.size() != 1) throw std::runtime_error(sql + ": expected one row");
  return col[0];
}

std::string ConfigPath(const std::string& name) {
  return std::string(OVERSIGHT_TEST_CONFIGS) + "/" + name;
}

std::string TinyJudgeDb() { return std::string(OVERSIGHT_TEST_DIR) + "/tiny/judge.db"; }

}  // namespace oversight::testing
