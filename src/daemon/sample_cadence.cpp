// What counts as a change of load for the advertiser's SampleCadence.
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

} // namespace dmdns
