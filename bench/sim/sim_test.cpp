// Reproduction checks: the simulator driving the real Picker against the published supermarket-model figures.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <utility>
#include <vector>

#include "sim/sim.h"

using namespace dmdns::sim;

namespace {

// Small enough for seconds under ASan, large enough that the bands below
// hold for any seed (seeds 1-5 stay within a third of each band).
constexpr double kJobs = 50'000;

Config supermarket(std::vector<ServerSpec> farm, Policy policy, double load = 0.9)
{
	Config c;
	c.servers = std::move(farm);
	c.policy = policy;
	c.open.load = load;
	c.open.jobs = kJobs;
	c.open.warmupJobs = kJobs / 10;
	c.roomFirst = false; // one queue per server, every job in one group
	c.maxSampleAge = 1e6;
	c.seed = 3;
	return c;
}

Information periodic(double period)
{
	Information i;
	i.kind = Information::Kind::Periodic;
	i.period = period;
	return i;
}

} // namespace

TEST_SUITE("sim")
{
	TEST_CASE("d=2 with the real Picker on 100 single-slot servers at load 0.9: 2.66 published")
	{
		const Result r = simulate(supermarket(uniformFarm(100, 1), Policy::Picker));
		CHECK_FALSE(r.unstable);
		CHECK(r.jobs == static_cast<std::size_t>(kJobs));
		CHECK(r.meanJob > 2.50);
		CHECK(r.meanJob < 2.90);
		// Random (M/M/1 at 0.9: 10) and least loaded (1.07) bracket it.
		const Result random = simulate(supermarket(uniformFarm(100, 1), Policy::Random));
		const Result least = simulate(supermarket(uniformFarm(100, 1), Policy::LeastWait));
		CHECK(random.meanJob > 2.5 * r.meanJob);
		CHECK(least.meanJob > 1.0);
		CHECK(least.meanJob < 1.15);
	}

	TEST_CASE("loads refreshed every 5 job-times: least loaded herds past random, d=2 stays near 4")
	{
		Config d2 = supermarket(uniformFarm(100, 1), Policy::Picker);
		d2.info = periodic(5.0);
		Config least = supermarket(uniformFarm(100, 1), Policy::LeastWait);
		least.info = periodic(5.0);
		const Result a = simulate(d2);
		const Result b = simulate(least);
		CHECK(a.meanJob > 3.6);
		CHECK(a.meanJob < 4.5);
		CHECK(b.meanJob > 8.0);
		CHECK(b.meanJob > 2.5 * a.meanJob);
	}

	TEST_CASE("20 servers 4x fast and 80 slow: uniform d=2 unstable, capacity-weighted Picker near 1.84")
	{
		Config uniform = supermarket(mixedSpeedFarm(), Policy::UniformD2);
		uniform.unstableFactor = 10.0;
		const Result u = simulate(uniform);
		CHECK((u.unstable || u.meanJob > 5.0));
		const Result w = simulate(supermarket(mixedSpeedFarm(), Policy::Picker));
		CHECK_FALSE(w.unstable);
		CHECK(w.meanJob > 1.65);
		CHECK(w.meanJob < 2.05);
	}

	TEST_CASE("20 servers x 8 slots at 0.9: fresh d=2 about 1.07")
	{
		const Result r = simulate(supermarket(uniformFarm(20, 8), Policy::Picker));
		CHECK(r.meanJob > 1.02);
		CHECK(r.meanJob < 1.14);
	}

	TEST_CASE("the same seed gives the same stream, whatever the policy")
	{
		Config c = supermarket(uniformFarm(10, 1), Policy::Random, 0.5);
		c.open.jobs = 2000;
		const Result a = simulate(c);
		const Result b = simulate(c);
		CHECK(a.meanJob == b.meanJob);
		// Every policy measures the same jobs: the same total work.
		c.policy = Policy::Picker;
		CHECK(simulate(c).jobs == a.jobs);
	}

	TEST_CASE("distcc regime: distcc-mdns beats stock distcc and stays near the omniscient scheduler")
	{
		auto run = [](Policy policy, Information info, bool reservations) {
			Config c;
			c.servers = distccFarm();
			c.policy = policy;
			c.info = info;
			c.reservations = reservations;
			c.sizes = { JobSizes::Kind::Lognormal, 1.0, 1.0, 1.0 };
			c.openModel = false;
			c.builds.duration = 600.0;
			c.builds.warmup = 100.0;
			c.seed = 2;
			return simulate(c);
		};
		Information gossip;
		gossip.kind = Information::Kind::Aged;
		const Result stock = run(Policy::Stock, {}, false);
		const Result mdns = run(Policy::Picker, gossip, true);
		const Result file = run(Policy::HostsFile, gossip, false);
		const Result ideal = run(Policy::LeastWait, {}, false);
		REQUIRE(stock.builds > 100);
		CHECK(mdns.builds > 100);
		CHECK(file.builds > 100);
		CHECK(mdns.meanJob < 0.85 * stock.meanJob);
		CHECK(mdns.meanJob < 1.3 * ideal.meanJob);
		CHECK(file.meanJob < stock.meanJob);
		CHECK(stock.jain > 0.9);
		CHECK(stock.jain <= 1.0);
	}

	TEST_CASE("Jain's index")
	{
		CHECK(jain({ 2.0, 2.0, 2.0 }) == doctest::Approx(1.0));
		CHECK(jain({ 1.0, 0.0, 0.0, 0.0 }) == doctest::Approx(0.25));
	}
}
