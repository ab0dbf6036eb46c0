// The backup rule of distcc-mdns-run (include/distcc-mdns/backup_policy.h).
#include "distcc-mdns/backup_policy.h"

#include <algorithm>
#include <optional>

namespace dmdns {

bool BackupPolicy::pays(double from, double to, double elapsed) noexcept
{
	if (!(from > 0.0) || !(to > 0.0) || !(elapsed > 0.0))
		return false;
	// Expected work 2 e s: the copy ends after 2 e s / f + overhead, the
	// original after e more seconds.
	return 2.0 * elapsed * from / to + kOverhead < elapsed;
}

std::vector<BackupPick> BackupPolicy::pick(std::span<const RunningCompile> running,
					   std::span<const FreeSlots> entries, bool waiting)
{
	std::vector<BackupPick> picks;
	if (waiting)
		return picks;
	std::vector<unsigned> free;
	free.reserve(entries.size());
	for (const FreeSlots &e : entries)
		free.push_back(e.free);
	// The oldest compiles first: they are expected to run longest.
	std::vector<const RunningCompile *> order;
	for (const RunningCompile &c : running)
		if (!c.backedUp)
			order.push_back(&c);
	std::stable_sort(order.begin(), order.end(),
			 [](const RunningCompile *a, const RunningCompile *b) { return a->elapsed > b->elapsed; });
	for (const RunningCompile *c : order) {
		std::optional<std::size_t> best;
		for (std::size_t i = 0; i < entries.size(); ++i)
			if (free[i] > 0 && i != c->entry && (!best || entries[i].speed > entries[*best].speed))
				best = i;
		if (!best || !pays(c->speed, entries[*best].speed, c->elapsed))
			continue;
		--free[*best];
		picks.push_back({ c->id, *best });
	}
	return picks;
}

} // namespace dmdns
