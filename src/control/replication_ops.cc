// The service's replicated instances (issue 15): standbys made and removed, the primary's
// health watched, failover and switchover, members started at the daemon's start.
//
// The catalog decides which member is primary, and says so before anything else changes:
// a daemon killed in the middle of a handover finishes it at its next start
// (StartMembers), and a member the catalog does not name as primary starts only as a
// standby. An old primary is fenced (stopped for good, configured as a standby that must
// be rewound) before any standby is promoted, so there is never a second primary.
#include <fcntl.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/kill_points.h"
#include "base/log.h"
#include "base/names.h"
#include "control/service.h"
#include "control/validation.h"
#include "engines/engine.h"
#include "engines/log_spool.h"

namespace dbaas::control {

using nlohmann::json;

namespace {

constexpr auto kPromoteTimeout = std::chrono::seconds(60);
constexpr int kMaxReplicas = 5;

// The first `<instance>-<n>` (n from 2) no member has.
std::string NextMemberName(const std::string& instance, const std::vector<std::string>& members) {
  for (int n = 2;; ++n) {
    std::string name = fmt::format("{}-{}", instance, n);
    if (std::find(members.begin(), members.end(), name) == members.end()) return name;
  }
}

// The names in members/<instance>/ (ours: no link is followed); none when it is missing.
Result<std::vector<std::string>> MemberDirs(const std::string& path) {
  UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return ErrnoStatus("open", path, errno);
  }
  return ListDirAt(dir.get(), path);
}

catalog::InstanceReplication WithMembers(const catalog::InstanceRecord& record) {
  catalog::InstanceReplication r = record.replication;
  if (r.empty()) {
    r.members = {record.name};
    r.primary = record.name;
  }
  return r;
}

}  // namespace

Result<std::unique_ptr<engines::Instance>> Service::OpenPrimary(const std::string& name) const {
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  return engines_->Open(MemberRoot(name, record.primary()), record.primary());
}

Status Service::ValidateReplicas(const std::string& name, const std::string& type, int replicas,
                                 bool synchronous) {
  if (replicas < 0 || replicas > kMaxReplicas) {
    return Status::InvalidArgument(fmt::format("replicas {} is out of range", replicas),
                                   fmt::format("give 0 to {} standbys", kMaxReplicas));
  }
  if (synchronous && replicas == 0) {
    return Status::InvalidArgument("synchronous replication needs a standby",
                                   "give replicas of 1 or more with synchronous: true");
  }
  if (type != "postgresql" && type != "mariadb" && replicas > 0) {
    return Status::InvalidArgument(
        fmt::format("instance '{}' is {}: standbys are PostgreSQL's and MariaDB's", name, type),
        "see docs/ARCHITECTURE.md (replication)");
  }
  if (type != "postgresql" && synchronous) {
    return Status::InvalidArgument(
        fmt::format("instance '{}' is {}: synchronous standbys are PostgreSQL's for now", name,
                    type),
        "give synchronous: false (MariaDB's semi-synchronous replication is not wired)");
  }
  // Member names are `<instance>-<n>`: they must still be names.
  if (replicas > 0) {
    RETURN_IF_ERROR(ValidateName("member name", fmt::format("{}-{}", name, 10))
                        .WithContext("an instance with standbys has a name of 60 characters "
                                     "at most"));
  }
  return Status::Ok();
}

Service::MemberHandles Service::MembersOf(const std::string& name) {
  MemberHandles handles;
  std::lock_guard lock(mu_);
  if (auto it = servers_.find(name); it != servers_.end()) handles.primary = it->second.get();
  for (auto& [member, standby] : standbys_[name]) {
    handles.standbys.emplace_back(member, standby.get());
  }
  return handles;
}

std::string Service::MemberRoot(const std::string& instance, const std::string& member) const {
  if (member == instance) return instances_dir();
  return JoinPath(JoinPath(options_.data_root, "members"), instance);
}

