// Reading the log for `oversight report` (report.cpp, debate_table.cpp):
// a prepared statement that throws ReportError, which RunReportCommand turns
// into "<db>: <what>" and the exit status. Private to experiments/.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

#include "experiments/commands.h"

namespace oversight {

// A failure of the report, caught in RunReportCommand. `what` follows
// "<db>: ".
struct ReportError {
  int code;
  std::string what;
};

// A prepared statement that throws ReportError naming its purpose.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql, const char* purpose)
      : db_(db), purpose_(purpose) {
    const int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) Fail(rc);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v) {
    const int rc = sqlite3_bind_int64(stmt_, i, v);
    if (rc != SQLITE_OK) Fail(rc);
    return *this;
  }
  // True while there is a row.
  bool Next() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) Fail(rc);
    return false;
  }
  bool IsNull(int i) const {
    return sqlite3_column_type(stmt_, i) == SQLITE_NULL;
  }
  int64_t Int(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::optional<int64_t> OptInt(int i) const {
    if (sqlite3_column_type(stmt_, i) != SQLITE_INTEGER) return std::nullopt;
    return Int(i);
  }
  std::optional<double> OptDouble(int i) const {
    if (IsNull(i)) return std::nullopt;
    return sqlite3_column_double(stmt_, i);
  }
  std::string Text(int i) const {
    const auto* p = sqlite3_column_text(stmt_, i);
    if (!p) return "";
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
  }
  std::optional<std::string> OptText(int i) const {
    if (IsNull(i)) return std::nullopt;
    return Text(i);
  }

 private:
  [[noreturn]] void Fail(int rc) const {
    throw ReportError{ExitCodeForSqliteError(rc),
                      std::string(purpose_) + ": " + sqlite3_errmsg(db_)};
  }

  sqlite3* db_;
  const char* purpose_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace oversight
