// Unit tests of the hosts-line planner.
#include <doctest/doctest.h>

#include "distcc-mdns/plan.h"

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
		const Plan plan = planHostsLine(servers, {}, options, picker);
		REQUIRE(plan.remote.size() == 2); // drained and unscoped link-local left out
		CHECK(plan.line.hosts.back().kind == HostSpec::Kind::Local);
		CHECK(plan.jobs == 4 + 8 + 2);
		const std::string line = writeHostsLine(plan.line);
		CHECK(line.find("10.0.0.2/4") != std::string::npos);
		CHECK(line.find("10.0.0.3/8") != std::string::npos);
		CHECK(line.find("10.0.0.4") == std::string::npos);
		CHECK(line.find("lzo") == std::string::npos); // not asked for
		CHECK(parseHostsLine(line).line == plan.line);
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
}
