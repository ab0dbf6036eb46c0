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

void SpeedTable::contention(std::uint64_t server, SteadyTime at, const wire::Sample &sample)
{
	const double cpus = std::max<double>(1.0, sample.cpus);
	const double busy = std::max({ static_cast<double>(sample.running), sample.runnable, cpus });
	const double share = std::max(kMinShare, cpus / busy);
	auto it = shares_.find(server);
	if (it == shares_.end()) {
		if (shares_.size() >= settings_.maxServers) {
			shares_.erase(oldest(shares_, [](const auto &h) { return h.back().first; }));
			++evicted_;
		}
		it = shares_.emplace(server, std::vector<std::pair<SteadyTime, double>>{}).first;
	}
	auto &history = it->second;
	// Samples arrive in order; a late one (relayed) only adds a point.
	const auto pos = std::upper_bound(history.begin(), history.end(), at,
					  [](SteadyTime t, const auto &point) { return t < point.first; });
	history.insert(pos, { at, share });
	if (history.size() > kShareHistory)
		history.erase(history.begin());
}

double SpeedTable::share(std::uint64_t server, SteadyTime start, SteadyTime end) const
{
	const auto it = shares_.find(server);
	if (it == shares_.end() || it->second.empty())
		return 1.0;
	const auto &history = it->second;
	if (end <= start) {
		// An instant: the share measured last before it.
		double s = history.front().second;
		for (const auto &[at, share] : history)
			if (at <= end)
				s = share;
		return s;
	}
	// Each sample's share holds until the next one.
	double sum = 0.0;
	for (std::size_t i = 0; i < history.size(); ++i) {
		const SteadyTime from = i == 0 ? std::min(start, history[i].first) : history[i].first;
		const SteadyTime to = i + 1 < history.size() ? history[i + 1].first : std::max(end, history[i].first);
		const SteadyTime a = std::max(from, start), b = std::min(to, end);
		if (a < b)
			sum += history[i].second * std::chrono::duration<double>(b - a).count();
	}
	return std::clamp(sum / std::chrono::duration<double>(end - start).count(), kMinShare, 1.0);
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
	std::erase_if(shares_, [&](const auto &kv) { return now - kv.second.back().first > forget; });
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
