// Unit tests of the hosts-line planner.
#include <doctest/doctest.h>

#include "distcc-mdns/plan.h"

#include <map>
#include <numeric>
#include <set>
#include <stdexcept>

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

Server server(const char *address, std::uint32_t slots, std::uint32_t running)
{
	Server s;
	s.id = address;
	s.addresses = { *Address::parse(address) };
	s.cpus = slots;
	s.slots = slots;
	s.lzo = true;
	s.compilers = { { "x86_64-linux-gnu", "12" } };
	s.sample = LoadSample{ .running = running };
	return s;
}

// A server of @cores cpus at @speed under distccd's own default of
// cores + 2 slots, idle.
Server machine(const char *address, std::uint32_t cores, double speed)
{
	Server s = server(address, cores + 2, 0);
	s.cpus = cores;
	s.speed = speed;
	return s;
}

// The limit per server index, 0 for servers not listed.
std::map<std::size_t, std::uint32_t> limits(const Plan &plan)
{
	std::map<std::size_t, std::uint32_t> out;
	for (const PlannedHost &h : plan.remote)
		out[h.server] = h.limit;
	return out;
}

// Why each server is left out, in server order.
std::vector<Exclusion> exclusions(const Plan &plan)
{
	std::vector<Exclusion> out;
	for (const PlanEntry &e : plan.servers)
		out.push_back(e.excluded);
	return out;
}

using X = Exclusion;

} // namespace

