// The JSON view of the servers and the chosen hosts line, shared by the daemon and distcc-mdns-hosts.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/plan.h"

namespace dmdns {

// Plans the hosts line for @entries and describes every server: listed
// ones in line order with their limit and the jobs the client's demand puts
// there, then the others with the reason they were left out. @reserved is
// empty or holds, per entry, the jobs other clients reserved there.
// @source says where the data came from.
nlohmann::json makeView(const std::vector<DirectoryEntry> &entries, std::span<const std::uint32_t> reserved,
			const PlanOptions &options, std::uint64_t seed, std::string_view source);

// A readable table of a view made by makeView().
std::string statusTable(const nlohmann::json &view);

} // namespace dmdns
