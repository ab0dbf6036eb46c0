// Capacity-weighted power-of-two-choices over the servers a resolver knows.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "distcc-mdns/server.h"

namespace dmdns {

// What makes a server usable for one client.
struct PickPolicy {
	// Samples older than this are not trusted; a server whose load is
	// unknown (a stock distccd, with no sample at all) is not stale.
	std::chrono::milliseconds maxSampleAge{ 3000 };
	// Servers slower than this (in the Server::speed unit) are left out.
	double minSpeed = 0.0;
	// When set, only servers that run this compiler (same target machine and
	// version), and those whose compilers are unknown.
	std::optional<Compiler> compiler;
	// MatchMode::Exact also leaves out a server whose identity for that
	// compiler differs from the compiler's; one without an identity stays
	// (matched by version, unverified).
	MatchMode match = MatchMode::Version;
	// Servers with room (assumed running plus reserved below their slots)
	// come before full ones, each group ordered by power-of-two-choices: a
	// job never queues behind others while a server that knows of no queue
	// is left. Off, all eligible servers compete in one group.
	bool roomFirst = true;
};

// Why a server cannot be picked.
enum class Ineligible : std::uint8_t {
	None,
	NotUp,
	NoCapacity,
	Stale,
	Compiler,
	Slow,
	Dead,
	Left,
	Identity, // MatchMode::Exact: another build of the same compiler version
};

std::string_view describe(Ineligible reason) noexcept;
Ineligible checkEligible(const Server &server, const PickPolicy &policy) noexcept;

// Orders servers by repeated power-of-two-choices draws. Each draw samples
// two distinct candidates with probability proportional to capacity
// (slots x speed) and keeps the one with the lower expected wait. Unlike
// picking the global minimum, many clients sharing one view spread over the
// servers instead of herding onto the same one.
class Picker final
{
public:
	explicit Picker(std::uint64_t seed);

	// Eligible servers, best first, as indexes into @servers. @reserved,
	// when not empty, holds per server the jobs other clients reserved
	// there; it must then be as long as @servers.
	std::vector<std::size_t> order(std::span<const Server> servers,
				       std::span<const std::uint32_t> reserved,
				       const PickPolicy &policy);

	// The first server order() would return, drawn the same way.
	std::optional<std::size_t> pick(std::span<const Server> servers,
					std::span<const std::uint32_t> reserved,
					const PickPolicy &policy);

	// A uniform draw in [0, 1) from the same generator, for the other
	// choices a client makes at random (see planHostsLine()).
	double uniform();

private:
	struct Candidate {
		std::size_t index;
		double weight;
		double wait;
		bool room; // assumed running plus reserved below the slots
	};

	// Draws one of @pool in proportion to weight, skipping @skip.
	std::size_t draw(std::span<const Candidate> pool, std::optional<std::size_t> skip);
	// One power-of-two-choices draw among the candidates with room (all of
	// them when none has, or when @roomFirst is off); returns a position
	// in @pool.
	std::size_t choose(std::span<const Candidate> pool, bool roomFirst);
	std::vector<Candidate> candidates(std::span<const Server> servers,
					  std::span<const std::uint32_t> reserved,
					  const PickPolicy &policy) const;

	std::mt19937_64 rng_;
};

} // namespace dmdns
