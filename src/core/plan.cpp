// Turns the known servers into the hosts line one client should use.
#include "distcc-mdns/plan.h"

#include <algorithm>
#include <map>
#include <string>

namespace dmdns {

namespace {

// Several records can point at one distccd (a stock --zeroconf
// advertisement beside ours, or a forgery): listing it twice would double
// its slots. Keeps, per address and port, the record that carries a load
// sample, then the one with the lowest id; returns for every other record
// the one kept.
std::vector<std::optional<std::size_t>> duplicates(std::span<const Server> servers)
{
	std::map<std::pair<std::string, std::uint16_t>, std::size_t> best;
	std::vector<std::optional<std::pair<std::string, std::uint16_t>>> keys(servers.size());
	for (std::size_t i = 0; i < servers.size(); ++i) {
		const std::optional<Address> address = servers[i].preferredAddress();
		if (!address)
			continue;
		keys[i] = { address->text, servers[i].port };
		auto [it, inserted] = best.try_emplace(*keys[i], i);
		if (inserted)
			continue;
		const Server &kept = servers[it->second];
		const Server &other = servers[i];
		const bool better = other.sample.has_value() != kept.sample.has_value()
					    ? other.sample.has_value()
					    : other.id < kept.id;
		if (better)
			it->second = i;
	}
	std::vector<std::optional<std::size_t>> keptBy(servers.size());
	for (std::size_t i = 0; i < servers.size(); ++i)
		if (keys[i] && best[*keys[i]] != i)
			keptBy[i] = best[*keys[i]];
	return keptBy;
}

} // namespace

std::vector<std::uint32_t> fillBreadthFirst(std::span<const std::uint32_t> limits, std::uint32_t jobs)
{
	std::vector<std::uint32_t> fill(limits.size(), 0);
	// One pass per slot index; each pass places at least one job or ends.
	for (bool placed = true; jobs > 0 && placed;) {
		placed = false;
		for (std::size_t i = 0; i < limits.size() && jobs > 0; ++i) {
			if (fill[i] < limits[i]) {
				++fill[i];
				--jobs;
				placed = true;
			}
		}
	}
	return fill;
}

Plan planHostsLine(std::span<const Server> servers, std::span<const std::uint32_t> reserved,
		   const PlanOptions &options, Picker &picker)
{
	Plan plan;
	plan.duplicateOf = duplicates(servers);
	for (std::size_t index : picker.order(servers, reserved, options.policy)) {
		if (plan.duplicateOf[index])
			continue;
		const Server &server = servers[index];
		const std::optional<Address> address = server.preferredAddress();
		if (!address || server.port == 0)
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

	std::vector<std::uint32_t> limits;
	for (const PlannedHost &host : plan.remote)
		limits.push_back(host.limit);
	const std::uint32_t want = options.want.value_or(plan.jobs - *local.limit);
	const std::vector<std::uint32_t> fill = fillBreadthFirst(limits, want);
	for (std::size_t i = 0; i < plan.remote.size(); ++i)
		plan.remote[i].expected = fill[i];
	return plan;
}

} // namespace dmdns
