// `oversight query`: one read-only SQL statement, printed as a table, CSV or
// JSON. Also home of the read-only opener shared with `oversight report`.
//
// [SECTION] Read-only opening (shared)
// [SECTION] Statement checks
// [SECTION] Result formatting
// [SECTION] RunQueryCommand

#include <sqlite3.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "experiments/commands.h"

namespace oversight {

// ---------------------------------------------------------------------------
// [SECTION] Read-only opening (shared)
// ---------------------------------------------------------------------------

void SqliteCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

int ExitCodeForSqliteError(int rc) {
  switch (rc & 0xff) {
    case SQLITE_ERROR:     // SQL errors, also runtime ones (integer overflow)
    case SQLITE_AUTH:      // refused by the authorizer
    case SQLITE_READONLY:  // tried to write
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
    case SQLITE_CORRUPT:  // the data is bad
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
      return 2;
    default:  // I/O, busy, locked, out of memory, ...
      return 1;
  }
}

namespace {

// Refuses ATTACH and DETACH: sqlite3_stmt_readonly() counts them as read-only
// (they change the connection, not a file), but ATTACH could open or create
// another file and VACUUM-like tricks could then write to it.
int DenyAttach(void*, int action, const char*, const char*, const char*,
               const char*) {
  return (action == SQLITE_ATTACH || action == SQLITE_DETACH) ? SQLITE_DENY
                                                              : SQLITE_OK;
}

// "file:" URI for `path` with the characters URIs give a meaning to escaped.
std::string FileUri(const std::string& path, const char* query) {
  std::string uri = "file:";
  if (!path.empty() && path[0] == '/') uri += "//";  // empty authority
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
      uri += '%';
      uri += kHex[c >> 4];
      uri += kHex[c & 15];
    } else {
      uri += static_cast<char>(c);
    }
  }
  return uri + "?" + query;
}

// Opens with SQLITE_OPEN_READONLY and configures the connection; on failure
// returns the SQLite result code and sets *message.
int OpenAndProbe(const std::string& db_path, bool immutable, SqliteHandle* out,
                 std::string* message) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
  std::string name = db_path;
  if (immutable) {
    flags |= SQLITE_OPEN_URI;
    name = FileUri(db_path, "immutable=1");
  }
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) {
    *message = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return rc;
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), 5000);
  // Belt and braces on top of SQLITE_OPEN_READONLY: a read-only connection
  // never checkpoints, never trusts SQL functions named in the schema, and
  // refuses writes again at the pragma level.
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_set_authorizer(db.get(), DenyAttach, nullptr);
  // Reading the schema forces SQLite to read the header (so a non-SQLite file
  // fails here, not in the middle of a command) and to open the WAL index.
  rc = sqlite3_exec(db.get(),
                    "PRAGMA query_only = 1; SELECT count(*) FROM sqlite_master",
                    nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    *message = sqlite3_errmsg(db.get());
    return rc;
  }
  *out = std::move(db);
  return SQLITE_OK;
}

}  // namespace

SqliteHandle OpenDatabaseReadOnly(const std::string& db_path,
                                  std::string* error, int* exit_code) {
  auto fail = [&](int code, const std::string& what) {
    *error =
        (db_path.empty() ? std::string("(empty path)") : db_path) + ": " + what;
    *exit_code = code;
    return SqliteHandle();
  };
  namespace fs = std::filesystem;
  if (db_path.empty()) return fail(2, "no database file given");
  std::error_code ec;
  const fs::file_status status = fs::status(db_path, ec);
  if (status.type() == fs::file_type::not_found) {
    return fail(2, "no such file");
  }
  if (ec) return fail(2, "cannot access the file: " + ec.message());
  if (fs::is_directory(status)) {
    return fail(2, "is a directory, not a database file");
  }
  if (!fs::is_regular_file(status)) return fail(2, "not a regular file");

  SqliteHandle db;
  std::string message;
  int rc = OpenAndProbe(db_path, /*immutable=*/false, &db, &message);
  // A WAL database needs its -shm file; with the writer gone (no -wal) and a
  // directory we cannot create files in, SQLite cannot make one. No writer
  // can be active then, so reading the file as immutable is safe.
  const int primary = rc & 0xff;
  if ((primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) &&
      !fs::exists(db_path + "-wal", ec)) {
    std::string immutable_message;
    if (OpenAndProbe(db_path, /*immutable=*/true, &db, &immutable_message) ==
        SQLITE_OK) {
      rc = SQLITE_OK;
    }
  }
  if (rc == SQLITE_OK) return db;
  if ((rc & 0xff) == SQLITE_NOTADB) {
    return fail(2, "not a SQLite database (" + message + ")");
  }
  return fail(ExitCodeForSqliteError(rc), "cannot open read-only: " + message);
}

