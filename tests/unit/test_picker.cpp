// Unit tests of the capacity-weighted power-of-two-choices picker.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "distcc-mdns/picker.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

Server makeServer(std::uint32_t slots, double speed, std::uint32_t running)
{
	Server s;
	s.id = "s" + std::to_string(slots) + "-" + std::to_string(running);
	s.cpus = slots;
	s.slots = slots;
	s.speed = speed;
	s.compilers = { { "x86_64-linux-gnu", "12" } };
	s.sample = LoadSample{ .running = running, .age = 100ms };
	return s;
}

// |observed - expected| within five standard deviations of a binomial count.
void checkBinomial(std::size_t count, std::size_t trials, double p)
{
	const double mean = static_cast<double>(trials) * p;
	const double sigma = std::sqrt(static_cast<double>(trials) * p * (1.0 - p));
	INFO("count ", count, " expected ", mean, " sigma ", sigma);
	CHECK(std::abs(static_cast<double>(count) - mean) <= 5.0 * sigma + 1.0);
}

} // namespace

TEST_SUITE("picker")
{
	TEST_CASE("only eligible servers are ever returned")
	{
		std::mt19937 rng(11);
		PickPolicy policy;
		policy.maxSampleAge = 2000ms;
		policy.minSpeed = 0.5;
		policy.compiler = Compiler{ "x86_64-linux-gnu", "12" };

		for (int round = 0; round < 300; ++round) {
			std::vector<Server> servers;
			const int n = 1 + static_cast<int>(rng() % 12);
			for (int i = 0; i < n; ++i) {
				Server s = makeServer(rng() % 9, 0.25 + (rng() % 8) * 0.25, rng() % 12);
				s.state = static_cast<ServerState>(rng() % 3);
				s.sample->age = std::chrono::milliseconds(rng() % 4000);
				if (rng() % 4 == 0)
					s.compilers = { { "x86_64-linux-gnu", "13" } };
				if (rng() % 5 == 0)
					s.sample.reset(); // stock distccd: load unknown, never stale
				servers.push_back(s);
			}
			std::set<std::size_t> eligible;
			for (std::size_t i = 0; i < servers.size(); ++i)
				if (checkEligible(servers[i], policy) == Ineligible::None)
					eligible.insert(i);

			Picker picker(static_cast<std::uint64_t>(round));
			const std::vector<std::size_t> order = picker.order(servers, {}, policy);
			// A full ordering: each eligible server exactly once, nothing else.
			CHECK(std::set<std::size_t>(order.begin(), order.end()) == eligible);
			CHECK(order.size() == eligible.size());
			const auto one = picker.pick(servers, {}, policy);
			CHECK(one.has_value() == !eligible.empty());
			if (one)
				CHECK(eligible.count(*one) == 1);
		}
	}

	TEST_CASE("each reason for ineligibility is detected")
	{
		PickPolicy policy;
		policy.maxSampleAge = 1000ms;
		policy.minSpeed = 0.5;
		policy.compiler = Compiler{ "x86_64-linux-gnu", "12" };

		Server s = makeServer(4, 1.0, 0);
		CHECK(checkEligible(s, policy) == Ineligible::None);
		s.state = ServerState::Drain;
		CHECK(checkEligible(s, policy) == Ineligible::NotUp);
		s = makeServer(0, 1.0, 0);
		CHECK(checkEligible(s, policy) == Ineligible::NoCapacity);
		s = makeServer(4, 1.0, 0);
		s.sample->age = 1001ms;
		CHECK(checkEligible(s, policy) == Ineligible::Stale);
		s.sample.reset();
		CHECK(checkEligible(s, policy) == Ineligible::None);
		s.compilers = { { "aarch64-linux-gnu", "12" } };
		CHECK(checkEligible(s, policy) == Ineligible::Compiler);
		s = makeServer(4, 0.4, 0);
		CHECK(checkEligible(s, policy) == Ineligible::Slow);
		CHECK(describe(Ineligible::Slow) == "too slow");
		s = makeServer(4, 1.0, 0);
		s.liveness = Liveness::Suspect; // late, still listed
		CHECK(checkEligible(s, policy) == Ineligible::None);
		s.liveness = Liveness::Dead;
		CHECK(checkEligible(s, policy) == Ineligible::Dead);
		s.liveness = Liveness::Left;
		CHECK(checkEligible(s, policy) == Ineligible::Left);
	}

	TEST_CASE("candidates are drawn in proportion to capacity")
	{
		// Every expected wait is exactly 1, so each pick is decided by the
		// first, capacity-weighted draw alone.
		const std::vector<Server> servers = {
			makeServer(4, 1.0, 3), // capacity 4
			makeServer(8, 1.0, 7), // capacity 8
			makeServer(4, 2.0, 7), // capacity 8
			makeServer(2, 0.5, 0), // capacity 1
		};
		for (const Server &s : servers)
			REQUIRE(s.expectedWait(0) == doctest::Approx(1.0));
		const double total = 21.0;

		PickPolicy pure; // the two-choice law alone, some servers are full
		pure.roomFirst = false;
		Picker picker(2024);
		const std::size_t trials = 40000;
		std::vector<std::size_t> counts(servers.size());
		for (std::size_t t = 0; t < trials; ++t)
			++counts.at(*picker.pick(servers, {}, pure));
		for (std::size_t i = 0; i < servers.size(); ++i)
			checkBinomial(counts[i], trials, servers[i].capacity() / total);
	}

	TEST_CASE("pick frequencies match the two-choice law exactly")
	{
		// P(i) = sum over j of P(draw i then j) [wait_i <= wait_j]
		//                    + P(draw j then i) [wait_i <  wait_j]
		const std::vector<Server> servers = {
			makeServer(8, 1.0, 6),
			makeServer(4, 1.0, 0),
			makeServer(16, 0.5, 2),
			makeServer(2, 2.0, 3),
			makeServer(4, 1.0, 1),
		};
		const std::size_t n = servers.size();
		double total = 0.0;
		for (const Server &s : servers)
			total += s.capacity();
		std::vector<double> p(n, 0.0);
		for (std::size_t i = 0; i < n; ++i)
			for (std::size_t j = 0; j < n; ++j) {
				if (i == j)
					continue;
				const double wi = servers[i].capacity(), wj = servers[j].capacity();
				const double ti = servers[i].expectedWait(0), tj = servers[j].expectedWait(0);
				if (ti <= tj)
					p[i] += wi / total * wj / (total - wi);
				if (ti < tj)
					p[i] += wj / total * wi / (total - wj);
			}

		PickPolicy pure;
		pure.roomFirst = false;
		Picker picker(99);
		const std::size_t trials = 40000;
		std::vector<std::size_t> counts(n);
		for (std::size_t t = 0; t < trials; ++t)
			++counts.at(*picker.pick(servers, {}, pure));
		for (std::size_t i = 0; i < n; ++i)
			checkBinomial(counts[i], trials, p[i]);
	}

	TEST_CASE("many clients sharing one view spread instead of herding")
	{
		// Ten equal servers; server 3 is slightly less loaded. Picking the
		// global minimum would send every client to server 3.
		std::vector<Server> servers;
		for (int i = 0; i < 10; ++i)
			servers.push_back(makeServer(4, 1.0, i == 3 ? 0 : 1));

		const std::size_t clients = 2000;
		std::vector<std::size_t> counts(servers.size());
		for (std::size_t c = 0; c < clients; ++c) {
			Picker picker(1000 + c); // every client has its own seed
			++counts.at(*picker.pick(servers, {}, {}));
		}
		// Two-choice law: server 3 wins whenever it is one of the two
		// candidates, 1 - (9/10)(8/9) = 0.2; each other server gets 0.8/9.
		checkBinomial(counts[3], clients, 0.2);
		for (std::size_t i = 0; i < servers.size(); ++i)
			if (i != 3)
				checkBinomial(counts[i], clients, 0.8 / 9);
		CHECK(*std::max_element(counts.begin(), counts.end()) < clients / 4);
	}

	TEST_CASE("reservations by other clients steer picks away")
	{
		const std::vector<Server> servers = { makeServer(4, 1.0, 0), makeServer(4, 1.0, 0) };
		const std::vector<std::uint32_t> reserved = { 3, 0 };
		for (std::uint64_t seed = 0; seed < 50; ++seed) {
			Picker picker(seed);
			CHECK(picker.order(servers, reserved, {}).front() == 1);
		}
		Picker picker(1);
		const std::vector<std::uint32_t> wrongSize = { 1 };
		CHECK_THROWS_AS(picker.order(servers, wrongSize, {}), std::invalid_argument);
	}

	TEST_CASE("a seed fixes the order and different seeds vary it")
	{
		std::vector<Server> servers;
		for (std::uint32_t i = 0; i < 8; ++i)
			servers.push_back(makeServer(4, 1.0, i % 3));
		Picker a(5), b(5);
		CHECK(a.order(servers, {}, {}) == b.order(servers, {}, {}));

		std::set<std::vector<std::size_t>> seen;
		for (std::uint64_t seed = 0; seed < 20; ++seed) {
			Picker p(seed);
			seen.insert(p.order(servers, {}, {}));
		}
		CHECK(seen.size() > 10);
	}

	TEST_CASE("fast idle servers come first on average in the full ordering")
	{
		const std::vector<Server> servers = { makeServer(4, 0.5, 4), makeServer(16, 2.0, 0),
						      makeServer(4, 1.0, 2) };
		std::map<std::size_t, double> meanRank;
		const int rounds = 500;
		for (int r = 0; r < rounds; ++r) {
			Picker p(static_cast<std::uint64_t>(r));
			const auto order = p.order(servers, {}, {});
			for (std::size_t rank = 0; rank < order.size(); ++rank)
				meanRank[order[rank]] += static_cast<double>(rank) / rounds;
		}
		CHECK(meanRank[1] < meanRank[2]);
		CHECK(meanRank[2] < meanRank[0]);
	}

	TEST_CASE("servers with room come before full ones, and full ones still follow")
	{
		// Servers 0 and 2 are full (4 running on 4 slots, or 2 running plus
		// 2 reserved); 1 and 3 have room though their expected wait is
		// higher than a full fast server's would be without the rule.
		std::vector<Server> servers = { makeServer(4, 4.0, 4), makeServer(4, 1.0, 3),
						makeServer(4, 1.0, 2), makeServer(8, 1.0, 7) };
		const std::vector<std::uint32_t> reserved = { 0, 0, 2, 0 };
		std::size_t fullFirstWithout = 0;
		for (std::uint64_t seed = 0; seed < 200; ++seed) {
			Picker picker(seed);
			const auto order = picker.order(servers, reserved, {});
			REQUIRE(order.size() == 4);
			CHECK((order[0] == 1 || order[0] == 3));
			CHECK((order[1] == 1 || order[1] == 3));
			PickPolicy off;
			off.roomFirst = false;
			Picker plain(seed);
			const std::size_t first = plain.order(servers, reserved, off).front();
			fullFirstWithout += first == 0 || first == 2;
		}
		// The rule matters: without it the fast full server often leads.
		CHECK(fullFirstWithout > 40);

		// Clients that each take two jobs, one after the other, seeing the
		// earlier ones' reservations, never push a server past its slots.
		std::vector<Server> farm;
		for (int i = 0; i < 4; ++i)
			farm.push_back(makeServer(2, 1.0, 0));
		for (std::uint64_t seed = 0; seed < 100; ++seed) {
			std::vector<std::uint32_t> taken(farm.size(), 0);
			for (int client = 0; client < 4; ++client) {
				Picker picker(seed * 10 + static_cast<std::uint64_t>(client));
				const auto order = picker.order(farm, taken, {});
				++taken[order[0]];
				++taken[order[1]];
			}
			for (std::uint32_t t : taken)
				CHECK(t == 2);
		}
	}
}
