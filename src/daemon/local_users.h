// This machine's local users as the system daemon sees them: who is building now, and each one's portion of the machine's share.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "distcc-mdns/directory.h"

namespace dmdns {

// To other machines one address is one client; locally the daemon serves
// every user of the machine, and each user's distcc has its own lock
// directory, so two users given the same limits would double-book every
// slot. A uid counts as building while it asked within lookHold, or for
// buildHold after it was handed a line; from then on its distcc clients
// running (DemandLedger's census, added by the daemon) are its demand, so
// a line no build follows holds nothing for long. A uid with builds
// running under distcc-mdns-run (builds()) counts with their wants for as
// long as they run, and no longer: their end is told, not timed. The
// table is bounded: past maxUsers the uid heard from least recently is
// dropped.
class LocalUsers final
{
public:
	static constexpr std::size_t kMaxUsers = 256;
	// A demand that was not given: as many remote jobs as the farm has.
	static constexpr std::uint32_t kAll = UINT32_MAX;

	struct Config {
		// A look (--status, -j, --json) says a user is here now, not that
		// a build follows: it counts for a few seconds only.
		std::chrono::milliseconds lookHold{ 5000 };
		// A line handed out counts until its build's distcc clients can
		// be counted (the ledger holds a line's demand kQueryHold).
		std::chrono::milliseconds buildHold{ 5000 };
		std::size_t maxUsers = kMaxUsers;
	};

	LocalUsers()
		: LocalUsers(Config{}) { }
	explicit LocalUsers(Config config)
		: config_(config) { }

	// @uid asked for @demand remote jobs (kAll: as many as there are);
	// @building: the line is handed out to distcc (a reserving query, or a
	// hosts file with builds running), not only looked at. Replaces what
	// @uid asked before.
	void asked(uid_t uid, std::uint32_t demand, bool building, SteadyTime now);
	// @uid stopped building (its hosts file saw no distcc client): it still
	// counts for lookHold, like a look.
	void idle(uid_t uid, SteadyTime now);
	// @uid's builds (DemandLedger::buildWant()) want @want remote jobs
	// together now; 0: none runs any more. Not a hold: it counts until
	// told otherwise.
	void builds(uid_t uid, std::uint32_t want, SteadyTime now);

	// The uids building now, in ascending order.
	std::vector<uid_t> building(SteadyTime now) const;
	// The demands of the uids other than @uid building now, for the planner
	// (PlanOptions::othersDemands): with them the machine's share of an
	// overloaded farm is split among its users in proportion to what each
	// asks, and a user alone keeps all of it.
	std::vector<std::uint32_t> othersDemands(uid_t uid, SteadyTime now) const;
	// Every building uid's demand added up, saturating at kAll: what this
	// machine as one client asks of the farm.
	std::uint32_t totalDemand(SteadyTime now) const;
	// The uids other than @uid building now: each one's demand (the larger
	// of what it asked, while that counts, and its builds' wants), and
	// whether a build of it runs.
	struct Other {
		uid_t uid;
		std::uint32_t demand;
		bool build;
	};
	std::vector<Other> others(uid_t uid, SteadyTime now) const;
	// @uid's portion of @slots (this machine's share of the remote slots):
	// an equal part for each uid building now, @uid counted among them even
	// when it has not asked yet; the remainder goes one each to the lowest
	// uids, so the portions add up to @slots.
	std::uint32_t shareFor(uid_t uid, std::uint32_t slots, SteadyTime now) const;

	// Jobs per server id, as HostsAnswer::reservations.
	using Reservations = std::vector<std::pair<std::uint64_t, std::uint32_t>>;
	// @uid's handed-out line reserves @jobs until @until, replacing what
	// its earlier line reserved.
	void reserved(uid_t uid, Reservations jobs, SteadyTime until, SteadyTime now);
	// Every uid's reservations standing at @now, added up per server: what
	// this machine, one client to the others, has reserved. Gossip keeps
	// one reservation per client and server, so one user's line must not
	// replace another's.
	Reservations reservations(SteadyTime now) const;

	std::size_t size() const noexcept { return users_.size(); }

private:
	struct User {
		uid_t uid;
		std::uint32_t demand;
		SteadyTime seen;  // last asked
		SteadyTime until; // counts as building until then
		Reservations jobs;
		SteadyTime jobsUntil;
		std::uint32_t builds = 0; // its running builds' wants added up
	};

	// Asked recently enough, or holds a reservation.
	static bool holds(const User &user, SteadyTime now) noexcept
	{
		return now < user.until || now < user.jobsUntil;
	}
	// That, or runs a build.
	static bool active(const User &user, SteadyTime now) noexcept { return holds(user, now) || user.builds > 0; }
	static std::uint32_t demandOf(const User &user, SteadyTime now) noexcept
	{
		return std::max(holds(user, now) ? user.demand : 0u, user.builds);
	}
	User &entry(uid_t uid, SteadyTime now);

	Config config_;
	std::vector<User> users_; // at most config_.maxUsers
};

} // namespace dmdns