Result<catalog::JobRecord> Service::SetReplication(const std::string& name,
                                                   std::optional<int> replicas,
                                                   std::optional<bool> synchronous) {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  const int want = replicas.value_or(record.replication.replicas);
  const bool sync = synchronous.value_or(record.replication.synchronous);
  RETURN_IF_ERROR(ValidateReplicas(name, record.type, want, sync));
  {
    std::lock_guard lock(mu_);
    if (record.status != catalog::InstanceState::kRunning) {
      return Status::FailedPrecondition(fmt::format("instance '{}' is {}", name, record.status),
                                        "its members change while it runs");
    }
    if (!reshaping_.insert(name).second) {
      return Status::FailedPrecondition(
          fmt::format("instance '{}' already has a change of its members queued", name),
          "wait for that job to end (GET /jobs)");
    }
  }
  json req = {{"name", name}, {"replicas", want}, {"synchronous", sync}};
  auto done = [this, name] {
    std::lock_guard lock(mu_);
    reshaping_.erase(name);
  };
  auto work = [this, name, want, sync, done](JobContext&) -> Result<json> {
    json added = json::array();
    Status st = [&] {
      std::lock_guard members(members_mu_);
      return ReshapeMembers(name, want, sync, &added);
    }();
    done();
    RETURN_IF_ERROR(st);
    ASSIGN_OR_RETURN(catalog::InstanceRecord now, catalog_->GetInstance(name));
    return json{{"instance", name},
                {"replicas", now.replication.replicas},
                {"synchronous", now.replication.synchronous},
                {"members", now.replication.members},
                {"primary", now.primary()},
                {"added", added}};
  };
  auto job = jobs_->Submit("replicate", name, req, work, [done](const Status&) { done(); });
  if (!job.ok()) done();
  return job;
}

Status Service::ReshapeMembers(const std::string& name, int replicas, bool synchronous,
                               json* added) {
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(record.type));
  catalog::InstanceReplication r = WithMembers(record);
  r.replicas = replicas;  // synchronous changes once the members are there (below)
  engines::Instance* primary = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = servers_.find(name);
    if (it != servers_.end()) primary = it->second.get();
  }
  if (primary == nullptr || !primary->answers()) {
    return Status::FailedPrecondition(
        fmt::format("the primary of instance '{}' is not running", name),
        "wait until it runs (a failover may be under way) and try again");
  }
  auto standbys = [&] { return static_cast<int>(r.members.size()) - 1; };
  while (standbys() < replicas) {
    std::string member = NextMemberName(name, r.members);
    std::string root = MemberRoot(name, member);
    RETURN_IF_ERROR(MakeDirs(root, 0711));
    engines::InstanceSpec spec = SpecFor(member, record.type, record.config);
    spec.data_root = root;
    StandbySource from;
    auto made = StartStandby(name, *engine, *primary, spec, from);
    if (!made.ok()) {
      WarnIfError(engines_->RemoveRemains(root, member), "remove the standby not made");
      return made.status();
    }
    {
      std::lock_guard lock(mu_);
      standbys_[name][member] = std::move(made).value();
    }
    r.members.push_back(member);
    RETURN_IF_ERROR(catalog_->UpdateInstanceReplication(name, r));
    if (added) {
      json one = {{"member", member}, {"source", from.source}};
      if (!from.note.empty()) one["note"] = from.note;
      added->push_back(std::move(one));
    }
    std::string why = from.note.empty() ? "" : "; " + from.note;
    WarnIfError(
        catalog_->AddEvent("info", name, "",
                           fmt::format("standby {} added ({}{})", member, from.source, why)),
        "record an event in the catalog");
  }
  if (standbys() > replicas) {
    // A backup may be reading any member (an old primary it started on): none goes now.
    if (auto job = reservations_.BackupOf(name)) {
      return Status::FailedPrecondition(
          fmt::format("a backup of instance '{}' is in progress (job {})", name, *job),
          "remove standbys once it has ended");
    }
  }
  while (standbys() > replicas) {
    // The newest standby goes first (the instance's own directory stays longest).
    std::string member;
    for (auto it = r.members.rbegin(); it != r.members.rend(); ++it) {
      if (*it != r.primary) {
        member = *it;
        break;
      }
    }
    std::unique_ptr<engines::Instance> standby = TakeStandby(name, member);
    // Out of the synchronous set first: a commit must not wait for a member going away;
    // its slot next, which would keep WAL for it on the primary forever. What fails after
    // that leaves a directory the next start removes (StartMembers).
    r.members.erase(std::find(r.members.begin(), r.members.end(), member));
    RETURN_IF_ERROR(catalog_->UpdateInstanceReplication(name, r));
    RETURN_IF_ERROR(SetSynchronousStandbys(name));
    WarnIfError(engine->DropMemberSlot(*primary, member), "drop the removed standby's slot");
    if (!standby) {
      auto opened = engines_->Open(MemberRoot(name, member), member);
      if (opened.ok()) standby = std::move(opened).value();
    }
    if (standby) RETURN_IF_ERROR(standby->Delete());
    RETURN_IF_ERROR(RemoveTree(JoinPath(MemberRoot(name, member), member)));
    WarnIfError(catalog_->AddEvent("info", name, "", fmt::format("standby {} removed", member)),
                "record an event in the catalog");
  }
  // Synchronous as asked only once the primary says so: the catalog never claims a mode
  // the primary does not have.
  const bool was = r.synchronous;
  r.synchronous = synchronous;
  RETURN_IF_ERROR(catalog_->UpdateInstanceReplication(name, r));
  if (Status set = SetSynchronousStandbys(name); !set.ok()) {
    r.synchronous = was;
    WarnIfError(catalog_->UpdateInstanceReplication(name, r), "record the synchronous mode");
    WarnIfError(SetSynchronousStandbys(name), "restore the synchronous standbys");
    return set;
  }
  return Status::Ok();
}

