// Unit tests of the local users' split of this machine's share and of who may change the state.
#include <doctest/doctest.h>

#include <chrono>
#include <numeric>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "daemon/admins.h"
#include "daemon/hosts_query.h"
#include "daemon/local_users.h"
#include "support/entries.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

const LocalMachine kLocal{ 2, 1.0 };
const SteadyTime kT0{ std::chrono::hours(1) };

// The remote slots a query of @uid gets while the users in @users are
// building, as Daemon::answer() asks: the others' demands count as
// other clients'.
std::uint32_t remoteSlots(const LocalUsers &users, uid_t uid, const std::vector<DirectoryEntry> &farm,
			  SteadyTime now)
{
	FarmState state;
	state.demands = users.othersDemands(uid, now);
	HostsRequest request;
	const View view = answerHosts(request, farm, state, kLocal, "test", 7).view;
	std::uint32_t slots = 0;
	for (const ServerView &s : view.servers)
		slots += s.limit;
	return slots;
}

} // namespace

TEST_SUITE("local users")
{
	TEST_CASE("one user alone gets every remote slot; two users building each get about half")
	{
		const std::vector<DirectoryEntry> farm = { test::entry("a", "10.0.0.1", 8),
							   test::entry("b", "10.0.0.2", 8),
							   test::entry("c", "10.0.0.3", 4) };
		LocalUsers users;
		CHECK(remoteSlots(users, 1000, farm, kT0) == 20);
		users.asked(1000, LocalUsers::kAll, true, kT0);
		// Alone: its own earlier query is not someone else's demand.
		CHECK(remoteSlots(users, 1000, farm, kT0 + 1s) == 20);
		users.asked(1001, LocalUsers::kAll, true, kT0 + 1s);
		const std::uint32_t first = remoteSlots(users, 1000, farm, kT0 + 2s);
		const std::uint32_t second = remoteSlots(users, 1001, farm, kT0 + 2s);
		// Each part of a server's share is rounded at random: about half.
		CHECK(first >= 9);
		CHECK(first <= 11);
		CHECK(second >= 9);
		CHECK(second <= 11);
		// A user that asks for 5 leaves the rest to the other.
		users.asked(1001, 5, true, kT0 + 3s);
		CHECK(remoteSlots(users, 1000, farm, kT0 + 3s) >= 14);
	}

	TEST_CASE("a look counts for lookHold, a handed-out line for buildHold")
	{
		LocalUsers users(LocalUsers::Config{ 5s, 30s, LocalUsers::kMaxUsers });
		users.asked(1000, 10, false, kT0);
		users.asked(1001, 10, true, kT0);
		CHECK(users.building(kT0 + 4s) == std::vector<uid_t>{ 1000, 1001 });
		CHECK(users.building(kT0 + 6s) == std::vector<uid_t>{ 1001 });
		CHECK(users.othersDemands(1001, kT0 + 6s).empty());
		CHECK(users.othersDemands(1000, kT0 + 6s) == std::vector<std::uint32_t>{ 10 });
		// A look does not cut short what a handed-out line holds.
		users.asked(1001, 10, false, kT0 + 7s);
		CHECK(users.building(kT0 + 20s) == std::vector<uid_t>{ 1001 });
		CHECK(users.building(kT0 + 31s).empty());
		// Stopped building: it counts only as a look from now.
		users.asked(1002, 3, true, kT0 + 31s);
		users.idle(1002, kT0 + 32s);
		CHECK(users.building(kT0 + 38s).empty());
	}

	TEST_CASE("by default a line no build follows holds its user a few seconds only")
	{
		// From then on the daemon counts the user's distcc clients running
		// (DemandLedger's census): demand follows builds, not queries.
		LocalUsers users;
		users.asked(1001, 10, true, kT0);
		CHECK(users.building(kT0 + 4s) == std::vector<uid_t>{ 1001 });
		CHECK(users.building(kT0 + 6s).empty());
	}

	TEST_CASE("a uid's builds count with their wants for as long as they run, and not a moment longer")
	{
		const std::vector<DirectoryEntry> farm = { test::entry("a", "10.0.0.1", 8),
							   test::entry("b", "10.0.0.2", 8) };
		LocalUsers users;
		users.builds(1001, 16, kT0);
		// Long past every hold: the build still runs and still counts.
		const SteadyTime later = kT0 + 10min;
		CHECK(users.building(later) == std::vector<uid_t>{ 1001 });
		CHECK(users.othersDemands(1000, later) == std::vector<std::uint32_t>{ 16 });
		CHECK(users.totalDemand(later) == 16);
		REQUIRE(users.others(1000, later).size() == 1);
		CHECK(users.others(1000, later)[0].build);
		CHECK(users.others(1000, later)[0].demand == 16);
		CHECK(remoteSlots(users, 1000, farm, later) >= 7);
		CHECK(remoteSlots(users, 1000, farm, later) <= 9);
		// A look beside the build: the larger counts.
		users.asked(1001, 4, false, later);
		CHECK(users.othersDemands(1000, later) == std::vector<std::uint32_t>{ 16 });
		// The build ends: only the look's own hold is left, with its want.
		users.builds(1001, 0, later + 1s);
		CHECK(users.othersDemands(1000, later + 1s) == std::vector<std::uint32_t>{ 4 });
		CHECK_FALSE(users.others(1000, later + 1s)[0].build);
		// A build that ends leaves nothing behind it.
		users.builds(1002, 6, later);
		users.builds(1002, 0, later);
		CHECK(users.othersDemands(1000, later + 10s).empty());
		CHECK(remoteSlots(users, 1000, farm, later + 10s) == 16);
		// The end of a build of a uid never seen adds no entry.
		const std::size_t size = users.size();
		users.builds(1003, 0, later);
		CHECK(users.size() == size);
	}

	TEST_CASE("shareFor splits slots equally among the building uids, the remainder to the lowest")
	{
		LocalUsers users;
		CHECK(users.shareFor(1000, 10, kT0) == 10);
		users.asked(1000, 4, true, kT0);
		users.asked(1001, 4, true, kT0);
		users.asked(1002, 4, true, kT0);
		CHECK(users.shareFor(1000, 10, kT0) == 4);
		CHECK(users.shareFor(1001, 10, kT0) == 3);
		CHECK(users.shareFor(1002, 10, kT0) == 3);
		// One that has not asked yet is counted among them.
		CHECK(users.shareFor(999, 10, kT0) == 3);
		CHECK(users.shareFor(1002, 10, kT0 + 31s) == 10);
		CHECK(users.totalDemand(kT0) == 12);
		users.asked(1003, LocalUsers::kAll, true, kT0);
		CHECK(users.totalDemand(kT0) == LocalUsers::kAll);
	}

	TEST_CASE("the machine's reservations are every user's standing ones added up per server")
	{
		LocalUsers users;
		users.reserved(1000, { { 0xa, 2 }, { 0xb, 2 } }, kT0 + 3s, kT0);
		users.reserved(1001, { { 0xa, 3 } }, kT0 + 4s, kT0 + 1s);
		CHECK(users.reservations(kT0 + 2s) == LocalUsers::Reservations{ { 0xa, 5 }, { 0xb, 2 } });
		// A user's new line replaces its own, not the other's.
		users.reserved(1000, { { 0xb, 1 } }, kT0 + 5s, kT0 + 2s);
		CHECK(users.reservations(kT0 + 2s) == LocalUsers::Reservations{ { 0xa, 3 }, { 0xb, 1 } });
		CHECK(users.reservations(kT0 + 4s) == LocalUsers::Reservations{ { 0xb, 1 } });
		CHECK(users.reservations(kT0 + 5s).empty());
	}

	TEST_CASE("the table is bounded: past its size the user heard from least recently goes")
	{
		LocalUsers users(LocalUsers::Config{ 5s, 30s, 4 });
		for (uid_t uid = 0; uid < 10; ++uid)
			users.asked(1000 + uid, 1, true, kT0 + std::chrono::seconds(uid));
		CHECK(users.size() == 4);
		CHECK(users.building(kT0 + 10s) == std::vector<uid_t>{ 1006, 1007, 1008, 1009 });
		// Asking again keeps a user; the oldest other one goes.
		users.asked(1006, 1, true, kT0 + 11s);
		users.asked(2000, 1, true, kT0 + 12s);
		CHECK(users.building(kT0 + 12s) == std::vector<uid_t>{ 1006, 1008, 1009, 2000 });
	}
}

