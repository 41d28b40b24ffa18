// Small helpers shared across the engine: hashing, files, time.
#pragma once

#include <cstdint>
#include <string>

namespace oversight {

// Hex SHA-256 of a file's bytes; throws std::runtime_error naming the file.
std::string Sha256File(const std::string& path);

// The code version compiled in (git describe), for experiments.code_version.
const char* CodeVersion();

// The source tree the binary was built from (to find data/cache by default).
const char* SourceDir();

// A file named in a config: `path` itself when it is absolute or exists from
// the working directory, else SourceDir()/path when that exists, else `path`
// unchanged (so the caller's error names what the config said).
std::string FindProjectFile(const std::string& path);

// Whole file as a string; throws std::runtime_error naming the file.
std::string ReadFile(const std::string& path);

}  // namespace oversight