Status Service::SetSynchronousStandbys(const std::string& name) {
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  if (record.replication.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(record.type));
  std::vector<std::string> sync;
  if (record.replication.synchronous) {
    for (const auto& m : record.replication.members) {
      if (m != record.primary()) sync.push_back(m);
    }
  }
  engines::Instance* primary = MembersOf(name).primary;  // held by members_mu_
  if (primary == nullptr) {
    return Status::FailedPrecondition(fmt::format("instance '{}' has no primary running", name));
  }
  return engine->SetSynchronous(*primary, sync);
}

Result<catalog::JobRecord> Service::Switchover(const std::string& name, const std::string& to) {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  if (!to.empty()) RETURN_IF_ERROR(ValidateName("member name", to));
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  if (record.replication.members.size() < 2) {
    return Status::FailedPrecondition(fmt::format("instance '{}' has no standby", name),
                                      "add one first: PATCH /instances/:name {replicas: 1}");
  }
  if (!to.empty() && (to == record.primary() || std::find(record.replication.members.begin(),
                                                          record.replication.members.end(), to) ==
                                                    record.replication.members.end())) {
    return Status::InvalidArgument(fmt::format("'{}' is not a standby of instance '{}'", to, name),
                                   "name one of its standbys (GET /instances/:name, members)");
  }
  {
    std::lock_guard lock(mu_);
    if (record.status != catalog::InstanceState::kRunning) {
      return Status::FailedPrecondition(fmt::format("instance '{}' is {}", name, record.status));
    }
    if (!reshaping_.insert(name).second) {
      return Status::FailedPrecondition(
          fmt::format("instance '{}' already has a change of its members queued", name),
          "wait for that job to end (GET /jobs)");
    }
  }
  auto done = [this, name] {
    std::lock_guard lock(mu_);
    reshaping_.erase(name);
  };
  auto work = [this, name, to, done](JobContext&) -> Result<json> {
    auto result = RunSwitchover(name, to);
    done();
    return result;
  };
  auto job = jobs_->Submit("switchover", name, json{{"name", name}, {"to", to}}, work,
                           [done](const Status&) { done(); });
  if (!job.ok()) done();
  return job;
}

