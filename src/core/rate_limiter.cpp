// Per-source token buckets: how many datagrams one address may make this node handle.
#include "distcc-mdns/gossip/rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace dmdns::gossip {

RateLimiter::RateLimiter(double rate, double burst, std::size_t maxSources)
	: rate_(rate), burst_(burst), maxSources_(maxSources)
{
	if (!(rate >= 0.0) || !(burst >= 1.0) || maxSources == 0)
		throw std::invalid_argument("rate limiter: rate >= 0, burst >= 1 and room for a source");
}

bool RateLimiter::admit(const std::string &source, SteadyTime now)
{
	auto it = buckets_.find(source);
	if (it == buckets_.end()) {
		if (buckets_.size() >= maxSources_) {
			buckets_.erase(std::min_element(buckets_.begin(), buckets_.end(), [](const auto &a, const auto &b) {
				return a.second.last < b.second.last;
			}));
			++evicted_;
		}
		it = buckets_.emplace(source, Bucket{ burst_, now }).first;
	}
	Bucket &b = it->second;
	const double elapsed = std::chrono::duration<double>(now - b.last).count();
	if (elapsed > 0) {
		b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
		b.last = now;
	}
	if (b.tokens < 1.0)
		return false;
	b.tokens -= 1.0;
	return true;
}

void RateLimiter::expire(SteadyTime now)
{
	const double refill = rate_ > 0 ? burst_ / rate_ : 3600.0;
	std::erase_if(buckets_, [&](const auto &kv) {
		return std::chrono::duration<double>(now - kv.second.last).count() > refill;
	});
}

} // namespace dmdns::gossip
