// Reading the log for `oversight report` (report.cpp, debate_table.cpp):
// ReportError, and the statements (engine/sql_stmt.h) whose SqlError
// RunReportCommand turns into "<db>: <what>" and the exit status. Private to
// experiments/.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

#include "engine/sql_stmt.h"
#include "experiments/commands.h"

namespace oversight {

// A failure of the report, caught in RunReportCommand. `what` follows
// "<db>: ".
struct ReportError {
  int code;
  std::string what;
};

}  // namespace oversight