Result<json> Service::RunSwitchover(const std::string& name, const std::string& to) {
  std::lock_guard members(members_mu_);
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(record.type));
  if (auto job = reservations_.BackupOf(name)) {
    return Status::FailedPrecondition(
        fmt::format("a backup of instance '{}' is in progress (job {})", name, *job),
        "switch over once it has ended");
  }
  // The members stay as they are while members_mu_ is held: their queries run outside mu_.
  MemberHandles handles = MembersOf(name);
  std::string target = to;
  if (target.empty()) {
    // The most advanced running standby.
    uint64_t best = 0;
    for (const auto& [member, standby] : handles.standbys) {
      auto pos = standby->running() ? engine->Position(*standby)
                                    : Result<engines::MemberPosition>(Status::NotFound(""));
      if (pos.ok() && (target.empty() || pos->lsn_value > best)) {
        target = member;
        best = pos->lsn_value;
      }
    }
  }
  if (target.empty()) {
    return Status::FailedPrecondition(fmt::format("no standby of instance '{}' runs", name),
                                      "wait until one runs (GET /instances/:name, members)");
  }
  // Only a standby that streams now takes over: one still rejoining, or stopped, would
  // leave the instance without a primary.
  {
    auto at = handles.primary == nullptr || !handles.primary->answers()
                  ? Result<engines::MemberPosition>(Status::FailedPrecondition("down"))
                  : engine->Position(*handles.primary);
    bool streaming = false;
    if (at.ok()) {
      for (const auto& link : at->replicas)
        streaming |= link.member == target && link.state == "streaming";
      // A MariaDB standby tells its link itself; the primary answering is checked above.
      if (!streaming) {
        for (const auto& [member, standby] : handles.standbys) {
          if (member != target) continue;
          auto own = engine->Position(*standby);
          streaming = own.ok() && own->upstream && own->upstream->state == "streaming";
        }
      }
    }
    if (!streaming) {
      return Status::FailedPrecondition(
          fmt::format("standby '{}' of instance '{}' does not stream from the primary now", target,
                      name),
          "wait until its member status says streaming (GET /instances/:name)");
    }
  }
  auto started = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(HandOver(record, target, "switchover"));
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return json{
      {"instance", name}, {"primary", target}, {"from", record.primary()}, {"seconds", seconds}};
}

Status Service::HandOver(const catalog::InstanceRecord& record, const std::string& to,
                         const std::string& why) {
  const std::string& name = record.name;
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(record.type));
  const std::string from = record.primary();
  const bool switchover = why == "switchover";
  std::unique_ptr<engines::Instance> old_primary;
  engines::Instance* next = nullptr;
  {
    std::lock_guard lock(mu_);
    auto& of = standbys_[name];
    auto it = of.find(to);
    if (it == of.end()) {
      return Status::FailedPrecondition(fmt::format("standby '{}' is not open", to));
    }
    next = it->second.get();
    if (auto p = servers_.find(name); p != servers_.end()) old_primary = std::move(p->second);
    servers_.erase(name);
  }
  // Until the decision, a failure puts the old primary back as it was (the next tick tries
  // again, and fences it again).
  auto put_back = [&](const Status& why_not) {
    std::lock_guard lock(mu_);
    if (old_primary) servers_[name] = std::move(old_primary);
    return why_not;
  };
  // Fence: the old primary stops for good (a clean shutdown when it answers: its
  // walsenders send every record to the standbys first; a hung or dead one is killed) and
  // from now on starts only as a standby that must be rewound.
  if (old_primary && !options_.test_unfenced_failover) {
    if (switchover) {
      // An engine whose standbys miss what is unsent at shutdown (MariaDB) stops writes
      // first, and the target receives everything while the primary still sends.
      auto last = engine->StopWrites(*old_primary);
      Status received =
          last.ok() && *last ? WaitForPosition(*engine, *next, **last, to) : last.status();
      if (!received.ok()) {
        WarnIfError(engine->ResumeWrites(*old_primary), "resume writes after a refused switchover");
        return put_back(received);
      }
    }
    WarnIfError(old_primary->Stop(switchover ? std::chrono::seconds(60) : std::chrono::seconds(2)),
                "stop the old primary");
    if (switchover) {
      // Nothing is lost: the target has replayed the old primary's shutdown checkpoint,
      // its very last record, else the old primary runs on as it was.
      Status caught_up = WaitForCatchUp(*engine, *old_primary, *next, to);
      if (!caught_up.ok()) {
        WarnIfError(old_primary->Start(), "restart the primary after a refused switchover");
        return put_back(caught_up);
      }
    }
    if (Status fenced = engine->Fence(*old_primary, *next); !fenced.ok()) {
      return put_back(fenced.WithContext(fmt::format("fence '{}'", from)));
    }
  }
  // The standby commits synchronously from its first write as a primary: the names are in
  // its configuration before the promotion (a standby ignores them).
  {
    std::vector<std::string> sync;  // none when asynchronous: a stale list goes too
    for (const auto& m : record.replication.members) {
      if (record.replication.synchronous && m != to) sync.push_back(m);
    }
    if (Status set = engine->SetSynchronous(*next, sync); !set.ok()) {
      return put_back(set.WithContext(fmt::format("set the synchronous standbys of '{}'", to)));
    }
  }
  catalog::InstanceReplication r = WithMembers(record);
  r.primary = to;
  if (!switchover) ++r.failovers;
  // The decision is durable before the promotion: a daemon killed from here on promotes
  // `to` at its next start, and never the old primary.
  if (Status decided = catalog_->UpdateInstanceReplication(name, r); !decided.ok()) {
    return put_back(decided);
  }
  ReachKillPoint(KillPoint::kPrimaryDecided);
  Status promoted = engine->Promote(*next, kPromoteTimeout);
  {
    std::lock_guard lock(mu_);
    member_views_.erase(name);  // stale: the next tick shows the new roles
    auto& of = standbys_[name];
    servers_[name] = std::move(of[to]);
    of.erase(to);
    if (old_primary) of[from] = std::move(old_primary);
  }
  // A failed promotion is tried again by the ticker, which then finishes the handover.
  RETURN_IF_ERROR(promoted.WithContext(fmt::format("promote '{}'", to)));
  RETURN_IF_ERROR(FinishHandOver(name));
  std::string message = fmt::format("{}: {} is the primary (was {})", why, to, from);
  spdlog::warn("event=primary_changed instance={} primary={} was={} why={}", name, to, from, why);
  if (switchover) {
    WarnIfError(catalog_->AddEvent("info", name, "", message), "record an event in the catalog");
  } else {
    RaiseAlert({"failover", name, "", message, {}});
  }
  return Status::Ok();
}

