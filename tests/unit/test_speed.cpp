// Unit tests of learned speed: the estimator, the evidence table, the SPEED record and its gossip.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "distcc-mdns/gossip.h"
#include "distcc-mdns/gossip/speed_table.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/plan.h"
#include "distcc-mdns/speed_estimate.h"

using namespace dmdns;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

const SteadyTime kStart = SteadyTime{} + std::chrono::hours(1);

// A farm of servers at known true speeds and clients whose projects have
// units of different typical sizes: jobs of client c on server s take
// size / speed_s, size log-normal around the client's typical unit.
struct Farm {
	std::vector<double> speeds;	// true
	std::vector<double> benchmarks; // advertised
	std::vector<double> unitMs;	// per client: a typical unit's time on a speed-1 server
	std::mt19937_64 rng{ 17 };

	std::uint64_t server(std::size_t s) const { return 0x5000 + s; }
	std::uint64_t client(std::size_t c) const { return 0xc000 + c; }

	// One job's wall time on @s for client @c, on a server whose cores
	// are shared by @crowd jobs (1: none).
	milliseconds job(std::size_t c, std::size_t s, double crowd = 1.0)
	{
		std::lognormal_distribution<double> size(std::log(unitMs[c]), 0.7);
		return milliseconds(static_cast<long long>(size(rng) / speeds[s] * crowd));
	}

	std::map<std::uint64_t, double> benchmarkMap() const
	{
		std::map<std::uint64_t, double> out;
		for (std::size_t s = 0; s < benchmarks.size(); ++s)
			out[server(s)] = benchmarks[s];
		return out;
	}
};

// Client @c's jobs on every server (@jobs each) as its window, in the
// form another client receives it.
std::vector<SpeedReport> clientReports(Farm &farm, std::size_t c, int jobs, bool own)
{
	gossip::SpeedTable table({});
	SteadyTime t = kStart;
	for (int j = 0; j < jobs; ++j)
		for (std::size_t s = 0; s < farm.speeds.size(); ++s) {
			t += 100ms;
			table.record(farm.server(s), std::log(static_cast<double>(farm.job(c, s).count())), t);
		}
	std::vector<SpeedReport> out;
	for (const SpeedReport &r : table.reports(t)) {
		SpeedReport x = r;
		x.own = own;
		x.source = own ? std::string{} : "10.0.0." + std::to_string(c);
		out.push_back(x);
	}
	return out;
}

} // namespace

TEST_SUITE("speed")
{
	TEST_CASE("the estimator learns true speed ratios from several clients' jobs")
	{
		Farm farm;
		farm.speeds = { 2.0, 1.0, 0.5, 1.0 };
		farm.benchmarks = { 1.3, 1.4, 0.35, 0.7 }; // off by up to 1.5x
		farm.unitMs = { 800, 3000, 300, 1500 };
		std::vector<SpeedReport> reports;
		for (std::size_t c = 0; c < farm.unitMs.size(); ++c)
			for (const SpeedReport &r : clientReports(farm, c, 40, c == 0))
				reports.push_back(r);
		SpeedModel model;
		model.fit(reports, farm.benchmarkMap());

		std::vector<double> learned;
		for (std::size_t s = 0; s < farm.speeds.size(); ++s) {
			const SpeedEstimate e = model.estimate(farm.server(s), farm.benchmarks[s]);
			REQUIRE(e.learned);
			CHECK(e.sources == 4);
			CHECK(e.jobs > 20);
			learned.push_back(*e.learned);
		}
		// Ratios to the speed-1 server within 15 %; the benchmark's are not.
		for (std::size_t s = 0; s < farm.speeds.size(); ++s) {
			const double truth = farm.speeds[s] / farm.speeds[1];
			CHECK(learned[s] / learned[1] == doctest::Approx(truth).epsilon(0.15));
		}
		CHECK(std::abs(farm.benchmarks[0] / farm.benchmarks[1] - 2.0) > 0.3 * 2.0);
	}
}

namespace {

const std::vector<std::uint64_t> kServers = { 0x5000, 0x5001, 0x5002, 0x5003, 0x5004 };

Endpoint serverEndpoint(std::size_t i)
{
	return { "10.0.1." + std::to_string(i + 1), 3632 };
}

// A client's gossip with the servers' own samples in it: each server
// @i advertises speeds[i] and runs running[i] jobs on cpus[i] cores.
struct Client {
	Gossip gossip;
	std::uint64_t sequence = 0;

