// Turns the known servers into the hosts line one client should use.
#include "distcc-mdns/plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
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

namespace {

// Splits @total over @weights in proportion, each part at most its weight:
// floors first, then the largest remainders (earlier ones win ties).
std::vector<std::uint32_t> apportion(std::span<const std::uint32_t> weights, std::uint32_t total)
{
	std::vector<std::uint32_t> parts(weights.size(), 0);
	std::uint64_t sum = 0;
	for (std::uint32_t w : weights)
		sum += w;
	if (sum == 0 || total == 0)
		return parts;
	total = static_cast<std::uint32_t>(std::min<std::uint64_t>(total, sum));
	std::vector<std::pair<std::uint64_t, std::size_t>> remainders;
	std::uint64_t given = 0;
	for (std::size_t i = 0; i < weights.size(); ++i) {
		const std::uint64_t exact = std::uint64_t(total) * weights[i];
		parts[i] = static_cast<std::uint32_t>(exact / sum);
		given += parts[i];
		remainders.emplace_back(exact % sum, i);
	}
	std::stable_sort(remainders.begin(), remainders.end(),
			 [](const auto &a, const auto &b) { return a.first > b.first; });
	for (const auto &[rest, i] : remainders) {
		if (given >= total)
			break;
		if (parts[i] < weights[i]) {
			++parts[i];
			++given;
		}
	}
	return parts;
}

} // namespace

LocalPlace placeLocal(double localCapacity, double remoteCapacity) noexcept
{
	if (!(remoteCapacity > 0.0))
		return LocalPlace::First;
	const double part = localCapacity / (localCapacity + remoteCapacity);
	if (part >= 0.5)
		return LocalPlace::First;
	if (part >= 0.2)
		return LocalPlace::Last;
	return LocalPlace::Absent;
}

PickPolicy effectivePolicy(const PlanOptions &options)
{
	PickPolicy policy = options.policy;
	policy.minSpeed = std::max(policy.minSpeed,
				   options.minSpeed * std::clamp(options.localSpeed, kMinSpeed, kMaxSpeed));
	return policy;
}

Plan planHostsLine(std::span<const Server> servers, std::span<const std::uint32_t> reserved,
		   const PlanOptions &options, Picker &picker)
{
	if (!options.own.empty() && options.own.size() != servers.size())
		throw std::invalid_argument("own jobs must be empty or match servers");
	if (!options.failing.empty() && options.failing.size() != servers.size())
		throw std::invalid_argument("failing servers must be empty or match servers");
	Plan plan;
	plan.duplicateOf = duplicates(servers);
	plan.full.assign(servers.size(), false);
	plan.slower.assign(servers.size(), false);
	plan.failing.assign(servers.size(), false);
	const double localSpeed = std::clamp(options.localSpeed, kMinSpeed, kMaxSpeed);
	const std::uint32_t localSlots = std::clamp<std::uint32_t>(options.localSlots, 1, kMaxHostLimit);
	const PickPolicy policy = effectivePolicy(options);

	// The servers the line can hold, best first, with their slots and what
	// others leave free of them.
	struct Candidate {
		std::size_t index;
		Address address;
		std::uint32_t slots;
		std::uint32_t free;
	};
	std::vector<Candidate> candidates;
	std::uint64_t totalSlots = 0;
	for (std::size_t index : picker.order(servers, reserved, policy)) {
		if (plan.duplicateOf[index])
			continue;
		const Server &server = servers[index];
		const std::optional<Address> address = server.preferredAddress();
		if (!address || server.port == 0)
			continue;
		if (!options.failing.empty() && options.failing[index]) {
			plan.failing[index] = true;
			continue;
		}
		const std::uint32_t slots = std::clamp<std::uint32_t>(server.slots, 1, kMaxHostLimit);
		std::uint64_t others = reserved.empty() ? 0 : reserved[index];
		if (server.sample) {
			const std::uint32_t own = options.own.empty() ? 0 : options.own[index];
			others += server.sample->running > own ? server.sample->running - own : 0;
		}
		const std::uint32_t free = others >= slots ? 0 : slots - static_cast<std::uint32_t>(others);
		candidates.push_back({ index, *address, slots, free });
		totalSlots += slots;
	}

	const std::uint32_t want =
		options.want.value_or(static_cast<std::uint32_t>(std::min<std::uint64_t>(totalSlots, UINT32_MAX)));
	std::vector<std::uint32_t> limits;
	for (const Candidate &c : candidates)
		limits.push_back(c.free);
	// Overloaded only when others ask too: alone, the others' running jobs
	// (say from stock clients) are what limits this client.
	const std::uint64_t farmWanted = options.othersWanted + want;
	if (want > 0 && options.othersWanted > 0 && farmWanted > totalSlots) {
		// Overloaded: capacity x this demand / all demand, at least one job.
		const std::uint64_t share = std::max<std::uint64_t>(1, totalSlots * want / farmWanted);
		plan.share = static_cast<std::uint32_t>(std::min<std::uint64_t>(share, want));
		std::vector<std::uint32_t> weights;
		for (const Candidate &c : candidates)
			weights.push_back(c.slots);
		limits = apportion(weights, plan.share);
	}

	// A job sent to a server finishes after its wait for a slot and its
	// compile at the server's speed; here it finishes once the local slots
	// got through the jobs queued before it. A server slower than that
	// only makes the build later.
	const double localFinish = std::ceil((want + 1.0) / localSlots) / localSpeed;
	double remoteCapacity = 0.0;
	for (std::size_t i = 0; i < candidates.size(); ++i) {
		const Candidate &c = candidates[i];
		if (limits[i] == 0) {
			plan.full[c.index] = true;
			continue;
		}
		const Server &server = servers[c.index];
		const double queued = c.slots > c.free ? double(c.slots - c.free) : 0.0;
		const double remoteFinish = std::max(1.0, (queued + 1.0) / c.slots) / server.speed;
		if (remoteFinish > localFinish) {
			plan.slower[c.index] = true;
			continue;
		}
		remoteCapacity += limits[i] * server.speed;
		plan.remote.push_back({ c.index, c.address, limits[i] });
		plan.line.hosts.push_back(hostSpecFor(c.address, server.port, limits[i], options.lzo && server.lzo,
						      options.cpp && server.cpp && server.lzo));
		plan.jobs += limits[i];
	}

	HostSpec local;
	local.kind = HostSpec::Kind::Local;
	local.limit = localSlots;
	plan.local = placeLocal(localSlots * localSpeed, remoteCapacity);
	// Overloaded, the client drives only its share of the farm: its own
	// slots are capacity no one else can take, and distcc's fifth no longer
	// applies.
	if (plan.share > 0 && plan.local == LocalPlace::Absent)
		plan.local = LocalPlace::Last;
	if (plan.local == LocalPlace::First)
		plan.line.hosts.insert(plan.line.hosts.begin(), local);
	else if (plan.local == LocalPlace::Last)
		plan.line.hosts.push_back(local);

	std::vector<std::uint32_t> listed;
	for (const PlannedHost &host : plan.remote)
		listed.push_back(host.limit);
	const std::vector<std::uint32_t> fill = fillBreadthFirst(listed, options.want.value_or(plan.jobs));
	for (std::size_t i = 0; i < plan.remote.size(); ++i)
		plan.remote[i].expected = fill[i];
	if (plan.local != LocalPlace::Absent)
		plan.jobs += *local.limit;
	return plan;
}

} // namespace dmdns
