// Unit tests of WHERE: servers of another subnet learned from a trusted relay, and their bounds.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "distcc-mdns/gossip.h"
#include "support/toy_key.h"

using namespace dmdns;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

const SteadyTime kT0 = SteadyTime{} + std::chrono::hours(1);

// Subnet A: relay R and server S, which find each other (mDNS); subnet B:
// client C, whose one --peer is R. Every datagram arrives 1 ms later,
// unless its sender or receiver is down.
constexpr std::uint64_t kR = 0xa1, kS = 0xa2, kC = 0xb1;
const Endpoint kRAt{ "10.0.1.2", 3632 }, kSAt{ "10.0.1.3", 3632 }, kCAt{ "10.0.2.2", 3632 };
const Endpoint kEvilAt{ "10.0.2.66", 3632 };

wire::Sample serverSample()
{
	wire::Sample s;
	s.slots = 4;
	s.cpus = 4;
	return s;
}

class Subnets final
{
public:
	// With @cPullsR false, C has R as a plain peer (found as mDNS would):
	// a relay it trusts only with a key.
	explicit Subnets(GossipConfig base = {}, Endpoint sAt = kSAt, bool cPullsR = true)
		: sAt_(std::move(sAt))
	{
		add(kR, kRAt, base, true);
		add(kS, sAt_, base, true);
		add(kC, kCAt, base, false);
		node(kR).addPeer(sAt_);
		node(kS).addPeer(kRAt);
		node(kC).addPeer(kRAt, cPullsR);
		if (!cPullsR)
			node(kR).addPeer(kCAt);
	}

	Gossip &node(std::uint64_t id) { return *nodes_.at(id).gossip; }
	void crash(std::uint64_t id) { nodes_.at(id).up = false; }

	// Runs the clock by @span in 5 ms steps; stops early (true) once @until
	// holds.
	template <typename Until>
	bool run(milliseconds span, Until until)
	{
		const SteadyTime end = now + span;
		while (now < end) {
			now += 5ms;
			for (auto &[id, n] : nodes_) {
				if (!n.up)
					continue;
				if (n.server && now >= n.nextSample) {
					n.gossip->setOwnSample(serverSample(), now);
					n.nextSample = now + 250ms;
				}
				if (now >= n.gossip->nextTick())
					for (Datagram &d : n.gossip->tick(now))
						queue_.push_back({ n.at, std::move(d) });
			}
			deliver();
			if (until())
				return true;
		}
		return false;
	}
	bool run(milliseconds span)
	{
		return run(span, [] { return false; });
	}

	// Datagrams sent to @to so far.
	std::size_t sentTo(const Endpoint &to) const
	{
		auto it = sent_.find(to);
		return it == sent_.end() ? 0 : it->second;
	}

	SteadyTime now = kT0;

private:
	struct Node {
		Endpoint at;
		std::unique_ptr<Gossip> gossip;
		bool server = false;
		bool up = true;
		SteadyTime nextSample{};
	};
	struct InFlight {
		Endpoint from;
		Datagram datagram;
	};

	void add(std::uint64_t id, const Endpoint &at, GossipConfig base, bool server)
	{
		base.node = id;
		base.incarnation = 5;
		base.seed = id;
		nodes_[id] = Node{ at, std::make_unique<Gossip>(base), server, true, now };
	}

	void deliver()
	{
		// Answers go out in the same step, as they would within a millisecond.
		for (std::size_t round = 0; round < 8 && !queue_.empty(); ++round) {
			std::vector<InFlight> batch;
			batch.swap(queue_);
			for (InFlight &f : batch) {
				++sent_[f.datagram.to];
				auto to = std::find_if(nodes_.begin(), nodes_.end(),
						       [&](const auto &kv) { return kv.second.at == f.datagram.to; });
				if (to == nodes_.end() || !to->second.up)
					continue;
				for (Datagram &d : to->second.gossip->receive(f.from, f.datagram.bytes, now))
					queue_.push_back({ to->second.at, std::move(d) });
			}
		}
	}

	Endpoint sAt_;
	std::map<std::uint64_t, Node> nodes_;
	std::vector<InFlight> queue_;
	std::map<Endpoint, std::size_t> sent_;
};

bool lists(Gossip &g, std::uint64_t server, const Endpoint &at, SteadyTime now)
{
	const std::vector<RelayedServer> relayed = g.relayedServers(now);
	return std::find(relayed.begin(), relayed.end(), RelayedServer{ server, at }) != relayed.end();
}

std::vector<std::uint8_t> datagram(std::uint64_t sender, std::vector<wire::Record> records,
				   std::uint8_t flags = 0)
{
	wire::PacketWriter w({ flags, sender, 1 });
	for (const wire::Record &r : records)
		REQUIRE(w.add(r));
	return w.finish();
}

