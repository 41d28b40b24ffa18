// Config: the one place JSON becomes options. Every options struct maps its
// JSON object through a ConfigNode, which tracks the JSON path
// ("stages[1].judge.pixels"), type- and range-checks each value, and rejects
// keys the struct never read. Errors are ConfigError with one line:
//   FILE: PATH: what was expected (got ...)
// which the command line prints before exiting with status 2.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace oversight {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A view of one JSON value inside a config file. Copies share the record of
// which keys were read, so RejectUnknownKeys() sees reads made through copies.
// Not thread-safe; used while loading, on one thread.
class ConfigNode {
 public:
  ConfigNode(std::shared_ptr<const nlohmann::json> root, std::string file);

  const std::string& file() const { return file_; }
  // JSON path of this node; "" for the root (printed as "(top level)").
  const std::string& path() const { return path_; }
  const nlohmann::json& raw() const { return *value_; }
  // Path of a key below this node, e.g. ChildPath("pixels").
  std::string ChildPath(const std::string& key) const;

  // Throws ConfigError "FILE: PATH: what".
  [[noreturn]] void Fail(const std::string& what) const;
  [[noreturn]] void FailAt(const std::string& key, const std::string& what) const;

  bool Has(const std::string& key) const;
  ConfigNode Child(const std::string& key) const;  // must exist, be an object
  // Array element access; the node must be an array.
  std::vector<ConfigNode> Elements(const std::string& key) const;

  std::string String(const std::string& key, const std::string& def) const;
  std::string RequireString(const std::string& key) const;
  // One of `allowed`.
  std::string Enum(const std::string& key, const std::string& def,
                   std::initializer_list<const char*> allowed) const;
  int64_t Int(const std::string& key, int64_t def, int64_t min,
              int64_t max) const;
  uint64_t Uint64(const std::string& key, uint64_t def) const;
  double Number(const std::string& key, double def, double min,
                double max) const;
  bool Bool(const std::string& key, bool def) const;

  // Marks `key` as read without reading it (e.g. "kind", read by a registry).
  void Touch(const std::string& key) const;
  // Throws for the first key of this object that was never read.
  void RejectUnknownKeys() const;

 private:
  ConfigNode(std::shared_ptr<const nlohmann::json> root,
             const nlohmann::json* value, std::string file, std::string path);
  const nlohmann::json* Get(const std::string& key) const;
  std::string Where() const;

  std::shared_ptr<const nlohmann::json> root_;
  const nlohmann::json* value_;
  std::string file_;
  std::string path_;
  std::shared_ptr<std::set<std::string>> read_keys_;
};

// Reads and parses a JSON file; ConfigError for a missing file or bad JSON
// (with line and column).
nlohmann::json LoadJsonFile(const std::string& path);

// Applies "--set a.b[2].c=VALUE": VALUE is parsed as JSON when it parses
// (numbers, true/false, null, quoted strings, arrays, objects), else taken as a
// plain string. Every container on the path must already exist; the last key
// may be new (the options parser then rejects it if it is unknown).
void ApplyOverride(nlohmann::json& config, const std::string& file,
                   const std::string& assignment);

// A short description of a JSON value's type for messages: "a string "six"".
std::string Describe(const nlohmann::json& value);

}  // namespace oversight
