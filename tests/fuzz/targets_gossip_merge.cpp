// The invariant the gossip merge fuzz target checks: no hostile sequence removes a server that speaks.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "distcc-mdns/gossip.h"
#include "distcc-mdns/gossip_wire.h"
#include "fuzz/targets.h"

namespace dmdns::fuzz {

namespace {

constexpr std::uint64_t kServer = 0x20;
const Endpoint kServerAt{ "10.0.0.2", 3632 };
// The hostile sources: a host of its own, a --peer that lies, and, for
// the first datagram that picks it only, a forged copy of the server's own
// address (without a key, one spoofed datagram must lose its effect within
// 2 s; a stream of them is what --key-file is for).
const Endpoint kSources[] = { { "10.0.0.66", 3632 }, { "10.0.0.5", 3632 }, { "10.0.0.66", 9 }, kServerAt };

} // namespace

void checkGossipMerge(const std::uint8_t *data, std::size_t size)
{
	using namespace std::chrono_literals;
	Gossip g(smallGossipConfig());
	g.addPeer(kServerAt);
	g.addPeer(kSources[1], true);
	const std::vector<std::uint64_t> listed{ kServer };
	g.pin(listed);

	SteadyTime now = SteadyTime{} + std::chrono::hours(1);
	std::uint64_t sequence = 0;
	SteadyTime beat = now;
	// The server as it behaves: a full Sample first and in every answer to
	// a request of ours, a Load (its heartbeat) every 200 ms otherwise.
	auto genuine = [&](bool full) {
		wire::PacketWriter w({ 0, kServer, 7 });
		if (full) {
			wire::Sample s;
			s.server = kServer;
			s.incarnation = 7;
			s.sequence = ++sequence;
			s.slots = 8;
			s.cpus = 8;
			w.add(s);
		} else {
			w.add(wire::Load{ kServer, 7, static_cast<std::uint32_t>(++sequence), 0, 0, 0.0 });
		}
		return g.receive(kServerAt, w.finish(), now);
	};
	// Whether any of @out asks the server (a probe, a pull).
	auto asks = [&](const std::vector<Datagram> &out) {
		bool asked = false;
		for (const Datagram &d : out) {
			if (d.bytes.size() > wire::kMaxDatagram || !wire::decode(d.bytes).packet)
				violated("an answer is not a valid datagram");
			asked = asked || d.to == kServerAt;
		}
		return asked;
	};
	bool asked = asks(genuine(true));
	std::optional<SteadyTime> spoofedAt;
	forEachFrame(data, size, [&](std::span<const std::uint8_t> bytes, std::uint8_t how) {
		const Endpoint *from = &kSources[how & 3];
		if (from == &kSources[3]) {
			if (spoofedAt)
				from = &kSources[2];
			else
				spoofedAt = now;
		}
		asked = asks(g.receive(*from, bytes, now)) || asked;
		now += std::chrono::milliseconds(1 + (how >> 2));
		// The server answers what it was asked, and heartbeats every 200 ms
		// through all of it.
		for (int round = 0; round < 4 && asked; ++round)
			asked = asks(genuine(true));
		if (now - beat >= 200ms) {
			beat = now;
			asked = asks(genuine(false)) || asked;
		}
		// Whatever came before, a server that keeps speaking for itself is
		// listed again within 2 s of the last forgery from its own address.
		if (!spoofedAt || now - *spoofedAt >= 2s) {
			const auto s = g.server(kServer, now);
			if (g.liveness(kServer, now) != Liveness::Alive || !s || s->sample.state != ServerState::Up)
				violated("a speaking server is not listed");
		}
		if (g.serverCount() > 8 || g.reservationCount() > 8 || g.demandCount() > 8 || g.leaveCount() > 8 ||
		    g.sourceCount() > 4 || g.relayedCount() > 8 || g.peers().size() > 8)
			violated("gossip tables past their bounds");
		asked = asks(g.tick(now)) || asked;
	});
}

} // namespace dmdns::fuzz
