// Turns the known servers into the hosts line one client should use.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "distcc-mdns/hosts_line.h"
#include "distcc-mdns/picker.h"
#include "distcc-mdns/server.h"

namespace dmdns {

struct PlanOptions {
	PickPolicy policy;
	std::uint32_t localSlots = 2; // localhost/N closes every line
	bool lzo = false;	      // add ,lzo for servers that offer it
	bool cpp = false;	      // add ,cpp (pump) for servers that offer it
	// Remote jobs the client means to run at once (its demand); unset: as
	// many as the line offers.
	std::optional<std::uint32_t> want;
};

struct PlannedHost {
	std::size_t server; // index into the servers given to planHostsLine()
	Address address;
	std::uint32_t limit;
	// Jobs distcc will send there when the client runs PlanOptions::want
	// remote jobs: what the client reserves on the server.
	std::uint32_t expected = 0;
};

struct Plan {
	std::vector<PlannedHost> remote; // in the picker's order
	HostsLine line;			 // the remote hosts, then localhost
	std::uint32_t jobs = 0;		 // suggested make -j: every limit added up
	// Per server: the server listed instead of it because both point at
	// the same address and port (one distccd advertised twice).
	std::vector<std::optional<std::size_t>> duplicateOf;
};

// How distcc spreads @jobs over hosts with these limits, listed in line
// order: slot 0 of every host, then slot 1 of every host, and so on.
std::vector<std::uint32_t> fillBreadthFirst(std::span<const std::uint32_t> limits, std::uint32_t jobs);

// Orders the eligible servers with @picker and lists each at its preferred
// address, limited to its slots; servers without a usable address or port
// are skipped, and an address and port appears at most once. The line
// always ends with localhost, so it is never empty and never makes distcc
// wait for remote slots only. @reserved, when not empty, holds per server
// the jobs other clients reserved there (see Picker::order).
Plan planHostsLine(std::span<const Server> servers, std::span<const std::uint32_t> reserved,
		   const PlanOptions &options, Picker &picker);

} // namespace dmdns