namespace {

// ---------------------------------------------------------------------------
// [SECTION] Statement checks
// ---------------------------------------------------------------------------

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// Skips whitespace, statement separators and SQL comments.
const char* SkipNothing(const char* p, const char* end) {
  while (p < end) {
    if (std::isspace(static_cast<unsigned char>(*p)) || *p == ';') {
      ++p;
    } else if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
      while (p < end && *p != '\n') ++p;
    } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
      p += 2;
      while (p < end && !(end - p >= 2 && p[0] == '*' && p[1] == '/')) ++p;
      p = (p < end) ? p + 2 : end;  // an unterminated comment runs to the end
    } else {
      break;
    }
  }
  return p;
}

// A failure: the exit code and the text after "<db>: ".
struct Failure {
  int code;
  std::string what;
};

// Prepares `sql` as exactly one statement that only reads.
StmtPtr PrepareReadOnly(sqlite3* db, const std::string& sql,
                        std::optional<Failure>* failure) {
  const char* const begin = sql.data();
  const char* const end = begin + sql.size();
  const char* p = SkipNothing(begin, end);
  const char* tail = p;
  sqlite3_stmt* raw = nullptr;
  if (p < end) {
    int rc = sqlite3_prepare_v2(db, p, static_cast<int>(end - p), &raw, &tail);
    if (rc != SQLITE_OK) {
      if ((rc & 0xff) == SQLITE_AUTH) {
        *failure =
            Failure{2,
                    "refused: ATTACH and DETACH are not allowed (queries are "
                    "read-only)"};
        return nullptr;
      }
      std::string what = std::string("SQL error: ") + sqlite3_errmsg(db);
      const int offset = sqlite3_error_offset(db);
      if (offset >= 0) {
        what += " (at byte " + std::to_string(offset + (p - begin)) +
                " of the statement)";
      }
      *failure = Failure{ExitCodeForSqliteError(rc), what};
      return nullptr;
    }
  }
  StmtPtr stmt(raw);
  if (!stmt) {
    *failure = Failure{2, "empty statement: nothing to run"};
    return nullptr;
  }
  if (SkipNothing(tail, end) != end) {
    *failure = Failure{2, "more than one statement; run them one at a time"};
    return nullptr;
  }
  if (!sqlite3_stmt_readonly(stmt.get())) {
    *failure = Failure{
        2, "refused: the statement would write (queries are read-only)"};
    return nullptr;
  }
  return stmt;
}

// ---------------------------------------------------------------------------
// [SECTION] Result formatting
// ---------------------------------------------------------------------------

enum class QueryFormat { kTable, kCsv, kJson };

std::optional<QueryFormat> ParseQueryFormat(const std::string& name) {
  if (name == "table") return QueryFormat::kTable;
  if (name == "csv") return QueryFormat::kCsv;
  if (name == "json") return QueryFormat::kJson;
  return std::nullopt;
}

struct Cell {
  int type = SQLITE_NULL;  // SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB or _NULL
  std::string text;        // the value formatted for output; empty for NULL
  bool finite = true;      // false for +-infinity reals
};