TEST_SUITE("plan")
{
	TEST_CASE("with no servers the line is localhost alone")
	{
		Picker picker(1);
		PlanOptions options;
		options.localSlots = 3;
		const Plan plan = planHostsLine({}, {}, options, picker);
		CHECK(writeHostsLine(plan.line) == "localhost/3");
		CHECK(plan.jobs == 3);
	}

	TEST_CASE("eligible servers with an address are listed with their slots, then localhost")
	{
		std::vector<Server> servers = { server("10.0.0.2", 4, 0), server("10.0.0.3", 8, 0),
						server("10.0.0.4", 6, 0), server("fe80::9", 2, 0) };
		servers[2].state = ServerState::Drain;
		Picker picker(7);
		PlanOptions options;
		options.localSlots = 4; // a third of the 12 remote slots: localhost last
		const Plan plan = planHostsLine(servers, {}, options, picker);
		REQUIRE(plan.remote.size() == 2); // drained and unscoped link-local left out
		CHECK(plan.line.hosts.back().kind == HostSpec::Kind::Local);
		CHECK(plan.local == LocalPlace::Last);
		CHECK(plan.jobs == 4 + 8 + 4);
		const std::string line = writeHostsLine(plan.line);
		CHECK(line.find("10.0.0.2/4") != std::string::npos);
		CHECK(line.find("10.0.0.3/8") != std::string::npos);
		CHECK(line.find("10.0.0.4") == std::string::npos);
		CHECK(line.find("lzo") == std::string::npos); // not asked for
		CHECK(parseHostsLine(line).line == plan.line);
		CHECK(exclusions(plan) == std::vector{ X::None, X::None, X::Ineligible, X::NoAddress });
		CHECK(plan.servers[2].ineligible == Ineligible::NotUp);
		CHECK(plan.servers[3].ineligible == Ineligible::None);
	}

	TEST_CASE("a client that is also a server is listed once, as its own record, never also as localhost")
	{
		// h1 (10.99.0.1, 2 cores) asks; it serves too. Before, its line was
		// "10.99.0.1/4 10.99.0.2/3 10.99.0.3/2 localhost/2": 6 jobs on 2 cores.
		std::vector<Server> servers = { server("10.99.0.1", 4, 0), server("10.99.0.2", 3, 0),
						server("10.99.0.3", 2, 0) };
		servers[0].cpus = 2;
		for (std::uint64_t seed = 1; seed <= 20; ++seed) {
			Picker picker(seed);
			PlanOptions options;
			options.localSlots = 4; // enough to be listed (a fifth)
			options.self = 0;
			const Plan plan = planHostsLine(servers, {}, options, picker);
			const std::string line = writeHostsLine(plan.line);
			CAPTURE(line);
			CHECK(line.find("localhost") == std::string::npos);
			CHECK(line.find("10.99.0.1/") != std::string::npos);
			CHECK(plan.local == LocalPlace::Absent);
			std::uint32_t here = 0;
			for (const HostSpec &h : plan.line.hosts)
				if (h.kind == HostSpec::Kind::Local || h.host == "10.99.0.1")
					here += h.limit.value_or(0);
			CHECK(here <= 4); // distccd's slots on h1, and nothing more: not 4 + 4
			CHECK(plan.jobs == 4 + 3 + 2);
		}
		// Its record busy with others' jobs: still not listed twice.
		servers[0].sample = LoadSample{ .running = 3 };
		Picker picker(3);
		PlanOptions options;
		options.localSlots = 4; // enough to be listed (a fifth)
		options.self = 0;
		const std::string line = writeHostsLine(planHostsLine(servers, {}, options, picker).line);
		CHECK(line.find("localhost") == std::string::npos);
		CHECK(line.find("10.99.0.1/1") != std::string::npos);
		// Not usable as a server (drained): localhost takes its cores.
		servers[0].state = ServerState::Drain;
		const Plan drained = planHostsLine(servers, {}, options, picker);
		CHECK(writeHostsLine(drained.line).find("10.99.0.1") == std::string::npos);
		CHECK(drained.line.hosts.back().kind == HostSpec::Kind::Local);
		// Without PlanOptions::self nothing is known of whose record it is.
		servers[0].state = ServerState::Up;
		options.self.reset();
		const std::string unknown = writeHostsLine(planHostsLine(servers, {}, options, picker).line);
		CHECK(unknown.find("localhost") != std::string::npos);
	}

	TEST_CASE("compilers match by version unless exact: then another build is left out, a stock one unverified")
	{
		const Compiler here{ "x86_64-linux-gnu", "12", "a1b2c3d4" };
		std::vector<Server> servers = { server("10.0.0.1", 4, 0), server("10.0.0.2", 4, 0),
						server("10.0.0.3", 4, 0), server("10.0.0.4", 4, 0) };
		servers[0].compilers[0].identity = "a1b2c3d4"; // the same build
		servers[1].compilers[0].identity = "e5f6a7b8"; // another build of 12
		// servers[2] advertises no identity: stock or older.
		servers[3].compilers = { { "x86_64-linux-gnu", "13", "a1b2c3d4" } };
		CHECK(servers[0].identityMatch(here) == IdentityMatch::Same);
		CHECK(servers[1].identityMatch(here) == IdentityMatch::Differs);
		CHECK(servers[2].identityMatch(here) == IdentityMatch::Unverified);
		CHECK(servers[3].identityMatch(here) == IdentityMatch::Unchecked);
		// A client that could not read its own compiler verifies nothing.
		CHECK(servers[1].identityMatch({ "x86_64-linux-gnu", "12" }) == IdentityMatch::Unverified);

		PlanOptions options;
		options.policy.compiler = here;
		options.localSlots = 1;
		Picker picker(1);
		Plan plan = planHostsLine(servers, {}, options, picker);
		CHECK(exclusions(plan) == std::vector<X>{ X::None, X::None, X::None, X::Ineligible });
		CHECK(plan.servers[3].ineligible == Ineligible::Compiler);

		options.match = MatchMode::Exact;
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(exclusions(plan) == std::vector<X>{ X::None, X::Ineligible, X::None, X::Ineligible });
		CHECK(plan.servers[1].ineligible == Ineligible::Identity);
		CHECK(plan.servers[3].ineligible == Ineligible::Compiler);
		CHECK(limits(plan) == std::map<std::size_t, std::uint32_t>{ { 0, 4 }, { 2, 4 } });

		// Exact without an identity here: every build of 12 stays.
		options.policy.compiler = Compiler{ "x86_64-linux-gnu", "12" };
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(exclusions(plan) == std::vector<X>{ X::None, X::None, X::None, X::Ineligible });
	}

	TEST_CASE("options are added only where the server offers them")
	{
		std::vector<Server> servers = { server("10.0.0.2", 4, 0), server("10.0.0.3", 4, 0) };
		servers[1].lzo = false;
		servers[0].cpp = true;
		Picker picker(3);
		PlanOptions options;
		options.lzo = true;
		options.cpp = true;
		const std::string line = writeHostsLine(planHostsLine(servers, {}, options, picker).line);
		CHECK(line.find("10.0.0.2/4,lzo,cpp") != std::string::npos);
		CHECK(line.find("10.0.0.3/4 ") != std::string::npos);
	}

	TEST_CASE("a server on another port keeps its port")
	{
		std::vector<Server> servers = { server("10.0.0.2", 4, 0) };
		servers[0].port = 3700;
		Picker picker(3);
		CHECK(writeHostsLine(planHostsLine(servers, {}, {}, picker).line) ==
		      "10.0.0.2:3700/4 localhost/2");
	}

	TEST_CASE("one distccd advertised twice is listed once, from the record with a load sample")
	{
		std::vector<Server> servers = { server("10.0.0.2", 4, 0), server("10.0.0.2", 64, 0),
						server("10.0.0.3", 2, 0) };
		servers[1].id = "aaa-stock";
		servers[1].sample.reset(); // a stock --zeroconf advertisement of the same host
		servers[2].port = 0;	   // no usable port at all
		for (std::uint64_t seed = 0; seed < 20; ++seed) {
			Picker picker(seed);
			const Plan plan = planHostsLine(servers, {}, {}, picker);
			CHECK(writeHostsLine(plan.line) == "10.0.0.2/4 localhost/2");
			CHECK(exclusions(plan) == std::vector{ X::None, X::Duplicate, X::NoAddress });
			CHECK(plan.servers[1].duplicateOf == 0);
		}
	}

	TEST_CASE("jobs fill hosts breadth-first, as distcc takes slots")
	{
		const std::vector<std::uint32_t> limits = { 2, 4, 1 };
		CHECK(fillBreadthFirst(limits, 0) == std::vector<std::uint32_t>{ 0, 0, 0 });
		CHECK(fillBreadthFirst(limits, 2) == std::vector<std::uint32_t>{ 1, 1, 0 });
		CHECK(fillBreadthFirst(limits, 3) == std::vector<std::uint32_t>{ 1, 1, 1 });
		CHECK(fillBreadthFirst(limits, 5) == std::vector<std::uint32_t>{ 2, 2, 1 });
		CHECK(fillBreadthFirst(limits, 6) == std::vector<std::uint32_t>{ 2, 3, 1 });
		CHECK(fillBreadthFirst(limits, 100) == std::vector<std::uint32_t>{ 2, 4, 1 });
		CHECK(fillBreadthFirst({}, 5).empty());
	}

	TEST_CASE("each listed host expects the jobs the client's demand puts there")
	{
		std::vector<Server> servers = { server("10.0.0.2", 4, 0), server("10.0.0.3", 2, 0) };
		Picker picker(3);
		PlanOptions options;
		options.localSlots = 2;
		Plan plan = planHostsLine(servers, {}, options, picker);
		REQUIRE(plan.remote.size() == 2);
		// No demand given: the client may use the whole line.
		for (const PlannedHost &h : plan.remote)
			CHECK(h.expected == h.limit);
		options.want = 3;
		plan = planHostsLine(servers, {}, options, picker);
		std::uint32_t sum = 0;
		for (const PlannedHost &h : plan.remote) {
			CHECK(h.expected >= 1);
			sum += h.expected;
		}
		CHECK(sum == 3);
		CHECK(plan.remote.front().expected == 2); // the first host takes the extra job
	}

	TEST_CASE("each limit is what the server has free of others' running and reserved jobs")
	{
		std::vector<Server> servers = { server("10.0.0.2", 8, 3), server("10.0.0.3", 4, 4),
						server("10.0.0.4", 4, 0), server("10.0.0.5", 6, 0) };
		servers[3].sample.reset(); // a stock distccd: load unknown, counted free
		const std::vector<std::uint32_t> reserved = { 1, 0, 4, 2 };
		Picker picker(5);
		const Plan plan = planHostsLine(servers, reserved, PlanOptions{}, picker);
		const std::map<std::size_t, std::uint32_t> limit = limits(plan);
		CHECK(limit.at(0) == 8 - 3 - 1);
		CHECK_FALSE(limit.contains(1)); // 4 running on 4 slots
		CHECK_FALSE(limit.contains(2)); // 4 reserved on 4 slots
		CHECK(limit.at(3) == 6 - 2);
		CHECK(exclusions(plan) == std::vector{ X::None, X::Full, X::Full, X::None });
		CHECK(plan.share == 0);
		// localhost's 2 slots are under a fifth of the 14 on the servers
		// listed, however few of them are free.
		CHECK(plan.local == LocalPlace::Absent);
		CHECK(plan.jobs == 4 + 4);

		// This client's own running jobs are not others' load.
		PlanOptions mine;
		mine.own = { 3, 2, 0, 0 };
		Picker again(5);
		const Plan own = planHostsLine(servers, reserved, mine, again);
		for (const PlannedHost &h : own.remote) {
			if (h.server == 0)
				CHECK(h.limit == 8 - 1);
			if (h.server == 1)
				CHECK(h.limit == 4 - 2);
		}
		mine.own = { 1 };
		CHECK_THROWS_AS(planHostsLine(servers, reserved, mine, again), std::invalid_argument);
	}

	TEST_CASE("demands known one by one count at most the slots the farm can use, however large")
	{
		// Two 2-core servers with distccd's 4 slots each: at the minimum
		// speed of 0.5 each can use 4, 8 in all. Another client claims a
		// million jobs, a third asks for the whole farm.
		std::vector<Server> servers = { machine("10.0.0.2", 2, 1.0), machine("10.0.0.3", 2, 1.0) };
		PlanOptions options;
		options.want = 8;
		options.othersDemands = { 1'000'000, 8 };
		Picker picker(3);
		const Plan plan = planHostsLine(servers, {}, options, picker);
		// 8 x 8 / (8 + 8 + 8): a third, rounded down; the liar is one client.
		CHECK(plan.share == 2);
		// Summed, the million would have left this client one job.
		PlanOptions summed = options;
		summed.othersDemands.clear();
		summed.othersWanted = 1'000'008;
		CHECK(planHostsLine(servers, {}, summed, picker).share == 1);
		// And a want above the usable slots weighs no more than them.
		PlanOptions greedy = options;
		greedy.want = 1000;
		greedy.othersDemands = { 8, 8 };
		CHECK(planHostsLine(servers, {}, greedy, picker).share == 2);
	}

	TEST_CASE("an overloaded farm gives each client its fair share, in proportion to the slots")
	{
		// 24 slots, all busy with another client's jobs; it asks for 40.
		std::vector<Server> servers = { server("10.0.0.2", 16, 16), server("10.0.0.3", 8, 8) };
		PlanOptions options;
		options.want = 20;
		options.othersWanted = 40;
		Picker picker(9);
		const Plan plan = planHostsLine(servers, {}, options, picker);
		// share = 24 x 20 / 60 = 8, split 16:8 over the servers: 5.33 and
		// 2.67, each rounded down or up.
		CHECK(plan.share == 8);
		std::uint32_t sum = 0;
		for (const PlannedHost &h : plan.remote) {
			sum += h.limit;
			if (h.server == 0)
				CHECK((h.limit == 5 || h.limit == 6));
			else
				CHECK((h.limit == 2 || h.limit == 3));
		}
		CHECK(sum == 8);
		// The 2 local slots are a fifth of the 8 shared ones plus their own:
		// last, and overloaded they stay even when far smaller.
		CHECK(plan.local == LocalPlace::Last);
		CHECK(plan.jobs == 8 + 2);
		PlanOptions tiny = options;
		tiny.localSlots = 1;
		tiny.localSpeed = 0.5;
		tiny.minSpeed = 0.0;
		Picker p0(9);
		const Plan small = planHostsLine(servers, {}, tiny, p0);
		REQUIRE(small.share == 8);
		CHECK(small.local == LocalPlace::Last);
		CHECK(writeHostsLine(small.line).ends_with(" localhost/1"));

		// Two clients with equal demand get equal shares, whoever asks first.
		options.want = 30;
		options.othersWanted = 30;
		Picker p2(1);
		const Plan half = planHostsLine(servers, {}, options, p2);
		CHECK(half.share == 12);

		// Without others' demand the same farm offers only what is free:
		// nothing, so the line is localhost alone and the build goes on.
		options.othersWanted = 0;
		options.want = 10;
		options.localSlots = 4;
		Picker p3(1);
		const Plan none = planHostsLine(servers, {}, options, p3);
		CHECK(none.remote.empty());
		CHECK(writeHostsLine(none.line) == "localhost/4");
		CHECK(none.jobs == 4);
		CHECK(exclusions(none) == std::vector{ X::Full, X::Full });

		// A tiny demand among huge ones still gets a job.
		options.want = 1;
		options.othersWanted = 1000;
		Picker p4(1);
		CHECK(planHostsLine(servers, {}, options, p4).share == 1);
		// The other server's part of that one job is 0: left out as
		// overloaded, not as full. (One local slot: the job's server,
		// busy as it is, still beats waiting for it here.)
		options.localSlots = 1;
		Picker p5(1);
		const Plan one = planHostsLine(servers, {}, options, p5);
		REQUIRE(one.remote.size() == 1);
		CHECK(one.servers[one.remote.front().server].excluded == X::None);
		CHECK(one.servers[1 - one.remote.front().server].excluded == X::Overloaded);
	}

	TEST_CASE("localhost goes first, last or nowhere by the capacity it adds")
	{
		CHECK(placeLocal(4.0, 0.0) == LocalPlace::First); // no farm: alone
		CHECK(placeLocal(8.0, 8.0) == LocalPlace::First);
		CHECK(placeLocal(4.0, 12.0) == LocalPlace::Last);
		CHECK(placeLocal(2.0, 8.0) == LocalPlace::Last); // exactly a fifth
		CHECK(placeLocal(2.0, 9.0) == LocalPlace::Absent);

		std::vector<Server> big = { server("10.0.0.2", 32, 0), server("10.0.0.3", 32, 0) };
		PlanOptions options;
		options.localSlots = 4;
		Picker picker(1);
		Plan plan = planHostsLine(big, {}, options, picker);
		CHECK(plan.local == LocalPlace::Absent);
		CHECK(writeHostsLine(plan.line).find("localhost") == std::string::npos);
		CHECK(plan.jobs == 64);

		// A fast client beside one small server: it compiles first itself.
		std::vector<Server> small = { server("10.0.0.2", 2, 0) };
		small[0].speed = 1.5;
		options.localSpeed = 2.0;
		options.want = 20;
		plan = planHostsLine(small, {}, options, picker);
		CHECK(plan.local == LocalPlace::First);
		CHECK(writeHostsLine(plan.line) == "localhost/4 10.0.0.2/2");
		CHECK(plan.jobs == 6);

		// The last job of a build on a big farm: the line gives one slot,
		// but localhost is weighed against the server's 32, not that one,
		// and the job goes to the faster server.
		options.localSpeed = 1.0;
		options.want = 1;
		plan = planHostsLine(big, {}, options, picker);
		CHECK(plan.remote.size() == 1);
		CHECK(plan.remote.front().limit == 1);
		CHECK(plan.local == LocalPlace::Absent);
	}

	TEST_CASE("slow servers are left out: below the minimum speed, or finishing later than here")
	{
		std::vector<Server> servers = { server("10.0.0.2", 4, 0), server("10.0.0.3", 4, 0),
						server("10.0.0.4", 4, 0) };
		servers[0].speed = 0.4; // under half this machine's speed
		servers[1].speed = 0.6; // slower than here, but above the minimum
		PlanOptions options;
		options.localSlots = 4;
		options.localSpeed = 1.0;
		options.want = 2; // few jobs: the local slots would finish them sooner
		Picker picker(3);
		Plan plan = planHostsLine(servers, {}, options, picker);
		std::set<std::size_t> listed;
		for (const PlannedHost &h : plan.remote)
			listed.insert(h.server);
		CHECK(listed == std::set<std::size_t>{ 2 });
		// The faster server has room for both jobs: the slower one is spare.
		CHECK(exclusions(plan) == std::vector{ X::Ineligible, X::Spare, X::None });
		CHECK(plan.servers[0].ineligible == Ineligible::Slow);
		CHECK(writeHostsLine(plan.line) == "localhost/4 10.0.0.4/2");
		// Alone, it would still finish them later than the local slots.
		servers[2].state = ServerState::Drain;
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(plan.remote.empty());
		CHECK(exclusions(plan) == std::vector{ X::Ineligible, X::Slower, X::Ineligible });
		servers[2].state = ServerState::Up;
		PickPolicy half;
		half.minSpeed = 0.5;
		CHECK(checkEligible(servers[0], half) == Ineligible::Slow);

		// A big build: the local slots are far behind, the 0.6 server helps.
		options.want = 40;
		plan = planHostsLine(servers, {}, options, picker);
		listed.clear();
		for (const PlannedHost &h : plan.remote)
			listed.insert(h.server);
		CHECK(listed == std::set<std::size_t>{ 1, 2 });

		// --min-speed 0 lets the slowest in too, when it helps.
		options.minSpeed = 0.0;
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(plan.remote.size() == 3);
	}

	TEST_CASE("servers this client's distcc recently failed on are left out and give no share")
	{
		std::vector<Server> servers = { server("10.0.0.2", 4, 0), server("10.0.0.3", 4, 0),
						server("10.0.0.4", 8, 0) };
		PlanOptions options;
		options.localSlots = 2;
		options.failing = { false, false, true };
		Picker picker(5);
		Plan plan = planHostsLine(servers, {}, options, picker);
		CHECK(exclusions(plan) == std::vector{ X::None, X::None, X::Failing });
		CHECK(plan.remote.size() == 2);
		for (const PlannedHost &h : plan.remote)
			CHECK(h.server != 2);
		CHECK(writeHostsLine(plan.line).find("10.0.0.4") == std::string::npos);
		CHECK(plan.jobs == 4 + 4 + 2);

		// Overloaded, the share comes from the 8 slots that work, not 16.
		options.want = 8;
		options.othersWanted = 8;
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(plan.share == 4);

		// All failing: the build goes on locally.
		options.failing = { true, true, true };
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(plan.remote.empty());
		CHECK(writeHostsLine(plan.line) == "localhost/2");

		options.failing = { true };
		CHECK_THROWS_AS(planHostsLine(servers, {}, options, picker), std::invalid_argument);
	}

	TEST_CASE("a server's slots count only while a job there runs at the minimum speed")
	{
		// 10 slots on 8 cores at 1.5: the 10th job still runs at 1.2.
		// 4 slots on 2 cores at 0.6: the 3rd and 4th would run at 0.4 and 0.3,
		// under half this machine's 1.0.
		std::vector<Server> servers = { machine("10.0.0.2", 8, 1.5), machine("10.0.0.3", 2, 0.6) };
		PlanOptions options;
		options.localSlots = 2;
		Picker picker(3);
		Plan plan = planHostsLine(servers, {}, options, picker);
		CHECK(limits(plan) == std::map<std::size_t, std::uint32_t>{ { 0, 10 }, { 1, 2 } });
		CHECK(plan.jobs == 12); // localhost absent: 2 of 17.2 is under a fifth

		// A faster client raises the bar: 8 x 1.5 / (0.5 x 2.5) = 9.6 slots
		// on the big server; the small one is too slow altogether.
		options.localSpeed = 2.5;
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(limits(plan) == std::map<std::size_t, std::uint32_t>{ { 0, 9 } });

		// --min-speed 0: every slot distccd takes counts.
		options.localSpeed = 1.0;
		options.minSpeed = 0.0;
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(limits(plan) == std::map<std::size_t, std::uint32_t>{ { 0, 10 }, { 1, 4 } });

		// Unknown cpus: the slots are taken for cores.
		servers[1].cpus = 0;
		options.minSpeed = 0.5;
		plan = planHostsLine(servers, {}, options, picker);
		CHECK(limits(plan).at(1) == 4);
	}

	TEST_CASE("a client's jobs take the fastest free slots, free cores first; the rest is spare")
	{
		std::vector<Server> servers = { machine("10.0.0.5", 2, 0.6), machine("10.0.0.3", 4, 1.0),
						machine("10.0.0.2", 8, 1.5) };
		PlanOptions options;
		options.localSlots = 2;
		using Limits = std::map<std::size_t, std::uint32_t>;
		auto plan = [&](std::uint32_t want) {
			options.want = want;
			Picker picker(11);
			return planHostsLine(servers, {}, options, picker);
		};
		// Few jobs: the fast server's cores alone; the others are spare.
		Plan p = plan(5);
		CHECK(limits(p) == Limits{ { 2, 5 } });
		CHECK(exclusions(p) == std::vector{ X::Spare, X::Spare, X::None });
		// Every free core, fastest first, before any shared one.
		CHECK(limits(plan(12)) == Limits{ { 1, 4 }, { 2, 8 } });
		CHECK(limits(plan(14)) == Limits{ { 0, 2 }, { 1, 4 }, { 2, 8 } });
		// Then the shared slots where a job runs fastest: the big server's
		// 9th and 10th (1.33, 1.2) before the middle one's 5th (0.8).
		CHECK(limits(plan(16)) == Limits{ { 0, 2 }, { 1, 4 }, { 2, 10 } });
		CHECK(limits(plan(17)) == Limits{ { 0, 2 }, { 1, 5 }, { 2, 10 } });
		CHECK(limits(plan(100)) == Limits{ { 0, 2 }, { 1, 6 }, { 2, 10 } });
		// No demand given: every free slot, as before a build starts.
		options.want.reset();
		Picker picker(11);
		CHECK(limits(planHostsLine(servers, {}, options, picker)) == Limits{ { 0, 2 }, { 1, 6 }, { 2, 10 } });

		// Others' jobs fill the big server's cores: a free core elsewhere,
		// even a slower one, adds compute, a shared core only slows them.
		servers[2].sample->running = 8;
		p = plan(5);
		CHECK(limits(p) == Limits{ { 0, 1 }, { 1, 4 } });
		CHECK(exclusions(p) == std::vector{ X::None, X::None, X::Spare });
	}

	TEST_CASE("an overloaded farm spreads the share by compute, each part at most the server's slots")
	{
		// 8 cores at 1.5 (10 slots) and 2 cores at 0.6 (2 slots worth it):
		// 12 slots, compute 12 and 1.2.
		std::vector<Server> servers = { machine("10.0.0.2", 8, 1.5), machine("10.0.0.3", 2, 0.6) };
		PlanOptions options;
		options.localSlots = 2;
		options.want = 24;
		options.othersWanted = 24;
		Picker picker(5);
		Plan plan = planHostsLine(servers, {}, options, picker);
		REQUIRE(plan.share == 6);
		// 5.45 and 0.55, each rounded down or up.
		const auto one = limits(plan);
		CHECK((one == std::map<std::size_t, std::uint32_t>{ { 0, 5 }, { 1, 1 } } ||
		       one == std::map<std::size_t, std::uint32_t>{ { 0, 6 } }));

		// Over many clients the small server gets 0.55 a client, as its
		// compute says, not the 1 every client would give it by rounding the
		// largest remainder up: that would put 4 jobs on its 2 cores.
		double small = 0.0;
		const int clients = 2000;
		for (int seed = 1; seed <= clients; ++seed) {
			Picker p(static_cast<std::uint64_t>(seed));
			const auto got = limits(planHostsLine(servers, {}, options, p));
			std::uint32_t total = 0;
			for (const auto &[server, limit] : got)
				total += limit;
			CHECK(total == 6);
			small += got.contains(1) ? got.at(1) : 0;
		}
		CHECK(small / clients == doctest::Approx(6 * 1.2 / 13.2).epsilon(0.1));

		// Equal slots, unequal compute: 6 slots at 2.0 and 6 at 1.0 (both on
		// 6 cores): the fast one takes two thirds.
		std::vector<Server> pair = { machine("10.0.0.2", 6, 2.0), machine("10.0.0.3", 6, 1.0) };
		pair[0].slots = pair[1].slots = 6;
		plan = planHostsLine(pair, {}, options, picker);
		REQUIRE(plan.share == 6);
		CHECK(limits(plan) == std::map<std::size_t, std::uint32_t>{ { 0, 4 }, { 1, 2 } });

		// A part above a server's slots goes to the others: 2 slots at 4.0
		// beside 8 at 1.0 would take half of 8 by compute, but holds 2.
		std::vector<Server> capped = { machine("10.0.0.2", 2, 4.0), machine("10.0.0.3", 8, 1.0) };
		capped[0].slots = 2;
		capped[1].slots = 8;
		options.want = 10;
		options.othersWanted = 2;
		plan = planHostsLine(capped, {}, options, picker);
		REQUIRE(plan.share == 8);
		CHECK(limits(plan) == std::map<std::size_t, std::uint32_t>{ { 0, 2 }, { 1, 6 } });
	}
}

