// The API's routes, one file per resource; each adds its routes to the HTTP server and
// answers through the service. Shapes: docs/api/openapi.yaml.
#pragma once

#include "control/service.h"
#include "http/server.h"

namespace dbaas::api {

void AddInstanceRoutes(http::HttpServer& s, control::Service& service);
void AddBackupRoutes(http::HttpServer& s, control::Service& service);
void AddRecoveryRoutes(http::HttpServer& s, control::Service& service);
void AddBranchRoutes(http::HttpServer& s, control::Service& service);
void AddOperationRoutes(http::HttpServer& s, control::Service& service);
void AddRepositoryRoutes(http::HttpServer& s, control::Service& service);

}  // namespace dbaas::api
