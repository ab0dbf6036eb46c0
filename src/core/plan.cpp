// Turns the known servers into the hosts line one client should use.
#include "distcc-mdns/plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <queue>
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

// Splits @total over servers in proportion to @weights, no part above its
// cap: the parts of capped servers go to the others (water-filling). Each
// part is its exact amount rounded down or up, up with a probability equal
// to the fraction (systematic sampling from @u in [0, 1)), so the parts
// still add up to @total and, over many clients each drawing its own @u, a
// small server gets in all what its weight says. Rounding the largest
// remainders up instead would give a small server's fraction to every
// client alike.
std::vector<std::uint32_t> apportion(std::span<const double> weights, std::span<const std::uint32_t> caps,
				     std::uint32_t total, double u)
{
	const std::size_t n = weights.size();
	std::vector<double> exact(n, 0.0);
	std::vector<bool> capped(n, false);
	std::uint64_t capSum = 0;
	for (std::uint32_t c : caps)
		capSum += c;
	double left = static_cast<double>(std::min<std::uint64_t>(total, capSum));
	// Each pass caps at least one server or ends, so at most n passes.
	for (std::size_t pass = 0; pass <= n && left > 0.0; ++pass) {
		double weightSum = 0.0;
		for (std::size_t i = 0; i < n; ++i)
			if (!capped[i] && weights[i] > 0.0)
				weightSum += weights[i];
		if (weightSum <= 0.0)
			break;
		bool capping = false;
		for (std::size_t i = 0; i < n; ++i) {
			if (capped[i] || weights[i] <= 0.0)
				continue;
			if (left * weights[i] / weightSum >= caps[i]) {
				exact[i] = caps[i];
				capped[i] = true;
				left -= caps[i];
				capping = true;
			}
		}
		if (capping)
			continue;
		for (std::size_t i = 0; i < n; ++i)
			if (!capped[i] && weights[i] > 0.0)
				exact[i] = left * weights[i] / weightSum;
		left = 0.0;
	}
	// Systematic sampling: the points u, u + 1, u + 2, ... fall on the
	// cumulated fractions; a server whose fraction holds a point rounds up.
	std::vector<std::uint32_t> parts(n, 0);
	std::uint64_t given = 0;
	double cumulated = 0.0;
	double point = std::clamp(u, 0.0, 1.0 - 1e-12);
	for (std::size_t i = 0; i < n; ++i) {
		const double floor = std::floor(exact[i] + 1e-9);
		parts[i] = std::min(caps[i], static_cast<std::uint32_t>(floor));
		const double fraction = std::max(0.0, exact[i] - floor);
		cumulated += fraction;
		if (point < cumulated - 1e-9 && parts[i] < caps[i]) {
			++parts[i];
			point += 1.0;
		}
		given += parts[i];
	}
	// Rounding error can leave a unit over; it goes to the first with room.
	const std::uint64_t goal = std::min<std::uint64_t>(total, capSum);
	for (std::size_t i = 0; i < n && given < goal; ++i) {
		if (parts[i] < caps[i] && weights[i] > 0.0) {
			++parts[i];
			++given;
		}
	}
	return parts;
}

