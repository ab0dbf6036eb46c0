// How often the advertiser samples the load: fast while it changes, backing off while it does not.
#pragma once

#include <chrono>
#include <cstdint>

#include "host/probe.h"

namespace dmdns {

// Whether @now differs from @before in something the farm acts on:
// distccd listening or not, its job count, or the runnable tasks by as much
// as gossip calls news (a quarter of @cpus, at least one task; smaller
// moves are jitter, see sameLoad in src/core/own_news.cpp).
bool loadChanged(const host::LoadReading &before, const host::LoadReading &now, std::uint32_t cpus) noexcept;

// The delay before the next sample: @fast (--sample-interval) after a
// change, doubled after each sample that shows none, up to @slow. A change
// seen brings it straight back to @fast, so a build that starts while the
// host idles is seen at most @slow late and then followed at @fast.
class SampleCadence final
{
public:
	// @slow below @fast counts as @fast: a fixed cadence.
	SampleCadence(std::chrono::milliseconds fast, std::chrono::milliseconds slow) noexcept;

	// The delay after a sample; @changed: it showed a change.
	std::chrono::milliseconds next(bool changed) noexcept;
	std::chrono::milliseconds current() const noexcept { return current_; }

private:
	std::chrono::milliseconds fast_;
	std::chrono::milliseconds slow_;
	std::chrono::milliseconds current_;
};

} // namespace dmdns
