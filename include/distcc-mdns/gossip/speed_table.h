// Job-time evidence of server speed: this node's own windows and other clients' reports, bounded and decayed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/gossip/server_table.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/speed_estimate.h"

namespace dmdns::gossip {

// What SpeedTable takes of GossipConfig (which see).
struct SpeedSettings {
	std::chrono::milliseconds halfLife{ 600000 };
	double halfLifeJobs = 64.0;
	std::size_t maxServers = 512;
	std::size_t maxReports = 4096;
};

// Per server, this node's own jobs as one window: the mean of their
// (contention-corrected) ln wall time and their count, both decayed by job
// (halfLifeJobs) and by time (halfLife), so that a server that changed
// (a new CPU, a new neighbour) is judged by its recent jobs. A job's time
// is winsorized to the window's mean +- ln 4 once the window holds a few
// jobs: one huge unit or a stall moves the mean by a bounded step.
//
// Others' reports are keyed by who reports (its address without a key, so
// that one address is one source whatever ids it invents; its id with a
// key) and server; a newer report of the same client replaces the older.
// Both tables are bounded: the least recently updated entry goes first.
class SpeedTable final
{
public:
	// Window bounds: counts saturate, and a window never weighs more than
	// its decay lets it (1 / (1 - decay per job)).
	static constexpr double kWinsor = 1.3862943611198906; // ln 4
	static constexpr double kMinWinsorJobs = 4.0;
	static constexpr std::uint32_t kMaxJobs = 65535;
	// A job's share of a core is at least this: a server claiming a huge
	// load cannot make its jobs count for nothing (and itself look fast).
	static constexpr double kMinShare = 0.25;
	// Per server, the shares of its newest samples kept.
	static constexpr std::size_t kShareHistory = 32;

	struct Own {
		double logTime = 0.0;
		double weight = 0.0; // decayed jobs
		std::uint32_t jobs = 0;
		SteadyTime last{};
	};
	struct Report {
		wire::Speed speed;
		SteadyTime origin{}; // when its client last updated it, on our clock
	};

	explicit SpeedTable(const SpeedSettings &settings);

	// One own remote job on @server whose corrected wall time has the
	// natural log @logTime (of milliseconds), ended at @end.
	const Own &record(std::uint64_t server, double logTime, SteadyTime end);
	// The share of a core a job on @server had from @at on, as the
	// server's sample measured then (cores / max(cores, running, runnable)).
	void contention(std::uint64_t server, SteadyTime at, const wire::Sample &sample);
	// A job's mean share of a core over [@start, @end] on @server, from
	// the samples kept (the oldest one's share before it); 1 without any.
	double share(std::uint64_t server, SteadyTime start, SteadyTime end) const;
	// A report of client @source (the trust key); Stale when not newer
	// than what is held of the same client id.
	Verdict report(const std::string &source, const wire::Speed &speed, SteadyTime now);
	void forget(const std::string &source);
	void expire(SteadyTime now);

	// Everything as the estimator takes it, weights decayed to @now.
	std::vector<SpeedReport> reports(SteadyTime now) const;
	// This node's own window on @server decayed to @now: what it reports.
	double ownWeight(const Own &own, SteadyTime now) const;

	const std::map<std::uint64_t, Own> &own() const noexcept { return own_; }
	const std::map<std::pair<std::string, std::uint64_t>, Report> &others() const noexcept { return others_; }
	std::uint64_t evicted() const noexcept { return evicted_; }

private:
	double timeDecay(SteadyTime from, SteadyTime to) const;

	SpeedSettings settings_;
	std::map<std::uint64_t, Own> own_;
	std::map<std::uint64_t, std::vector<std::pair<SteadyTime, double>>> shares_; // in time order
	std::map<std::pair<std::string, std::uint64_t>, Report> others_;	     // source, server
	std::uint64_t evicted_ = 0;
};

} // namespace dmdns::gossip