// The speed one more job runs at on a server already running @jobs: its
// full speed while it has a free core, shared with the others beyond.
double speedOfNext(double speed, std::uint32_t cores, std::uint64_t jobs) noexcept
{
	return speed * std::min(1.0, static_cast<double>(cores) / static_cast<double>(jobs + 1));
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
	policy.match = options.match;
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
	const PickPolicy policy = effectivePolicy(options);
	Plan plan;
	plan.servers.resize(servers.size());
	// Every reason is the first that applies (see Exclusion): the picker's
	// rules, then the same address and port, before the ones below.
	const std::vector<std::optional<std::size_t>> keptBy = duplicates(servers);
	for (std::size_t i = 0; i < servers.size(); ++i) {
		PlanEntry &entry = plan.servers[i];
		entry.ineligible = checkEligible(servers[i], policy);
		if (entry.ineligible != Ineligible::None) {
			entry.excluded = Exclusion::Ineligible;
		} else if (keptBy[i]) {
			entry.excluded = Exclusion::Duplicate;
			entry.duplicateOf = *keptBy[i];
		}
	}
	const double localSpeed = std::clamp(options.localSpeed, kMinSpeed, kMaxSpeed);
	const std::uint32_t localSlots = std::clamp<std::uint32_t>(options.localSlots, 1, kMaxHostLimit);

	// The servers the line can hold, best first, with the slots worth using
	// and what others leave free of them. A job beyond a server's cores
	// shares them; distccd's slots past the point where a job would run
	// slower than the minimum speed are not counted: they would only make
	// every job there crawl.
	struct Candidate {
		std::size_t index;
		Address address;
		std::uint32_t slots;  // usable: at most distccd's
		std::uint32_t cores;  // the server's cpus, or its slots when unknown
		std::uint32_t others; // jobs of other clients, running or reserved
		std::uint32_t free;
		double speed;
	};
	std::vector<Candidate> candidates;
	std::uint64_t totalSlots = 0;
	for (std::size_t index : picker.order(servers, reserved, policy)) {
		PlanEntry &entry = plan.servers[index];
		if (entry.excluded == Exclusion::Duplicate)
			continue;
		const Server &server = servers[index];
		const std::optional<Address> address = server.preferredAddress();
		if (!address || server.port == 0) {
			entry.excluded = Exclusion::NoAddress;
			continue;
		}
		if (!options.failing.empty() && options.failing[index]) {
			entry.excluded = Exclusion::Failing;
			continue;
		}
		const std::uint32_t distccdSlots = std::clamp<std::uint32_t>(server.slots, 1, kMaxHostLimit);
		const std::uint32_t cores = server.cpus > 0 ? std::min(server.cpus, distccdSlots) : distccdSlots;
		const double speed = std::clamp(server.speed, kMinSpeed, kMaxSpeed);
		std::uint32_t slots = distccdSlots;
		if (policy.minSpeed > 0.0) {
			const double worth = std::floor(cores * speed / policy.minSpeed + 1e-9);
			slots = std::clamp<std::uint32_t>(static_cast<std::uint32_t>(std::min(worth, 1e6)), cores,
							  distccdSlots);
		}
		std::uint64_t others = reserved.empty() ? 0 : reserved[index];
		if (server.sample) {
			const std::uint32_t own = options.own.empty() ? 0 : options.own[index];
			others += server.sample->running > own ? server.sample->running - own : 0;
		}
		const std::uint32_t taken = static_cast<std::uint32_t>(std::min<std::uint64_t>(others, slots));
		candidates.push_back({ index, *address, slots, cores, taken, slots - taken, speed });
		totalSlots += slots;
	}

	const std::uint32_t want =
		options.want.value_or(static_cast<std::uint32_t>(std::min<std::uint64_t>(totalSlots, UINT32_MAX)));
	std::vector<std::uint32_t> limits;
	for (const Candidate &c : candidates)
		limits.push_back(c.free);
	// Overloaded only when others ask too: alone, the others' running jobs
	// (say from stock clients) are what limits this client.
	std::uint64_t othersWanted = options.othersWanted;
	std::uint64_t counted = want;
	if (!options.othersDemands.empty()) {
		othersWanted = 0;
		for (std::uint32_t d : options.othersDemands)
			othersWanted += std::min<std::uint64_t>(d, totalSlots);
		counted = std::min<std::uint64_t>(want, totalSlots);
	}
	const std::uint64_t farmWanted = othersWanted + counted;
	if (want > 0 && othersWanted > 0 && farmWanted > totalSlots) {
		// Overloaded: capacity x this demand / all demand, at least one job,
		// spread by the servers' compute (cores x speed) so that under the
		// clients' jobs together every server runs its jobs about as fast.
		const std::uint64_t share = std::max<std::uint64_t>(1, totalSlots * counted / farmWanted);
		plan.share = static_cast<std::uint32_t>(std::min<std::uint64_t>(share, want));
		std::vector<double> weights;
		std::vector<std::uint32_t> caps;
		for (const Candidate &c : candidates) {
			weights.push_back(c.cores * c.speed);
			caps.push_back(c.slots);
		}
		limits = apportion(weights, caps, plan.share, picker.uniform());
	} else if (options.want) {
		// Room for every demand: the client's jobs take the fastest free
		// slots, a free core before a shared one. distcc gives every host in
		// the line a job before any host a second one, so a slower server
		// listed "just in case" would get work the faster ones had room for.
		// A server's slots only get worse, so a heap of each one's next slot
		// yields them best first, in memory for one slot per server however
		// many slots a record claims.
		struct Slot {
			bool shared;
			double speed;
			std::uint32_t nth;
			std::size_t candidate;
		};
		const auto worse = [](const Slot &a, const Slot &b) {
			if (a.shared != b.shared)
				return a.shared;
			if (a.speed != b.speed)
				return a.speed < b.speed;
			if (a.nth != b.nth)
				return a.nth > b.nth;
			// Ties keep the picker's order, which differs between clients.
			return a.candidate > b.candidate;
		};
		const auto slotOf = [&](std::size_t i, std::uint32_t nth) {
			const std::uint64_t before = std::uint64_t(candidates[i].others) + nth - 1;
			return Slot{ before >= candidates[i].cores,
				     speedOfNext(candidates[i].speed, candidates[i].cores, before), nth, i };
		};
		std::priority_queue<Slot, std::vector<Slot>, decltype(worse)> next(worse);
		for (std::size_t i = 0; i < candidates.size(); ++i)
			if (candidates[i].free > 0)
				next.push(slotOf(i, 1));
		std::fill(limits.begin(), limits.end(), 0);
		for (std::uint32_t taken = 0; taken < want && !next.empty(); ++taken) {
			const Slot best = next.top();
			next.pop();
			++limits[best.candidate];
			if (best.nth < candidates[best.candidate].free)
				next.push(slotOf(best.candidate, best.nth + 1));
		}
		for (std::size_t i = 0; i < candidates.size(); ++i)
			if (limits[i] == 0 && candidates[i].free > 0)
				plan.servers[candidates[i].index].excluded = Exclusion::Spare;
	}

	// A job sent to a server finishes after its wait for a slot and its
	// compile at the server's speed; here it finishes once the local slots
	// got through the jobs queued before it. A server slower than that
	// only makes the build later.
	const double localFinish = std::ceil((want + 1.0) / localSlots) / localSpeed;
	double remoteCapacity = 0.0;
	for (std::size_t i = 0; i < candidates.size(); ++i) {
		const Candidate &c = candidates[i];
		Exclusion &excluded = plan.servers[c.index].excluded;
		if (limits[i] == 0) {
			if (excluded != Exclusion::Spare)
				excluded = plan.share > 0 ? Exclusion::Overloaded : Exclusion::Full;
			continue;
		}
		const Server &server = servers[c.index];
		const double remoteFinish = std::max(1.0, (c.others + 1.0) / c.slots) / c.speed;
		// This machine is not slower than itself.
		if (remoteFinish > localFinish && c.index != options.self) {
			excluded = Exclusion::Slower;
			continue;
		}
		// The servers' whole capacity, not the part of it this client's
		// limits take: a line cut to a fair share or to the last few jobs of
		// a build still points at a farm far bigger than this machine, whose
		// free cores beat the local ones.
		remoteCapacity += c.slots * c.speed;
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
	// A client that is also a server has one set of cores, which its own
	// record offers: listing localhost as well would put both limits' jobs
	// on them. The record is kept and localhost goes, although distcc runs
	// localhost jobs without a connection, because a job through this
	// machine's distccd is one its gossip samples count: other clients see
	// these cores busy and stay off them, and this client's limit there is
	// what the others leave free. Localhost jobs would be invisible to the
	// farm, which would then send its own jobs to the same cores. Only when
	// the plan uses this machine's record as a server (eligible, reachable)
	// and the line lists some remote host; otherwise localhost stays, so
	// that a line is never empty.
	if (options.self && *options.self < plan.servers.size() && !plan.remote.empty()) {
		const Exclusion self = plan.servers[*options.self].excluded;
		if (self == Exclusion::None || self == Exclusion::Spare || self == Exclusion::Full ||
		    self == Exclusion::Overloaded || self == Exclusion::Slower)
			plan.local = LocalPlace::Absent;
	}
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

std::vector<std::uint32_t> splitAmong(std::span<const std::uint32_t> wants, std::uint32_t total)
{
	std::vector<std::uint32_t> parts(wants.size(), 0);
	std::vector<std::size_t> open;
	for (std::size_t i = 0; i < wants.size(); ++i)
		if (wants[i] > 0)
			open.push_back(i);
	std::uint64_t left = total;
	// Each round either satisfies a client or ends: at most one per client.
	while (!open.empty() && left > 0) {
		const std::uint64_t equal = left / open.size();
		const auto satisfied = [&](std::size_t i) { return wants[i] - parts[i] <= equal; };
		if (std::none_of(open.begin(), open.end(), satisfied)) {
			std::uint64_t extra = left % open.size();
			for (const std::size_t i : open) {
				parts[i] += static_cast<std::uint32_t>(equal + (extra > 0 ? 1 : 0));
				extra -= extra > 0 ? 1 : 0;
			}
			break;
		}
		for (const std::size_t i : open)
			if (satisfied(i)) {
				left -= wants[i] - parts[i];
				parts[i] = wants[i];
			}
		std::erase_if(open, [&](std::size_t i) { return parts[i] == wants[i]; });
	}
	return parts;
}

} // namespace dmdns
