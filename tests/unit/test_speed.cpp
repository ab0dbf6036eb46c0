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
