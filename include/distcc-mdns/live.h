// What gossip knows laid over what mDNS lists: live load, liveness and others' reservations.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/gossip.h"

namespace dmdns {

// The servers a client chooses from, with the jobs other clients reserved
// on each (same order as entries).
struct LiveServers {
	std::vector<DirectoryEntry> entries;
	std::vector<std::uint32_t> reserved;
};

// The gossip id of a directory entry: its TXT `id` read as a number.
std::optional<std::uint64_t> gossipId(const DirectoryEntry &entry) noexcept;

// Whether gossip hears the server with TXT id @id itself (alive or
// suspect): its word then outweighs an mDNS goodbye or an mDNS record that
// re-points its name (Directory::Vouch).
bool gossipVouches(const Gossip &gossip, std::string_view id, SteadyTime now);

// Takes each entry's load, capacity and state from its newest gossip sample
// (TXT carries them coarse and late), marks its liveness, and counts other
// clients' reservations on it. Entries gossip has not heard of keep what
// mDNS said; gossip never adds or removes an entry, it only marks dead and
// departed ones, which the picker leaves out. A TXT contradicting a sample
// (state, slots, cpus, speed) loses to it whatever its age: both claim to
// come from the server, but anyone can send a TXT for any name. (A
// withdrawn entry is listed by the directory only while gossipVouches.)
// The speed the planner gets is Gossip::speedOf's `used`, the advertised
// one its benchmark; the estimate stays on Server::speedEstimate.
LiveServers overlayGossip(std::vector<DirectoryEntry> entries, const Gossip &gossip, SteadyTime now);

// An entry for a server mDNS cannot see but a --peer introduced: what its
// own gossip sample says, at the peer's @address. Its compilers are
// unknown.
DirectoryEntry peerEntry(const GossipServer &server, const Address &address, std::string hostName);

} // namespace dmdns
