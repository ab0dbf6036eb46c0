// Automatic drain of a desktop whose owner is working: its own load, smoothed, against its cpus.
#pragma once

#include <chrono>
#include <cstdint>

namespace dmdns {

// Decides, sample by sample, whether a host should take no new jobs because
// work other than distcc's keeps its cpus busy. The runnable tasks not
// explained by distcc's jobs are smoothed over `window`, so a short spike
// (a browser tab, a link step) does not drain the host, and compared with
// `share` of the cpus; it comes back up only below half of that share, so
// it does not flap at the boundary.
class AutoDrain final
{
public:
	// @share in (0, 4]: drain when the owner's load exceeds share x cpus.
	explicit AutoDrain(double share, std::chrono::milliseconds window = std::chrono::seconds(10));

	// One reading: runnable tasks of the whole host, distcc jobs running
	// there, its cpus, and the time since the previous reading. Returns
	// whether the host should be drained now.
	bool update(double runnable, std::uint32_t distccJobs, std::uint32_t cpus, std::chrono::milliseconds elapsed);

	bool drained() const noexcept { return drained_; }
	// The smoothed load of the owner's own work, in tasks.
	double ownerLoad() const noexcept { return load_; }

private:
	double share_;
	std::chrono::milliseconds window_;
	double load_ = 0.0;
	bool drained_ = false;
};

} // namespace dmdns