Status Service::WaitForCatchUp(const engines::Engine& engine, const engines::Instance& old_primary,
                               const engines::Instance& target, const std::string& to) {
  ASSIGN_OR_RETURN(uint64_t last, engine.CleanShutdownPosition(old_primary));
  return WaitForPosition(engine, target, last, to);
}

Status Service::WaitForPosition(const engines::Engine& engine, const engines::Instance& target,
                                uint64_t last, const std::string& to) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    auto at = engine.Position(target);
    if (at.ok() && at->lsn_value >= last) return Status::Ok();
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::FailedPrecondition(
          fmt::format("standby '{}' did not receive the primary's last record within 30 s", to),
          "the primary runs on; see the standby's replication state and try again");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status Service::FinishHandOver(const std::string& name) {
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(record.type));
  MemberHandles members = MembersOf(name);
  if (members.primary == nullptr) {
    return Status::FailedPrecondition(fmt::format("instance '{}' has no primary", name));
  }
  RETURN_IF_ERROR(catalog_->UpdateInstancePort(name, members.primary->endpoint().port));
  RETURN_IF_ERROR(catalog_->UpdateInstanceStatus(name, catalog::InstanceState::kRunning));
  // The other standbys follow the new primary, each through its own slot there; a fenced
  // one follows once rewound (ReplicationTick).
  for (auto& [member, standby] : members.standbys) {
    if (engine->NeedsRejoin(*standby)) continue;
    WarnIfError(engine->Follow(*standby, *members.primary),
                fmt::format("point standby '{}' at the new primary", member));
  }
  return SetSynchronousStandbys(name);
}

Status Service::Failover(const std::string& name) {
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(record.type));
  // The most advanced standby. In synchronous mode every standby must answer: the one that
  // does not might be the only one holding a commit the primary acknowledged.
  std::string best;
  uint64_t best_lsn = 0;
  std::vector<std::string> silent;
  for (const auto& [member, standby] : MembersOf(name).standbys) {
    // A fenced member holds a diverged history: never a candidate.
    auto pos = standby->answers() && !engine->NeedsRejoin(*standby)
                   ? engine->Position(*standby)
                   : Result<engines::MemberPosition>(Status::NotFound(""));
    if (!pos.ok()) {
      silent.push_back(member);
      continue;
    }
    if (best.empty() || pos->lsn_value > best_lsn) {
      best = member;
      best_lsn = pos->lsn_value;
    }
  }
  if (best.empty() || (record.replication.synchronous && !silent.empty())) {
    return Status::FailedPrecondition(fmt::format(
        "the primary of instance '{}' is down and no standby can take over safely ({})", name,
        best.empty() ? "none answers" : "synchronous mode, and a standby does not answer"));
  }
  return HandOver(record, best, "failover");
}

