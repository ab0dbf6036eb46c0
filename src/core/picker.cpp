// Capacity-weighted power-of-two-choices over the servers a resolver knows.
#include "distcc-mdns/picker.h"

#include <stdexcept>

namespace dmdns {

std::string_view describe(Ineligible reason) noexcept
{
	switch (reason) {
	case Ineligible::None:
		return "eligible";
	case Ineligible::NotUp:
		return "not up";
	case Ineligible::NoCapacity:
		return "no capacity";
	case Ineligible::Stale:
		return "load sample too old";
	case Ineligible::Compiler:
		return "compiler not offered";
	case Ineligible::Slow:
		return "too slow";
	case Ineligible::Dead:
		return "dead: its gossip stopped";
	case Ineligible::Left:
		return "left: its daemon stopped";
	case Ineligible::Identity:
		return "compiler identity differs";
	}
	return "unknown";
}

Ineligible checkEligible(const Server &server, const PickPolicy &policy) noexcept
{
	if (server.liveness == Liveness::Dead)
		return Ineligible::Dead;
	if (server.liveness == Liveness::Left)
		return Ineligible::Left;
	if (server.state != ServerState::Up)
		return Ineligible::NotUp;
	if (!(server.capacity() > 0.0))
		return Ineligible::NoCapacity;
	if (server.sample && server.sample->age > policy.maxSampleAge)
		return Ineligible::Stale;
	// A server introduced by gossip alone (--peer) does not say which
	// compilers it runs: unknown is not refused.
	if (policy.compiler && !server.compilers.empty() && !server.offers(*policy.compiler))
		return Ineligible::Compiler;
	if (policy.compiler && policy.match == MatchMode::Exact &&
	    server.identityMatch(*policy.compiler) == IdentityMatch::Differs)
		return Ineligible::Identity;
	if (server.speed < policy.minSpeed)
		return Ineligible::Slow;
	return Ineligible::None;
}

Picker::Picker(std::uint64_t seed)
	: rng_(seed) { }

double Picker::uniform()
{
	// 53 random bits give a uniform double in [0, 1).
	return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

std::vector<Picker::Candidate> Picker::candidates(std::span<const Server> servers,
						  std::span<const std::uint32_t> reserved,
						  const PickPolicy &policy) const
{
	if (!reserved.empty() && reserved.size() != servers.size())
		throw std::invalid_argument("reserved must be empty or match servers");
	std::vector<Candidate> pool;
	pool.reserve(servers.size());
	for (std::size_t i = 0; i < servers.size(); ++i) {
		const Server &s = servers[i];
		if (checkEligible(s, policy) != Ineligible::None)
			continue;
		const std::uint32_t r = reserved.empty() ? 0 : reserved[i];
		const bool room = s.assumedRunning() + r < static_cast<double>(s.slots);
		pool.push_back({ i, s.capacity(), s.expectedWait(r), room });
	}
	return pool;
}

std::size_t Picker::draw(std::span<const Candidate> pool, std::optional<std::size_t> skip)
{
	double total = 0.0;
	for (std::size_t i = 0; i < pool.size(); ++i)
		if (i != skip)
			total += pool[i].weight;

	double target = uniform() * total;
	std::size_t last = pool.size();
	for (std::size_t i = 0; i < pool.size(); ++i) {
		if (i == skip)
			continue;
		last = i;
		if (target < pool[i].weight)
			return i;
		target -= pool[i].weight;
	}
	// Rounding can leave a sliver past the end; it belongs to the last one.
	return last;
}

std::size_t Picker::choose(std::span<const Candidate> pool, bool roomFirst)
{
	if (roomFirst) {
		// Draw within the group with room, if it is a proper subset.
		std::vector<std::size_t> group;
		for (std::size_t i = 0; i < pool.size(); ++i)
			if (pool[i].room)
				group.push_back(i);
		if (!group.empty() && group.size() < pool.size()) {
			std::vector<Candidate> sub;
			sub.reserve(group.size());
			for (std::size_t i : group)
				sub.push_back(pool[i]);
			return group[choose(sub, false)];
		}
	}
	if (pool.size() == 1)
		return 0;
	const std::size_t a = draw(pool, std::nullopt);
	const std::size_t b = draw(pool, a);
	// On a tie the first draw wins, which keeps ties capacity-weighted.
	return pool[b].wait < pool[a].wait ? b : a;
}

std::vector<std::size_t> Picker::order(std::span<const Server> servers,
				       std::span<const std::uint32_t> reserved,
				       const PickPolicy &policy)
{
	std::vector<Candidate> pool = candidates(servers, reserved, policy);
	std::vector<std::size_t> result;
	result.reserve(pool.size());
	while (!pool.empty()) {
		const std::size_t chosen = choose(pool, policy.roomFirst);
		result.push_back(pool[chosen].index);
		pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(chosen));
	}
	return result;
}

std::optional<std::size_t> Picker::pick(std::span<const Server> servers,
					std::span<const std::uint32_t> reserved,
					const PickPolicy &policy)
{
	std::vector<Candidate> pool = candidates(servers, reserved, policy);
	if (pool.empty())
		return std::nullopt;
	return pool[choose(pool, policy.roomFirst)].index;
}

} // namespace dmdns
