// This machine's relative speed: a short, fixed CPU workload timed at start.
#pragma once

#include <chrono>
#include <cstdint>

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

// Times the workload @runs times for about @each and keeps the fastest run,
// so that a moment of contention does not make the machine look slow;
// returns the speed in the unit of Server::speed, clamped to its bounds.
double measureSpeed(std::chrono::milliseconds each = std::chrono::milliseconds(20), unsigned runs = 4);

} // namespace dmdns::host