struct ResultSet {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};

// Shortest text that reads back as the same double; ".0" when integral.
std::string FormatReal(double v) {
  if (std::isnan(v)) return "NaN";  // SQLite stores NaN as NULL; for safety
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, result.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

Cell ReadCell(sqlite3_stmt* stmt, int i) {
  Cell cell;
  cell.type = sqlite3_column_type(stmt, i);
  switch (cell.type) {
    case SQLITE_INTEGER:
      cell.text = std::to_string(sqlite3_column_int64(stmt, i));
      break;
    case SQLITE_FLOAT: {
      const double v = sqlite3_column_double(stmt, i);
      cell.text = FormatReal(v);
      cell.finite = std::isfinite(v);
      break;
    }
    case SQLITE_TEXT: {
      const auto* data = sqlite3_column_text(stmt, i);
      cell.text.assign(reinterpret_cast<const char*>(data),
                       static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
      break;
    }
    case SQLITE_BLOB: {
      const auto* data =
          static_cast<const unsigned char*>(sqlite3_column_blob(stmt, i));
      const int n = sqlite3_column_bytes(stmt, i);
      static const char kHex[] = "0123456789abcdef";
      cell.text = "x'";
      for (int k = 0; k < n; ++k) {
        cell.text += kHex[data[k] >> 4];
        cell.text += kHex[data[k] & 15];
      }
      cell.text += "'";
      break;
    }
    default:
      break;
  }
  return cell;
}

// Text for one table cell: one line, control characters made visible.
std::string TableText(const Cell& cell) {
  if (cell.type == SQLITE_NULL) return "NULL";
  std::string s;
  s.reserve(cell.text.size());
  for (unsigned char c : cell.text) {
    if (c == '\n') {
      s += "\\n";
    } else if (c == '\r') {
      s += "\\r";
    } else if (c == '\t') {
      s += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      s += "\\x";
      s += kHex[c >> 4];
      s += kHex[c & 15];
    } else {
      s += static_cast<char>(c);
    }
  }
  return s;
}

// Display width: UTF-8 code points (wide East Asian characters count as 1).
size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void WriteTable(const ResultSet& rs, std::ostream& out) {
  const size_t ncol = rs.columns.size();
  if (ncol == 0) return;
  std::vector<std::vector<std::string>> text(rs.rows.size());
  std::vector<size_t> width(ncol);
  std::vector<bool> numeric(ncol);
  for (size_t c = 0; c < ncol; ++c) {
    width[c] = DisplayWidth(rs.columns[c]);
    bool any = false, all = true;
    for (const auto& row : rs.rows) {
      if (row[c].type == SQLITE_NULL) continue;
      any = true;
      all =
          all && (row[c].type == SQLITE_INTEGER || row[c].type == SQLITE_FLOAT);
    }
    numeric[c] = any && all;
  }
  for (size_t r = 0; r < rs.rows.size(); ++r) {
    for (size_t c = 0; c < ncol; ++c) {
      text[r].push_back(TableText(rs.rows[r][c]));
      width[c] = std::max(width[c], DisplayWidth(text[r].back()));
    }
  }
  auto write_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < ncol; ++c) {
      const std::string pad(width[c] - DisplayWidth(cells[c]), ' ');
      if (c > 0) line += "  ";
      if (numeric[c]) {
        line += pad + cells[c];
      } else {
        line += cells[c];
        if (c + 1 < ncol) line += pad;  // no trailing blanks
      }
    }
    out << line << '\n';
  };
  write_row(rs.columns);
  std::vector<std::string> rule;
  for (size_t c = 0; c < ncol; ++c) rule.emplace_back(width[c], '-');
  write_row(rule);
  for (const auto& row : text) write_row(row);
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

void WriteCsv(const ResultSet& rs, std::ostream& out) {
  if (rs.columns.empty()) return;
  auto write_line = [&](auto field_of) {
    for (size_t c = 0; c < rs.columns.size(); ++c) {
      if (c > 0) out << ',';
      out << field_of(c);
    }
    out << '\n';
  };
  write_line([&](size_t c) { return CsvField(rs.columns[c]); });
  for (const auto& row : rs.rows) {
    write_line([&](size_t c) -> std::string {
      const Cell& cell = row[c];
      if (cell.type == SQLITE_NULL) return "";
      if (cell.type == SQLITE_TEXT && cell.text.empty()) return "\"\"";
      return CsvField(cell.text);
    });
  }
}

std::string JsonString(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', /*ensure_ascii=*/false,
                                nlohmann::json::error_handler_t::replace);
}

