#include "engines/supervised_instance.h"

#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/log.h"
#include "engines/server_user.h"

namespace dbaas::engines {

SupervisedInstance::~SupervisedInstance() {
  if (server_) WarnIfError(Stop(std::chrono::seconds(10)), "stop the server");
}

Status SupervisedInstance::Start(std::chrono::milliseconds timeout) {
  if (server_) return Status::Ok();  // started (and supervised) already
  RETURN_IF_ERROR(StopServerLeftBehind());
  ASSIGN_OR_RETURN(server_, SupervisedServer::Start(Launch(), timeout));
  return Status::Ok();
}

Status SupervisedInstance::Stop(std::chrono::milliseconds timeout) {
  if (!server_) return Status::Ok();
  std::unique_ptr<SupervisedServer> server = std::move(server_);
  return server->Stop(timeout);
}

Status SupervisedInstance::Delete() {
  RETURN_IF_ERROR(Stop());
  RETURN_IF_ERROR(StopServerLeftBehind());
  RETURN_IF_ERROR(BeforeRemoval());
  RETURN_IF_ERROR(RemoveTree(dir()));
  return RemoveInstanceUser(server_user_);
}

Result<bool> SupervisedInstance::OpenServerUser(const std::string& os_user,
                                                const std::string& shared_user,
                                                const std::vector<std::string>& owned) {
  if (!os_user.empty()) {
    ASSIGN_OR_RETURN(server_user_, InstanceUser(os_user));
    return false;
  }
  ASSIGN_OR_RETURN(server_user_, ServerUser(shared_user));
  if (!server_user_) return false;  // not root: servers run as ourselves
  RETURN_IF_ERROR(StopServerLeftBehind());
  ASSIGN_OR_RETURN(std::optional<UserIds> own,
                   MakeInstanceUser(name(), JoinPath(dir(), kOsUserRecord)));
  for (const std::string& path : owned) {
    if (PathExists(path)) RETURN_IF_ERROR(ChownTree(path, own));
  }
  spdlog::info("instance {}: now runs as OS user {} (uid {}) instead of {}", name(), own->name,
               own->uid, shared_user);
  server_user_ = std::move(own);
  return true;
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

bool SupervisedInstance::running() const { return server_ && server_->running(); }

int SupervisedInstance::restarts() const { return server_ ? server_->restarts() : 0; }

pid_t SupervisedInstance::server_pid() const { return server_ ? server_->pid() : -1; }

}  // namespace dbaas::engines
