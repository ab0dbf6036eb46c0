// How often a server samples its load: fast while it changes, backing off while it does not.
#pragma once

#include <chrono>

namespace dmdns {

// The delay before the next sample: @fast (--sample-interval) after a
// change, doubled after each sample that shows none, up to @slow. A change
// seen brings it straight back to @fast, so a build that starts while the
// host idles is seen at most @slow late and then followed at @fast. The
// advertiser samples by it, and gossip-sim's servers do too.
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
