// The token and demand rule of distcc-mdns-run (include/distcc-mdns/token_policy.h).
#include "distcc-mdns/token_policy.h"

#include <algorithm>

#include "distcc-mdns/hosts_line.h"

namespace dmdns {

double tailSpeedFloor(const std::vector<LineSlot> &line) noexcept
{
	double fastest = 0.0;
	for (const LineSlot &s : line)
		fastest = std::max(fastest, s.speed);
	return fastest / TokenPolicy::kTailRatio;
}

void TokenPolicy::observe(const TokenUse &use)
{
	if (use.inUse > 0)
		started_ = true;
	// Idle tokens while make still starts jobs are its ramp, not a tail.
	const bool growing = use.inUse > lastInUse_;
	lastInUse_ = use.inUse;
	if (use.idle > 0) {
		idleRuns_ = growing ? 0 : std::min(idleRuns_ + 1, kConfirm);
		busyRuns_ = 0;
	} else if (use.heldBack == 0) {
		busyRuns_ = std::min(busyRuns_ + 1, kConfirm);
		idleRuns_ = 0;
	}
	// With tokens held back, the runner takes every returning token out of
	// the pipe: no idle token says nothing about whether make waits.
	if (!tail_ && started_ && idleRuns_ >= kConfirm)
		tail_ = true;
	else if (tail_ && busyRuns_ >= kConfirm)
		tail_ = false;
}

TokenDecision TokenPolicy::decide(const std::optional<ShareAnswer> &answer, const TokenUse &use,
				  std::uint32_t localSlots) const
{
	TokenDecision d;
	d.tail = tail_;
	std::uint64_t jobs = localSlots;
	if (answer) {
		// The fastest slot this machine has counts too: in the tail a remote
		// slot much slower than the local CPUs is not worth a job either.
		std::vector<LineSlot> slots = answer->line;
		const bool localListed = std::any_of(slots.begin(), slots.end(), [](const LineSlot &s) { return s.local; });
		if (!localListed)
			slots.push_back({ answer->localSpeed, answer->localSlots, true });
		const double floor = tail_ ? tailSpeedFloor(slots) : 0.0;
		std::uint64_t remote = 0, localJobs = 0;
		double localSpeed = 0.0, fastestRemote = 0.0;
		for (const LineSlot &s : slots) {
			if (s.local) {
				localJobs += s.limit;
				localSpeed = std::max(localSpeed, s.speed);
				continue;
			}
			if (s.speed < floor)
				continue;
			remote += s.limit;
			fastestRemote = std::max(fastestRemote, s.speed);
		}
		// In the body this machine's CPUs are capacity like any server's
		// (preprocessing costs a few percent of a compile: 0.12 s of user
		// time against 7.2 s for json_codec.cpp at -O2 here); in the tail
		// a compile here must beat waiting for a faster server strictly.
		d.localCompiles = !tail_ || remote == 0 || localSpeed > fastestRemote || localSpeed > floor;
		// One local slot preprocesses and links for a line of many remote
		// slots (the rule above).
		const std::uint32_t local = answer->localSlots;
		d.localCompileSlots = remote >= local && local > 0 ? local - 1 : local;
		if (d.localCompileSlots == 0)
			d.localCompiles = false;
		// In the body every token is a compile with a slot of its own: a
		// token for the CPU kept from compiling would be a compile that
		// distcc parks until a slot frees, while make's later jobs take
		// the slots that free meanwhile (it looks again only after
		// DISTCC_PAUSE_TIME_MSEC). In the tail the local slots count in
		// full: a job there waits for a faster server on purpose.
		jobs = remote + (tail_ ? localJobs : std::min<std::uint64_t>(localJobs, d.localCompileSlots));
		if (tail_) {
			// The jobs running (the implicit one included) plus one.
			const std::uint64_t cap = std::uint64_t(use.inUse) + 2;
			d.want = static_cast<std::uint32_t>(std::min(remote, cap));
		} else {
			d.want = std::max(answer->farmSlots, static_cast<std::uint32_t>(std::min<std::uint64_t>(remote, UINT32_MAX)));
		}
	}
	if (maxJobs_)
		jobs = std::min<std::uint64_t>(jobs, *maxJobs_);
	// The implicit token is every make's own: never handed out.
	d.target = jobs == 0 ? 0 : static_cast<unsigned>(std::min<std::uint64_t>(jobs - 1, 1u << 20));
	return d;
}

std::string withLocalCompileSlots(const std::string &line, std::uint32_t compileSlots, std::uint32_t localSlots)
{
	if (compileSlots == 0)
		return withoutLocalCompiles(line, localSlots);
	HostsLineParse parse = parseHostsLine(line);
	if (!parse.line)
		return line;
	std::vector<HostSpec> &hosts = parse.line->hosts;
	const auto local = [](const HostSpec &h) { return h.kind == HostSpec::Kind::Local; };
	if (std::all_of(hosts.begin(), hosts.end(), local) || std::none_of(hosts.begin(), hosts.end(), local))
		return line;
	for (HostSpec &h : hosts)
		if (local(h))
			h.limit = compileSlots;
	if (!parse.line->localSlots)
		parse.line->localSlots = localSlots;
	return writeHostsLine(*parse.line);
}

std::string withoutLocalCompiles(const std::string &line, std::uint32_t localSlots)
{
	HostsLineParse parse = parseHostsLine(line);
	if (!parse.line)
		return line;
	std::vector<HostSpec> &hosts = parse.line->hosts;
	const auto local = [](const HostSpec &h) { return h.kind == HostSpec::Kind::Local; };
	if (std::all_of(hosts.begin(), hosts.end(), local))
		return line;
	std::erase_if(hosts, local);
	if (!parse.line->localSlots)
		parse.line->localSlots = localSlots;
	return writeHostsLine(*parse.line);
}

} // namespace dmdns
