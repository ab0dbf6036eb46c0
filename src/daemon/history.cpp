// The last ten minutes of the farm at one sample a second: per server busy and reserved slots, per client want and share.
#include "daemon/history.h"

#include <algorithm>
#include <limits>

namespace dmdns {

namespace {

std::uint16_t narrow(std::uint32_t value)
{
	return static_cast<std::uint16_t>(std::min<std::uint32_t>(value, std::numeric_limits<std::uint16_t>::max()));
}

} // namespace

void History::tick(std::span<const Point> servers, std::span<const Point> clients)
{
	++now_;
	put(servers_, servers);
	put(clients_, clients);
}

void History::put(Table &table, std::span<const Point> points)
{
	const std::uint64_t second = now_ - 1;
	// Series silent for a whole ring hold nothing more: their places go to
	// the keys of now.
	std::erase_if(table, [&](const auto &item) { return second - item.second->last >= kSamples; });
	for (const Point &p : points) {
		auto it = table.find(p.key);
		if (it == table.end()) {
			// Beyond the cap a key is not kept: the bound holds whatever
			// the farm.
			if (table.size() >= kMaxSeries)
				continue;
			auto ring = std::make_unique<Ring>();
			ring->since = ring->last = second;
			it = table.emplace(p.key, std::move(ring)).first;
		} else if (it->second->last == second) {
			continue; // a key at most once a second
		} else {
			// The seconds it was not recorded read 0 (at most a ring's worth
			// to clear).
			Ring &r = *it->second;
			for (std::uint64_t s = r.last + 1; s < second && s < r.last + 1 + kSamples; ++s) {
				r.first[s % kSamples] = 0;
				r.second[s % kSamples] = 0;
			}
			r.last = second;
		}
		Ring &r = *it->second;
		r.first[second % kSamples] = narrow(p.first);
		r.second[second % kSamples] = narrow(p.second);
	}
}

History::Series History::read(const Table &table, std::uint64_t key) const
{
	Series out;
	const auto it = table.find(key);
	if (it == table.end() || now_ == 0)
		return out;
	const Ring &r = *it->second;
	const std::uint64_t last = now_ - 1;
	const std::uint64_t from = std::max<std::uint64_t>(r.since, last + 1 >= kSamples ? last + 1 - kSamples : 0);
	out.first.reserve(last + 1 - from);
	out.second.reserve(last + 1 - from);
	for (std::uint64_t s = from; s <= last; ++s) {
		// Seconds after its last record (it went silent) read 0 too.
		const bool known = s <= r.last;
		out.first.push_back(known ? r.first[s % kSamples] : 0);
		out.second.push_back(known ? r.second[s % kSamples] : 0);
	}
	return out;
}

History::Series History::server(std::uint64_t key) const
{
	return read(servers_, key);
}

History::Series History::client(std::uint64_t key) const
{
	return read(clients_, key);
}

std::size_t History::bytes() const noexcept
{
	return (servers_.size() + clients_.size()) * kSeriesBytes;
}

} // namespace dmdns
