#include "engine/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace oversight {

using nlohmann::json;

std::string Describe(const json& v) {
  std::string dumped = v.dump();
  if (dumped.size() > 40) dumped = dumped.substr(0, 37) + "...";
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean " + dumped;
    case json::value_t::string: return "a string " + dumped;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "the integer " + dumped;
    case json::value_t::number_float: return "the number " + dumped;
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return dumped;
  }
}

ConfigNode::ConfigNode(std::shared_ptr<const json> root, std::string file)
    : ConfigNode(root, root.get(), std::move(file), "") {}

ConfigNode::ConfigNode(std::shared_ptr<const json> root, const json* value,
                       std::string file, std::string path)
    : root_(std::move(root)),
      value_(value),
      file_(std::move(file)),
      path_(std::move(path)),
      read_keys_(std::make_shared<std::set<std::string>>()) {
  if (!value_->is_object()) Fail("expected an object, got " + Describe(*value_));
}

std::string ConfigNode::ChildPath(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string ConfigNode::Where() const {
  return file_ + ": " + (path_.empty() ? std::string("(top level)") : path_);
}

void ConfigNode::Fail(const std::string& what) const {
  throw ConfigError(Where() + ": " + what);
}

void ConfigNode::FailAt(const std::string& key, const std::string& what) const {
  throw ConfigError(file_ + ": " + ChildPath(key) + ": " + what);
}

bool ConfigNode::Has(const std::string& key) const {
  return value_->contains(key);
}

const json* ConfigNode::Get(const std::string& key) const {
  read_keys_->insert(key);
  auto it = value_->find(key);
  if (it == value_->end()) return nullptr;
  return &*it;
}

void ConfigNode::Touch(const std::string& key) const { read_keys_->insert(key); }

ConfigNode ConfigNode::Child(const std::string& key) const {
  const json* v = Get(key);
  if (!v) FailAt(key, "missing; expected an object");
  if (!v->is_object()) FailAt(key, "expected an object, got " + Describe(*v));
  return ConfigNode(root_, v, file_, ChildPath(key));
}

std::vector<ConfigNode> ConfigNode::Elements(const std::string& key) const {
  const json* v = Get(key);
  if (!v) FailAt(key, "missing; expected an array of objects");
  if (!v->is_array()) FailAt(key, "expected an array of objects, got " + Describe(*v));
  std::vector<ConfigNode> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string p = ChildPath(key) + "[" + std::to_string(i) + "]";
    if (!(*v)[i].is_object())
      throw ConfigError(file_ + ": " + p + ": expected an object, got " +
                        Describe((*v)[i]));
    out.push_back(ConfigNode(root_, &(*v)[i], file_, p));
  }
  return out;
}

std::string ConfigNode::String(const std::string& key,
                               const std::string& def) const {
  const json* v = Get(key);
  if (!v) return def;
  if (!v->is_string()) FailAt(key, "expected a string, got " + Describe(*v));
  return v->get<std::string>();
}

std::string ConfigNode::RequireString(const std::string& key) const {
  const json* v = Get(key);
  if (!v) FailAt(key, "missing; expected a string");
  if (!v->is_string()) FailAt(key, "expected a string, got " + Describe(*v));
  std::string s = v->get<std::string>();
  if (s.empty()) FailAt(key, "expected a non-empty string");
  return s;
}

std::string ConfigNode::Enum(const std::string& key, const std::string& def,
                             std::initializer_list<const char*> allowed) const {
  std::string s = String(key, def);
  std::string list;
  for (const char* a : allowed) {
    if (s == a) return s;
    list += (list.empty() ? "" : ", ") + std::string("\"") + a + "\"";
  }
  FailAt(key, "expected one of " + list + ", got \"" + s + "\"");
}

int64_t ConfigNode::Int(const std::string& key, int64_t def, int64_t min,
                        int64_t max) const {
  const json* v = Get(key);
  if (!v) return def;
  const std::string range =
      "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  int64_t x = 0;
  if (v->is_number_integer()) {
    x = v->get<int64_t>();
  } else if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > static_cast<uint64_t>(max))
      FailAt(key, "expected " + range + ", got " + v->dump());
    x = static_cast<int64_t>(v->get<uint64_t>());
  } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
             std::fabs(v->get<double>()) < 9e15) {
    x = static_cast<int64_t>(v->get<double>());  // 3e4 is an integer
  } else {
    FailAt(key, "expected " + range + ", got " + Describe(*v));
  }
  if (x < min || x > max) FailAt(key, "expected " + range + ", got " + std::to_string(x));
  return x;
}