void Service::ReplicationTick() {
  std::unique_lock members(members_mu_, std::try_to_lock);
  if (!members.owns_lock()) return;  // a member job runs: looked at next tick
  auto records = catalog_->ListInstances();
  if (!records.ok()) return;
  for (const catalog::InstanceRecord& record : records.value()) {
    if (record.replication.empty()) continue;
    if (record.status != catalog::InstanceState::kRunning &&
        record.status != catalog::InstanceState::kFailed) {
      continue;
    }
    auto engine = engines_->For(record.type);
    if (!engine.ok()) continue;
    const std::string& name = record.name;
    MemberHandles handles = MembersOf(name);
    engines::Instance* primary = handles.primary;
    auto& standbys = handles.standbys;
    const bool up = primary != nullptr && primary->answers();
    if (up && primary->standby()) {
      // A handover whose promotion failed: the catalog's primary is promoted again.
      Status promoted = (*engine)->Promote(*primary, kPromoteTimeout);
      spdlog::warn("event=promotion_retried instance={} member={} status=\"{}\"", name,
                   record.primary(), promoted.ok() ? "ok" : promoted.ToString());
      if (promoted.ok()) WarnIfError(FinishHandOver(name), "finish the handover");
    }
    auto now = std::chrono::steady_clock::now();
    if (up) {
      primary_down_since_.erase(name);
    } else {
      auto [since, first] = primary_down_since_.try_emplace(name, now);
      if (first) spdlog::warn("event=primary_unreachable instance={}", name);
      if (now - since->second >= options_.failover_delay) {
        Status failed = Failover(name);
        if (failed.ok()) {
          primary_down_since_.erase(name);
        } else {
          spdlog::error("event=failover_failed instance={} error=\"{}\"", name, failed.ToString());
        }
        continue;  // looked at again next tick, with the new primary
      }
    }
    // What GET /instances/:name and /metrics show.
    std::vector<MemberView> views;
    std::optional<engines::MemberPosition> at_primary;
    if (up) {
      if (auto pos = (*engine)->Position(*primary); pos.ok()) at_primary = std::move(pos).value();
    }
    MemberView p{record.primary(),
                 "primary",
                 up ? "running" : "unreachable",
                 primary ? primary->endpoint().port : uint16_t{0},
                 0,
                 "",
                 std::nullopt,
                 primary ? primary->endpoint().host : std::string()};
    if (at_primary) {
      p.timeline = at_primary->timeline;
      p.lsn = at_primary->lsn;
    }
    views.push_back(std::move(p));
    for (auto& [member, standby] : standbys) {
      MemberView v{member, "standby", "stopped",    standby->endpoint().port,
                   0,      "",        std::nullopt, standby->endpoint().host};
      if ((*engine)->NeedsRejoin(*standby)) v.state = "rejoining";
      if (standby->running()) {
        auto pos = (*engine)->Position(*standby);
        v.state = pos.ok() ? "running" : "unreachable";
        if (pos.ok()) {
          v.timeline = pos->timeline;
          v.lsn = pos->lsn;
          // MariaDB's standbys tell their link themselves (SHOW REPLICA STATUS).
          v.replication = pos->upstream;
        }
      }
      if (at_primary) {
        for (const auto& link : at_primary->replicas) {
          if (link.member == member) v.replication = link;
        }
      }
      views.push_back(std::move(v));
    }
    {
      // Published before members are started again below, which may take a minute (a
      // rejoining member's recovery): the view shows the new roles meanwhile.
      std::lock_guard lock(mu_);
      member_views_[name] = std::move(views);
    }
    // Members that are down come back: a fenced old primary rewound first.
    if (up && !reservations_.BackupOf(name)) {
      for (auto& [member, standby] : standbys) {
        // One that cannot follow (it holds what no other member has, or its primary no
        // longer has what it needs) is made again; what only it had is lost, as an
        // asynchronous failover may lose it.
        if (auto lost = (*engine)->Diverged(*standby, *primary); lost.ok() && *lost) {
          RemakeStandby(record, member, **engine, *primary);
          break;  // `standby` is gone: the handles are stale
        }
        if (standby->running()) continue;
        if ((*engine)->NeedsRejoin(*standby)) {
          Status rejoined = (*engine)->Rejoin(*standby, *primary);
          if (!rejoined.ok()) {
            spdlog::error("event=rejoin_failed instance={} member={} error=\"{}\"", name, member,
                          rejoined.ToString());
            continue;
          }
        }
        Status started = standby->Start();
        if (started.ok()) {
          WarnIfError(SetSynchronousStandbys(name), "set the synchronous standbys");
          WarnIfError(catalog_->AddEvent(
                          "info", name, "",
                          fmt::format("standby {} runs and follows {}", member, record.primary())),
                      "record an event in the catalog");
        } else {
          spdlog::error("event=standby_start_failed instance={} member={} error=\"{}\"", name,
                        member, started.ToString());
        }
      }
    }
  }
}

