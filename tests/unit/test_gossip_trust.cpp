// Unit tests of gossip's bounds and trust rules: each class alone, then the attacks they stop.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "distcc-mdns/gossip.h"
#include "support/toy_key.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

const SteadyTime kT0 = SteadyTime{} + std::chrono::hours(1);

wire::Sample sampleOf(std::uint64_t server, std::uint64_t incarnation, std::uint64_t sequence, std::uint32_t running = 1)
{
	wire::Sample s;
	s.server = server;
	s.incarnation = incarnation;
	s.sequence = sequence;
	s.running = running;
	s.slots = 8;
	s.cpus = 8;
	return s;
}

std::vector<std::uint8_t> datagram(std::uint64_t sender, std::vector<wire::Record> records, std::uint8_t flags = 0)
{
	wire::PacketWriter w({ flags, sender, 1 });
	for (const wire::Record &r : records)
		REQUIRE(w.add(r));
	return w.finish();
}

GossipConfig configFor(std::uint64_t node)
{
	GossipConfig c;
	c.node = node;
	return c;
}

const Endpoint kServerAt{ "10.0.0.2", 3632 }, kEvilAt{ "10.0.0.66", 3632 }, kRelayAt{ "10.0.0.5", 3632 };
constexpr std::uint64_t kServer = 0x20, kEvil = 0x66, kRelay = 0x55;

// A client that knows server 0x20 first hand, at 10.0.0.2.
Gossip clientKnowingServer(GossipConfig c = configFor(0x10))
{
	Gossip g(c);
	g.addPeer(kServerAt);
	const std::vector<std::uint64_t> listed{ kServer };
	g.pin(listed);
	g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 100) }), kT0);
	REQUIRE(g.liveness(kServer, kT0) == Liveness::Alive);
	return g;
}

} // namespace

