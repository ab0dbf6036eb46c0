// The peers a node gossips with, and which addresses speak for which node.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/directory.h"

namespace dmdns {

// A peer's UDP address as the daemon knows it (numeric address and port).
struct Endpoint {
	std::string address;
	std::uint16_t port = 0;

	auto operator<=>(const Endpoint &) const = default;
};

} // namespace dmdns

namespace dmdns::gossip {

struct Peer {
	Endpoint endpoint;
	std::uint64_t node = 0;		   // sender id of its last accepted datagram
	std::optional<SteadyTime> heard;   // its last accepted datagram
	std::optional<SteadyTime> replied; // our last full answer to it
	std::uint64_t listAnswered = 0;	   // the own client list (its sequence) a full answer last carried
	std::uint64_t whereAnswered = 0;   // the digest of the WHEREs a full answer last carried
	std::optional<SteadyTime> whereAt; // when
	std::optional<SteadyTime> probed;  // our last direct request while it was suspect
	std::optional<SteadyTime> hello;   // our last request while it had not answered
	unsigned hellos = 0;		   // requests unanswered in a row: their spacing doubles
	std::optional<SteadyTime> pulled;  // our last pull of a --peer
	std::optional<SteadyTime> paced;   // its next paced turn: our newest load (and client list)
	std::uint64_t listSent = 0;	   // the own client list (its sequence) a paced turn last carried
	std::optional<SteadyTime> listAt;  // when
	bool learnt = false;		   // it wrote to us first; forgotten when silent
	bool pull = false;		   // a --peer: trusted relay, asked for news every heartbeat
	bool relayed = false;		   // a WHERE named it: asked as a --peer is, trusted as none
};

// Who a node is: the addresses the caller vouches for (the servers' own
// addresses from mDNS, a --peer's), else the first address that spoke as it
// (taken over only once that address has been silent for @silence). A
// datagram whose sender id is a node, from an address that speaks for it,
// is that node's own word; anything else it says about others is relayed.
class PeerTable final
{
public:
	PeerTable(std::size_t maxPeers, std::size_t maxNodes, std::chrono::milliseconds silence);

	// Adds a peer the caller found; false if known (it is then no longer
	// learnt, nor relayed). Past the bound the peer heard from least recently goes,
	// learnt ones first.
	bool add(const Endpoint &endpoint, bool pull);
	bool remove(const Endpoint &endpoint);
	Peer *find(const Endpoint &endpoint);
	const Peer *find(const Endpoint &endpoint) const;
	// A node that wrote first becomes a learnt peer (one per address);
	// nullptr when only the caller's peers fill the table.
	Peer *learn(const Endpoint &endpoint);
	// Forgets learnt peers silent for @forget.
	void expire(SteadyTime now, std::chrono::milliseconds forget);

	std::vector<Peer> &all() noexcept { return peers_; }
	const std::vector<Peer> &all() const noexcept { return peers_; }
	std::uint64_t evicted() const noexcept { return evicted_; }

	// The caller's word on which addresses are whose; replaces the last.
	void vouch(std::map<std::uint64_t, std::set<std::string>> addresses);
	// Whether @address speaks for @node now, binding it if nobody does.
	bool speaksFor(std::uint64_t node, const std::string &address, SteadyTime now);
	// The node whose datagrams come from @address: the peer there that was
	// heard from most recently, else the node the caller vouched it for or
	// that first spoke from it; empty when none.
	std::optional<std::uint64_t> nodeAt(std::string_view address) const;

private:
	struct Claim {
		std::string address;
		SteadyTime last{};
	};

	bool makeRoom(bool learnt);
	// The lookups by endpoint and by address that every datagram makes:
	// at a thousand peers a scan of the table is what the node spends on.
	void reindex();
	void unindex(std::uint64_t node, const std::string &address);

	std::size_t maxPeers_;
	std::size_t maxNodes_;
	std::chrono::milliseconds silence_;
	std::vector<Peer> peers_;
	std::map<Endpoint, std::size_t> index_; // peers_ by endpoint
	std::map<std::uint64_t, std::set<std::string>> vouched_;
	std::map<std::uint64_t, Claim> claims_;
	std::multimap<std::string, std::uint64_t> claimants_; // claims_ by address
	std::uint64_t evicted_ = 0;
};

} // namespace dmdns::gossip
