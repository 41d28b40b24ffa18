// A prepared SQLite statement for readers of the log (oversight report, the
// GUI): RAII, typed column getters, and SqlError (with SQLite's result code
// and the statement's purpose) on failure. Not thread-safe: one connection,
// one thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace oversight {

// A failed statement: what() = "<purpose>: <sqlite message>".
class SqlError : public std::runtime_error {
 public:
  SqlError(int rc, const std::string& what) : std::runtime_error(what), rc_(rc) {}
  int rc() const { return rc_; }  // SQLite's result code

 private:
  int rc_;
};

class Stmt {
 public:
  // REQUIRES: `purpose` outlives the statement (a string literal).
  Stmt(sqlite3* db, const char* sql, const char* purpose) : db_(db), purpose_(purpose) {
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
  Stmt& Bind(int i, const std::string& v) {
    const int rc = sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                                     SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) Fail(rc);
    return *this;
  }
  // Makes the statement runnable again (bindings kept until rebound).
  Stmt& Reset() {
    sqlite3_reset(stmt_);
    return *this;
  }
  // True while there is a row.
  bool Next() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) Fail(rc);
    return false;
  }
  bool IsNull(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  int64_t Int(int i) const { return sqlite3_column_int64(stmt_, i); }
  double Double(int i) const { return sqlite3_column_double(stmt_, i); }
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
    throw SqlError(rc, std::string(purpose_) + ": " + sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  const char* purpose_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace oversight