TEST_SUITE("gossip_trust")
{
	TEST_CASE("replay window: every datagram counts once, reordering within the window is fine")
	{
		gossip::ReplayWindow w(2);
		CHECK(w.accept(1, 5, 10));
		CHECK_FALSE(w.accept(1, 5, 10)); // replayed
		CHECK(w.accept(1, 5, 12));
		CHECK(w.accept(1, 5, 11)); // reordered
		CHECK_FALSE(w.accept(1, 5, 11));
		CHECK(w.accept(1, 5, 200));
		CHECK_FALSE(w.accept(1, 5, 200 - gossip::ReplayWindow::kWindow)); // too old to judge
		CHECK(w.accept(1, 5, 199));
		CHECK_FALSE(w.accept(1, 4, 1000)); // a previous run
		CHECK(w.accept(1, 6, 1));	   // a new run starts over
		CHECK(w.accept(2, 1, 1));
		CHECK(w.accept(3, 1, 1)); // bounded: the stalest sender goes
		CHECK(w.size() == 2);
	}

	TEST_CASE("rate limiter: a bucket per address, bounded, refilled with time")
	{
		gossip::RateLimiter r(10, 5, 4);
		int admitted = 0;
		for (int i = 0; i < 100; ++i)
			admitted += r.admit("a", kT0);
		CHECK(admitted == 5);
		CHECK(r.admit("a", kT0 + 100ms));
		for (int i = 0; i < 100; ++i)
			r.admit("x" + std::to_string(i), kT0);
		CHECK(r.size() == 4);
		CHECK(r.evicted() > 0);
	}

	TEST_CASE("address validation: a cookie per address, proved by its echo, never another's")
	{
		std::uint64_t next = 0;
		gossip::AddressValidator v([&] { return ++next * 0x9e3779b97f4a7c15ULL; }, 8, 60s);
		const std::uint64_t a = v.cookieFor("10.0.0.1", kT0);
		CHECK(v.cookieFor("10.0.0.1", kT0 + 1s) == a); // stable while valid
		const std::uint64_t b = v.cookieFor("10.0.0.2", kT0);
		CHECK(a != b);
		CHECK_FALSE(v.validated("10.0.0.1", kT0));
		CHECK_FALSE(v.check("10.0.0.1", b, kT0)); // someone else's
		CHECK(v.check("10.0.0.1", a, kT0 + 1s));
		CHECK(v.validated("10.0.0.1", kT0 + 2s));
		CHECK_FALSE(v.validated("10.0.0.1", kT0 + 1s + 60s));
		for (int i = 0; i < 100; ++i)
			v.cookieFor("10.1.0." + std::to_string(i), kT0);
		CHECK(v.size() <= 8);

		gossip::CookieJar jar(2);
		jar.remember("10.0.0.1", 5, kT0);
		jar.remember("10.0.0.2", 6, kT0 + 1ms);
		jar.remember("10.0.0.3", 7, kT0 + 2ms);
		CHECK(jar.size() == 2);
		CHECK_FALSE(jar.find("10.0.0.1"));
		CHECK(*jar.find("10.0.0.3") == 7);
	}

	TEST_CASE("peer table: an address speaks for one node; another takes over only after its silence")
	{
		gossip::PeerTable t(8, 8, 3500ms);
		CHECK(t.speaksFor(0x20, "10.0.0.2", kT0));
		CHECK_FALSE(t.speaksFor(0x20, "10.0.0.66", kT0 + 1s)); // a liar, while the server speaks
		CHECK(t.speaksFor(0x20, "10.0.0.2", kT0 + 3s));
		CHECK_FALSE(t.speaksFor(0x21, "10.0.0.2", kT0 + 3s));	 // one host, one node
		CHECK(t.speaksFor(0x20, "10.0.0.3", kT0 + 3s + 3501ms)); // moved (DHCP) after silence
		// A configured --peer's address is the one that counts.
		t.vouch({ { 0x30, { "10.0.0.9" } } });
		CHECK(t.speaksFor(0x30, "10.0.0.9", kT0));
		CHECK_FALSE(t.speaksFor(0x30, "10.0.0.10", kT0 + 10s));
	}

	TEST_CASE("no datagram from another address removes, downs, freezes or departs a server")
	{
		Gossip g = clientKnowingServer();
		std::uint64_t seq = 100;
		SteadyTime t = kT0;
		auto genuine = [&](std::uint32_t running) {
			t += 200ms;
			g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, ++seq, running) }), t);
		};
		wire::Sample down = sampleOf(kServer, 7, wire::kMaxCounter - 1, 8);
		down.state = ServerState::Down;
		const wire::Load frozen{ kServer, 7, 0xffffffff, 0, 0, 0.0 };
		for (int round = 0; round < 20; ++round) {
			// As itself, as a forged sender id, and under the server's own id.
			for (std::uint64_t sender : { kEvil, kServer, std::uint64_t{ 0x77 } })
				g.receive(kEvilAt,
					  datagram(sender, { down, frozen, wire::Leave{ kServer, 7 }, wire::Leave{ kServer, 8 } }),
					  t + 1ms);
			CHECK(g.liveness(kServer, t + 2ms) == Liveness::Alive);
			REQUIRE(g.server(kServer, t + 2ms));
			CHECK(g.server(kServer, t + 2ms)->sample.state == ServerState::Up);
			genuine(static_cast<std::uint32_t>(round % 4));
			CHECK(g.server(kServer, t)->sample.running == static_cast<std::uint32_t>(round % 4));
		}
		CHECK(g.stats().untrusted > 0);
	}

	TEST_CASE("a forged copy of the server's own address: a jump is probed, a plausible lie lasts until the server's next word")
	{
		Gossip g = clientKnowingServer();
		wire::Sample down = sampleOf(kServer, 7, wire::kMaxCounter - 1, 8);
		down.state = ServerState::Down;
		// An absurd jump from the server's address is not believed: asked.
		auto out = g.receive(kServerAt, datagram(kServer, { down }), kT0 + 10ms);
		CHECK(g.server(kServer, kT0 + 10ms)->sample.state == ServerState::Up);
		REQUIRE(out.size() == 1);
		CHECK(out.front().to == kServerAt);
		// A plausible one is, until the server's own stream goes on: its
		// next record (older than the lie) asks again, and the answer,
		// newer still, puts the server back.
		down.sequence = 105;
		g.receive(kServerAt, datagram(kServer, { down }), kT0 + 20ms);
		CHECK(g.server(kServer, kT0 + 20ms)->sample.state == ServerState::Down);
		out = g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 101) }), kT0 + 900ms);
		CHECK(g.server(kServer, kT0 + 900ms)->sample.state == ServerState::Down);
		CHECK_FALSE(out.empty()); // the probe
		g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 102) }), kT0 + 901ms);
		CHECK(g.server(kServer, kT0 + 901ms)->sample.state == ServerState::Up);
		CHECK(g.server(kServer, kT0 + 901ms)->sample.sequence == 102);
		// A plain duplicate of the anchor is nothing new and asks nothing.
		CHECK(g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 102) }), kT0 + 950ms).empty());
	}

	TEST_CASE("a forged run whose low bits fit the server's Loads is not fed by them (the gossip_merge fuzzer's sixth crash)")
	{
		Gossip g = clientKnowingServer();
		SteadyTime t = kT0;
		std::uint64_t seq = 100;
		// The server as it speaks: its datagrams carry its run (7), its
		// heartbeat is a Load, its answer to a probe a full Sample.
		auto own = [&](const wire::Record &record) {
			wire::PacketWriter w({ 0, kServer, 7 });
			REQUIRE(w.add(record));
			return g.receive(kServerAt, w.finish(), t);
		};
		auto asksServer = [](const std::vector<Datagram> &out) {
			return std::any_of(out.begin(), out.end(), [](const Datagram &d) { return d.to == kServerAt; });
		};
		t += 200ms;
		own(wire::Load{ kServer, 7, static_cast<std::uint32_t>(++seq), 0, 3, 0.0 });
		CHECK(g.server(kServer, t)->sample.running == 3);

		// One datagram from a forged copy of its address: a later run with
		// the same low 16 bits, a sequence whose low 32 bits are the
		// server's last, state down. A new run from the server's address
		// is believed at first.
		wire::Sample down = sampleOf(kServer, (std::uint64_t{ 1 } << 48) | 7, (wire::kMaxCounter - (1ULL << 32)) | seq, 2);
		down.state = ServerState::Down;
		const SteadyTime forgedAt = t + 10ms;
		g.receive(kServerAt, datagram(kServer, { down }), forgedAt);
		REQUIRE(g.server(kServer, forgedAt)->sample.state == ServerState::Down);

		// The server's next Load fits the forged Sample's low bits but is of
		// run 7: it does not apply to the forgery, and it asks the server.
		t += 200ms;
		CHECK(asksServer(own(wire::Load{ kServer, 7, static_cast<std::uint32_t>(++seq), 0, 5, 0.0 })));
		CHECK(g.server(kServer, t)->sample.running != 5);
		CHECK(g.stats().orphanLoads > 0);

		// The server goes on (heartbeats, answers to what it is asked): it
		// is listed again, under its own run, within 2 s of the forgery.
		for (int beat = 0; beat < 10 && t + 200ms - forgedAt <= 2s; ++beat) {
			t += 200ms;
			bool asked = asksServer(own(wire::Load{ kServer, 7, static_cast<std::uint32_t>(++seq), 0, 1, 0.0 }));
			for (int round = 0; round < 4 && asked; ++round)
				asked = asksServer(own(sampleOf(kServer, 7, ++seq)));
		}
		REQUIRE(g.server(kServer, t));
		CHECK(g.server(kServer, t)->sample.state == ServerState::Up);
		CHECK(g.server(kServer, t)->sample.incarnation == 7);
		CHECK(g.liveness(kServer, t) == Liveness::Alive);
	}

	TEST_CASE("a LEAVE forged from the server's own address lasts until the server's next word")
	{
		Gossip g = clientKnowingServer();
		g.receive(kServerAt, datagram(kServer, { wire::Leave{ kServer, 7 } }), kT0 + 10ms);
		CHECK(g.liveness(kServer, kT0 + 10ms) == Liveness::Left);
		// Nothing older than its last word brings it back (a late datagram
		// after a genuine leave) ...
		g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 100) }), kT0 + 20ms);
		CHECK(g.liveness(kServer, kT0 + 20ms) == Liveness::Left);
		// ... but a newer one of the same run does: a server that left
		// sends nothing more of that run.
		g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 101) }), kT0 + 900ms);
		CHECK(g.liveness(kServer, kT0 + 900ms) == Liveness::Alive);
	}

	TEST_CASE("answers carry a fresh sequence, at most one a 50 ms")
	{
		Gossip server(configFor(kServer));
		wire::Sample own = sampleOf(0, 0, 0);
		server.setOwnSample(own, kT0);
		const auto before = server.server(kServer, kT0)->sample.sequence;
		const Endpoint askerAt{ "10.0.0.9", 3632 };
		wire::PacketWriter w({ wire::kFlagPushPullRequest, 0x99, 1 });
		w.padTo(128);
		const auto request = w.finish();
		server.receive(askerAt, request, kT0 + 100ms);
		CHECK(server.server(kServer, kT0 + 100ms)->sample.sequence == before + 1);
		server.receive(askerAt, request, kT0 + 120ms);
		CHECK(server.server(kServer, kT0 + 120ms)->sample.sequence == before + 1);
	}

	TEST_CASE("a trusted relay's contradicting claim is probed, not believed; its load news applies")
	{
		Gossip g = clientKnowingServer();
		g.addPeer(kRelayAt, true); // a --peer
		g.receive(kRelayAt, datagram(kRelay, {}), kT0);
		wire::Sample down = sampleOf(kServer, 7, 101, 3);
		down.state = ServerState::Down;
		auto out = g.receive(kRelayAt, datagram(kRelay, { down, wire::Leave{ kServer, 7 } }), kT0 + 10ms);
		CHECK(g.server(kServer, kT0 + 10ms)->sample.state == ServerState::Up);
		CHECK(g.liveness(kServer, kT0 + 10ms) == Liveness::Alive);
		CHECK(g.stats().contradicted == 2);
		// The server is asked directly.
		REQUIRE(out.size() == 1);
		CHECK(out.front().to == kServerAt);
		CHECK((wire::decode(out.front().bytes).packet->header.flags & wire::kFlagPushPullRequest) != 0);
		// Plain load news from the relay applies; an absurd jump does not.
		g.receive(kRelayAt, datagram(kRelay, { sampleOf(kServer, 7, 102, 5) }), kT0 + 20ms);
		CHECK(g.server(kServer, kT0 + 20ms)->sample.running == 5);
		g.receive(kRelayAt, datagram(kRelay, { wire::Load{ kServer, 7, 100000, 0, 0, 0.0 } }), kT0 + 30ms);
		CHECK(g.server(kServer, kT0 + 30ms)->sample.running == 5);
		// Newer news that the relay calls old cannot make the server look
		// silent (the gossip_merge fuzzer's fifth crash): a Load or a
		// Sample aged past the dead time moves nothing back.
		g.receive(kRelayAt, datagram(kRelay, { wire::Load{ kServer, 7, 103, wire::kMaxLoadAgeMs, 6, 0.0 } }),
			  kT0 + 35ms);
		CHECK(g.server(kServer, kT0 + 35ms)->sample.running == 6);
		CHECK(g.liveness(kServer, kT0 + 35ms) == Liveness::Alive);
		wire::Sample aged = sampleOf(kServer, 7, 104, 7);
		aged.ageMs = 20'000;
		g.receive(kRelayAt, datagram(kRelay, { aged }), kT0 + 36ms);
		CHECK(g.liveness(kServer, kT0 + 36ms) == Liveness::Alive);
		// The server's own word wins over whatever the relay said.
		g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 101, 2) }), kT0 + 40ms);
		CHECK(g.server(kServer, kT0 + 40ms)->sample.running == 2);
	}

	TEST_CASE("demand and reservations count one client per address, within the farm's capacity")
	{
		Gossip g = clientKnowingServer();
		// One address, fifty invented clients, each a million jobs and
		// every slot of the server reserved.
		for (std::uint64_t id = 1; id <= 50; ++id) {
			g.receive(kEvilAt,
				  datagram(id, { wire::Demand{ id, 1, 1, 0, 1'000'000, 8 },
						 wire::Reservation{ id, kServer, 8, 3000, 0, 1, 2 } }),
				  kT0 + std::chrono::milliseconds(id));
		}
		const DemandSummary d = g.demand(kT0 + 100ms, false);
		CHECK(d.clients == 1);
		CHECK(d.wanted == 8); // the farm's 8 slots
		CHECK(g.reservedByOthers(kServer, kT0 + 100ms) <= 8);
		// Reservations without demand count for nothing.
		Gossip h = clientKnowingServer();
		h.receive(kEvilAt, datagram(kEvil, { wire::Reservation{ kEvil, kServer, 8, 3000, 0, 1, 2 } }), kT0 + 1ms);
		CHECK(h.reservedByOthers(kServer, kT0 + 2ms) == 0);
		// Another's demand cannot be cancelled or inflated from elsewhere.
		const Endpoint otherAt{ "10.0.0.7", 3632 };
		h.receive(otherAt, datagram(0x70, { wire::Demand{ 0x70, 1, 5, 0, 4, 2 } }), kT0 + 3ms);
		h.receive(kEvilAt, datagram(0x70, { wire::Demand{ 0x70, 1, 6, 0, 0, 2 } }), kT0 + 4ms);
		h.receive(kEvilAt, datagram(kEvil, { wire::Demand{ 0x70, 1, 7, 0, 0, 2 } }), kT0 + 5ms);
		CHECK(h.demand(kT0 + 6ms, false).wanted == 4);
		CHECK(h.demand(kT0 + 6ms, false).clients == 1);
	}

	TEST_CASE("a node answers a leave or a copy of itself by saying its own word again; no claim moves its counters")
	{
		GossipConfig c = configFor(0x10);
		c.incarnation = wire::kMaxCounter - 2;
		Gossip g(c);
		g.setOwnSample(sampleOf(0x10, 0, 0), kT0);
		const auto seq = g.server(0x10, kT0)->sample.sequence;
		g.receive(kEvilAt, datagram(kEvil, { wire::Leave{ 0x10, wire::kMaxCounter - 2 } }), kT0);
		CHECK(g.incarnation() == wire::kMaxCounter - 2);
		CHECK(g.server(0x10, kT0)->sample.sequence == seq + 1);
		g.receive(kEvilAt, datagram(kEvil, { sampleOf(0x10, wire::kMaxCounter - 1, wire::kMaxCounter - 1, 9) }),
			  kT0 + 1ms);
		CHECK(g.incarnation() == wire::kMaxCounter - 2);
		CHECK(g.server(0x10, kT0 + 1ms)->sample.sequence == seq + 2);
		CHECK(g.server(0x10, kT0 + 1ms)->sample.running == 1);
		CHECK(g.liveness(0x10, kT0 + 1ms) == Liveness::Alive);
	}

	TEST_CASE("copies of a node's own sample held by others (older, or aged on the way) are no claim to refute")
	{
		// Every full-state answer carries the asker's own sample as its
		// holder keeps it, aged. Refuting those bumped the sequence with
		// every answer heard, past the pace receivers believe (one per
		// 50 ms), until they refused the server's word: at 100 nodes, ~600
		// live servers went Dead somewhere in a minute.
		Gossip g(configFor(0x10));
		g.setOwnSample(sampleOf(0x10, 0, 0, 3), kT0);
		g.setOwnSample(sampleOf(0x10, 0, 0, 4), kT0 + 300ms);
		const wire::Sample own = g.server(0x10, kT0 + 300ms)->sample;
		wire::Sample aged = own;
		aged.ageMs = 700;
		wire::Sample older = own;
		older.sequence -= 1;
		older.running = 3;
		for (int i = 0; i < 50; ++i)
			g.receive(kRelayAt, datagram(kRelay, { i % 2 ? aged : older }, wire::kFlagFullState),
				  kT0 + 400ms + i * 10ms);
		CHECK(g.server(0x10, kT0 + 1s)->sample.sequence == own.sequence);
		// A copy that differs at the same sequence is a claim: said again.
		wire::Sample forged = own;
		forged.running = 9;
		g.receive(kEvilAt, datagram(kEvil, { forged }), kT0 + 1s);
		CHECK(g.server(0x10, kT0 + 1s)->sample.sequence == own.sequence + 1);
		CHECK(g.server(0x10, kT0 + 1s)->sample.running == 4);
	}

	TEST_CASE("with a key: forged tags spend no budget, and a replayed datagram has no effect")
	{
		GossipConfig c = configFor(0x10);
		test::useToyKey(c);
		Gossip client(c);
		c.node = kServer;
		Gossip server(c);
		server.addPeer({ "10.0.0.1", 3632 });
		server.setOwnSample(sampleOf(0, 0, 0, 1), kT0);
		const auto hello = server.tick(kT0); // a request to a peer not heard yet
		REQUIRE_FALSE(hello.empty());

		// A flood of untagged datagrams "from" the server's address.
		for (int i = 0; i < 1000; ++i)
			client.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 1, 5000, 8) }), kT0);
		CHECK(client.stats().unauthenticated == 1000);
		CHECK(client.stats().rateLimited == 0);
		client.receive(kServerAt, hello.front().bytes, kT0 + 1ms);
		REQUIRE(client.server(kServer, kT0 + 1ms));
		CHECK(client.server(kServer, kT0 + 1ms)->sample.running == 1);

		// The same bytes again, later: no effect.
		server.setOwnSample(sampleOf(0, 0, 0, 6), kT0 + 300ms);
		client.receive(kServerAt, hello.front().bytes, kT0 + 2s);
		CHECK(client.stats().replayed == 1);
		CHECK(client.liveness(kServer, kT0 + 2s) == Liveness::Alive);
		CHECK(client.liveness(kServer, kT0 + 3s) != Liveness::Alive); // the replay fed no timer
	}

	TEST_CASE("a server's TXT digest counts only from the server itself, of its current run")
	{
		Gossip g = clientKnowingServer();
		CHECK_FALSE(g.profileDigest(kServer));
		// The server's own PROFILE with its Sample: taken.
		g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 101), wire::Profile{ kServer, 7, 0xaaaa } }),
			  kT0 + 10ms);
		CHECK(g.profileDigest(kServer) == 0xaaaaU);
		const auto untrusted = g.stats().untrusted;
		// From another address under the server's id, from another id, or
		// relayed even by a --peer: ignored and counted.
		g.addPeer(kRelayAt, true);
		g.receive(kRelayAt, datagram(kRelay, {}), kT0 + 20ms);
		for (const auto &[at, sender] : { std::pair{ kEvilAt, kServer }, std::pair{ kEvilAt, kEvil },
						  std::pair{ kRelayAt, kRelay } })
			g.receive(at, datagram(sender, { wire::Profile{ kServer, 7, 0xbad } }), kT0 + 30ms);
		CHECK(g.profileDigest(kServer) == 0xaaaaU);
		CHECK(g.stats().untrusted == untrusted + 3);
		// Of another run than the one its samples speak for: ignored, and
		// a new run has no digest until its own PROFILE.
		g.receive(kServerAt, datagram(kServer, { wire::Profile{ kServer, 6, 0xbad } }), kT0 + 40ms);
		g.receive(kServerAt, datagram(kServer, { wire::Profile{ kServer, 8, 0xbad } }), kT0 + 40ms);
		CHECK(g.profileDigest(kServer) == 0xaaaaU);
		g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 8, 1) }), kT0 + 50ms);
		CHECK_FALSE(g.profileDigest(kServer));
		g.receive(kServerAt, datagram(kServer, { wire::Profile{ kServer, 8, 0xcccc } }), kT0 + 60ms);
		CHECK(g.profileDigest(kServer) == 0xccccU);
	}

	TEST_CASE("a server's PROFILE goes wherever its full Sample goes, and a new one sends both at once")
	{
		GossipConfig c = configFor(kServer);
		Gossip server(c);
		const Endpoint clientAt{ "10.0.0.1", 3632 };
		server.addPeer(clientAt);
		server.receive(clientAt, datagram(0x10, {}), kT0); // heard: own news goes there
		wire::Sample own = sampleOf(0, 0, 0);
		server.setOwnProfile(0x1234, kT0);
		server.setOwnSample(own, kT0);
		CHECK(server.profileDigest(kServer) == 0x1234U);
		auto profilesIn = [](const std::vector<Datagram> &out) {
			std::vector<std::uint64_t> digests;
			for (const Datagram &d : out)
				if (const auto decoded = wire::decode(d.bytes); decoded.packet)
					for (const wire::Record &r : decoded.packet->records)
						if (const auto *p = std::get_if<wire::Profile>(&r))
							digests.push_back(p->digest);
			return digests;
		};
		SteadyTime t = kT0;
		std::vector<std::uint64_t> seen;
		for (int i = 0; i < 10 && seen.empty(); ++i, t += 200ms)
			seen = profilesIn(server.tick(t));
		REQUIRE(seen.size() == 1);
		CHECK(seen[0] == 0x1234U);
		// Drain the news, then change the profile: it goes out again.
		for (int i = 0; i < 10; ++i, t += 200ms)
			server.tick(t);
		server.setOwnProfile(0x5678, t);
		seen.clear();
		for (int i = 0; i < 3 && seen.empty(); ++i, t += 200ms)
			seen = profilesIn(server.tick(t));
		REQUIRE(seen.size() == 1);
		CHECK(seen[0] == 0x5678U);
		// And a client hearing the server's news from it believes it.
		Gossip client(configFor(0x10));
		client.addPeer(kServerAt);
		const std::vector<std::uint64_t> listed{ kServer };
		client.pin(listed);
		server.setOwnProfile(0x9abc, t);
		std::optional<std::uint64_t> got;
		for (int i = 0; i < 20 && !got; ++i, t += 200ms) {
			for (const Datagram &d : server.tick(t))
				client.receive(kServerAt, d.bytes, t);
			got = client.profileDigest(kServer);
		}
		CHECK(got == 0x9abcU);
	}
}
