// This machine's relative speed: a short, fixed CPU workload timed at start.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace dmdns::host {

// Rounds of the workload per second on the reference machine (speed 1.0):
// one core of the 2-core x86-64 Debian 12 machines the project's CI runs
// on (220 million, GCC 12 -O2). A machine twice as fast on this workload
// is 2.0.
inline constexpr double kReferenceRoundsPerSecond = 220.0e6;

// One deterministic run of @rounds rounds of the workload: integer
// multiplies, shifts, data-dependent branches and table loads over a small
// working set, the mix of a compiler's inner loops more than of a numeric
// kernel. Returns a checksum so the work cannot be optimised away.
std::uint64_t speedWorkload(std::uint64_t rounds) noexcept;

// What one benchmark found: the speed of its fastest and of its slowest
// run (in the unit of Server::speed, clamped to its bounds). The fastest is
// the machine's speed; a wide spread says something else ran meanwhile.
struct SpeedMeasurement {
	double best = 1.0;
	double worst = 1.0;
	unsigned runs = 0;

	// best / worst: 1.0 for a quiet machine.
	double spread() const noexcept { return worst > 0.0 ? best / worst : 1.0; }
};

// Times the workload @runs times for about @each and keeps the fastest run,
// so that a moment of contention does not make the machine look slow. Eight
// runs of 50 ms (0.4 s in all) outlast a busy second's burst where four of
// 20 ms did not: on the virtual LAN these gave 0.53 to 0.88 on identical
// hosts.
SpeedMeasurement measureSpeedRuns(std::chrono::milliseconds each = std::chrono::milliseconds(50), unsigned runs = 8);

// The best of measureSpeedRuns(@each, @runs).
double measureSpeed(std::chrono::milliseconds each = std::chrono::milliseconds(50), unsigned runs = 8);

// When to measure again and what to keep: the start-up benchmark may have
// run while the host was busy (a boot, a build), so it is re-run when the
// host has been idle for a while (fewer than cpus/4 runnable tasks, at
// least one, at every check for @idleFor), at most @maxReruns times, at
// least @idleFor apart. The best run ever seen is kept: contention only
// slows a run, so a slower re-run never lowers the speed. Pure: the caller
// reads the load and the clock and runs the benchmark.
class SpeedKeeper final
{
public:
	using Clock = std::chrono::steady_clock;

	static constexpr unsigned kDefaultReruns = 3;
	static constexpr std::chrono::seconds kDefaultIdleFor{ 30 };

	SpeedKeeper(SpeedMeasurement first, std::uint32_t cpus, unsigned maxReruns = kDefaultReruns,
		    std::chrono::milliseconds idleFor = kDefaultIdleFor);

	// A reading of the runnable tasks (the reader excluded) at @now; true
	// when a re-run is due now. A busy reading starts the wait again.
	bool idleCheck(double runnable, Clock::time_point now);

	// A re-run's result; true when the kept speed rose by more than 2 %
	// (worth advertising again).
	bool add(const SpeedMeasurement &m, Clock::time_point now);

	double speed() const noexcept { return best_; }
	// The fastest and slowest runs of every benchmark so far.
	SpeedMeasurement spread() const noexcept { return { best_, worst_, runs_ }; }
	unsigned reruns() const noexcept { return reruns_; }
	bool done() const noexcept { return reruns_ >= maxReruns_; }

private:
	double best_;
	double worst_;
	unsigned runs_;
	std::uint32_t cpus_;
	unsigned maxReruns_;
	std::chrono::milliseconds idleFor_;
	unsigned reruns_ = 0;
	std::optional<Clock::time_point> idleSince_;
};

} // namespace dmdns::host
