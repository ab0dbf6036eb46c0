// host::measureSpeedRuns' spread and SpeedKeeper's re-runs: when they happen and what they keep.
#include <doctest/doctest.h>

#include <chrono>

#include "distcc-mdns/server.h"
#include "host/speed.h"

using namespace dmdns;
using namespace dmdns::host;
using namespace std::chrono_literals;

TEST_SUITE("host_speed")
{
	TEST_CASE("a benchmark reports its fastest and slowest runs")
	{
		const SpeedMeasurement m = measureSpeedRuns(5ms, 4);
		CHECK(m.runs == 4);
		CHECK(m.best >= m.worst);
		CHECK(m.worst >= kMinSpeed);
		CHECK(m.best <= kMaxSpeed);
		CHECK(m.spread() >= 1.0);
		CHECK(measureSpeed(5ms, 2) >= kMinSpeed);
	}

	TEST_CASE("a re-run is due only after the host was idle for a while, and only a few times")
	{
		const auto t0 = SpeedKeeper::Clock::time_point{} + 1h;
		SpeedKeeper keeper({ 0.6, 0.4, 8 }, 8, 2, 10s);
		// 8 cpus: idle below 2 runnable tasks.
		CHECK_FALSE(keeper.idleCheck(0.0, t0));
		CHECK_FALSE(keeper.idleCheck(1.0, t0 + 5s));
		// Busy: the wait starts again.
		CHECK_FALSE(keeper.idleCheck(3.0, t0 + 9s));
		CHECK_FALSE(keeper.idleCheck(0.0, t0 + 10s));
		CHECK_FALSE(keeper.idleCheck(0.0, t0 + 19s));
		CHECK(keeper.idleCheck(0.0, t0 + 20s));
		CHECK(keeper.add({ 1.0, 0.9, 8 }, t0 + 20s));
		// The next one waits for another idle stretch.
		CHECK_FALSE(keeper.idleCheck(0.0, t0 + 25s));
		CHECK(keeper.idleCheck(0.0, t0 + 30s));
		CHECK_FALSE(keeper.add({ 1.01, 1.0, 8 }, t0 + 30s));
		CHECK(keeper.done());
		CHECK_FALSE(keeper.idleCheck(0.0, t0 + 1h));
		CHECK(keeper.reruns() == 2);
	}

	TEST_CASE("a busy re-run does not lower the kept best; the spread spans every run")
	{
		const auto t0 = SpeedKeeper::Clock::time_point{} + 1h;
		SpeedKeeper keeper({ 1.2, 1.0, 8 }, 2);
		CHECK_FALSE(keeper.add({ 0.5, 0.3, 8 }, t0));
		CHECK(keeper.speed() == doctest::Approx(1.2));
		CHECK(keeper.spread().best == doctest::Approx(1.2));
		CHECK(keeper.spread().worst == doctest::Approx(0.3));
		CHECK(keeper.spread().runs == 16);
		CHECK(keeper.spread().spread() == doctest::Approx(4.0));
		// A faster one is kept and worth advertising.
		CHECK(keeper.add({ 1.5, 1.4, 8 }, t0 + 1min));
		CHECK(keeper.speed() == doctest::Approx(1.5));
	}
}
