// How often a server samples its load: fast while it changes, backing off while it does not.
#include "distcc-mdns/sample_cadence.h"

#include <algorithm>

namespace dmdns {

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
