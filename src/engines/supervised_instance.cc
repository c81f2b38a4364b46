#include "engines/supervised_instance.h"

#include "base/files.h"

namespace dbaas::engines {

SupervisedInstance::~SupervisedInstance() {
  if (server_) (void)Stop(std::chrono::seconds(10));
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
  return RemoveTree(dir());
}

bool SupervisedInstance::running() const { return server_ && server_->running(); }

int SupervisedInstance::restarts() const { return server_ ? server_->restarts() : 0; }

pid_t SupervisedInstance::server_pid() const { return server_ ? server_->pid() : -1; }

}  // namespace dbaas::engines
