// Helpers for tests: temp dirs, running the real CLI, reading SQLite.
#pragma once

#include <string>
#include <vector>

namespace oversight::testing {

// A fresh empty directory under the build's test-data folder, removed by the
// destructor unless OVERSIGHT_KEEP_TEST_DATA is set.
class TempDir {
 public:
  explicit TempDir(const std::string& label);
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  std::string File(const std::string& name) const { return *this / name; }

 private:
  std::string path_;
};

struct CommandResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `program` with `args` (shell-quoted here) after the shell words
// `prefix` (e.g. "xvfb-run -a"), capturing output.
CommandResult RunCommand(const std::string& prefix, const std::string& program,
                         const std::vector<std::string>& args);
// Runs the oversight binary with `args`.
CommandResult RunOversight(const std::vector<std::string>& args);

// Driving a GUI with real X11 input events: `script` (sh) runs under
// xvfb-run on a 1280x800x24 screen; the pieces below are sh fragments
// for it (xdotool), each ending in "; ".
CommandResult RunUnderXvfb(const std::string& script);
// Waits up to `seconds` for a window whose title matches `title`.
std::string XWaitForTitle(const std::string& title, int seconds);
// Clicks at (x, y).
std::string XClick(int x, int y);
// Clicks at (x, y) until a window title matches `title`, up to `tries`
// times, waiting up to 2 s for the title after each click (a click the GUI
// was not ready for is repeated).
std::string XClickUntilTitle(int x, int y, const std::string& title, int tries);
// The same for a sequence of clicks (say, pick an option then submit), half a
// second apart: the whole sequence is repeated until the title matches. Under
// load a frame can come late and swallow a click.
std::string XClicksUntilTitle(const std::vector<std::pair<int, int>>& points,
                              const std::string& title, int tries);

// Single-column query result of `sql` on `db` as strings (NULL -> "NULL").
std::vector<std::string> QueryColumn(const std::string& db, const std::string& sql);
std::string QueryOne(const std::string& db, const std::string& sql);

// Paths.
std::string ConfigPath(const std::string& name);  // tests/configs/NAME
std::string TinyJudgeDb();                         // the fixture's database

}  // namespace oversight::testing
