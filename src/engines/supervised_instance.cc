#include "engines/supervised_instance.h"

#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/log.h"

namespace dbaas::engines {

SupervisedInstance::~SupervisedInstance() {
  if (server_) WarnIfError(Stop(std::chrono::seconds(10)), "stop the server");
}

Status SupervisedInstance::Start(std::chrono::milliseconds timeout) {
  if (server_) return Status::Ok();  // started (and supervised) already
  RETURN_IF_ERROR(StopServerLeftBehind());
  ASSIGN_OR_RETURN(server_, runtime_->Start(placement_, Launch(), timeout));
  return Status::Ok();
}

Status SupervisedInstance::Stop(std::chrono::milliseconds timeout) {
  if (!server_) return Status::Ok();
  std::unique_ptr<runtime::Server> server = std::move(server_);
  return server->Stop(timeout);
}

Status SupervisedInstance::Delete() {
  RETURN_IF_ERROR(Stop());
  RETURN_IF_ERROR(StopServerLeftBehind());
  RETURN_IF_ERROR(BeforeRemoval());
  return runtime_->Remove(placement_);
}

Status SupervisedInstance::StopServerLeftBehind() const {
  return runtime_->StopLeftover(placement_, Leftover());
}

Status SupervisedInstance::Provision(runtime::Runtime* rt, bool any_host) {
  runtime_ = rt != nullptr ? rt : &runtime::Local();
  ASSIGN_OR_RETURN(placement_, runtime_->Provision({name(), dir(), 0, any_host}));
  return Status::Ok();
}

void SupervisedInstance::Unprovision() {
  if (Status removed = runtime_->Remove(placement_); !removed.ok()) {
    spdlog::warn("instance {}: remove what could not be made: {}", name(), removed.ToString());
  }
}

Result<bool> SupervisedInstance::Locate(runtime::Runtime* rt, const std::string& os_user,
                                        const std::string& shared_user,
                                        const std::vector<std::string>& owned) {
  runtime_ = rt != nullptr ? rt : &runtime::Local();
  ASSIGN_OR_RETURN(placement_, runtime_->Locate(name(), dir(), os_user, shared_user));
  if (!placement_.shared_identity) return false;
  RETURN_IF_ERROR(StopServerLeftBehind());
  ASSIGN_OR_RETURN(placement_, runtime_->GiveOwnIdentity(placement_, owned));
  return true;
}

ToolRunner SupervisedInstance::tool_runner() const {
  return [runtime = runtime_, placement = placement_](ProcessOptions options,
                                                      std::chrono::milliseconds timeout) {
    return runtime->RunTool(placement, std::move(options), timeout);
  };
}

VolumeProbe SupervisedInstance::volume_probe() const {
  return [runtime = runtime_, placement = placement_] { return runtime->VolumeUsage(placement); };
}

Status SupervisedInstance::GiveToServer(const std::string& path) const {
  return runtime_->GiveToInstance(placement_, path);
}

Result<RunResult> SupervisedInstance::RunTool(ProcessOptions options,
                                              std::chrono::milliseconds timeout) const {
  return runtime_->RunTool(placement_, std::move(options), timeout);
}

ConnectionInfo SupervisedInstance::login() const {
  ConnectionInfo c = endpoint();
  if (tenant_password_.empty()) return c;
  c.user = "app";
  c.password = tenant_password_;
  c.database = "app";
  return c;
}

Status SupervisedInstance::SaveTenantPassword(const std::string& password) {
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir(), "app-password"), password + "\n", 0600));
  tenant_password_ = password;
  return Status::Ok();
}

Status SupervisedInstance::LoadTenantPassword() {
  auto text = ReadFileToString(JoinPath(dir(), "app-password"));
  if (!text.ok()) {
    return text.status().code() == StatusCode::kNotFound ? Status::Ok() : text.status();
  }
  tenant_password_ = text.value();
  while (!tenant_password_.empty() && tenant_password_.back() == '\n') tenant_password_.pop_back();
  return Status::Ok();
}

bool SupervisedInstance::running() const { return server_ && server_->Observe().running; }

bool SupervisedInstance::answers() const {
  if (!running()) return false;
  auto probe = Launch().answers;
  return !probe || probe();
}

int SupervisedInstance::restarts() const { return server_ ? server_->Observe().restarts : 0; }

pid_t SupervisedInstance::server_pid() const { return server_ ? server_->Observe().pid : -1; }

}  // namespace dbaas::engines
