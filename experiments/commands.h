// The read-only commands of the `oversight` CLI, as library functions its
// main calls (and tests call directly):
//   oversight query --db PATH "SQL" [--format table|csv|json]
//   oversight report --db PATH [--experiment ID] [--format md|json]
//
// Both open the log with SQLITE_OPEN_READONLY (never creating it) and never
// change the database file's bytes, also while a writer is running. They
// write results to `out` only when the whole command succeeded, and on
// failure exactly one line to `err` naming the database file and what was
// wrong. Return values follow the CLI contract: 0 success, 2 bad input
// (usage, SQL, a missing or non-SQLite file, an unknown experiment), 1 a
// runtime failure (I/O error, database busy beyond the timeout).
//
// Note on WAL: a reader of a WAL database needs its -shm (and -wal) files.
// When the writer has closed and they are gone, SQLite creates them (empty)
// next to the database if the directory is writable and leaves them there;
// they are SQLite's own and the next writer's clean close removes them. If
// the directory is not writable and no -wal exists, the file is opened as
// immutable instead.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace oversight {

// Runs one SQL statement against the database at `db_path` and prints its
// result rows in `format`:
//   "table": aligned columns, a header and a separator line; numeric columns
//            right-aligned, NULL shown as NULL, newlines/tabs in text shown
//            as \n and \t so that each row stays on one line.
//   "csv":   header row, then one line per row ("\n" line ends); fields with
//            a comma, quote, CR or LF are quoted with quotes doubled
//            (RFC 4180). NULL is an empty field, an empty string is "".
//   "json":  an array of objects, one per row, keys in column order;
//            integers and reals as JSON numbers, NULL as null, text as
//            strings (invalid UTF-8 replaced by U+FFFD), BLOBs as "x'hex'"
//            strings, and +-infinity as null.
// Reals print as the shortest text that reads back as the same double, with
// ".0" when integral ("0.5", "3.0").
// Refused with 2, before anything runs: a statement that would write
// (sqlite3_stmt_readonly() == 0: INSERT, PRAGMA user_version=5, VACUUM INTO,
// ...), ATTACH/DETACH, more than one statement, an empty statement, and SQL
// errors.
int RunQueryCommand(const std::string& db_path, const std::string& sql,
                    const std::string& format, std::ostream& out,
                    std::ostream& err);

// Summarizes experiments: all of them when `experiment_id` <= 0, else only
// that one (unknown id: 2). Per experiment its name, id, status, seed,
// code_version, started/finished; per stage (ordered by stages.idx where the
// `stages` table lists it, then the others by name) the protocol(s), the
// number of episodes, accuracy = mean of `correct` over episodes where it is
// not NULL with a 95% Wilson interval, and the last value (highest step) of
// each metric. `format` is "md" (markdown; accuracy "—" when no episode of the
// stage has a non-NULL `correct`) or "json" (one object; see report.cpp for
// the keys). All figures come from one read transaction, so a report of a
// running experiment is a consistent snapshot.
// Experiments with debate stages also get Irving et al.'s Table 2 in
// markdown (DebateTableMarkdown); `lie_rule` ("majority" or "mean") is its
// per-lie rule over seeds.
int RunReportCommand(const std::string& db_path, int64_t experiment_id,
                     const std::string& format, std::ostream& out,
                     std::ostream& err, const std::string& lie_rule = "majority");

// Markdown section "Debate (Irving et al. 2018, Table 2)" for experiment
// `experiment_id`: per pixels and first mover, the judge alone, honest wins
// without and with precommit (per image over all lies, each with the 95%
// Wilson interval and the count, the paper's value beside for MNIST), and
// the unadjusted single-seed figures when stages played several seeds.
// Empty when the experiment has no debate episodes. Throws ReportError
// (report_sql.h) on an SQLite error (debate_table.cpp).
std::string DebateTableMarkdown(sqlite3* db, int64_t experiment_id, const std::string& lie_rule);

// The same table for `oversight report --format json` ("debate_table" of an
// experiment): {"lie_rule", "rows": [{"pixels", "first", "precommit_stage",
// "judge_alone" (honest rows only, else null), "no_precommit", "precommit",
// "precommit_single_seed"}]}, each cell {"wins", "n", "rate", "ci95": {"lo",
// "hi"}, "paper"} (rate and ci95 null when n = 0; paper null when none); null
// when the experiment has no debate episodes.
nlohmann::ordered_json DebateTableJson(sqlite3* db, int64_t experiment_id,
                                       const std::string& lie_rule);

// ---- Shared by query.cpp and report.cpp (defined in query.cpp) ----

struct SqliteCloser {
  void operator()(sqlite3* db) const;
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

// Opens the existing SQLite database at `db_path` for reading only
// (SQLITE_OPEN_READONLY, no create, ATTACH/DETACH refused by an authorizer,
// no checkpoint on close, a 5 s busy timeout) and checks that it is readable
// SQLite. On failure returns null and sets `*error` to a message that names
// the file, e.g. "results/x.db: no such file", and `*exit_code` to 2 (bad
// input) or 1 (runtime failure).
SqliteHandle OpenDatabaseReadOnly(const std::string& db_path,
                                  std::string* error, int* exit_code);

// The CLI exit status for a failed SQLite call with result code `rc`: 2 for
// errors caused by the input (SQL errors, constraint/type errors, a corrupt
// or non-SQLite file), 1 for runtime failures (I/O, busy, out of memory).
int ExitCodeForSqliteError(int rc);

}  // namespace oversight
