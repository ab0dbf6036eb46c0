// What gossip knows laid over what mDNS lists: live load, liveness and others' reservations.
#include "distcc-mdns/live.h"

namespace dmdns {

namespace {

// The sample's view of the server replaces the TXT's: both come from the
// server, the sample is seconds old at most.
void apply(Server &s, const GossipServer &g)
{
	s.sample = g.load();
	s.slots = g.sample.slots;
	s.cpus = g.sample.cpus;
	s.speed = g.sample.speed;
	s.state = g.sample.state;
	s.lzo = g.sample.lzo;
	s.cpp = g.sample.cpp;
}

} // namespace

std::optional<std::uint64_t> gossipId(const DirectoryEntry &entry) noexcept
{
	if (entry.stock)
		return std::nullopt;
	return wire::parseNodeId(entry.server.id);
}

bool gossipVouches(const Gossip &gossip, std::string_view id, SteadyTime now)
{
	const std::optional<std::uint64_t> node = wire::parseNodeId(id);
	if (!node)
		return false;
	const Liveness liveness = gossip.liveness(*node, now);
	return liveness == Liveness::Alive || liveness == Liveness::Suspect;
}

LiveServers overlayGossip(std::vector<DirectoryEntry> entries, const Gossip &gossip, SteadyTime now)
{
	LiveServers live;
	live.reserved.assign(entries.size(), 0);
	// Others' reservations in one call for every server gossip knows by
	// id: asked one by one, each would add up the whole table again.
	std::vector<std::size_t> known;
	std::vector<std::uint64_t> ids;
	for (std::size_t i = 0; i < entries.size(); ++i) {
		const std::optional<std::uint64_t> id = gossipId(entries[i]);
		if (!id)
			continue;
		known.push_back(i);
		ids.push_back(*id);
		Server &s = entries[i].server;
		s.liveness = gossip.liveness(*id, now);
		if (s.liveness != Liveness::Left)
			if (const std::optional<GossipServer> g = gossip.server(*id, now))
				apply(s, *g);
		// The advertised speed (the sample's over the TXT's) is the
		// benchmark; what this and other clients' jobs took may overrule it.
		s.speedEstimate = gossip.speedOf(*id, s.speed, now);
		s.speed = s.speedEstimate->used;
	}
	const std::vector<std::uint32_t> reserved = gossip.reservedByOthers(ids, now);
	for (std::size_t k = 0; k < known.size(); ++k)
		live.reserved[known[k]] = reserved[k];
	live.entries = std::move(entries);
	return live;
}

DirectoryEntry peerEntry(const GossipServer &server, const Address &address, std::string hostName)
{
	DirectoryEntry e;
	e.name = "distcc@" + hostName;
	e.hostName = std::move(hostName);
	e.server.id = wire::formatNodeId(server.sample.server);
	e.server.addresses = { address };
	e.server.port = server.sample.port;
	e.server.liveness = server.liveness;
	apply(e.server, server);
	return e;
}

} // namespace dmdns
