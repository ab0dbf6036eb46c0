// Job-time evidence of server speed: this node's own windows and other clients' reports, bounded and decayed.
#include "distcc-mdns/gossip/speed_table.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dmdns::gossip {

namespace {

using std::chrono::milliseconds;

// The least recently updated entry of @table (not empty).
template <typename Map, typename When>
typename Map::iterator oldest(Map &table, When when)
{
	return std::min_element(table.begin(), table.end(),
				[&](const auto &a, const auto &b) { return when(a.second) < when(b.second); });
}

} // namespace

SpeedTable::SpeedTable(const SpeedSettings &settings)
	: settings_(settings)
{
	if (settings_.maxServers == 0 || settings_.maxReports == 0 || settings_.halfLife <= milliseconds::zero() ||
	    !(settings_.halfLifeJobs >= 1.0))
		throw std::invalid_argument("speed table settings out of range");
}

double SpeedTable::timeDecay(SteadyTime from, SteadyTime to) const
{
	if (to <= from)
		return 1.0;
	const double age = std::chrono::duration<double>(to - from).count();
	const double half = std::chrono::duration<double>(settings_.halfLife).count();
	return std::exp2(-age / half);
}

const SpeedTable::Own &SpeedTable::record(std::uint64_t server, double logTime, SteadyTime end)
{
	logTime = std::clamp(logTime, 0.0, wire::kMaxSpeedLogTime);
	auto it = own_.find(server);
	if (it == own_.end()) {
		if (own_.size() >= settings_.maxServers) {
			own_.erase(oldest(own_, [](const Own &o) { return o.last; }));
			++evicted_;
		}
		it = own_.emplace(server, Own{ logTime, 0.0, 0, end }).first;
	}
	Own &o = it->second;
	if (o.weight >= kMinWinsorJobs)
		logTime = std::clamp(logTime, o.logTime - kWinsor, o.logTime + kWinsor);
	o.weight = o.weight * std::exp2(-1.0 / settings_.halfLifeJobs) * timeDecay(o.last, end) + 1.0;
	o.logTime += (logTime - o.logTime) / o.weight;
	o.jobs = std::min(o.jobs + 1, kMaxJobs);
	o.last = std::max(o.last, end);
	return o;
}

Verdict SpeedTable::report(const std::string &source, const wire::Speed &speed, SteadyTime now)
{
	const SteadyTime origin = now - milliseconds(speed.ageMs);
	const auto key = std::make_pair(source, speed.server);
	auto it = others_.find(key);
	if (it != others_.end()) {
		const wire::Speed &held = it->second.speed;
		// A record under another id from the same source replaces it
		// outright: one source, one word.
		if (held.client == speed.client && (speed.incarnation != held.incarnation
							    ? speed.incarnation < held.incarnation
							    : speed.sequence <= held.sequence))
			return Verdict::Stale;
		it->second = Report{ speed, origin };
		return Verdict::Applied;
	}
	if (others_.size() >= settings_.maxReports) {
		auto victim = oldest(others_, [](const Report &r) { return r.origin; });
		++evicted_;
		if (victim->second.origin >= origin)
			return Verdict::Refused;
		others_.erase(victim);
	}
	others_.emplace(key, Report{ speed, origin });
	return Verdict::Applied;
}

void SpeedTable::forget(const std::string &source)
{
	std::erase_if(others_, [&](const auto &kv) { return kv.first.first == source; });
}

void SpeedTable::expire(SteadyTime now)
{
	// Ten half-lives: what is left weighs a thousandth.
	const auto forget = settings_.halfLife * 10;
	std::erase_if(own_, [&](const auto &kv) { return now - kv.second.last > forget; });
	std::erase_if(others_, [&](const auto &kv) { return now - kv.second.origin > forget; });
}

double SpeedTable::ownWeight(const Own &own, SteadyTime now) const
{
	return own.weight * timeDecay(own.last, now);
}

std::vector<SpeedReport> SpeedTable::reports(SteadyTime now) const
{
	std::vector<SpeedReport> out;
	out.reserve(own_.size() + others_.size());
	for (const auto &[server, o] : own_)
		out.push_back({ server, std::string{}, o.logTime, ownWeight(o, now), true });
	for (const auto &[key, r] : others_)
		out.push_back({ key.second, key.first, r.speed.logTime,
				static_cast<double>(r.speed.jobs) * timeDecay(r.origin, now), false });
	return out;
}

} // namespace dmdns::gossip
