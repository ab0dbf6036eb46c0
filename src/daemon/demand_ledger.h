// What this daemon tells gossip its own clients want: the lines it hands out and the builds running here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "daemon/hosts_query.h"
#include "uv/clock.h"

namespace dmdns {

// Answers are pure (answerHosts()); what they leave behind for the farm is
// kept here. Demand follows real builds, not queries: a line handed out
// (a query that reserves) stands for its build for at most kQueryHold,
// long enough for the build to start; from then on the demand is the
// distcc clients running here, counted every kCensusInterval. A look that
// no build follows thus leaves nothing for others after kQueryHold (the
// reservations' own TTL in gossip is as short), instead of cutting every
// other client's limits for half a minute.
//
// Gossip hears one client per machine; the users of this machine share
// its part (withLocalUsers()).
//
// The census runs while there is a reason: for kWatch after a line was
// handed out, for as long as distcc clients run, and always while the
// daemon keeps files that builds read (watchAlways()). An idle daemon that
// keeps no file reads nothing.
//
// The demand is told again at every census while it is above zero, and
// once more when it falls to zero, so that others stop counting it at once
// rather than when it expires.
class DemandLedger final
{
public:
	using Reservations = std::vector<std::pair<std::uint64_t, std::uint32_t>>;
	// Tells gossip: jobs reserved per server id, the remote jobs wanted,
	// this machine's slots (GossipNode::handedOut()).
	using Sink = std::function<void(const Reservations &reservations, std::uint32_t want, std::uint32_t localSlots)>;
	// The distcc clients running here, per uid (host::distccClientsByUid()).
	using Census = std::function<std::map<std::uint32_t, std::uint32_t>()>;
	// This machine's slots now.
	using Slots = std::function<std::uint32_t()>;

	static constexpr std::chrono::milliseconds kQueryHold{ 2000 };
	static constexpr std::chrono::milliseconds kCensusInterval{ 1000 };
	static constexpr std::chrono::milliseconds kWatch{ 30000 };

	// Borrows @clock for its lifetime.
	DemandLedger(uv::Clock &clock, Sink sink, Census count, Slots slots);

	DemandLedger(const DemandLedger &) = delete;
	DemandLedger &operator=(const DemandLedger &) = delete;

	// A query was answered; a look (not @answer.reserve) leaves nothing.
	void answered(const HostsAnswer &answer);
	// Files that builds read are kept: count the clients from now on.
	void watchAlways();

	// The distcc clients the last census found: all, or @uid's.
	std::uint32_t clients() const noexcept { return total_; }
	std::uint32_t clients(std::uint32_t uid) const;
	const std::map<std::uint32_t, std::uint32_t> &clientsByUid() const noexcept { return byUid_; }
	// The demand told last.
	std::uint32_t demand() const noexcept { return told_; }

private:
	void expired();
	void census();
	void schedule();

	uv::Clock &clock_;
	Sink sink_;
	Census census_;
	Slots slots_;
	std::map<std::uint32_t, std::uint32_t> byUid_;
	std::uint32_t total_ = 0;
	std::uint32_t told_ = 0;
	std::uint32_t queryWant_ = 0;
	bool held_ = false; // a line's hold: until the alarm after it expires
	std::optional<std::chrono::steady_clock::time_point> queryAt_;
	bool always_ = false;
	bool running_ = false;
	std::unique_ptr<uv::Alarm> timer_;
};

// @farm as one local user (@uid) sees it: every other user building here
// (@clientsByUid, from the census) is one more client with their distcc
// clients as demand, so that the users of one machine share its part of an
// overloaded farm as clients of different machines do.
FarmState withLocalUsers(FarmState farm, const std::map<std::uint32_t, std::uint32_t> &clientsByUid,
			 std::uint32_t uid);

} // namespace dmdns