// One object per line, so that the output is easy to read and to diff.
void WriteJson(const ResultSet& rs, std::ostream& out) {
  if (rs.rows.empty()) {
    out << "[]\n";
    return;
  }
  std::vector<std::string> keys;
  for (const auto& name : rs.columns) keys.push_back(JsonString(name));
  out << "[\n";
  for (size_t r = 0; r < rs.rows.size(); ++r) {
    out << "  {";
    for (size_t c = 0; c < keys.size(); ++c) {
      const Cell& cell = rs.rows[r][c];
      if (c > 0) out << ',';
      out << keys[c] << ':';
      switch (cell.type) {
        case SQLITE_INTEGER:
          out << cell.text;
          break;
        case SQLITE_FLOAT:
          out << (cell.finite ? cell.text : "null");  // JSON has no infinity
          break;
        case SQLITE_TEXT:
        case SQLITE_BLOB:
          out << JsonString(cell.text);
          break;
        default:
          out << "null";
      }
    }
    out << (r + 1 < rs.rows.size() ? "},\n" : "}\n");
  }
  out << "]\n";
}

}  // namespace

// ---------------------------------------------------------------------------
// [SECTION] RunQueryCommand
// ---------------------------------------------------------------------------

int RunQueryCommand(const std::string& db_path, const std::string& sql,
                    const std::string& format, std::ostream& out,
                    std::ostream& err) {
  auto fail = [&](int code, const std::string& what) {
    err << "oversight query: " << db_path << ": " << what << '\n';
    return code;
  };
  const std::optional<QueryFormat> fmt = ParseQueryFormat(format);
  if (!fmt) {
    return fail(
        2, "unknown --format '" + format + "'; expected table, csv or json");
  }

  std::string open_error;
  int open_code = 0;
  SqliteHandle db = OpenDatabaseReadOnly(db_path, &open_error, &open_code);
  if (!db) {
    err << "oversight query: " << open_error << '\n';
    return open_code;
  }

  std::optional<Failure> failure;
  StmtPtr stmt = PrepareReadOnly(db.get(), sql, &failure);
  if (!stmt) return fail(failure->code, failure->what);

  // Everything is collected before anything is printed: a table needs the
  // column widths, and a failing statement must not leave half an output.
  ResultSet rs;
  const int ncol = sqlite3_column_count(stmt.get());
  for (int c = 0; c < ncol; ++c) {
    const char* name = sqlite3_column_name(stmt.get(), c);
    rs.columns.emplace_back(name ? name : "");
  }
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    std::vector<Cell> row;
    row.reserve(static_cast<size_t>(ncol));
    for (int c = 0; c < ncol; ++c) row.push_back(ReadCell(stmt.get(), c));
    rs.rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) {
    return fail(ExitCodeForSqliteError(rc),
                std::string("query failed: ") + sqlite3_errmsg(db.get()));
  }

  std::ostringstream buffer;
  switch (*fmt) {
    case QueryFormat::kTable:
      WriteTable(rs, buffer);
      break;
    case QueryFormat::kCsv:
      WriteCsv(rs, buffer);
      break;
    case QueryFormat::kJson:
      WriteJson(rs, buffer);
      break;
  }
  out << buffer.str();
  return 0;
}

}  // namespace oversight
