// What this node believes of other servers: the trust rules of samples, loads and leaves.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/gossip_wire.h"

namespace dmdns::gossip {

// What became of a record offered to a table.
enum class Verdict {
	Applied,
	Stale,	 // older than what is held, or about a run that left
	Probe,	 // a relayed claim that contradicts the server's own word: ask it
	Refused, // no room, or not for this table
	Missing	 // a Load without its Sample (of that run) here: ask for it
};

// Per server: the newest sample, and the server's own last word (its
// anchor). A record the server sent itself ("first hand") replaces what is
// held whenever it is newer than the last first-hand one, whatever relays
// said. A relayed record (from a trusted relay: a key holder or a --peer)
// may only add load news on top of the server's own word: same incarnation
// and capacity, the same state, and a sequence the server could have
// reached since (at most one a kMinSampleMs, plus kSequenceSlack). A
// relayed leave, state change, capacity change or new incarnation is not
// believed: the caller probes the server and its answer decides. Liveness
// is a timer fed by what is applied.
class ServerTable final
{
public:
	static constexpr std::chrono::milliseconds kMinSampleMs{ 50 };
	// A first-hand record older than the anchor is late, unless the
	// server's own records keep coming older than it: then the anchor came
	// from a forged copy of the server's address. The first such record
	// asks for a probe (the server's answer carries a newer sequence); a
	// second one that has moved on, or any after this long, wins.
	static constexpr std::chrono::milliseconds kReanchorAfter{ 1000 };
	static constexpr std::uint64_t kSequenceSlack = 16;

	struct Entry {
		wire::Sample sample; // ageMs meaningless here: see origin
		SteadyTime origin{}; // when the server measured it, on our clock
		bool anchored = false;
		std::uint64_t anchorIncarnation = 0;
		std::uint64_t anchorSequence = 0;
		SteadyTime anchorTime{};
		// First-hand records older than the anchor: since when, and the
		// newest of them.
		std::optional<SteadyTime> staleSince;
		std::uint64_t staleIncarnation = 0;
		std::uint64_t staleSequence = 0;
		// The digest of the server's TXT as it said itself (a PROFILE), and
		// of which run: one per entry.
		std::optional<std::uint64_t> profile;
		std::uint64_t profileIncarnation = 0;
	};

	ServerTable(std::size_t maxServers, std::size_t maxLeaves, std::chrono::milliseconds forgetAfter);

	// Servers the caller lists: kept while listed, never evicted by others.
	void pin(std::span<const std::uint64_t> servers);
	bool pinned(std::uint64_t id) const { return pinned_.contains(id); }

	Verdict sample(const wire::Sample &s, bool firstHand, SteadyTime now);
	// A first-hand Load is of @run, its datagram's incarnation (the
	// server's own): it carries only the low bits of it, which a forged
	// Sample of another run can share.
	Verdict load(const wire::Load &l, bool firstHand, std::uint64_t run, SteadyTime now);
	// Only a first-hand leave is applied; a relayed one asks for a probe.
	Verdict leave(const wire::Leave &l, bool firstHand, SteadyTime now);
	// Only the server's own PROFILE of the run its own samples speak for
	// (the anchor's) is taken; a relayed one is Refused, another run's Stale.
	Verdict profile(const wire::Profile &p, bool firstHand);
	// The digest the server's own PROFILE gave for the run it speaks for now.
	std::optional<std::uint64_t> profileDigest(std::uint64_t id) const;

	const Entry *find(std::uint64_t id) const;
	bool hasLeft(std::uint64_t id, std::uint64_t incarnation) const;
	bool leftAny(std::uint64_t id) const { return leaves_.contains(id); }
	void expire(SteadyTime now);

	const std::map<std::uint64_t, Entry> &entries() const noexcept { return servers_; }
	struct Left {
		std::uint64_t incarnation = 0; // runs up to this one ended
		SteadyTime heard{};
		// The newest sequence of that run heard from the server before:
		// anything newer from it means it still speaks.
		std::uint64_t lastSequence = 0;
	};
	const std::map<std::uint64_t, Left> &leaves() const noexcept
	{
		return leaves_;
	}
	std::uint64_t evicted() const noexcept { return evicted_; }

private:
	Verdict insert(const wire::Sample &s, bool firstHand, SteadyTime origin, SteadyTime now);
	// Whether a first-hand (incarnation, sequence) may replace @e's
	// anchor: Applied, Stale, or Probe (a jump or a conflict to check).
	// Only a full Sample (@full) may take the anchor back from a newer one:
	// a Load carries no incarnation or state of its own.
	Verdict firstHandVerdict(Entry &e, std::uint64_t incarnation, std::uint64_t sequence, bool full,
				 SteadyTime now) const;
	bool plausible(const Entry &e, std::uint64_t sequence, SteadyTime now) const;
	// A first-hand record of a run a LEAVE ended that is newer than what
	// the server had said of that run before: the server still speaks, so
	// the leave (a forged copy of its address) is void. True if so.
	bool stillSpeaking(std::uint64_t id, std::uint64_t incarnation, std::uint64_t sequence, SteadyTime now);

	std::size_t maxServers_;
	std::size_t maxLeaves_;
	std::chrono::milliseconds forgetAfter_;
	std::map<std::uint64_t, Entry> servers_;
	std::set<std::uint64_t> pinned_;
	std::map<std::uint64_t, Left> leaves_;
	std::uint64_t evicted_ = 0;
};

// Whether two samples of one server differ in their load at most.
bool sameCapacity(const wire::Sample &a, const wire::Sample &b) noexcept;

} // namespace dmdns::gossip
