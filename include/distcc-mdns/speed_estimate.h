// Learned server speed: a robust two-way fit of clients' job times, anchored to the advertised speeds.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

namespace dmdns {

// What the planner knows of one server's speed, and why it uses what it uses.
struct SpeedEstimate {
	double benchmark = 1.0;	       // what the server advertises (TXT/sample speed)
	std::optional<double> learned; // from jobs, in the same unit; empty without enough evidence
	std::uint32_t jobs = 0;	       // jobs behind `learned`, over all sources (decayed)
	std::uint32_t sources = 0;     // sources (one per address, or per key holder) that reported it
	double used = 1.0;	       // what the planner uses

	bool operator==(const SpeedEstimate &) const = default;
};

// One source's summary of its own remote jobs on one server.
struct SpeedReport {
	std::uint64_t server = 0;
	std::string source;   // who measured: an address, a key holder's id, "" for this node
	double logTime = 0.0; // mean ln(wall milliseconds), corrected for the server's contention
	double weight = 0.0;  // jobs behind it, decayed with age
	bool own = false;     // this node's own jobs
};

struct SpeedPolicy {
	// The benchmark counts as this many jobs while it agrees with the jobs
	// (within priorAgree); its weight falls to nothing at priorRefute
	// times off: a benchmark that far from the evidence is wrong (a busy
	// second at start, or a lie).
	double priorJobs = 10.0;
	double priorAgree = 1.5;
	double priorRefute = 3.0;
	// Jobs (decayed) before a learned speed is given at all, and before a
	// source's word on a server counts as a vote.
	double minJobs = 5.0;
	double minVoteJobs = 3.0;
	// No source weighs more than this many jobs: its own claim of how
	// many jobs it ran is only a claim.
	double maxWeight = 100.0;
	// Without this node's own evidence and without two sources, the learned
	// speed moves the used one at most this factor from the benchmark;
	// with own evidence, others move it at most this factor from it.
	double boundedFactor = 2.0;
	unsigned iterations = 8;
};

// Model: a job of client c on server s takes T = size / speed_s, and the
// picker spreads a build's units over servers regardless of their size,
// so a client's mean ln T on s estimates u_c - v_s with v_s = ln speed_s
// and u_c the (unknown) ln of that client's typical unit. Only differences
// within one client are comparable. fit() alternates medians: u_c over the
// servers a client used, then v_s over the clients that used s (one vote
// each), and finally shifts every v_s by the median over servers of
// (v_s - ln benchmark_s): the learned speeds are in the advertised unit,
// and one rogue `speed=1000` does not move the scale.
class SpeedModel final
{
public:
	explicit SpeedModel(SpeedPolicy policy = {});

	// Fits @reports; @benchmarks holds each server's advertised speed (the
	// anchor and the starting point; servers missing there start at 1).
	void fit(std::span<const SpeedReport> reports, const std::map<std::uint64_t, double> &benchmarks);

	// The estimate for @server advertising @advertised (any positive
	// speed; clamped into [kMinSpeed, kMaxSpeed]).
	SpeedEstimate estimate(std::uint64_t server, double advertised) const;

	const SpeedPolicy &policy() const noexcept { return policy_; }

private:
	struct Fitted {
		double logSpeed = 0.0; // the median of the votes, anchored
		double weight = 0.0;   // all sources' jobs
		std::uint32_t sources = 0;
		std::optional<double> own; // this node's own jobs' verdict, anchored
	};

	SpeedPolicy policy_;
	std::map<std::uint64_t, Fitted> fitted_;
};

} // namespace dmdns
