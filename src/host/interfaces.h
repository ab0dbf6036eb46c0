// This host's interface addresses, for telling which of a server's addresses distccd admits it on.
#pragma once

#include <vector>

#include "distcc-mdns/server.h"

namespace dmdns::host {

// The addresses of the interfaces that are up in this network namespace,
// each with its prefix length; loopback left out. At most kMaxNetworks.
std::vector<Network> localNetworks();

inline constexpr std::size_t kMaxNetworks = 256;

} // namespace dmdns::host