// S's first sample, as S sends it itself.
wire::Sample ownSampleOfS()
{
	wire::Sample s = serverSample();
	s.server = kS;
	s.incarnation = 5;
	s.sequence = 1;
	return s;
}

// C alone, driven by hand.
GossipConfig clientConfig()
{
	GossipConfig c;
	c.node = kC;
	return c;
}

wire::Where whereOf(std::uint64_t server, const std::string &address, std::uint64_t incarnation = 5)
{
	return { server, incarnation, *wire::addressBytes(address), 3632 };
}

} // namespace

TEST_SUITE("gossip_relay")
{
	TEST_CASE("WHERE round-trips; an address no other subnet can reach is refused")
	{
		const wire::Where w = whereOf(0x42, "192.0.2.7", 9);
		const auto bytes = datagram(0x99, { w });
		CHECK(bytes.size() == wire::kHeaderSize + 2 + wire::kWhereSize);
		const wire::Decoded d = wire::decode(bytes);
		REQUIRE_MESSAGE(d.packet, d.error);
		CHECK(std::get<wire::Where>(d.packet->records.at(0)) == w);
		CHECK(wire::addressText(w.address) == "192.0.2.7");
		CHECK(wire::addressText(*wire::addressBytes("fd77::2")) == "fd77::2");
		CHECK_FALSE(wire::addressBytes("fe80::2%2"));
		CHECK(wire::validate(whereOf(0x42, "fd77::2")).empty());
		for (const char *bad : { "127.0.0.1", "0.0.0.0", "169.254.3.4", "224.0.0.251", "255.255.255.255", "::",
					 "::1", "fe80::2", "ff02::fb" })
			CHECK_MESSAGE(!wire::validate(whereOf(0x42, bad)).empty(), bad);
		CHECK(wire::validate(wire::Where{ 0, 1, *wire::addressBytes("192.0.2.7"), 3632 }) == "server id 0");
		CHECK(wire::validate(wire::Where{ 0x42, 1, *wire::addressBytes("192.0.2.7"), 0 }) == "port 0");
		CHECK(!wire::validate(wire::Where{ 0x42, wire::kMaxCounter, *wire::addressBytes("192.0.2.7"), 1 }).empty());
		// The decoder refuses one on the wire too (the writer would not send it).
		auto loopback = datagram(0x99, { w });
		loopback[wire::kHeaderSize + 2 + 16 + 12] = 127;
		const wire::Decoded refused = wire::decode(loopback);
		CHECK_FALSE(refused.packet);
		CHECK(refused.error.find("loopback") != std::string::npos);
	}

	TEST_CASE("a client on another subnet learns a server from its --peer, hears it first hand, and drops it dead")
	{
		Subnets net;
		Gossip &c = net.node(kC);
		const bool learnt = net.run(3000ms, [&] { return lists(c, kS, kSAt, net.now); });
		REQUIRE(learnt);
		const SteadyTime listedAt = net.now;
		CHECK(listedAt - kT0 <= 2000ms);
		// The client asks the server itself, and hears it first hand.
		CHECK(net.run(1000ms, [&] {
			const auto s = c.server(kS, net.now);
			return s && s->firstHand;
		}));
		CHECK(net.sentTo(kSAt) > 0);
		// It stays alive by the server's own word: never suspect for 20 s,
		// sample ages under the suspect bound.
		milliseconds oldest{ 0 };
		CHECK_FALSE(net.run(20000ms, [&] {
			const auto s = c.server(kS, net.now);
			oldest = std::max(oldest, s ? s->age : 1h);
			return !lists(c, kS, kSAt, net.now) || c.liveness(kS, net.now) != Liveness::Alive;
		}));
		CHECK(oldest < 2500ms);
		// The relay itself is no relayed server: the client has it as a --peer.
		CHECK_FALSE(lists(c, kR, kRAt, net.now));
		CHECK(c.relayedCount() == 1);

		// A crash: out once gossip calls it dead, and forgotten (its peer
		// too) once unheard for forgetAfter.
		const std::size_t peersBefore = c.peers().size();
		net.crash(kS);
		const SteadyTime crashed = net.now;
		REQUIRE(net.run(5000ms, [&] { return !lists(c, kS, kSAt, net.now); }));
		CHECK(net.now - crashed <= c.config().deadAfter + 100ms);
		CHECK(c.liveness(kS, net.now) == Liveness::Dead);
		CHECK(c.relayedCount() == 1);
		REQUIRE(net.run(c.config().forgetAfter + 10000ms, [&] { return c.relayedCount() == 0; }));
		CHECK(net.now - crashed >= c.config().forgetAfter - 1000ms); // heard at most a pull before
		CHECK(c.peers().size() == peersBefore - 1);
		// The relay no longer names it: nothing brings it back.
		CHECK_FALSE(net.run(10000ms, [&] { return c.relayedCount() != 0; }));
	}

	TEST_CASE("a WHERE from a peer that is no trusted relay changes nothing")
	{
		Gossip c(clientConfig());
		c.addPeer(kRAt); // found by mDNS, say: not a --peer
		const auto out = c.receive(kRAt, datagram(kR, { whereOf(kS, "10.0.1.3") }, wire::kFlagFullState), kT0);
		CHECK(out.empty());
		CHECK(c.stats().untrusted == 1);
		CHECK(c.relayedCount() == 0);
		CHECK(c.peers().size() == 1);
		// A stranger's (a learnt peer) neither.
		c.receive(kEvilAt, datagram(0x66, { whereOf(kS, "10.0.1.3") }), kT0);
		CHECK(c.stats().untrusted == 2);
		CHECK(c.relayedCount() == 0);
		for (const Datagram &d : c.tick(kT0 + 10ms))
			CHECK(d.to != kSAt);
	}

	TEST_CASE("with a key any key holder is a relay, and an untagged WHERE has no effect")
	{
		GossipConfig keyed;
		test::useToyKey(keyed);
		Subnets net(keyed, kSAt, false);
		Gossip &c = net.node(kC);
		CHECK(net.run(3000ms, [&] { return lists(c, kS, kSAt, net.now); }));
		const std::size_t before = c.stats().unauthenticated;
		c.receive(kEvilAt, datagram(0x66, { whereOf(0x300, "10.9.9.9") }, wire::kFlagFullState), net.now);
		CHECK(c.stats().unauthenticated == before + 1);
		CHECK(c.relayedCount() == 1);

		// Without the key the same plain peer is no relay.
		Subnets plain({}, kSAt, false);
		CHECK_FALSE(plain.run(3000ms, [&] { return plain.node(kC).relayedCount() != 0; }));
	}

	TEST_CASE("a relay names no server it hears at a link-local address, nor one it does not hear now")
	{
		Subnets linkLocal({}, Endpoint{ "169.254.7.3", 3632 });
		CHECK_FALSE(linkLocal.run(4000ms, [&] { return linkLocal.node(kC).relayedCount() != 0; }));
		CHECK(linkLocal.node(kR).liveness(kS, linkLocal.now) == Liveness::Alive);

		// A server the relay lost is named nowhere new.
		Subnets net;
		net.crash(kS);
		CHECK_FALSE(net.run(4000ms, [&] { return net.node(kC).relayedCount() != 0; }));
	}

	TEST_CASE("a WHERE for a server gossip already hears adds no second endpoint")
	{
		Gossip c(clientConfig());
		c.addPeer(kSAt);
		c.addPeer(kRAt, true);
		c.receive(kSAt, datagram(kS, { ownSampleOfS() }), kT0);
		c.receive(kRAt, datagram(kR, { whereOf(kS, "10.0.9.9") }, wire::kFlagFullState), kT0 + 1ms);
		CHECK(c.relayedCount() == 0);
		CHECK(c.peers().size() == 2);
	}

	TEST_CASE("a server that wrote first (a learnt peer) becomes relayed when a WHERE names it: asked, listed")
	{
		// S heard of C through a WHERE of its own relay and asked it first.
		Gossip c(clientConfig());
		c.addPeer(kRAt, true);
		c.receive(kSAt, datagram(kS, { ownSampleOfS() }), kT0);
		REQUIRE(c.peers().size() == 2);
		CHECK(c.relayedServers(kT0).empty());
		c.receive(kRAt, datagram(kR, { whereOf(kS, "10.0.1.3") }, wire::kFlagFullState), kT0 + 1ms);
		CHECK(c.peers().size() == 2);
		CHECK(lists(c, kS, kSAt, kT0 + 1ms));
		// Asked as a --peer is, every heartbeat, though it never writes again.
		std::size_t asked = 0;
		for (SteadyTime t = kT0 + 200ms; t < kT0 + 3s; t += 200ms)
			for (const Datagram &d : c.tick(t))
				asked += d.to == kSAt;
		CHECK(asked >= 2);
	}

	TEST_CASE("a trusted relay naming 1020 made-up servers fills a bounded table that empties itself")
	{
		GossipConfig base = clientConfig();
		base.maxServers = 64;
		Gossip c(base);
		c.addPeer(kRAt, true);
		// 30 to a datagram, as a full-state answer packs them.
		for (std::uint64_t i = 0; i < 1020; i += 30) {
			std::vector<wire::Record> records;
			for (std::uint64_t k = i; k < i + 30; ++k)
				records.push_back(whereOf(0x1000 + k, "10.1." + std::to_string(k / 200) + "." +
									      std::to_string(k % 200 + 1)));
			c.receive(kRAt, datagram(kR, records, wire::kFlagFullState), kT0 + milliseconds(i));
		}
		CHECK(c.relayedCount() == 64);
		CHECK(c.peers().size() == 65);
		// None ever answered: none is listed, and a relayGrace later all are
		// gone, peers with them.
		CHECK(c.relayedServers(kT0 + 1000ms).empty());
		c.tick(kT0 + 1000ms + c.config().relayGrace + 1ms);
		CHECK(c.stats().evicted >= 1020 - 64);
		CHECK(c.relayedCount() == 0);
		CHECK(c.peers().size() == 1);
	}

	TEST_CASE("a relayed server takes a learnt peer's place at most, never one the caller gave")
	{
		GossipConfig base = clientConfig();
		base.maxPeers = 4;
		Gossip c(base);
		c.addPeer(kRAt, true);
		c.addPeer({ "10.0.2.3", 3632 });
		c.addPeer({ "10.0.2.4", 3632 });
		// A stranger writes first: a learnt peer, the fourth.
		c.receive(kEvilAt, datagram(0x66, {}), kT0);
		REQUIRE(c.peers().size() == 4);
		c.receive(kRAt, datagram(kR, { whereOf(kS, "10.0.1.3") }, wire::kFlagFullState), kT0 + 1ms);
		auto peers = c.peers();
		CHECK(peers.size() == 4);
		CHECK(std::find(peers.begin(), peers.end(), kSAt) != peers.end());
		CHECK(std::find(peers.begin(), peers.end(), kEvilAt) == peers.end());
		// Now every peer is the caller's or relayed: the next relayed
		// server is kept unasked, and goes unheard.
		c.receive(kRAt, datagram(kR, { whereOf(0xa3, "10.0.1.4") }, wire::kFlagFullState), kT0 + 2ms);
		CHECK(c.relayedCount() == 2);
		peers = c.peers();
		CHECK(peers.size() == 4);
		CHECK(std::find(peers.begin(), peers.end(), Endpoint{ "10.0.1.4", 3632 }) == peers.end());
		for (const Datagram &d : c.tick(kT0 + 3ms))
			CHECK(d.to.address != "10.0.1.4");
		c.tick(kT0 + 2ms + c.config().relayGrace + 1ms);
		CHECK(c.relayedCount() == 0);
		CHECK(c.peers().size() == 3); // the caller's three
	}

	TEST_CASE("an unchanged set of WHEREs goes to one asker once per whereRefresh")
	{
		GossipConfig base;
		base.whereRefresh = 10000ms;
		Subnets net(base);
		REQUIRE(net.run(1000ms, [&] { return net.node(kR).liveness(kS, net.now) == Liveness::Alive; }));
		Gossip &r = net.node(kR);
		// A second client of the relay, driven by hand: every datagram it
		// sends goes to the relay, every answer back to it.
		GossipConfig cc = base;
		cc.node = 0xb9;
		Gossip asker(cc);
		asker.addPeer(kRAt, true);
		const Endpoint askerAt{ "10.0.2.9", 3632 };
		std::size_t wheres = 0, full = 0;
		auto exchange = [&](std::vector<Datagram> out) {
			for (int hop = 0; hop < 4 && !out.empty(); ++hop) {
				std::vector<Datagram> next;
				for (const Datagram &d : out)
					for (const Datagram &a : r.receive(askerAt, d.bytes, net.now)) {
						const wire::Decoded decoded = wire::decode(a.bytes);
						REQUIRE(decoded.packet);
						full += (decoded.packet->header.flags & wire::kFlagFullState) != 0;
						for (const wire::Record &rec : decoded.packet->records)
							wheres += std::holds_alternative<wire::Where>(rec);
						for (Datagram &b : asker.receive(kRAt, a.bytes, net.now))
							next.push_back(std::move(b));
					}
				out = std::move(next);
			}
		};
		const SteadyTime start = net.now;
		while (net.now - start < 25000ms) {
			net.run(100ms);
			exchange(asker.tick(net.now));
		}
		CHECK(asker.relayedCount() == 1);
		// About a full answer a second, and WHEREs in three of them: the
		// first, and after 10 and 20 s.
		CHECK(full >= 20);
		CHECK(wheres == 3);
	}
}
