// FakeEngines: an engine and its runtime in one fake, for the service's unit tests. No
// server runs and no process starts: an instance is a directory with instance.json and a
// data/ tree, "running" is a flag, and a backup is a real snapshot of data/ in the real
// repository (storage is no server: the fake keeps what a backup and a restore mean).
// What the real engines do is proven end to end in tests/api and tests/engines.
//
// Knobs a test turns: hold backups at a gate (to see what a running backup blocks), make a
// start fail (a file `refuse-start` in the instance's directory), take a server down (a
// file `down`: running() is false, as for a crashed server its supervisor restarts).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "engines/engine.h"

namespace dbaas::testing {

// A gate backups wait at while it is closed.
class BackupGate {
 public:
  void Close();
  void Open();
  // Waits while closed; counts the backups that arrived.
  void Pass();
  // Waits until `n` backups have arrived at the gate in all.
  bool WaitArrived(int n, std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  int arrived_ = 0;
};

class FakeEngines final : public engines::EngineSet {
 public:
  FakeEngines();
  ~FakeEngines() override;
  Result<const engines::Engine*> For(const std::string& type) const override;
  Status RemoveRemains(const std::string& data_root, const std::string& name) const override;

  BackupGate& backups() const { return *gate_; }
  // How many times each instance was started (by name).
  int starts(const std::string& name) const;

 private:
  std::unique_ptr<BackupGate> gate_;
  std::unique_ptr<engines::Engine> postgres_;
};

}  // namespace dbaas::testing
