// The compiler a build here runs, read from $CC the way distcc-mdns-hosts and distcc-mdns-run ask the daemon for it.
#pragma once

#include <string>

namespace dmdns::client {

// The last word of @cc that is not a wrapper or an assignment ("distcc
// gcc", "ccache clang-14", "CCACHE_DISABLE=1 gcc"), else "cc" (also for a
// null @cc).
std::string compilerOf(const char *cc);

} // namespace dmdns::client
