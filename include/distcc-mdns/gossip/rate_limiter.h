// Per-source token buckets: how many datagrams one address may make this node handle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "distcc-mdns/directory.h"

namespace dmdns::gossip {

// One bucket per source address, refilled at @rate per second up to
// @burst; the table holds at most @maxSources buckets and drops the one
// used least recently to make room, so a flood of addresses costs the
// flooder its own buckets, never memory.
class RateLimiter final
{
public:
	RateLimiter(double rate, double burst, std::size_t maxSources);

	// Whether one more datagram from @source may be handled now; spends a
	// token if so.
	bool admit(const std::string &source, SteadyTime now);
	// Drops buckets idle long enough to be full again: they say nothing.
	void expire(SteadyTime now);

	std::size_t size() const noexcept { return buckets_.size(); }
	std::uint64_t evicted() const noexcept { return evicted_; }

private:
	struct Bucket {
		double tokens = 0.0;
		SteadyTime last{};
	};

	double rate_;
	double burst_;
	std::size_t maxSources_;
	std::map<std::string, Bucket> buckets_;
	std::uint64_t evicted_ = 0;
};

} // namespace dmdns::gossip
