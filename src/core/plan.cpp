// Turns the known servers into the hosts line one client should use.
#include "distcc-mdns/plan.h"

#include <algorithm>

namespace dmdns {

Plan planHostsLine(std::span<const Server> servers, std::span<const std::uint32_t> reserved,
		   const PlanOptions &options, Picker &picker)
{
	Plan plan;
	for (std::size_t index : picker.order(servers, reserved, options.policy)) {
		const Server &server = servers[index];
		const std::optional<Address> address = server.preferredAddress();
		if (!address)
			continue;
		const std::uint32_t limit = std::clamp<std::uint32_t>(server.slots, 1, kMaxHostLimit);
		plan.remote.push_back({ index, *address, limit });
		plan.line.hosts.push_back(hostSpecFor(*address, server.port, limit,
						      options.lzo && server.lzo,
						      options.cpp && server.cpp && server.lzo));
		plan.jobs += limit;
	}

	HostSpec local;
	local.kind = HostSpec::Kind::Local;
	local.limit = std::clamp<std::uint32_t>(options.localSlots, 1, kMaxHostLimit);
	plan.line.hosts.push_back(local);
	plan.jobs += *local.limit;
	return plan;
}

} // namespace dmdns
