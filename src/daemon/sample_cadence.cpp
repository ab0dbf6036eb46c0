// How often the advertiser samples the load: fast while it changes, backing off while it does not.
#include "daemon/sample_cadence.h"

#include <algorithm>
#include <cmath>

namespace dmdns {

bool loadChanged(const host::LoadReading &before, const host::LoadReading &now, std::uint32_t cpus) noexcept
{
	const double jitter = std::max(1.0, cpus / 4.0);
	return before.listening != now.listening || before.distccd != now.distccd || before.running != now.running ||
	       std::abs(before.runnable - now.runnable) >= jitter;
}

SampleCadence::SampleCadence(std::chrono::milliseconds fast, std::chrono::milliseconds slow) noexcept
	: fast_(std::max(fast, std::chrono::milliseconds(1))), slow_(std::max(slow, fast_)), current_(fast_)
{
}

std::chrono::milliseconds SampleCadence::next(bool changed) noexcept
{
	current_ = changed ? fast_ : std::min(current_ * 2, slow_);
	return current_;
}

} // namespace dmdns