	explicit Client(GossipConfig config = base())
		: gossip(std::move(config)) { }

	static GossipConfig base()
	{
		GossipConfig c;
		c.node = 0xc1;
		c.seed = 1;
		return c;
	}

	void sample(std::size_t i, double speed, std::uint32_t cpus = 4, std::uint32_t running = 0,
		    SteadyTime now = kStart)
	{
		wire::Sample s;
		s.server = kServers[i];
		s.incarnation = 1;
		s.sequence = ++sequence;
		s.slots = cpus;
		s.cpus = cpus;
		s.running = running;
		s.runnable = running;
		s.speed = speed;
		wire::Packet p;
		p.header = { 0, kServers[i], 1, sequence };
		p.records = { s };
		gossip.receive(serverEndpoint(i), wire::encode(p), now);
		REQUIRE(gossip.server(kServers[i], now));
	}
};

} // namespace

TEST_SUITE("speed")
{
	TEST_CASE("a job on a server running more jobs than cores counts for its share of a core")
	{
		Client client;
		client.sample(0, 1.0, 4, 8); // twice as many jobs as cores
		client.sample(1, 1.0, 4, 2);
		client.sample(2, 1.0, 4, 100); // absurd: the correction stops at 4x
		SteadyTime t = kStart;
		std::mt19937_64 rng(3);
		std::lognormal_distribution<double> size(std::log(1000.0), 0.5);
		for (int j = 0; j < 40; ++j) {
			t += 50ms;
			const double unit = size(rng);
			client.gossip.recordJob(kServers[0], milliseconds(static_cast<long long>(unit * 2)), t);
			client.gossip.recordJob(kServers[1], milliseconds(static_cast<long long>(unit)), t);
			client.gossip.recordJob(kServers[2], milliseconds(static_cast<long long>(unit * 25)), t);
		}
		const SpeedEstimate crowded = client.gossip.speedOf(kServers[0], 1.0, t);
		const SpeedEstimate idle = client.gossip.speedOf(kServers[1], 1.0, t);
		const SpeedEstimate absurd = client.gossip.speedOf(kServers[2], 1.0, t);
		REQUIRE(crowded.learned);
		REQUIRE(idle.learned);
		REQUIRE(absurd.learned);
		CHECK(*crowded.learned / *idle.learned == doctest::Approx(1.0).epsilon(0.1));
		// 25x the time, corrected by 4 at most: over 6x slower.
		CHECK(*absurd.learned / *idle.learned < 1.0 / 5.0);
	}

	TEST_CASE("one lying source cannot make a server too slow; a second honest one or own jobs outvote it")
	{
		Farm farm;
		farm.speeds = { 1.0, 1.0, 1.0, 1.0, 1.0 };
		farm.benchmarks = farm.speeds;
		farm.unitMs = { 1000, 1000, 1000 };
		// This node's jobs on servers 0-3 only; the liar's on all, server 4's 50x too long.
		std::vector<SpeedReport> honest;
		for (const SpeedReport &r : clientReports(farm, 0, 30, true))
			if (r.server != farm.server(4))
				honest.push_back(r);
		std::vector<SpeedReport> reports = honest;
		for (SpeedReport r : clientReports(farm, 1, 30, false)) {
			if (r.server == farm.server(4))
				r.logTime += std::log(50.0);
			r.weight = 1000.0; // and it claims many jobs
			reports.push_back(r);
		}
		SpeedModel model;
		model.fit(reports, farm.benchmarkMap());
		const SpeedEstimate lied = model.estimate(farm.server(4), 1.0);
		REQUIRE(lied.learned);
		CHECK(*lied.learned < 0.05); // what the liar says
		CHECK(lied.sources == 1);
		const double minSpeed = PlanOptions{}.minSpeed;
		CHECK(lied.used >= minSpeed);
		CHECK(lied.used < 1.0);

		// A second source that ran jobs there: the liar moves nothing.
		std::vector<SpeedReport> two = reports;
		for (const SpeedReport &r : clientReports(farm, 2, 30, false))
			two.push_back(r);
		model.fit(two, farm.benchmarkMap());
		const SpeedEstimate outvoted = model.estimate(farm.server(4), 1.0);
		CHECK(outvoted.sources == 2);
		CHECK(outvoted.used == doctest::Approx(1.0).epsilon(0.15));

		// This node's own jobs there: the same.
		std::vector<SpeedReport> own = reports;
		for (const SpeedReport &r : clientReports(farm, 0, 30, true))
			if (r.server == farm.server(4))
				own.push_back(r);
		model.fit(own, farm.benchmarkMap());
		CHECK(model.estimate(farm.server(4), 1.0).used == doctest::Approx(1.0).epsilon(0.15));
	}

	TEST_CASE("a rogue speed=1000 on a slow host is judged by its measured speed after 50 own jobs")
	{
		Client client;
		for (std::size_t i = 0; i < 4; ++i)
			client.sample(i, 1.0);
		client.sample(4, 1000.0); // true speed 0.5
		CHECK(client.gossip.speedOf(kServers[4], 1000.0, kStart).used == doctest::Approx(1000.0));

		std::mt19937_64 rng(5);
		std::lognormal_distribution<double> size(std::log(2000.0), 0.8);
		SteadyTime t = kStart;
		auto job = [&](std::size_t i, double speed) {
			t += 20ms;
			client.gossip.recordJob(kServers[i], milliseconds(static_cast<long long>(size(rng) / speed)), t);
		};
		for (int j = 0; j < 50; ++j) {
			for (std::size_t i = 0; i < 4; ++i)
				job(i, 1.0);
			job(4, 0.5);
		}
		const SpeedEstimate e = client.gossip.speedOf(kServers[4], 1000.0, t);
		REQUIRE(e.learned);
		CHECK(e.benchmark == 1000.0);
		CHECK(e.used == doctest::Approx(0.5).epsilon(0.15));
		// The honest servers keep their speed: the rogue does not move the scale.
		CHECK(client.gossip.speedOf(kServers[0], 1.0, t).used == doctest::Approx(1.0).epsilon(0.15));
	}

	TEST_CASE("old evidence decays: a server that slowed down is judged by its recent jobs")
	{
		Client client;
		for (std::size_t i = 0; i < 4; ++i)
			client.sample(i, 1.0);
		std::mt19937_64 rng(7);
		std::lognormal_distribution<double> size(std::log(1000.0), 0.6);
		SteadyTime t = kStart;
		auto round = [&](double speed0) {
			for (std::size_t i = 0; i < 4; ++i) {
				t += 20ms;
				const double speed = i == 0 ? speed0 : 1.0;
				client.gossip.recordJob(kServers[i], milliseconds(static_cast<long long>(size(rng) / speed)),
							t);
			}
		};
		for (int j = 0; j < 100; ++j)
			round(1.0);
		CHECK(client.gossip.speedOf(kServers[0], 1.0, t).used == doctest::Approx(1.0).epsilon(0.15));
		for (int j = 0; j < 250; ++j)
			round(0.4);
		const SpeedEstimate e = client.gossip.speedOf(kServers[0], 1.0, t);
		REQUIRE(e.learned);
		CHECK(*e.learned == doctest::Approx(0.4).epsilon(0.15));

		// By time: ten minutes halve a window's weight.
		const gossip::SpeedTable &table = client.gossip.speeds();
		const gossip::SpeedTable::Own &w = table.own().at(kServers[1]);
		CHECK(table.ownWeight(w, w.last + 10min) == doctest::Approx(w.weight / 2).epsilon(0.01));
		CHECK(w.jobs == 350);
		CHECK(w.weight < 100.0); // saturates near 64 / ln 2
	}

	TEST_CASE("a huge unit moves a window by a bounded step")
	{
		gossip::SpeedTable table({});
		SteadyTime t = kStart;
		for (int j = 0; j < 20; ++j)
			table.record(kServers[0], std::log(1000.0), t += 10ms);
		const double before = table.own().at(kServers[0]).logTime;
		table.record(kServers[0], std::log(1000.0 * 1000.0), t += 10ms);
		const gossip::SpeedTable::Own &after = table.own().at(kServers[0]);
		CHECK(after.logTime - before <= gossip::SpeedTable::kWinsor / after.weight + 1e-9);
		CHECK(after.logTime > before);
	}
}