uint64_t ConfigNode::Uint64(const std::string& key, uint64_t def) const {
  const json* v = Get(key);
  if (!v) return def;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer() && v->get<int64_t>() >= 0)
    return static_cast<uint64_t>(v->get<int64_t>());
  FailAt(key, "expected a non-negative integer, got " + Describe(*v));
}

double ConfigNode::Number(const std::string& key, double def, double min,
                          double max) const {
  const json* v = Get(key);
  if (!v) return def;
  if (!v->is_number()) FailAt(key, "expected a number, got " + Describe(*v));
  double x = v->get<double>();
  if (!(x >= min && x <= max)) {
    std::ostringstream os;
    os << "expected a number in [" << min << ", " << max << "], got " << x;
    FailAt(key, os.str());
  }
  return x;
}

bool ConfigNode::Bool(const std::string& key, bool def) const {
  const json* v = Get(key);
  if (!v) return def;
  if (!v->is_boolean()) FailAt(key, "expected true or false, got " + Describe(*v));
  return v->get<bool>();
}

void ConfigNode::RejectUnknownKeys() const {
  std::string known;
  for (const auto& k : *read_keys_) known += (known.empty() ? "" : ", ") + k;
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    if (!read_keys_->count(it.key()))
      FailAt(it.key(), "unknown key; known keys here: " + known);
  }
}

json LoadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open config file (does it exist?)");
  try {
    return json::parse(in, nullptr, true, /*ignore_comments=*/false);
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    std::string msg = e.what();
    auto pos = msg.find("] ");
    if (pos != std::string::npos) msg = msg.substr(pos + 2);
    throw ConfigError(path + ": invalid JSON: " + msg);
  }
}

void ApplyOverride(json& config, const std::string& file,
                   const std::string& assignment) {
  const std::string where = file + ": --set " + assignment;
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(where + ": expected KEY=VALUE, e.g. stages[0].batches=100");
  const std::string key = assignment.substr(0, eq);
  const std::string raw = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(raw);
  } catch (const json::parse_error&) {
    value = raw;
  }
  // Split "a.b[2].c" into tokens; array indexes become numeric tokens.
  struct Token { std::string key; long index = -1; };
  std::vector<Token> tokens;
  std::string cur;
  for (size_t i = 0; i <= key.size(); ++i) {
    char c = i < key.size() ? key[i] : '.';
    if (c == '.' || c == '[') {
      if (!cur.empty()) tokens.push_back({cur});
      cur.clear();
      if (c == '[') {
        auto close = key.find(']', i);
        if (close == std::string::npos)
          throw ConfigError(where + ": missing ']' in key");
        const std::string num = key.substr(i + 1, close - i - 1);
        if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos)
          throw ConfigError(where + ": array index '" + num + "' is not a number");
        tokens.push_back({"", std::stol(num)});
        i = close;
      }
    } else {
      cur += c;
    }
  }
  if (tokens.empty()) throw ConfigError(where + ": empty key");
  json* node = &config;
  std::string path;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const bool last = t + 1 == tokens.size();
    const Token& tok = tokens[t];
    if (tok.index >= 0) {
      path += "[" + std::to_string(tok.index) + "]";
      if (!node->is_array())
        throw ConfigError(where + ": " + path + ": not an array in the config");
      if (static_cast<size_t>(tok.index) >= node->size())
        throw ConfigError(where + ": " + path + ": index out of range (the array has " +
                          std::to_string(node->size()) + " elements)");
      node = &(*node)[tok.index];
    } else {
      path += (path.empty() ? "" : ".") + tok.key;
      if (!node->is_object())
        throw ConfigError(where + ": " + path + ": parent is not an object in the config");
      if (!last && !node->contains(tok.key))
        throw ConfigError(where + ": " + path + ": no such key in the config");
      node = &(*node)[tok.key];
    }
  }
  *node = value;
}

}  // namespace oversight
