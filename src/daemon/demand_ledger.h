// What this daemon tells gossip its own clients want: the lines it hands out and the builds running here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
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
//
// A build run under distcc-mdns-run holds a query connection open for as
// long as it runs and says its want on it (a "build" request): that want
// is its demand from the first request, before any distcc client runs,
// until the connection closes, when it is withdrawn at once. Per uid the
// demand is the larger of its builds' wants added up and its distcc
// clients; the machine's is every uid's added up, or a line's hold when
// that is more (the hold's want already counts the other users). The
// builds are keyed by connection, so the query socket's connection limits
// bound them.
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
	// A build of @uid on query connection @connection wants @want remote
	// jobs (clamped to the farm, as a query's), replacing what it wanted
	// before, and reserved @reservations: told at once, and the census
	// runs while it stands.
	void building(std::uint64_t connection, std::uint32_t uid, std::uint32_t want,
		      const Reservations &reservations, std::uint32_t localSlots, std::uint32_t handed = 0);
	// @connection closed: its build's demand, if it carried one, is
	// withdrawn and the lower demand told at once.
	void ended(std::uint64_t connection);

	// The distcc clients the last census found: all, or @uid's.
	std::uint32_t clients() const noexcept { return total_; }
	std::uint32_t clients(std::uint32_t uid) const;
	const std::map<std::uint32_t, std::uint32_t> &clientsByUid() const noexcept { return byUid_; }
	// The demand told last.
	std::uint32_t demand() const noexcept { return told_; }
	// The builds standing now.
	std::size_t builds() const noexcept { return builds_.size(); }
	// The wants of @uid's builds, the one on @except left out.
	std::vector<std::uint32_t> buildWants(std::uint32_t uid, std::uint64_t except = 0) const;
	// One of a user's builds: its connection, what it asks for and the
	// remote slots its last line listed.
	struct UserBuild {
		std::uint64_t connection = 0;
		std::uint32_t want = 0;
		std::uint32_t handed = 0;
	};
	// @uid's builds in connection order.
	std::vector<UserBuild> buildsOf(std::uint32_t uid) const;
	// @uid's builds' wants added up.
	std::uint32_t buildWant(std::uint32_t uid) const;
	// The uids with a build standing.
	std::set<std::uint32_t> buildUids() const;
	// Per uid with a build or distcc clients: the larger of its builds'
	// wants added up and its clients from the last census.
	std::map<std::uint32_t, std::uint32_t> demandByUid() const;

private:
	struct Build {
		std::uint32_t uid = 0;
		std::uint32_t want = 0;
		std::uint32_t handed = 0; // remote slots of its last line
	};

	void expired();
	void census();
	void schedule();
	// What gossip should hear now.
	std::uint32_t current() const;

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
	std::map<std::uint64_t, Build> builds_; // by query connection
	std::unique_ptr<uv::Alarm> timer_;
};

// @farm as one local user (@uid) sees it: every other user building here
// (@demandByUid: DemandLedger::demandByUid(), their builds and distcc
// clients) is one more client with that demand, so that the users of one
// machine share its part of an overloaded farm as clients of different
// machines do.
FarmState withLocalUsers(FarmState farm, const std::map<std::uint32_t, std::uint32_t> &demandByUid,
			 std::uint32_t uid);

} // namespace dmdns
