// This machine's relative speed: a short, fixed CPU workload timed at start.
#include "host/speed.h"

#include <algorithm>
#include <array>

#include "distcc-mdns/server.h"

namespace dmdns::host {

std::uint64_t speedWorkload(std::uint64_t rounds) noexcept
{
	// 4 KiB of table: fits L1, as a compiler's hot symbol tables mostly do.
	std::array<std::uint32_t, 1024> table{};
	std::uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (std::uint32_t i = 0; i < table.size(); ++i) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		table[i] = static_cast<std::uint32_t>(x);
	}
	std::uint64_t sum = 0;
	for (std::uint64_t r = 0; r < rounds; ++r) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		std::uint32_t &slot = table[x & (table.size() - 1)];
		if (slot & 1)
			sum += slot * 3u;
		else
			sum ^= slot >> 1;
		slot += static_cast<std::uint32_t>(sum);
	}
	return sum ^ x;
}

SpeedMeasurement measureSpeedRuns(std::chrono::milliseconds each, unsigned runs)
{
	using Clock = std::chrono::steady_clock;
	// Calibrate the round count to about @each on this machine.
	std::uint64_t rounds = 1 << 16;
	volatile std::uint64_t sink = 0;
	for (int i = 0; i < 30; ++i) {
		const auto t0 = Clock::now();
		sink = sink + speedWorkload(rounds);
		if (Clock::now() - t0 >= each / 4)
			break;
		rounds *= 2;
	}
	rounds *= 4;
	double best = 0.0;
	double worst = 0.0;
	SpeedMeasurement m;
	for (unsigned run = 0; run < std::max(1u, runs); ++run) {
		const auto t0 = Clock::now();
		sink = sink + speedWorkload(rounds);
		const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
		if (seconds <= 0.0)
			continue;
		const double rate = static_cast<double>(rounds) / seconds;
		best = std::max(best, rate);
		worst = m.runs == 0 ? rate : std::min(worst, rate);
		++m.runs;
	}
	m.best = std::clamp(best / kReferenceRoundsPerSecond, kMinSpeed, kMaxSpeed);
	m.worst = std::clamp(worst / kReferenceRoundsPerSecond, kMinSpeed, kMaxSpeed);
	return m;
}

double measureSpeed(std::chrono::milliseconds each, unsigned runs)
{
	return measureSpeedRuns(each, runs).best;
}

SpeedKeeper::SpeedKeeper(SpeedMeasurement first, std::uint32_t cpus, unsigned maxReruns,
			 std::chrono::milliseconds idleFor)
	: best_(first.best), worst_(first.worst), runs_(first.runs), cpus_(std::max<std::uint32_t>(cpus, 1)),
	  maxReruns_(maxReruns), idleFor_(idleFor)
{
}

bool SpeedKeeper::idleCheck(double runnable, Clock::time_point now)
{
	if (done())
		return false;
	// A quarter of the cpus, at least one task: the jitter gossip ignores.
	const double idle = std::max(1.0, cpus_ / 4.0);
	if (runnable >= idle) {
		idleSince_.reset();
		return false;
	}
	if (!idleSince_)
		idleSince_ = now;
	return now - *idleSince_ >= idleFor_;
}

bool SpeedKeeper::add(const SpeedMeasurement &m, Clock::time_point now)
{
	++reruns_;
	// The next re-run waits for another idle stretch.
	idleSince_ = now;
	worst_ = std::min(worst_, m.worst);
	runs_ += m.runs;
	if (m.best <= best_ * 1.02) {
		best_ = std::max(best_, m.best);
		return false;
	}
	best_ = m.best;
	return true;
}

} // namespace dmdns::host
