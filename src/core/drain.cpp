// Automatic drain of a desktop whose owner is working: its own load, smoothed, against its cpus.
#include "distcc-mdns/drain.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dmdns {

AutoDrain::AutoDrain(double share, std::chrono::milliseconds window)
	: share_(share), window_(window)
{
	if (!(share > 0.0 && share <= 4.0))
		throw std::invalid_argument("auto-drain share must be in (0, 4]");
	if (window <= std::chrono::milliseconds::zero())
		throw std::invalid_argument("auto-drain window must be positive");
}

bool AutoDrain::update(double runnable, std::uint32_t distccJobs, std::uint32_t cpus, std::chrono::milliseconds elapsed)
{
	// Each distcc job keeps about one task runnable; the rest is the owner's.
	const double own = std::max(0.0, (std::isfinite(runnable) ? runnable : 0.0) - distccJobs);
	// An exponential moving average with time constant window_.
	const double dt = std::max(0.0, static_cast<double>(elapsed.count()));
	const double alpha = 1.0 - std::exp(-dt / static_cast<double>(window_.count()));
	load_ += alpha * (own - load_);
	const double limit = share_ * std::max<std::uint32_t>(1, cpus);
	if (!drained_ && load_ > limit)
		drained_ = true;
	else if (drained_ && load_ < limit / 2)
		drained_ = false;
	return drained_;
}

} // namespace dmdns
