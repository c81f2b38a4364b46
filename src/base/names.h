// Names of user-visible objects (instances, backups) are DNS-1123 labels, as Kubernetes
// requires: 1-63 characters of [a-z0-9-], starting and ending with a letter or digit. Such
// a name can never reach outside the folder it names.
#pragma once

#include <string_view>

#include "base/status.h"

namespace dbaas {

bool IsDns1123Label(std::string_view name);
// Labels joined by dots, at most 253 characters: most Kubernetes object names.
bool IsDns1123Subdomain(std::string_view name);
// InvalidArgument naming `what` ("instance name") and the rule, or Ok.
Status ValidateName(std::string_view what, std::string_view name);

}  // namespace dbaas
