// The invariants the gossip fuzz target checks on one datagram.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "distcc-mdns/gossip.h"
#include "distcc-mdns/gossip_wire.h"
#include "fuzz/targets.h"

namespace dmdns::fuzz {

GossipConfig smallGossipConfig()
{
	GossipConfig c;
	c.node = 0x1111;
	c.maxServers = 8;
	c.maxReservations = 8;
	c.maxDemands = 8;
	c.maxLeaves = 8;
	c.maxSources = 4;
	c.maxPeers = 8;
	return c;
}

void checkGossipPacket(const std::uint8_t *data, std::size_t size)
{
	const std::span<const std::uint8_t> datagram(data, size);
	const wire::Decoded decoded = wire::decode(datagram);
	if (!decoded.packet) {
		if (decoded.error.empty())
			violated("refused datagram without a reason");
	} else {
		const wire::Packet &p = *decoded.packet;
		if (size > wire::kMaxDatagram || decoded.bodyEnd > size)
			violated("accepted an oversize datagram or a body past its end");
		if (decoded.tagged != ((p.header.flags & wire::kFlagTagged) != 0) ||
		    (decoded.tagged && decoded.bodyEnd + wire::kTagSize != size))
			violated("tag placement disagrees with the flag");
		if (p.records.size() + decoded.unknownRecords + decoded.padRecords > wire::kMaxRecords)
			violated("more records than the count allows");
		for (const wire::Record &r : p.records)
			if (!wire::validate(r).empty())
				violated("accepted a record validate() refuses");

		// Whatever is accepted re-encodes to the same bytes, unknown
		// and pad records aside.
		if (decoded.unknownRecords == 0 && decoded.padRecords == 0) {
			const auto again = wire::encode(p);
			const std::span<const std::uint8_t> body = datagram.first(decoded.bodyEnd);
			const std::span<const std::uint8_t> body2(again.data(), decoded.bodyEnd);
			if (again.size() != size || !std::equal(body.begin(), body.end(), body2.begin()))
				violated("gossip round trip changed the datagram");
		}
	}

	// The state machine takes any datagram without growing past its bounds.
	// A fresh node per input, so that a failure replays from its input
	// alone (sequences of datagrams are the merge target's job).
	GossipConfig config = smallGossipConfig();
	config.rateLimit = 1e9;
	config.rateBurst = 1e9;
	Gossip gossip(config);
	const SteadyTime now = SteadyTime{} + std::chrono::hours(1);
	// From a --peer (a trusted relay: its WHEREs count) when the input's
	// size is odd, from a peer mDNS found otherwise.
	gossip.addPeer({ "10.0.0.1", 3632 }, size % 2 == 1);
	const auto replies = gossip.receive({ "10.0.0.1", 3632 }, datagram, now);
	for (const Datagram &d : replies)
		if (d.bytes.size() > wire::kMaxDatagram || !wire::decode(d.bytes).packet)
			violated("reply is not a valid datagram");
	for (const Datagram &d : gossip.tick(now))
		if (d.bytes.size() > wire::kMaxDatagram || !wire::decode(d.bytes).packet)
			violated("tick sent an invalid datagram");
	if (gossip.serverCount() > 8 || gossip.reservationCount() > 8 || gossip.demandCount() > 8 ||
	    gossip.leaveCount() > 8 || gossip.sourceCount() > 4 || gossip.clientListCount() > 8 ||
	    gossip.localJobsCount() > 8 || gossip.relayedCount() > 8 || gossip.peers().size() > 8)
		violated("gossip tables past their bounds");
}

} // namespace dmdns::fuzz
