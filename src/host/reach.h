// Whether other hosts can reach this host's distccd, and where: its listening addresses and its --allow.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "distcc-mdns/server.h"
#include "host/procfs.h"

namespace dmdns::host {

struct DistccdReach {
	// The addresses distccd listens on that another host can connect to,
	// 0.0.0.0 and :: standing for every address of their family; empty:
	// not known (or more than the TXT record carries).
	std::vector<Address> listens;
	// The networks its --allow admits, loopback ones left out; empty: not
	// known (or more than the TXT record carries).
	std::vector<Network> allows;
	// Why no other host can use this distccd, and what to change; empty
	// when some can.
	std::string refusal;
};

// Reads @listeners (the kernel's listening sockets of distccd's port) and
// @args (its command line, if known). @dualStack: an IPv6 wildcard socket
// accepts IPv4 too (net.ipv6.bindv6only is 0, Linux's default). @local,
// this host's interface networks, only make the advice concrete.
DistccdReach reachOf(std::span<const procfs::TcpEndpoint> listeners, const std::optional<procfs::DistccdArgs> &args,
		     bool dualStack, std::span<const Network> local = {});

} // namespace dmdns::host
