// Registry: plugins (stage kinds, tasks, protocols, judges, agents) are created
// by the name configs use. An unknown name is a ConfigError listing the known
// ones. Plugins are registered explicitly by each library's Register*()
// function (no static initialisers: static libraries drop unreferenced
// objects).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"

namespace oversight {

template <class T, class... Args>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<T>(const ConfigNode&, Args...)>;

  // `what` names the plugin family in messages ("judge", "stage kind").
  explicit Registry(std::string what) : what_(std::move(what)) {}

  void Add(const std::string& name, Factory factory) {
    factories_[name] = std::move(factory);
  }
  // The factory registered as `name`, or an empty one.
  Factory Find(const std::string& name) const {
    auto it = factories_.find(name);
    return it == factories_.end() ? Factory() : it->second;
  }
  bool Contains(const std::string& name) const { return factories_.count(name) > 0; }

  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& kv : factories_) names.push_back(kv.first);
    return names;
  }

  // Creates the plugin named by `node[key]` from the options in `node`.
  std::unique_ptr<T> Create(const ConfigNode& node, const std::string& key,
                            Args... args) const {
    const std::string name = node.RequireString(key);
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      std::string known;
      for (const auto& n : Names()) known += (known.empty() ? "" : ", ") + n;
      node.FailAt(key, "unknown " + what_ + " '" + name + "'; known: " + known);
    }
    return it->second(node, args...);
  }

 private:
  std::string what_;
  std::map<std::string, Factory> factories_;
};

}  // namespace oversight
