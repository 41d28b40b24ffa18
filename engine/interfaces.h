// The engine's plugin interfaces. The engine knows only these; concrete tasks,
// protocols, agents, judges and stage kinds live in their own folders and are
// created by name through the Registries (engine/registry.h).
//
// Life cycle of every plugin: the factory builds it from its config node and
// validates every option (so a bad config fails before anything runs); Open()
// then loads what it needs at run time (data, checkpoints), once, on the main
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/registry.h"
#include "engine/rng.h"
#include "engine/store.h"

namespace oversight {

struct Registries;

// Raised by a stage that stopped early because the user pressed Ctrl-C; the
// stage has already committed or rolled back what it had in flight.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

// Set by SIGINT / SIGTERM; stages poll it between units of work.
std::atomic<bool>& InterruptFlag();

// Everything a running stage may use. Owned by the experiment runner.
struct StageContext {
  Store* store = nullptr;           // the main connection (main thread only)
  int64_t experiment_id = 0;
  int stage_index = 0;
  std::string stage_name;
  uint64_t seed = 0;                // the experiment seed
  std::string device = "cpu";       // resolved: "cpu" or "cuda[:N]"
  int threads = 1;                  // episode workers
  bool resume = false;              // continuing an interrupted experiment
  std::string artifacts_dir;        // where this experiment writes files

  bool interrupted() const { return InterruptFlag().load(); }
  // Throws Interrupted when the flag is set.
  void CheckInterrupt() const {
    if (interrupted()) throw Interrupted();
  }
};

// One problem instance of a task.
struct TaskInstance {
  int64_t index = 0;                  // position in the task (0..size-1)
  std::string id;                     // stable name, logged in episodes.instance
  std::optional<std::string> truth;   // ground truth, if the task has one
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;  // logged in episodes.task
  virtual void Open(StageContext& ctx) = 0;
  virtual size_t size() const = 0;
  virtual TaskInstance Instance(size_t i) const = 0;
};

class Judge {
 public:
  virtual ~Judge() = default;
  virtual std::string name() const = 0;  // logged in judgements.judge
  virtual JudgeKind kind() const = 0;
  virtual void Open(StageContext& ctx) = 0;
  // After the stage's episodes are logged (not after an interruption): a
  // judge may report what it measured, e.g. how it batched calls.
  virtual void Close(StageContext&) {}
};

class Agent {
 public:
  virtual ~Agent() = default;
  virtual std::string name() const = 0;  // logged in turns.agent
  virtual void Open(StageContext& ctx) = 0;
};

// What the variants of one task instance share while they are played, e.g.
// a cache of judge outputs for one image (Protocol::NewInstanceState()).
class InstanceState {
 public:
  virtual ~InstanceState() = default;
};

// A protocol is the rules of one game. Play() is called concurrently from
// several worker threads, each with its own episode RNG, and must be a pure
// function of (instance, rng, shared state) so that episodes do not depend on
// scheduling.
class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual std::string name() const = 0;  // logged in episodes.protocol
  virtual void Open(StageContext& ctx) = 0;
  // Episodes played per task instance, e.g. 9 lies x 3 seeds x 2 orders in
  // the precommit evaluation of debate. Play() is told which one.
  virtual int VariantsPerInstance() const { return 1; }
  // Appended to the instance id in episodes.instance for `variant`, e.g.
  // "#lie=3,seed=0,first=liar". Empty when there is one variant.
  virtual std::string VariantName(int variant) const { return ""; }
  // Non-null: the variants of `instance` share this state. The engine then
  // plays all variants of an instance in one worker, in variant order, so
  // the state evolves the same way whatever the thread count; on resume an
  // instance whose variants are partly logged is replayed from variant 0
  // (the logged episodes are not written again). Default: nothing shared.
  virtual std::unique_ptr<InstanceState> NewInstanceState(const TaskInstance&) const {
    return nullptr;
  }
  // Whether NewInstanceState() returns state (decided once, for scheduling).
  virtual bool SharesInstanceState() const { return false; }
  // Plays variant `variant` of `instance`. Fills rec.turns, rec.judgements,
  // rec.outcome, rec.correct. `shared`: this instance's NewInstanceState(),
  // or nullptr.
  virtual void Play(const TaskInstance& instance, int variant, Rng& rng, EpisodeRecord& rec,
                    InstanceState* shared) const = 0;
};

// A stage of an experiment (train_judge, episodes, ...).
class Stage {
 public:
  virtual ~Stage() = default;
  virtual void Run(StageContext& ctx) = 0;
};

struct Registries {
  Registry<Stage, const Registries&> stages{"stage kind"};
  Registry<Task> tasks{"task"};
  Registry<Judge> judges{"judge"};
  Registry<Agent> agents{"agent"};
  // Protocols receive the task and judge they will play with, so a factory
  // can reject a combination that does not fit (e.g. an image protocol on a
  // text task) before anything runs.
  Registry<Protocol, const Registries&, Task&, Judge*> protocols{"protocol"};
};

// Registers the engine's own stage kinds ("episodes").
void RegisterEngineStages(Registries& registries);

}  // namespace oversight