TEST_SUITE("admins")
{
	TEST_CASE("root and the daemon's user may always; others only in the admin group")
	{
		const Admins none(4242);
		CHECK(none.allows(0));
		CHECK(none.allows(4242));
		CHECK_FALSE(none.allows(65534));
		CHECK(none.who() == "root or the daemon's user");
		CHECK(Admins::forDaemon(std::string(), 4242).adminGid() == std::nullopt);
		CHECK_THROWS_WITH_AS(Admins::forDaemon(std::string("no-such-group-dmdns"), 4242),
				     "--admin-group: no group named 'no-such-group-dmdns'", std::invalid_argument);
	}

	TEST_CASE("a member of the admin group is allowed, by primary group or by the group's list")
	{
		// Debian's base users: "daemon" (uid 1) has primary group daemon;
		// nobody (65534) is in neither group.
		const passwd *daemonUser = ::getpwnam("daemon");
		const group *daemonGroup = ::getgrnam("daemon");
		if (!daemonUser || !daemonGroup) {
			MESSAGE("no user and group daemon here: skipped");
			return;
		}
		const uid_t member = daemonUser->pw_uid;
		const Admins admins = Admins::forDaemon(std::string("daemon"), 4242);
		REQUIRE(admins.adminGid() == daemonGroup->gr_gid);
		CHECK(admins.allows(member));
		CHECK_FALSE(admins.allows(65534));
		CHECK(admins.who() == "root, the daemon's user or members of group daemon");
		// A listed member whose primary group is another: the first
		// group with members in /etc/group, if any.
		for (setgrent(); const group *g = ::getgrent();) {
			if (!g->gr_mem || !g->gr_mem[0])
				continue;
			const passwd *user = ::getpwnam(g->gr_mem[0]);
			if (!user || user->pw_gid == g->gr_gid || user->pw_uid == 0)
				continue;
			const Admins listed = Admins::forDaemon(std::string(g->gr_name), 4242);
			CHECK(listed.allows(user->pw_uid));
			break;
		}
		endgrent();
	}
}
