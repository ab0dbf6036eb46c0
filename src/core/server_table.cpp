// What this node believes of other servers: the trust rules of samples, loads and leaves.
#include "distcc-mdns/gossip/server_table.h"

#include <algorithm>
#include <stdexcept>

namespace dmdns::gossip {

namespace {

using std::chrono::milliseconds;

bool newer(std::uint64_t incA, std::uint64_t seqA, std::uint64_t incB, std::uint64_t seqB) noexcept
{
	return incA != incB ? incA > incB : seqA > seqB;
}

} // namespace

bool sameCapacity(const wire::Sample &a, const wire::Sample &b) noexcept
{
	return a.server == b.server && a.incarnation == b.incarnation && a.slots == b.slots && a.cpus == b.cpus &&
	       a.speed == b.speed && a.state == b.state && a.lzo == b.lzo && a.cpp == b.cpp && a.port == b.port;
}

ServerTable::ServerTable(std::size_t maxServers, std::size_t maxLeaves, milliseconds forgetAfter)
	: maxServers_(maxServers), maxLeaves_(maxLeaves), forgetAfter_(forgetAfter)
{
	if (maxServers == 0 || maxLeaves == 0)
		throw std::invalid_argument("server table needs room");
}

void ServerTable::pin(std::span<const std::uint64_t> servers)
{
	pinned_.clear();
	for (std::uint64_t id : servers) {
		if (pinned_.size() >= maxServers_)
			break;
		pinned_.insert(id);
	}
}

const ServerTable::Entry *ServerTable::find(std::uint64_t id) const
{
	auto it = servers_.find(id);
	return it == servers_.end() ? nullptr : &it->second;
}

bool ServerTable::hasLeft(std::uint64_t id, std::uint64_t incarnation) const
{
	auto it = leaves_.find(id);
	return it != leaves_.end() && it->second.incarnation >= incarnation;
}

bool ServerTable::plausible(const Entry &e, std::uint64_t sequence, SteadyTime now) const
{
	if (!e.anchored)
		return true;
	const auto since = std::chrono::duration_cast<milliseconds>(now - e.anchorTime).count();
	const std::uint64_t reach = static_cast<std::uint64_t>(std::max<long long>(since, 0)) / kMinSampleMs.count();
	return sequence <= e.anchorSequence + reach + kSequenceSlack;
}

Verdict ServerTable::firstHandVerdict(Entry &e, std::uint64_t incarnation, std::uint64_t sequence, bool full,
				      SteadyTime now) const
{
	if (!e.anchored) {
		e.staleSince.reset();
		return Verdict::Applied;
	}
	if (incarnation == e.anchorIncarnation && sequence == e.anchorSequence)
		return Verdict::Stale; // a copy of the anchor: nothing new
	if (newer(incarnation, sequence, e.anchorIncarnation, e.anchorSequence)) {
		// A sequence the server could not have reached since its last word
		// is checked with the server before it freezes what follows.
		if (incarnation == e.anchorIncarnation && !plausible(e, sequence, now))
			return Verdict::Probe;
		e.staleSince.reset();
		return Verdict::Applied;
	}
	// Older than the anchor. Late, once; a stream of them means the
	// anchor was forged.
	if (!e.staleSince) {
		// A Load's incarnation is the held sample's, not its own: it marks
		// the time only, and any full Sample after it has moved on.
		e.staleSince = now;
		e.staleIncarnation = full ? incarnation : 0;
		e.staleSequence = full ? sequence : 0;
		return Verdict::Probe;
	}
	const bool movedOn = newer(incarnation, sequence, e.staleIncarnation, e.staleSequence);
	if (!full || (!movedOn && now - *e.staleSince < kReanchorAfter))
		return Verdict::Probe; // ask again (the caller paces it): its answer is a full Sample
	e.staleSince.reset();
	return Verdict::Applied;
}

Verdict ServerTable::insert(const wire::Sample &s, bool firstHand, SteadyTime origin, SteadyTime now)
{
	if (servers_.size() >= maxServers_) {
		// Make room by the stalest unpinned sample; a flood of made-up ids
		// can churn among themselves but never push out a listed server.
		auto victim = servers_.end();
		for (auto it = servers_.begin(); it != servers_.end(); ++it) {
			if (pinned_.contains(it->first))
				continue;
			if (victim == servers_.end() || it->second.origin < victim->second.origin)
				victim = it;
		}
		++evicted_;
		if (victim == servers_.end() || (!pinned_.contains(s.server) && victim->second.origin >= origin))
			return Verdict::Refused;
		servers_.erase(victim);
	}
	Entry e;
	e.sample = s;
	e.origin = origin;
	if (firstHand) {
		e.anchored = true;
		e.anchorIncarnation = s.incarnation;
		e.anchorSequence = s.sequence;
		e.anchorTime = now;
	}
	servers_.emplace(s.server, e);
	return Verdict::Applied;
}

bool ServerTable::stillSpeaking(std::uint64_t id, std::uint64_t incarnation, std::uint64_t sequence,
				SteadyTime now)
{
	auto it = leaves_.find(id);
	if (it == leaves_.end() || it->second.incarnation < incarnation)
		return false;
	// A server that left sends nothing newer of that run, nor anything of
	// it a while later: the leave was a forged copy of its address.
	if (incarnation == it->second.incarnation && sequence <= it->second.lastSequence &&
	    now - it->second.heard < kReanchorAfter)
		return false;
	leaves_.erase(it);
	return true;
}

Verdict ServerTable::sample(const wire::Sample &s, bool firstHand, SteadyTime now)
{
	if (milliseconds(s.ageMs) > forgetAfter_)
		return Verdict::Stale;
	if (hasLeft(s.server, s.incarnation) && !(firstHand && stillSpeaking(s.server, s.incarnation, s.sequence, now)))
		return Verdict::Stale;
	const SteadyTime origin = now - milliseconds(s.ageMs);
	auto it = servers_.find(s.server);
	if (it == servers_.end())
		return insert(s, firstHand, origin, now);
	Entry &e = it->second;
	if (firstHand) {
		// The server's own word: judged against its own last word only,
		// so that no relayed sequence can make it look old.
		if (const Verdict v = firstHandVerdict(e, s.incarnation, s.sequence, true, now); v != Verdict::Applied)
			return v;
		e.sample = s;
		e.origin = origin;
		e.anchored = true;
		e.anchorIncarnation = s.incarnation;
		e.anchorSequence = s.sequence;
		e.anchorTime = now;
		return Verdict::Applied;
	}
	if (!newer(s.incarnation, s.sequence, e.sample.incarnation, e.sample.sequence))
		return Verdict::Stale;
	if (e.anchored && (s.incarnation != e.anchorIncarnation || !sameCapacity(e.sample, s) ||
			   !plausible(e, s.sequence, now)))
		return Verdict::Probe;
	e.sample = s;
	// Newer news was not made before what is held: a relay's age can
	// only bring the origin forward, never make a speaking server look
	// silent.
	e.origin = std::max(e.origin, std::min(origin, now));
	return Verdict::Applied;
}

Verdict ServerTable::load(const wire::Load &l, bool firstHand, std::uint64_t run, SteadyTime now)
{
	auto it = servers_.find(l.server);
	if (it == servers_.end() || (it->second.sample.incarnation & 0xffff) != l.incarnation ||
	    (firstHand && it->second.sample.incarnation != run))
		return Verdict::Missing; // nothing of its run to apply it to
	Entry &e = it->second;
	// The Load carries the low 32 bits of the sequence; the rest is the held sample's.
	const std::uint64_t high = e.sample.sequence & ~std::uint64_t{ 0xffffffff };
	const std::uint64_t sequence = high | l.sequence;
	if (hasLeft(l.server, e.sample.incarnation) &&
	    !(firstHand && stillSpeaking(l.server, e.sample.incarnation, sequence, now)))
		return Verdict::Stale;
	if (firstHand) {
		if (const Verdict v = firstHandVerdict(e, e.sample.incarnation, sequence, false, now); v != Verdict::Applied)
			return v;
		e.anchored = true;
		e.anchorIncarnation = e.sample.incarnation;
		e.anchorSequence = sequence;
		e.anchorTime = now;
	} else {
		if (sequence <= e.sample.sequence)
			return Verdict::Stale;
		if (!plausible(e, sequence, now))
			return Verdict::Probe;
	}
	e.sample.sequence = sequence;
	e.sample.running = l.running;
	e.sample.runnable = l.runnable;
	// As for a relayed Sample: a newer Load never moves the origin back.
	e.origin = std::max(e.origin, now - milliseconds(l.ageMs));
	return Verdict::Applied;
}

Verdict ServerTable::leave(const wire::Leave &l, bool firstHand, SteadyTime now)
{
	if (!firstHand)
		return servers_.contains(l.node) ? Verdict::Probe : Verdict::Refused;
	auto it = leaves_.find(l.node);
	if (it != leaves_.end() && it->second.incarnation >= l.incarnation)
		return Verdict::Stale;
	if (it == leaves_.end() && leaves_.size() >= maxLeaves_) {
		leaves_.erase(std::min_element(leaves_.begin(), leaves_.end(), [](const auto &a, const auto &b) {
			return a.second.heard < b.second.heard;
		}));
		++evicted_;
	}
	std::uint64_t last = 0;
	if (auto e = servers_.find(l.node); e != servers_.end() && e->second.anchored &&
					    e->second.anchorIncarnation == l.incarnation)
		last = e->second.anchorSequence;
	leaves_[l.node] = Left{ l.incarnation, now, last };
	return Verdict::Applied;
}

Verdict ServerTable::profile(const wire::Profile &p, bool firstHand)
{
	// A digest decides which TXT a client believes: no one but the server
	// may say it, and only for the run whose samples it sends first-hand,
	// so that a replayed digest of an earlier run cannot bring back an old
	// TXT.
	if (!firstHand)
		return Verdict::Refused;
	auto it = servers_.find(p.server);
	if (it == servers_.end() || !it->second.anchored)
		return Verdict::Missing; // its Sample goes first, in the same datagram
	Entry &e = it->second;
	if (p.incarnation != e.anchorIncarnation || hasLeft(p.server, p.incarnation))
		return Verdict::Stale;
	e.profile = p.digest;
	e.profileIncarnation = p.incarnation;
	return Verdict::Applied;
}

std::optional<std::uint64_t> ServerTable::profileDigest(std::uint64_t id) const
{
	const Entry *e = find(id);
	if (!e || !e->profile || !e->anchored || e->profileIncarnation != e->anchorIncarnation)
		return std::nullopt;
	return e->profile;
}

void ServerTable::expire(SteadyTime now)
{
	std::erase_if(servers_, [&](const auto &kv) {
		return now - kv.second.origin > forgetAfter_ && !pinned_.contains(kv.first);
	});
	std::erase_if(leaves_, [&](const auto &kv) { return now - kv.second.heard > forgetAfter_; });
}

} // namespace dmdns::gossip
