// How many jobserver tokens a build under distcc-mdns-run gets, and what remote demand it asks the daemon for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dmdns {

// One entry of the hosts line the daemon gave, in line order.
struct LineSlot {
	double speed = 1.0;	 // relative, the unit of Server::speed
	std::uint32_t limit = 0; // the /N of the entry
	bool local = false;	 // localhost, or this machine listed as a server
};

// What the daemon's answer comes to for the policy.
struct ShareAnswer {
	std::vector<LineSlot> line; // listed entries only, in line order
	// This machine's own slots (localhost/N), counted once even when the
	// line leaves localhost out: they preprocess, link and run every rule
	// that is no compile.
	std::uint32_t localSlots = 1;
	double localSpeed = 1.0;
	// Remote slots of the whole farm that could take this build's jobs
	// (listed or spare): the body's want.
	std::uint32_t farmSlots = 0;
};

// What the jobserver's ledger says at one refresh (run::Jobserver::Status,
// the implicit token excluded).
struct TokenUse {
	unsigned idle = 0;     // tokens in the pipe no job waits for
	unsigned inUse = 0;    // jobs running besides the implicit one
	unsigned heldBack = 0; // tokens above the target still out with jobs
};

// The decision at one moment.
struct TokenDecision {
	std::uint32_t want = 0; // remote jobs to ask the daemon for
	unsigned target = 0;	// tokens, the implicit one excluded
	bool tail = false;
	// Whether the hosts file lists localhost as a place to compile. When
	// not, the file says --localslots=N instead (preprocessing, links,
	// rules that are no compile), and the local slots count in the tokens
	// in the tail only.
	bool localCompiles = true;
	// With localCompiles: how many of the local slots compile (the
	// localhost entry's /N, and the local tokens in the body); the others
	// preprocess and link.
	std::uint32_t localCompileSlots = 0;
};

// The rule (also in distcc-mdns-run(1)):
//
// - Tokens: in the body, the slots of the hosts file the build writes
//   added up (the remote entries plus the local slots that compile, below),
//   minus the implicit token every make has, capped by --max-jobs (jobs at
//   once, the implicit one included), never below 0: a token beyond them
//   would be a compile that distcc parks until a slot frees, while make's
//   later jobs take the slots that free meanwhile. In the tail the local
//   slots count in full (a job there waits for a faster server on
//   purpose). The daemon already shrank the limits to the fair share when
//   the farm is overloaded, so a shrinking share lowers the target.
// - Body (make takes every token, none lies idle): want = the farm's remote
//   slots; the daemon clamps it and applies the fair share.
// - Tail: idle tokens at three observations in a row (100 ms apart) while
//   the jobs running do not grow, once the build has run a job, mean make
//   has no job waiting. (While make is still starting jobs, right after a
//   build starts or the target grows, tokens lie idle for a moment
//   although jobs wait: that is no tail.) Then a slot
//   of speed s is worth a token only if a job started there now finishes
//   before it would by waiting for the next faster slot f to free up: a busy
//   job on f is on average half done, so waiting costs 0.5/f + 1/f = 1.5/f
//   against 1/s: use s only when s > f / 1.5. Hence want = the remote slots
//   of the line whose speed is at least the fastest listed speed / 1.5,
//   capped at the jobs running + 1, and the target counts only those slots
//   (and the local ones). Two observations without an idle token (and none
//   held back, which would hide idle ones) return to the body.
// - Local compiles: in the body this machine's slots compile like any
//   server's: its CPUs are capacity, and preprocessing for the remote jobs
//   costs a few percent of a compile (0.12 s of user time against 7.2 s
//   for this project's json_codec.cpp at -O2), so distcc(1)'s old advice
//   to leave a client with less than a fifth of the CPUs out of the list
//   would idle a fifth of this benchmark farm's capacity (1.43x the ideal
//   makespan against 1.05x, tools/bench-lan). One local slot is kept from
//   compiling once the line has at least as many remote slots as local
//   ones: preprocessing and sending a job costs a few percent of a compile
//   here, so twenty or more remote jobs in flight keep one CPU of this
//   machine busy, and links and the rules that are no compile need it too.
//   (A one-CPU machine then compiles nothing itself while servers have
//   slots, as distcc(1) advises.) In the tail a local slot
//   compiles only when it is faster than every listed server or strictly
//   faster than the tail's speed floor: a tie with waiting for a faster
//   server goes to the server, since this machine's CPUs also preprocess,
//   link and run the rules that are no compile. Otherwise the hosts file
//   leaves localhost out and says --localslots=N.
class TokenPolicy final
{
public:
	// Observations needed to enter or leave the tail.
	static constexpr unsigned kConfirm = 3;
	// A slower slot is used in the tail while its speed exceeds the fastest
	// one's divided by this.
	static constexpr double kTailRatio = 1.5;

	// @maxJobs: --max-jobs, jobs at once including the implicit one.
	explicit TokenPolicy(std::optional<unsigned> maxJobs = std::nullopt)
		: maxJobs_(maxJobs) { }

	// One refresh of the jobserver; moves into or out of the tail.
	void observe(const TokenUse &use);
	bool tail() const noexcept { return tail_; }

	// The want and target for @answer (nullopt: no daemon) and @use.
	TokenDecision decide(const std::optional<ShareAnswer> &answer, const TokenUse &use,
			     std::uint32_t localSlots) const;

private:
	std::optional<unsigned> maxJobs_;
	bool started_ = false; // a job besides the implicit one has run
	unsigned lastInUse_ = 0;
	bool tail_ = false;
	unsigned idleRuns_ = 0;
	unsigned busyRuns_ = 0;
};

// The speed a slot needs to be used in the tail: the fastest of @line
// divided by TokenPolicy::kTailRatio (0 for an empty line).
double tailSpeedFloor(const std::vector<LineSlot> &line) noexcept;

// @line with its localhost entries left out and distcc told
// --localslots=@localSlots instead (TokenDecision::localCompiles), so that
// this machine preprocesses, links and runs the local-only jobs but
// compiles nothing while servers have slots. A line that does not parse,
// or lists nothing but localhost, comes back as it was.
std::string withoutLocalCompiles(const std::string &line, std::uint32_t localSlots);

// @line with its localhost entry's limit set to @compileSlots (0: left
// out, as withoutLocalCompiles()) and distcc told --localslots=@localSlots
// for the jobs it keeps local. A line without a localhost entry, that
// does not parse, or lists nothing but localhost, comes back as it was.
std::string withLocalCompileSlots(const std::string &line, std::uint32_t compileSlots, std::uint32_t localSlots);

} // namespace dmdns