TEST_SUITE("plan")
{
	TEST_CASE("splitAmong: max-min fair, never above a want, the remainder to the first")
	{
		const std::vector<std::uint32_t> equal{ 1000000, 1000000, 1000000 };
		CHECK(splitAmong(equal, 8) == std::vector<std::uint32_t>{ 3, 3, 2 });
		// A small want keeps its want; the others split what is left.
		const std::vector<std::uint32_t> mixed{ 1, 100, 100 };
		CHECK(splitAmong(mixed, 9) == std::vector<std::uint32_t>{ 1, 4, 4 });
		// Room for every want: each gets its want.
		const std::vector<std::uint32_t> room{ 2, 3 };
		CHECK(splitAmong(room, 40) == std::vector<std::uint32_t>{ 2, 3 });
		// Ten wants, four slots: four get one, the parts add up to the total.
		const std::vector<std::uint32_t> ten(10, 1000000);
		const std::vector<std::uint32_t> parts = splitAmong(ten, 4);
		CHECK(std::accumulate(parts.begin(), parts.end(), 0u) == 4);
		CHECK(parts[0] == 1);
		CHECK(parts[9] == 0);
		const std::vector<std::uint32_t> none{ 0, 5 };
		CHECK(splitAmong(none, 3) == std::vector<std::uint32_t>{ 0, 3 });
		CHECK(splitAmong({}, 3).empty());
	}
}
