// Learned server speed: a robust two-way fit of clients' job times, anchored to the advertised speeds.
#include "distcc-mdns/speed_estimate.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>
#include <vector>

#include "distcc-mdns/server.h"

namespace dmdns {

namespace {

struct Vote {
	double value = 0.0;
	double weight = 1.0;
};

// The weighted median of @votes (not empty). Where the halves balance
// exactly (two sources, one vote each) it is the middle of the two
// values, or with @toward the one nearer to it: a liar paired with one
// honest source then moves nothing beyond what the honest one says.
double median(std::vector<Vote> votes, std::optional<double> toward = std::nullopt)
{
	std::sort(votes.begin(), votes.end(), [](const Vote &a, const Vote &b) { return a.value < b.value; });
	double total = 0.0;
	for (const Vote &v : votes)
		total += v.weight;
	const double half = total / 2.0, eps = total * 1e-9;
	double sum = 0.0;
	for (std::size_t i = 0; i < votes.size(); ++i) {
		sum += votes[i].weight;
		if (sum < half - eps)
			continue;
		if (sum > half + eps || i + 1 == votes.size())
			return votes[i].value;
		const double lo = votes[i].value, hi = votes[i + 1].value;
		if (!toward)
			return (lo + hi) / 2.0;
		return std::abs(lo - *toward) <= std::abs(hi - *toward) ? lo : hi;
	}
	return votes.back().value;
}

double clampSpeed(double speed) noexcept
{
	if (!(speed >= kMinSpeed))
		return kMinSpeed;
	return std::min(speed, kMaxSpeed);
}

} // namespace

SpeedModel::SpeedModel(SpeedPolicy policy)
	: policy_(policy)
{
	if (!(policy_.priorJobs >= 0.0) || !(policy_.minJobs > 0.0) || !(policy_.minVoteJobs >= 0.0) ||
	    !(policy_.maxWeight >= policy_.minJobs) || !(policy_.boundedFactor >= 1.0) ||
	    !(policy_.priorAgree >= 1.0) || !(policy_.priorRefute > policy_.priorAgree) || policy_.iterations == 0)
		throw std::invalid_argument("speed policy out of range");
}

void SpeedModel::fit(std::span<const SpeedReport> reports, const std::map<std::uint64_t, double> &benchmarks)
{
	fitted_.clear();
	struct Entry {
		std::size_t source = 0;
		std::size_t server = 0;
		double logTime = 0.0;
		double weight = 0.0;
	};
	std::map<std::pair<bool, std::string>, std::size_t> sourceIndex;
	std::map<std::uint64_t, std::size_t> serverIndex;
	std::vector<std::uint64_t> serverIds;
	std::vector<Entry> entries;
	std::optional<std::size_t> ownSource;
	for (const SpeedReport &r : reports) {
		if (r.server == 0 || !std::isfinite(r.logTime) || !(r.weight > 0.0))
			continue;
		const auto [src, newSource] = sourceIndex.try_emplace({ r.own, r.source }, sourceIndex.size());
		(void)newSource;
		if (r.own)
			ownSource = src->second;
		const auto [srv, newServer] = serverIndex.try_emplace(r.server, serverIndex.size());
		if (newServer)
			serverIds.push_back(r.server);
		entries.push_back({ src->second, srv->second, r.logTime, std::min(r.weight, policy_.maxWeight) });
	}
	if (entries.empty())
		return;

	auto logBenchmark = [&](std::size_t s) -> std::optional<double> {
		const auto it = benchmarks.find(serverIds[s]);
		if (it == benchmarks.end())
			return std::nullopt;
		return std::log(clampSpeed(it->second));
	};
	std::vector<double> u(sourceIndex.size(), 0.0), v(serverIds.size(), 0.0), weight(serverIds.size(), 0.0);
	std::vector<std::vector<const Entry *>> bySource(u.size()), byServer(v.size());
	for (const Entry &e : entries) {
		bySource[e.source].push_back(&e);
		byServer[e.server].push_back(&e);
		weight[e.server] += e.weight;
	}
	for (std::size_t s = 0; s < v.size(); ++s)
		v[s] = logBenchmark(s).value_or(0.0);

	// A source's say on a server counts once it ran a few jobs there; a
	// server only such sources know takes all of them.
	auto votes = [&](std::size_t s, double shift) {
		std::vector<Vote> out;
		for (const Entry *e : byServer[s])
			if (e->weight >= policy_.minVoteJobs)
				out.push_back({ u[e->source] - shift - e->logTime, 1.0 });
		if (out.empty())
			for (const Entry *e : byServer[s])
				out.push_back({ u[e->source] - shift - e->logTime, 1.0 });
		return out;
	};
	for (unsigned round = 0; round < policy_.iterations; ++round) {
		for (std::size_t c = 0; c < u.size(); ++c) {
			std::vector<Vote> own;
			for (const Entry *e : bySource[c])
				own.push_back({ e->logTime + v[e->server], e->weight });
			u[c] = median(std::move(own));
		}
		for (std::size_t s = 0; s < v.size(); ++s)
			v[s] = median(votes(s, 0.0));
	}

	// The anchor: the servers' own benchmarks, by their median offset; the
	// well-known servers' when there are any.
	std::vector<Vote> offsets, all;
	for (std::size_t s = 0; s < v.size(); ++s) {
		const std::optional<double> b = logBenchmark(s);
		if (!b)
			continue;
		all.push_back({ v[s] - *b, 1.0 });
		if (weight[s] >= policy_.minJobs)
			offsets.push_back({ v[s] - *b, 1.0 });
	}
	const double shift = !offsets.empty() ? median(offsets) : !all.empty() ? median(all)
									       : 0.0;

	for (std::size_t s = 0; s < v.size(); ++s) {
		Fitted f;
		std::vector<Vote> ballot = votes(s, shift);
		f.sources = static_cast<std::uint32_t>(ballot.size());
		f.logSpeed = median(std::move(ballot), logBenchmark(s).value_or(0.0));
		f.weight = weight[s];
		if (ownSource)
			for (const Entry *e : byServer[s])
				if (e->source == *ownSource && e->weight >= policy_.minJobs)
					f.own = u[e->source] - shift - e->logTime;
		fitted_[serverIds[s]] = f;
	}
}

SpeedEstimate SpeedModel::estimate(std::uint64_t server, double advertised) const
{
	SpeedEstimate e;
	e.benchmark = clampSpeed(advertised);
	e.used = e.benchmark;
	const auto it = fitted_.find(server);
	if (it == fitted_.end())
		return e;
	const Fitted &f = it->second;
	e.jobs = static_cast<std::uint32_t>(std::min(std::round(f.weight), 4294967295.0));
	e.sources = f.sources;
	if (f.weight < policy_.minJobs)
		return e;
	e.learned = clampSpeed(std::exp(f.logSpeed));

	// How far the evidence may move the speed: anywhere with this node's
	// own jobs behind it (others then move it at most boundedFactor from
	// what this node measured); with fewer than two sources and none of
	// them this node, at most boundedFactor from the benchmark.
	const double logB = std::log(e.benchmark), bound = std::log(policy_.boundedFactor);
	double logSpeed = f.logSpeed;
	if (f.own)
		logSpeed = std::clamp(logSpeed, *f.own - bound, *f.own + bound);
	else if (f.sources < 2)
		logSpeed = std::clamp(logSpeed, logB - bound, logB + bound);

	// The benchmark as a prior of priorJobs jobs while it agrees with the
	// evidence, of none once it is refuted.
	const double off = std::abs(logSpeed - logB);
	const double agree = std::log(policy_.priorAgree), refute = std::log(policy_.priorRefute);
	const double prior = policy_.priorJobs * std::clamp((refute - off) / (refute - agree), 0.0, 1.0);
	e.used = clampSpeed(std::exp((f.weight * logSpeed + prior * logB) / (f.weight + prior)));
	return e;
}

} // namespace dmdns
