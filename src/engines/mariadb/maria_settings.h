// Which MariaDB server options a tenant may give an instance. An allowlist, not a denylist:
// an option we overlooked, or one a later release adds, is refused until someone has
// decided it is safe. Refused are options that load code, run SQL at startup or connect,
// move files or where the server listens, turn authentication off, open the file system to
// SQL, or weaken crash safety.
//
// Names are checked as mariadbd resolves them (mysys/my_getopt.c): '-' and '_' are one
// character, case does not matter, and the prefixes loose-, skip-, disable-, enable-,
// maximum- and autoset- may come first, any number of them. mariadbd also takes any
// unambiguous prefix of an option name, resolved against all of its options; so a name is
// accepted only when, prefixes removed, it is an allowed option spelled in full.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace dbaas::engines {

// Ok when every name in `config` resolves to an allowed MariaDB 10.11 option spelled in
// full, optionally after loose- and, for on/off options only, one of skip-, disable- or
// enable-; maximum- and autoset- are refused. Values are what an option file line holds
// unquoted: at most 1024 bytes of letters, digits and _-.,:+ (so no line break or NUL).
Status ValidateMariaSettings(const std::map<std::string, std::string>& config);

// The allowed option names, spelled with '-' as `mariadbd --help` does, sorted (for
// docs/SECURITY.md).
const std::vector<std::string>& AllowedMariaSettings();

}  // namespace dbaas::engines
