// The dashboard (ui/, built with Vite into ui/dist): its static files served at /ui/
// without the token (the pages ask for it and send it with every API call), under a
// Content-Security-Policy that allows nothing from elsewhere. Only plain file names in the
// build's folder and its assets/ are served; nothing is followed.
#pragma once

#include <string>

#include "http/server.h"

namespace dbaas::api {

// GET or HEAD of /ui or below: served without the bearer token.
bool IsDashboardPath(const std::string& method, const std::string& path);

void AddDashboardRoutes(http::HttpServer& s, std::string ui_dir);

}  // namespace dbaas::api