Status Service::StartMembers(const catalog::InstanceRecord& record) {
  const std::string& name = record.name;
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(record.type));
  const auto& members = record.replication.members;
  const std::string primary_name = record.primary();
  ASSIGN_OR_RETURN(std::unique_ptr<engines::Instance> primary,
                   engines_->Open(MemberRoot(name, primary_name), primary_name));
  Status started = primary->Start();
  if (started.ok() && primary->standby()) {
    // A handover cut off between the catalog's decision and the promotion.
    spdlog::warn("instance {}: finishing the promotion of {}", name, primary_name);
    started = engine->Promote(*primary, kPromoteTimeout);
  }
  // A standby whose making was cut off before the catalog listed it goes, with its slot.
  std::string others = JoinPath(JoinPath(options_.data_root, "members"), name);
  if (auto dirs = MemberDirs(others); dirs.ok()) {
    for (const std::string& dir : dirs.value()) {
      if (std::find(members.begin(), members.end(), dir) != members.end()) continue;
      if (!ValidateName("member name", dir).ok()) continue;  // not one we made
      spdlog::warn("instance {}: removing member {}, which was never finished", name, dir);
      WarnIfError(engines_->RemoveRemains(others, dir), "remove an unfinished member");
      if (started.ok()) WarnIfError(engine->DropMemberSlot(*primary, dir), "drop its slot");
    }
  }
  std::map<std::string, std::unique_ptr<engines::Instance>> standbys;
  for (const std::string& member : members) {
    if (member == primary_name) continue;
    auto opened = engines_->Open(MemberRoot(name, member), member);
    if (!opened.ok()) {
      spdlog::error("instance {}: member {} cannot be opened: {}", name, member,
                    opened.status().ToString());
      continue;
    }
    std::unique_ptr<engines::Instance> standby = std::move(opened).value();
    // Not the primary: if it thinks it is one (a handover cut off before its fence, its
    // server perhaps still running), it is fenced now and starts once rewound
    // (ReplicationTick); one that cannot be fenced never starts.
    Status fenced = standby->standby() ? Status::Ok() : engine->Fence(*standby, *primary);
    if (!fenced.ok() || engine->NeedsRejoin(*standby)) {
      WarnIfError(fenced, fmt::format("fence member {}", member));
      WarnIfError(standby->StopLeftBehind(), fmt::format("stop member {}'s old server", member));
    } else {
      // Standbys start even when the primary does not: the ticker then fails over to one.
      if (started.ok()) {
        WarnIfError(engine->Follow(*standby, *primary), "point a standby at the primary");
      }
      WarnIfError(standby->Start(), fmt::format("start standby {}", member));
    }
    standbys[member] = std::move(standby);
  }
  {
    std::lock_guard lock(mu_);
    servers_[name] = std::move(primary);
    standbys_[name] = std::move(standbys);
  }
  if (started.ok()) WarnIfError(FinishHandOver(name), "set the members in line with the primary");
  return started;
}

Status Service::RemoveStandbys(const std::string& name, const std::string& primary) {
  std::map<std::string, std::unique_ptr<engines::Instance>> standbys;
  {
    std::lock_guard lock(mu_);
    if (auto it = standbys_.find(name); it != standbys_.end()) standbys = std::move(it->second);
    standbys_.erase(name);
    member_views_.erase(name);
  }
  // A drain that listed them before ends before their files go (it writes its status note
  // beside each spool: a removal under way would fail with "Directory not empty").
  if (drainer_) drainer_->Quiesce();
  for (auto& [member, standby] : standbys) RETURN_IF_ERROR(standby->Delete());
  // Members that could not be opened: their servers, identities and files.
  std::string others = JoinPath(JoinPath(options_.data_root, "members"), name);
  ASSIGN_OR_RETURN(auto dirs, MemberDirs(others));
  for (const std::string& dir : dirs) {
    if (dir != primary && ValidateName("member name", dir).ok()) {
      RETURN_IF_ERROR(engines_->RemoveRemains(others, dir));
    }
  }
  return Status::Ok();
}

}  // namespace dbaas::control
