// Unit tests of the gossip state machine, driven by a small simulated LAN with a virtual clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "distcc-mdns/gossip.h"
#include "support/toy_key.h"

using namespace dmdns;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

// Far enough from the epoch that origins (now - age) stay positive.
const SteadyTime kStart = SteadyTime{} + std::chrono::hours(1);

std::uint64_t idOf(std::size_t i)
{
	return 0x1000 + i;
}

Endpoint endpointOf(std::size_t i)
{
	return { "10.0.0." + std::to_string(i + 1), 3632 };
}

wire::Sample load(std::uint32_t running)
{
	wire::Sample s;
	s.running = running;
	s.slots = 8;
	s.cpus = 8;
	s.runnable = running / 2.0;
	s.speed = 1.0;
	return s;
}

// N daemons exchanging datagrams over a lossless LAN with 1 ms latency. Each
// node ticks on its own phase; servers sample every 250 ms (sampleEvery).
class Lan final
{
public:
	explicit Lan(std::size_t n, std::size_t servers, GossipConfig base = {})
	{
		nodes_.resize(n);
		for (std::size_t i = 0; i < n; ++i) {
			nodes_[i].server = i < servers;
			nodes_[i].phase = milliseconds(17 * i % 200);
			start(i, base, 1);
		}
	}

	void start(std::size_t i, GossipConfig base, std::uint64_t incarnation)
	{
		Node &node = nodes_[i];
		base.node = idOf(i);
		base.incarnation = incarnation;
		base.seed = 1000 + i + 97 * incarnation;
		node.gossip = std::make_unique<Gossip>(base);
		for (std::size_t j = 0; j < nodes_.size(); ++j)
			if (j != i)
				node.gossip->addPeer(endpointOf(j));
		node.up = true;
		node.nextTick = now + node.phase;
		node.nextSample = now + node.phase / 2;
	}

	Gossip &operator[](std::size_t i) { return *nodes_[i].gossip; }
	std::size_t size() const { return nodes_.size(); }

	// Stops a node without a word, as kill -9 or a pulled cable would.
	void crash(std::size_t i) { nodes_[i].up = false; }
	void cleanStop(std::size_t i)
	{
		send(i, nodes_[i].gossip->leave(now));
		nodes_[i].up = false;
	}
	void setRunning(std::size_t i, std::uint32_t running) { nodes_[i].running = running; }
	void mute(std::size_t i, bool muted) { nodes_[i].muted = muted; }
	void sampleEvery(milliseconds every) { sampleEvery_ = every; }

	// @f with every node's copy of each of the first @servers servers, its
	// own left out; each must hold one.
	template <typename F>
	void eachCopy(std::size_t servers, F f)
	{
		for (std::size_t i = 0; i < nodes_.size(); ++i)
			for (std::size_t s = 0; s < servers; ++s) {
				if (s == i)
					continue;
				const auto held = nodes_[i].gossip->server(idOf(s), now);
				REQUIRE(held);
				f(*held);
			}
	}

	void inject(const Endpoint &from, std::size_t to, std::vector<std::uint8_t> bytes)
	{
		queue_.push_back({ from, endpointOf(to), std::move(bytes), now });
	}

	// Advances the virtual clock by @span in 1 ms steps; @check runs after
	// every step.
	template <typename Check>
	void run(milliseconds span, Check check)
	{
		const SteadyTime end = now + span;
		while (now < end) {
			now += 1ms;
			for (std::size_t i = 0; i < nodes_.size(); ++i) {
				Node &node = nodes_[i];
				if (!node.up)
					continue;
				if (node.server && now >= node.nextSample) {
					node.gossip->setOwnSample(load(node.running), now);
					node.nextSample += sampleEvery_;
				}
				if (now >= node.nextTick) {
					send(i, node.gossip->tick(now));
					node.nextTick += 200ms;
				}
			}
			deliver();
			check();
		}
	}
	void run(milliseconds span)
	{
		run(span, [] {});
	}

	SteadyTime now = kStart;
	std::size_t maxDatagram = 0;
	std::uint64_t bytes = 0;

private:
	milliseconds sampleEvery_{ 250 };
	struct Node {
		std::unique_ptr<Gossip> gossip;
		bool up = false;
		bool server = false;
		bool muted = false; // its datagrams are lost
		std::uint32_t running = 0;
		milliseconds phase{ 0 };
		SteadyTime nextTick{};
		SteadyTime nextSample{};
	};
	struct InFlight {
		Endpoint from;
		Endpoint to;
		std::vector<std::uint8_t> bytes;
		SteadyTime at;
	};

	void send(std::size_t from, std::vector<Datagram> out)
	{
		for (Datagram &d : out) {
			maxDatagram = std::max(maxDatagram, d.bytes.size());
			bytes += d.bytes.size();
			if (!nodes_[from].muted)
				queue_.push_back({ endpointOf(from), d.to, std::move(d.bytes), now + 1ms });
		}
	}

	void deliver()
	{
		while (!queue_.empty() && queue_.front().at <= now) {
			InFlight f = std::move(queue_.front());
			queue_.pop_front();
			for (std::size_t i = 0; i < nodes_.size(); ++i)
				if (endpointOf(i) == f.to && nodes_[i].up)
					send(i, nodes_[i].gossip->receive(f.from, f.bytes, now));
		}
	}

	std::vector<Node> nodes_;
	std::deque<InFlight> queue_;
};

std::vector<std::uint8_t> datagram(const wire::Record &record, std::uint64_t sender = 0x7777)
{
	wire::PacketWriter w({ 0, sender, 1 });
	REQUIRE(w.add(record));
	return w.finish();
}

GossipConfig configFor(std::uint64_t node)
{
	GossipConfig c;
	c.node = node;
	return c;
}

// Lets two nodes that list each other find each other: requests, the
// cookie round trip and the full states go back and forth until quiet.
void introduce(Gossip &a, const Endpoint &aAt, Gossip &b, const Endpoint &bAt, SteadyTime now)
{
	std::vector<Datagram> toA = b.tick(now), toB = a.tick(now);
	for (int hop = 0; hop < 8 && (!toA.empty() || !toB.empty()); ++hop) {
		std::vector<Datagram> nextA, nextB;
		for (const Datagram &d : toA)
			for (Datagram &r : a.receive(bAt, d.bytes, now))
				nextB.push_back(std::move(r));
		for (const Datagram &d : toB)
			for (Datagram &r : b.receive(aAt, d.bytes, now))
				nextA.push_back(std::move(r));
		toA = std::move(nextA);
		toB = std::move(nextB);
	}
}

// Hands every datagram of @out to @to, as from @from.
void pass(const std::vector<Datagram> &out, Gossip &to, const Endpoint &from, SteadyTime now)
{
	for (const Datagram &d : out)
		to.receive(from, d.bytes, now);
}

// @asker's first datagrams (@first, to @answerer) and the answers and
// requests that follow, up to four hops, all at @now; @inspect sees every
// record of every answer.
template <typename Inspect>
void exchange(Gossip &asker, const Endpoint &askerAt, Gossip &answerer, const Endpoint &answererAt,
	      std::vector<Datagram> first, SteadyTime now, Inspect inspect)
{
	for (int hop = 0; hop < 4 && !first.empty(); ++hop) {
		std::vector<Datagram> next;
		for (const Datagram &d : first)
			for (const Datagram &r : answerer.receive(askerAt, d.bytes, now)) {
				const auto decoded = wire::decode(r.bytes);
				REQUIRE(decoded.packet);
				for (const auto &record : decoded.packet->records)
					inspect(record);
				for (Datagram &n : asker.receive(answererAt, r.bytes, now))
					next.push_back(std::move(n));
			}
		first = std::move(next);
	}
}

} // namespace

TEST_SUITE("gossip")
{
	TEST_CASE("a new load after a quiet spell reaches all of 12 nodes within 0.5 s, in packets of at most 1400 bytes")
	{
		Lan lan(12, 4);
		lan.run(3000ms);
		for (std::size_t i = 0; i < lan.size(); ++i)
			for (std::size_t s = 0; s < 4; ++s)
				CHECK(lan[i].liveness(idOf(s), lan.now) == Liveness::Alive);

		lan.setRunning(0, 9);
		const SteadyTime changed = lan.now;
		SteadyTime reached{};
		lan.run(3000ms, [&] {
			if (reached != SteadyTime{})
				return;
			for (std::size_t i = 1; i < lan.size(); ++i) {
				auto s = lan[i].server(idOf(0), lan.now);
				if (!s || s->sample.running != 9)
					return;
			}
			reached = lan.now;
		});
		REQUIRE(reached != SteadyTime{});
		const auto took = std::chrono::duration_cast<milliseconds>(reached - changed);
		MESSAGE("12 nodes: new load everywhere after " << took.count() << " ms (sample period 250 ms)");
		// Not a pace (750 ms here) later: at 12 nodes the turns leave
		// loadBytes room for a new load to go to every peer at once.
		CHECK(took <= 500ms);
		CHECK(lan.maxDatagram <= wire::kMaxDatagram);

		// Ages stay those of a live sample: under a second at every node.
		for (std::size_t i = 1; i < lan.size(); ++i)
			CHECK(lan[i].server(idOf(0), lan.now)->age < 1000ms);
	}

	TEST_CASE("40 nodes, 20 servers, every load changing: paced loads cost under 1100 B/s a node, ages p50 <= 1 s, p99 <= 2 s")
	{
		// Every server's load changes about once a second. Sending every
		// change and heartbeat to every peer (and full states to random
		// peers) cost about 3,000 B/s a node at this size (gossip-sim
		// before issue 20); paced turns cost what the pace allows, and keep
		// every copy younger than a pace plus a round and a sampling period.
		Lan lan(40, 20);
		lan.run(5000ms);
		const std::uint64_t before = lan.bytes;
		std::vector<std::int64_t> ages;
		std::size_t suspected = 0;
		int step = 0;
		lan.run(10000ms, [&] {
			++step;
			if (step % 50 == 0) // every server in turn, each about once a second
				lan.setRunning(static_cast<std::size_t>(step / 50) % 20, static_cast<std::uint32_t>(step / 50 % 7));
			if (step % 100 != 0)
				return;
			lan.eachCopy(20, [&](const auto &held) {
				ages.push_back(held.age.count());
				suspected += held.liveness != Liveness::Alive;
			});
		});
		const double perNode = static_cast<double>(lan.bytes - before) / 10.0 / 40.0;
		std::sort(ages.begin(), ages.end());
		const auto p50 = ages[ages.size() / 2], p99 = ages[ages.size() * 99 / 100];
		MESSAGE("40 nodes, 20 servers: " << perNode << " B/s per node; age p50 " << p50 << " ms, p99 " << p99
						 << " ms");
		CHECK(perNode < 1100.0);
		CHECK(p50 <= 1000);
		CHECK(p99 <= 2000);
		CHECK(suspected == 0);
	}

	TEST_CASE("40 nodes, 30 idle servers measuring as seldom as the daemon lets them: nobody is ever suspected")
	{
		// An idle daemon measures every kQuietMeasure, and its heartbeat is
		// dated from the measurement: each peer's copy grows to a pace
		// (1.5 s from 30 peers) plus that before the next turn. At 1050 ms,
		// the earlier cadence, copies reached 2.55 s, past suspectAfter.
		Lan lan(40, 30);
		lan.sampleEvery(kQuietMeasure);
		lan.run(5000ms);
		std::size_t suspected = 0, polls = 0;
		milliseconds oldest{ 0 };
		int step = 0;
		lan.run(20000ms, [&] {
			if (++step % 50 != 0)
				return;
			++polls;
			lan.eachCopy(30, [&](const auto &held) {
				oldest = std::max(oldest, held.age);
				suspected += held.liveness != Liveness::Alive;
			});
		});
		const GossipConfig c;
		MESSAGE("oldest copy " << oldest.count() << " ms over " << polls << " polls");
		CHECK(suspected == 0);
		CHECK(oldest <= c.loadPace + kQuietMeasure + c.period);
		CHECK(oldest < c.suspectAfter - 250ms);
	}

	TEST_CASE("a crashed server becomes suspect, then dead, within the bounds, and nobody is falsely suspected")
	{
		Lan lan(12, 6);
		std::size_t falseSuspect = 0, falseDead = 0, checks = 0;
		lan.run(10000ms, [&] {
			for (std::size_t i = 0; i < lan.size(); ++i)
				for (std::size_t s = 0; s < 6; ++s) {
					if (lan.now <= kStart + 2s)
						continue;
					++checks;
					const Liveness l = lan[i].liveness(idOf(s), lan.now);
					falseSuspect += l == Liveness::Suspect;
					falseDead += l == Liveness::Dead || l == Liveness::Unknown;
				}
		});
		MESSAGE("false suspicions: " << falseSuspect << " of " << checks << " checks");
		CHECK(falseDead == 0);
		CHECK(falseSuspect == 0);
		MESSAGE("traffic: " << lan.bytes / 10 / lan.size() << " B/s per node, 12 nodes, 6 servers");

		lan.crash(3);
		const SteadyTime crashed = lan.now;
		std::vector<SteadyTime> suspect(lan.size()), dead(lan.size());
		lan.run(6000ms, [&] {
			for (std::size_t i = 0; i < lan.size(); ++i) {
				if (i == 3)
					continue;
				const Liveness l = lan[i].liveness(idOf(3), lan.now);
				if (l == Liveness::Suspect && suspect[i] == SteadyTime{})
					suspect[i] = lan.now;
				if (l == Liveness::Dead && dead[i] == SteadyTime{})
					dead[i] = lan.now;
			}
		});
		milliseconds worst{ 0 };
		for (std::size_t i = 0; i < lan.size(); ++i) {
			if (i == 3)
				continue;
			REQUIRE(suspect[i] != SteadyTime{});
			REQUIRE(dead[i] != SteadyTime{});
			const auto s = std::chrono::duration_cast<milliseconds>(suspect[i] - crashed);
			const auto d = std::chrono::duration_cast<milliseconds>(dead[i] - crashed);
			// Not before the server could have been silent that long: each
			// node's last turn (every minLoadPace at 12 nodes, in whole
			// rounds) was measured at most a sampling period before it.
			const GossipConfig &c = lan[0].config();
			const auto gap = c.minLoadPace + c.period + 250ms;
			CHECK(s >= c.suspectAfter - gap);
			CHECK(s <= c.suspectAfter);
			CHECK(d >= c.deadAfter - gap);
			CHECK(d <= c.deadAfter);
			worst = std::max(worst, d);
		}
		MESSAGE("crash: dead everywhere after " << worst.count() << " ms");
		CHECK(worst < 5000ms);
	}

	TEST_CASE("a clean stop removes the server at once, and a restart brings it back")
	{
		Lan lan(8, 3);
		lan.run(2000ms);
		lan.cleanStop(1);
		lan.run(20ms);
		for (std::size_t i = 0; i < lan.size(); ++i)
			if (i != 1)
				CHECK(lan[i].liveness(idOf(1), lan.now) == Liveness::Left);
		// Relayed old samples do not resurrect it.
		lan.run(3000ms);
		for (std::size_t i = 0; i < lan.size(); ++i)
			if (i != 1)
				CHECK(lan[i].liveness(idOf(1), lan.now) == Liveness::Left);

		lan.start(1, {}, 2); // a new daemon: a higher incarnation
		lan.run(1500ms);
		for (std::size_t i = 0; i < lan.size(); ++i)
			CHECK(lan[i].liveness(idOf(1), lan.now) == Liveness::Alive);
	}

	TEST_CASE("a suspected server that is alive refutes: fresher samples, or a higher incarnation")
	{
		Lan lan(8, 3);
		lan.run(2000ms);
		lan.mute(2, true); // its link is down for three seconds
		lan.run(3000ms);
		CHECK(lan[5].liveness(idOf(2), lan.now) != Liveness::Alive);
		lan.mute(2, false);
		lan.run(lan[2].config().heartbeatInterval + 600ms); // its next heartbeat spreads
		for (std::size_t i = 0; i < lan.size(); ++i)
			CHECK(lan[i].liveness(idOf(2), lan.now) == Liveness::Alive);

		// A LEAVE of a live server from anyone else is not believed; the
		// server itself, told of it, says its own word again and keeps its
		// one incarnation per run.
		const std::uint64_t before = lan[2].incarnation();
		lan.inject(endpointOf(6), 5, datagram(wire::Leave{ idOf(2), before }, idOf(6)));
		lan.inject(endpointOf(6), 2, datagram(wire::Leave{ idOf(2), before }, idOf(6)));
		lan.run(2ms);
		CHECK(lan[5].liveness(idOf(2), lan.now) == Liveness::Alive);
		lan.run(2000ms);
		CHECK(lan[2].incarnation() == before);
		for (std::size_t i = 0; i < lan.size(); ++i)
			CHECK(lan[i].liveness(idOf(2), lan.now) == Liveness::Alive);
	}

	TEST_CASE("a node's own sample wins over relayed copies of it")
	{
		Gossip g(configFor(0x10));
		g.setOwnSample(load(3), kStart);
		const auto own = g.server(0x10, kStart);
		REQUIRE(own);
		CHECK(own->sample.server == 0x10);
		CHECK(own->sample.sequence == 1);

		wire::Sample forged = load(99);
		forged.server = 0x10;
		forged.incarnation = 1;
		forged.sequence = 1000;
		g.receive({ "10.0.0.9", 3632 }, datagram(forged), kStart + 1ms);
		CHECK(g.server(0x10, kStart + 1ms)->sample.running == 3);
		CHECK(g.incarnation() == 1);
		// It says its own word again, with the next of its own sequence
		// numbers: no claim makes it jump.
		CHECK(g.server(0x10, kStart + 1ms)->sample.sequence == 2);

		// A copy from a "later" life is no reason to leave this one.
		forged.incarnation = wire::kMaxCounter - 1;
		g.receive({ "10.0.0.9", 3632 }, datagram(forged), kStart + 2ms);
		CHECK(g.incarnation() == 1);
		const auto after = g.server(0x10, kStart + 2ms);
		CHECK(after->sample.running == 3);
		CHECK(after->sample.incarnation == 1);
		CHECK(g.liveness(0x10, kStart + 2ms) == Liveness::Alive);
	}

	TEST_CASE("merging keeps the newest sample by incarnation and sequence; ages grow while held")
	{
		Gossip g(configFor(0x10));
		const Endpoint from{ "10.0.0.9", 3632 };
		wire::Sample s = load(4);
		s.server = 0x20;
		s.incarnation = 3;
		s.sequence = 10;
		s.ageMs = 100;
		g.receive(from, datagram(s, 0x20), kStart);
		s.sequence = 9;
		s.running = 1;
		g.receive(from, datagram(s, 0x20), kStart);
		CHECK(g.server(0x20, kStart)->sample.running == 4);
		s.incarnation = 2;
		s.sequence = 50;
		g.receive(from, datagram(s, 0x20), kStart);
		CHECK(g.server(0x20, kStart)->sample.running == 4);
		CHECK(g.server(0x20, kStart + 400ms)->age == 500ms);
		CHECK(g.server(0x20, kStart + 400ms)->sample.ageMs == 500);
		CHECK(g.server(0x20, kStart)->load().running == 4);
		CHECK(g.server(0x20, kStart)->load().age == 100ms);
		CHECK(g.server(0x20, kStart)->firstHand);

		// What a full state relays carries the grown age (to an asker that
		// found g itself: learnt there, so it may be a --peer of it).
		Gossip asker(configFor(0x11));
		const Endpoint askerAt{ "10.0.0.8", 3632 };
		asker.addPeer(from);
		bool seen = false;
		exchange(asker, askerAt, g, from, asker.tick(kStart + 400ms), kStart + 400ms, [&](const wire::Record &rec) {
			if (const auto *rs = std::get_if<wire::Sample>(&rec); rs && rs->server == 0x20) {
				CHECK(rs->ageMs == 500);
				seen = true;
			}
		});
		CHECK(seen);

		// Liveness follows the origin time, 100 ms before kStart.
		const GossipConfig &c = g.config();
		const SteadyTime origin = kStart - 100ms;
		CHECK(g.liveness(0x20, origin + c.suspectAfter - 1ms) == Liveness::Alive);
		CHECK(g.liveness(0x20, origin + c.suspectAfter) == Liveness::Suspect);
		CHECK(g.liveness(0x20, origin + c.deadAfter - 1ms) == Liveness::Suspect);
		CHECK(g.liveness(0x20, origin + c.deadAfter) == Liveness::Dead);
		CHECK(g.liveness(0x30, kStart) == Liveness::Unknown);
		CHECK_FALSE(g.server(0x30, kStart));
	}

	TEST_CASE("other clients' reservations are visible until covered by a newer sample or expired")
	{
		Gossip client(configFor(0x10)), other(configFor(0x11)), server(configFor(0x20));
		const Endpoint clientAt{ "10.0.0.1", 3632 }, otherAt{ "10.0.0.2", 3632 }, serverAt{ "10.0.0.3", 3632 };
		client.addPeer(otherAt);
		server.addPeer(otherAt);
		other.addPeer(clientAt);
		other.addPeer(serverAt);
		server.setOwnSample(load(2), kStart);
		introduce(client, clientAt, other, otherAt, kStart);
		introduce(server, serverAt, other, otherAt, kStart);
		REQUIRE(other.server(0x20, kStart));

		client.reserve(0x20, 4, kStart + 10ms);
		client.reserve(0x21, 2, kStart + 10ms);
		client.setDemand(6, 2, kStart + 10ms);
		CHECK(client.reservedByOthers(0x20, kStart + 10ms) == 0); // its own are not "others"
		pass(client.tick(kStart + 200ms), other, clientAt, kStart + 201ms);
		CHECK(other.reservedByOthers(0x20, kStart + 201ms) == 4);
		CHECK(other.reservedByOthers(0x21, kStart + 201ms) == 2);
		CHECK(other.reservedByOthers(0x22, kStart + 201ms) == 0);
		// Asked for many servers at once, in their order, repeats too.
		const std::vector<std::uint64_t> ids = { 0x22, 0x20, 0x21, 0x20 };
		CHECK(other.reservedByOthers(ids, kStart + 201ms) == std::vector<std::uint32_t>{ 0, 4, 2, 4 });

		// Replacing the count, then a sample measured after the reservation.
		client.reserve(0x20, 6, kStart + 300ms);
		client.setDemand(8, 2, kStart + 300ms);
		pass(client.tick(kStart + 400ms), other, clientAt, kStart + 401ms);
		CHECK(other.reservedByOthers(0x20, kStart + 401ms) == 6);
		// A sample measured soon after does not count the jobs yet.
		server.setOwnSample(load(3), kStart + 500ms);
		pass(server.tick(kStart + 500ms), other, serverAt, kStart + 501ms);
		CHECK(other.reservedByOthers(0x20, kStart + 501ms) == 6);
		server.setOwnSample(load(8), kStart + 1400ms);
		pass(server.tick(kStart + 1400ms), other, serverAt, kStart + 1401ms);
		CHECK(other.reservedByOthers(0x20, kStart + 1401ms) == 0);
		// In one call each server's own sample covers its own only.
		CHECK(other.reservedByOthers(ids, kStart + 1401ms) == std::vector<std::uint32_t>{ 0, 0, 2, 0 });

		// Without a newer sample they lapse after their time to live.
		const auto ttl = configFor(0x11).reservationTtl; // made at kStart + 10ms
		CHECK(other.reservedByOthers(0x21, kStart + ttl) == 2);
		CHECK(other.reservedByOthers(0x21, kStart + ttl + 11ms) == 0);
	}

	TEST_CASE("reservations spread through the simulated LAN and expire")
	{
		Lan lan(10, 0); // no samples: nothing covers them
		lan.run(1000ms);
		lan[4].reserve(0x9999, 5, lan.now);
		lan[4].setDemand(5, 2, lan.now);
		lan[7].reserve(0x9999, 3, lan.now);
		lan[7].setDemand(3, 2, lan.now);
		lan.run(1000ms);
		for (std::size_t i = 0; i < lan.size(); ++i) {
			const std::uint32_t own = i == 4 ? 5 : i == 7 ? 3
								      : 0;
			CHECK(lan[i].reservedByOthers(0x9999, lan.now) == 8 - own);
		}
		lan.run(2100ms);
		for (std::size_t i = 0; i < lan.size(); ++i)
			CHECK(lan[i].reservedByOthers(0x9999, lan.now) == 0);
	}

	TEST_CASE("demand adds up over clients, is renewed while live, and goes with a leave or a crash")
	{
		Lan lan(6, 0);
		lan[1].setDemand(40, 8, lan.now);
		lan[2].setDemand(24, 4, lan.now);
		lan[3].setDemand(0, 4, lan.now);
		lan.run(1500ms);
		for (std::size_t i = 0; i < lan.size(); ++i) {
			const DemandSummary d = lan[i].demand(lan.now);
			CHECK(d.wanted == 64);
			CHECK(d.localSlots == 12);
			CHECK(d.clients == 2);
			// The others' demand added up and one by one, in one walk.
			const auto others = lan[i].othersDemand(lan.now);
			CHECK(others.summary.wanted == lan[i].demand(lan.now, false).wanted);
			CHECK(others.summary.clients == lan[i].demand(lan.now, false).clients);
			CHECK(others.each == lan[i].demands(lan.now));
			std::vector<std::uint32_t> each = others.each;
			std::sort(each.begin(), each.end());
			CHECK(each == (i == 1	? std::vector<std::uint32_t>{ 24 }
				       : i == 2 ? std::vector<std::uint32_t>{ 40 }
						: std::vector<std::uint32_t>{ 24, 40 }));
		}
		lan.run(8000ms); // longer than the demand ttl: renewals keep it
		CHECK(lan[5].demand(lan.now).wanted == 64);

		lan.cleanStop(1);
		lan.run(20ms);
		CHECK(lan[5].demand(lan.now).wanted == 24);
		lan.crash(2);
		lan.run(5100ms);
		CHECK(lan[5].demand(lan.now).clients == 0);
	}

	TEST_CASE("a full state larger than one datagram is split and arrives whole, once the asker proved its address")
	{
		GossipConfig big = configFor(0x10);
		big.maxServers = 1000;
		big.rateLimit = 1e9;
		big.rateBurst = 1e9;
		Gossip a(big);
		const Endpoint aAt{ "10.0.0.1", 3632 }, bAt{ "10.0.0.2", 3632 };
		a.addPeer(bAt, true); // each a --peer of the other: each believes what the other relays
		GossipConfig other = big;
		other.node = 0x11;
		Gossip b2(other);
		b2.addPeer(aAt, true); // a --peer: a trusted relay

		// Feed a with 300 servers' own samples.
		for (std::uint64_t id = 1; id <= 300; ++id) {
			wire::Sample s = load(static_cast<std::uint32_t>(id % 7));
			s.server = 0x5000 + id;
			s.incarnation = 1;
			s.sequence = id;
			a.receive({ "10.0.1." + std::to_string(id), 3632 }, datagram(s, s.server), kStart);
		}
		CHECK(a.serverCount() == 300);
		// b2 asks a for its state; the first answer is small: a cookie.
		const auto request = b2.tick(kStart + 1ms);
		REQUIRE(request.size() == 1);
		CHECK(request.front().bytes.size() >= b2.config().minRequest);
		auto first = a.receive(bAt, request.front().bytes, kStart + 2ms);
		REQUIRE(first.size() == 1);
		CHECK(first.front().bytes.size() <= 3 * request.front().bytes.size());
		// b2 echoes the cookie at once, and a answers in several datagrams.
		const auto again = b2.receive(aAt, first.front().bytes, kStart + 3ms);
		REQUIRE_FALSE(again.empty());
		std::vector<Datagram> reply;
		for (const Datagram &d : again) {
			auto r = a.receive(bAt, d.bytes, kStart + 4ms);
			reply.insert(reply.end(), r.begin(), r.end());
		}
		CHECK(reply.size() >= 300 * (2 + wire::kSampleSize) / wire::kMaxDatagram);
		for (const Datagram &d : reply) {
			CHECK(d.bytes.size() <= wire::kMaxDatagram);
			const auto decoded = wire::decode(d.bytes);
			REQUIRE(decoded.packet);
			CHECK((decoded.packet->header.flags & wire::kFlagPushPullRequest) == 0);
			CHECK((decoded.packet->header.flags & wire::kFlagFullState) != 0);
		}
		pass(reply, b2, aAt, kStart + 5ms);
		CHECK(b2.serverCount() == 300);

		// A source that never echoes a cookie (a forged address) gets at
		// most three times the bytes it sent, never the full state.
		a.setOwnSample(load(1), kStart + 6ms);
		for (SteadyTime t : { kStart + 6ms, kStart + 2s }) {
			const auto small = a.receive({ "192.0.2.1", 9 }, request.front().bytes, t);
			REQUIRE(small.size() == 1);
			CHECK(small.front().bytes.size() <= 3 * request.front().bytes.size());
			const auto decoded = wire::decode(small.front().bytes);
			REQUIRE(decoded.packet);
			CHECK((decoded.packet->header.flags & wire::kFlagFullState) == 0);
			CHECK(std::holds_alternative<wire::Cookie>(decoded.packet->records.front()));
		}
		// It is a learnt peer now, forgotten after a silence.
		const auto known = a.peers();
		CHECK(std::find(known.begin(), known.end(), Endpoint{ "192.0.2.1", 9 }) != known.end());
		a.tick(kStart + 2s + a.config().forgetAfter + 1s);
		const auto later = a.peers();
		CHECK(std::find(later.begin(), later.end(), Endpoint{ "192.0.2.1", 9 }) == later.end());
		CHECK(std::find(later.begin(), later.end(), bAt) != later.end()); // configured: kept
		// And a known peer gets the full state only once per half interval.
		for (const Datagram &d : a.receive(bAt, again.front().bytes, kStart + 7ms)) {
			const auto decoded = wire::decode(d.bytes);
			REQUIRE(decoded.packet);
			CHECK((decoded.packet->header.flags & wire::kFlagFullState) == 0);
		}
	}

	TEST_CASE("without a key, a peer found by mDNS is answered with the answerer's own records only")
	{
		// It hears every server first hand and believes no relay: others'
		// records would be dropped there (a probe's answer was a whole
		// full state: 62 % of the bytes at 100 nodes with 5 % loss).
		Gossip a(configFor(0x10));
		const Endpoint aAt{ "10.0.0.1", 3632 }, cAt{ "10.0.0.3", 3632 };
		a.setOwnSample(load(2), kStart);
		for (std::uint64_t id = 1; id <= 20; ++id) {
			wire::Sample s = load(1);
			s.server = 0x5000 + id;
			s.incarnation = 1;
			s.sequence = 1;
			a.receive({ "10.0.1." + std::to_string(id), 3632 }, datagram(s, s.server), kStart);
		}
		REQUIRE(a.serverCount() == 20);
		a.addPeer(cAt);
		Gossip c(configFor(0x12));
		c.addPeer(aAt);
		std::size_t samples = 0, own = 0;
		exchange(c, cAt, a, aAt, c.tick(kStart + 1ms), kStart + 2ms, [&](const wire::Record &rec) {
			if (const auto *rs = std::get_if<wire::Sample>(&rec)) {
				++samples;
				own += rs->server == 0x10;
			}
		});
		CHECK(own >= 1);
		CHECK(samples == own);
		CHECK(c.liveness(0x10, kStart + 2ms) == Liveness::Alive);
	}

	TEST_CASE("tables stay bounded under a flood of random ids")
	{
		GossipConfig c = configFor(0x10);
		c.maxServers = 64;
		c.maxReservations = 64;
		c.maxDemands = 64;
		c.maxLeaves = 64;
		c.maxSources = 32;
		c.maxPeers = 16;
		c.rateLimit = 1e9;
		c.rateBurst = 1e9;
		Gossip g(c);
		std::mt19937_64 rng(7);
		SteadyTime now = kStart;
		for (int i = 0; i < 20000; ++i) {
			now += 1ms;
			const std::uint64_t id = rng() | 1;
			wire::PacketWriter w({ 0, id, 1 });
			wire::Sample s = load(1);
			s.server = id;
			s.ageMs = static_cast<std::uint32_t>(rng() % 5000);
			w.add(s);
			w.add(wire::Leave{ rng() | 1, 1 });
			w.add(wire::Reservation{ id, rng() | 1, 3, 3000, 0, 1, 1 });
			w.add(wire::Demand{ id, 1, 1, 0, 10, 1 });
			const auto bytes = w.finish();
			g.receive({ "10." + std::to_string(rng() % 256) + ".0.1", 3632 }, bytes, now);
			g.addPeer({ std::to_string(i), 1 });
			if (i % 100 == 0)
				for (const Datagram &d : g.tick(now))
					CHECK(d.bytes.size() <= wire::kMaxDatagram);
		}
		CHECK(g.serverCount() <= 64);
		CHECK(g.reservationCount() <= 64);
		CHECK(g.demandCount() <= 64);
		CHECK(g.leaveCount() <= 64);
		CHECK(g.sourceCount() <= 32);
		CHECK(g.peers().size() <= 16);
		CHECK(g.stats().evicted > 0);
		CHECK(g.stats().accepted == 20000);
	}

	TEST_CASE("a flood from one address is rate-limited, other sources are not")
	{
		Gossip g(configFor(0x10));
		wire::Sample s = load(1);
		s.server = 0x20;
		const Endpoint flooder{ "10.0.0.66", 4000 }, friendly{ "10.0.0.2", 3632 };
		for (int i = 0; i < 1000; ++i) {
			s.sequence = i + 1;
			// Changing ports does not escape the bucket: it is per address.
			g.receive({ flooder.address, static_cast<std::uint16_t>(4000 + i) }, datagram(s, 0x20), kStart);
		}
		CHECK(g.stats().accepted == 100);
		CHECK(g.stats().rateLimited == 900);
		s.server = 0x21;
		g.receive(friendly, datagram(s, 0x21), kStart);
		CHECK(g.stats().accepted == 101);
		CHECK(g.server(0x21, kStart));
		// The bucket refills with time.
		g.receive(flooder, datagram(s, 0x20), kStart + 100ms);
		CHECK(g.stats().accepted == 102);
	}

	TEST_CASE("invalid, looped and unauthenticated datagrams are dropped and counted")
	{
		GossipConfig c = configFor(0x10);
		test::useToyKey(c);
		Gossip a(c);
		c.node = 0x11;
		Gossip b(c);
		const Endpoint aAt{ "10.0.0.1", 3632 }, bAt{ "10.0.0.2", 3632 };
		a.addPeer(bAt);
		a.setOwnSample(load(5), kStart);
		const auto out = a.tick(kStart);
		REQUIRE_FALSE(out.empty());
		for (const Datagram &d : out)
			CHECK(wire::decode(d.bytes).tagged);
		pass(out, b, aAt, kStart);
		CHECK(b.server(0x10, kStart));
		CHECK(b.stats().unauthenticated == 0);

		// Untagged, and tagged with a wrong tag.
		wire::Sample s = load(1);
		s.server = 0x30;
		b.receive(aAt, datagram(s), kStart);
		auto forged = out.front().bytes;
		forged.back() ^= 1;
		b.receive(aAt, forged, kStart);
		CHECK(b.stats().unauthenticated == 2);
		CHECK_FALSE(b.server(0x30, kStart));

		const std::vector<std::uint8_t> junk{ 'd', 'G', 1, 0, 0 };
		b.receive(aAt, junk, kStart);
		CHECK(b.stats().invalid == 1);
		CHECK_FALSE(b.stats().lastError.empty());

		pass(out, a, aAt, kStart); // its own datagrams reflected
		CHECK(a.stats().looped == out.size());
	}

	TEST_CASE("configuration is checked")
	{
		CHECK_THROWS_AS(Gossip(GossipConfig{}), std::invalid_argument);
		GossipConfig c = configFor(1);
		c.newsTransmits = 0;
		CHECK_THROWS_AS(Gossip{ c }, std::invalid_argument);
		c = configFor(1);
		c.incarnation = wire::kMaxCounter;
		CHECK_THROWS_AS(Gossip{ c }, std::invalid_argument);
		c = configFor(1);
		c.maxDatagram = 100;
		CHECK_THROWS_AS(Gossip{ c }, std::invalid_argument);
		c = configFor(1);
		c.suspectAfter = 5s;
		CHECK_THROWS_AS(Gossip{ c }, std::invalid_argument);
		CHECK(livenessName(Liveness::Suspect) == "suspect");
	}

	TEST_CASE("pinned servers survive a flood of made-up ids and are not forgotten while listed")
	{
		GossipConfig c = configFor(0x10);
		c.maxServers = 16;
		c.rateLimit = 1e9;
		c.rateBurst = 1e9;
		Gossip g(c);
		for (std::uint64_t id = 0x20; id < 0x24; ++id) {
			wire::Sample s = load(2);
			s.server = id;
			s.incarnation = 1;
			s.sequence = 1;
			g.receive({ "10.0.0." + std::to_string(id), 3632 }, datagram(s, id), kStart);
		}
		const std::vector<std::uint64_t> listed = { 0x20, 0x21, 0x22, 0x23 };
		g.pin(listed);
		std::mt19937_64 rng(3);
		SteadyTime now = kStart;
		for (int i = 0; i < 5000; ++i) {
			now += 1ms;
			wire::Sample s = load(1);
			s.server = (rng() | 1) + 0x100;
			s.incarnation = 1;
			s.sequence = 1;
			g.receive({ "10.9." + std::to_string(i % 256) + "." + std::to_string(i / 256), 3632 },
				  datagram(s, s.server), now);
		}
		CHECK(g.serverCount() <= 16);
		for (std::uint64_t id : listed)
			CHECK(g.server(id, now));

		// A listed server that fell silent stays dead rather than unknown,
		// so the caller does not fall back to mDNS's stale view of it.
		const SteadyTime later = kStart + c.forgetAfter + 10s;
		g.tick(later);
		CHECK(g.liveness(0x20, later) == Liveness::Dead);
		g.pin({});
		g.tick(later + 1ms);
		CHECK(g.liveness(0x20, later + 1ms) == Liveness::Unknown);
	}

	TEST_CASE("an unchanged load is no news; a paced turn makes it a heartbeat as of the newest measurement")
	{
		Gossip g(configFor(0x10));
		g.setOwnSample(load(2), kStart);
		CHECK(g.server(0x10, kStart)->sample.sequence == 1);
		g.setOwnSample(load(2), kStart + 250ms);
		g.setOwnSample(load(2), kStart + 500ms);
		CHECK(g.server(0x10, kStart + 500ms)->sample.sequence == 1);
		CHECK(g.server(0x10, kStart + 500ms)->age == 500ms);
		g.setOwnSample(load(3), kStart + 750ms);
		CHECK(g.server(0x10, kStart + 750ms)->sample.sequence == 2);
		g.setOwnSample(load(3), kStart + 1000ms);
		CHECK(g.server(0x10, kStart + 1100ms)->sample.sequence == 2);

		// A peer that answers gets the load on its turns only, each time a
		// new sequence as of the last measurement (never of the send).
		const Endpoint peer{ "10.0.0.2", 3632 };
		g.addPeer(peer);
		wire::PacketWriter w({ 0, 0x20, 1 });
		REQUIRE(w.add(wire::Demand{ 0x20, 1, 1, 0, 1, 0 }));
		g.receive(peer, w.finish(), kStart + 1100ms);
		std::vector<SteadyTime> turns;
		std::uint64_t seq = 2;
		for (SteadyTime t = kStart + 1200ms; t < kStart + 11200ms; t += 200ms) {
			g.setOwnSample(load(3), t - 50ms);
			for (const Datagram &d : g.tick(t)) {
				const auto packet = wire::decode(d.bytes).packet;
				REQUIRE(packet);
				if (packet->header.flags & wire::kFlagPushPullRequest)
					continue;
				for (const wire::Record &r : packet->records)
					if (const auto *l = std::get_if<wire::Load>(&r)) {
						CHECK(l->sequence > seq);
						seq = l->sequence;
						CHECK(l->ageMs == 50);
						turns.push_back(t);
					}
			}
		}
		// One peer: the quickest pace, minLoadPace, on its phase (a turn
		// waits for the next round, the one after is not put off).
		const GossipConfig &c = g.config();
		REQUIRE(turns.size() >= 2);
		CHECK(turns.size() <= static_cast<std::size_t>(10s / c.minLoadPace) + 1);
		for (std::size_t i = 1; i < turns.size(); ++i) {
			CHECK(turns[i] - turns[i - 1] >= c.minLoadPace - c.period);
			CHECK(turns[i] - turns[i - 1] <= c.minLoadPace + c.period);
		}
	}

	TEST_CASE("a peer's node id is learnt from its accepted datagrams")
	{
		Gossip g(configFor(0x10));
		const Endpoint peer{ "10.0.0.2", 3632 };
		g.addPeer(peer);
		CHECK_FALSE(g.peerNode(peer));
		wire::Sample s = load(1);
		s.server = 0x42;
		g.receive(peer, datagram(s, 0x42), kStart);
		REQUIRE(g.peerNode(peer));
		CHECK(*g.peerNode(peer) == 0x42);
		CHECK_FALSE(g.peerNode({ "10.0.0.3", 3632 }));
	}

	TEST_CASE("load changes and heartbeats travel as Load records on top of a known Sample")
	{
		Gossip server(configFor(0x20)), client(configFor(0x10));
		const Endpoint serverAt{ "10.0.0.2", 3632 }, clientAt{ "10.0.0.1", 3632 };
		server.addPeer(clientAt);
		auto kinds = [](const std::vector<Datagram> &out) {
			std::size_t samples = 0, loads = 0;
			for (const Datagram &d : out) {
				const wire::Decoded decoded = wire::decode(d.bytes);
				if (!decoded.packet)
					continue;
				for (const wire::Record &r : decoded.packet->records) {
					samples += std::holds_alternative<wire::Sample>(r);
					loads += std::holds_alternative<wire::Load>(r);
				}
			}
			return std::pair{ samples, loads };
		};

		// A Load before any Sample is an orphan: nothing to apply it to.
		server.setOwnSample(load(1), kStart);
		server.setOwnSample(load(2), kStart + 250ms);
		SteadyTime t = kStart + 250ms;
		auto out = server.tick(t);
		// The first round carries the full Sample (it is new, with the
		// newer load) ...
		CHECK(kinds(out).first >= 1); // the round, and the start-up pull
		CHECK(kinds(out).second == 0);
		wire::Load orphan{ 0x20, static_cast<std::uint16_t>(server.incarnation() & 0xffff), 2, 0, 2, 1.0 };
		client.receive(serverAt, datagram(orphan, 0x20), t);
		CHECK(client.stats().orphanLoads == 1);
		CHECK_FALSE(client.server(0x20, t));

		// ... and once a Sample is known, the Load applies over it.
		wire::Sample full = load(1);
		full.server = 0x20;
		full.incarnation = server.incarnation();
		full.sequence = 1;
		client.receive(serverAt, datagram(full, 0x20), t);
		client.receive(serverAt, datagram(orphan, 0x20), t + 10ms);
		REQUIRE(client.server(0x20, t + 10ms));
		CHECK(client.server(0x20, t + 10ms)->sample.running == 2);
		CHECK(client.server(0x20, t + 10ms)->sample.slots == 8); // from the Sample
		// An old sequence or another incarnation's low bits change nothing.
		wire::Load stale = orphan;
		stale.running = 7;
		client.receive(serverAt, datagram(stale, 0x20), t + 20ms);
		stale.sequence = 9;
		stale.incarnation ^= 1;
		client.receive(serverAt, datagram(stale, 0x20), t + 30ms);
		CHECK(client.server(0x20, t + 30ms)->sample.running == 2);

		// A capacity change needs the full record again (the server sends
		// its rounds to peers that answered).
		client.addPeer(serverAt);
		for (int i = 0; i < 20; ++i)
			introduce(server, serverAt, client, clientAt, t += 200ms);
		wire::Sample bigger = load(2);
		bigger.slots = 16;
		server.setOwnSample(bigger, t);
		CHECK(kinds(server.tick(t += 200ms)).first == 1);
	}

	TEST_CASE("rounds carry this node's own news only, to every peer that answered")
	{
		GossipConfig c = configFor(0x10);
		c.rateLimit = 1e9;
		c.rateBurst = 1e9;
		Gossip g(c);
		for (int i = 0; i < 4; ++i)
			g.addPeer({ "10.0.0." + std::to_string(i + 2), 3632 });
		// Two of the four answer.
		for (int i = 0; i < 2; ++i) {
			wire::Sample s = load(1);
			s.server = 0x30 + i;
			g.receive({ "10.0.0." + std::to_string(i + 2), 3632 }, datagram(s, s.server), kStart);
		}
		g.setOwnSample(load(1), kStart);
		g.tick(kStart); // the full Sample goes out
		for (int i = 0; i < 30; ++i)
			g.tick(kStart + 200ms * (i + 1));
		// A flood of others' samples changes nothing of what rounds carry.
		for (std::uint64_t id = 1; id <= 200; ++id) {
			wire::Sample s = load(1);
			s.server = 0x5000 + id;
			g.receive({ "10.9.9." + std::to_string(id), 3632 }, datagram(s, s.server), kStart + 7s);
		}
		g.setOwnSample(load(5), kStart + 7s);
		const auto out = g.tick(kStart + 7s);
		std::set<Endpoint> to;
		for (const Datagram &d : out) {
			const auto decoded = wire::decode(d.bytes);
			REQUIRE(decoded.packet);
			if (decoded.packet->header.flags & wire::kFlagPushPullRequest)
				continue; // asking the two silent ones, or the anti-entropy pull
			to.insert(d.to);
			for (const wire::Record &r : decoded.packet->records) {
				const auto *own = std::get_if<wire::Load>(&r);
				REQUIRE(own);
				CHECK(own->server == 0x10);
				CHECK(own->running == 5);
			}
		}
		CHECK(to == std::set<Endpoint>{ { "10.0.0.2", 3632 }, { "10.0.0.3", 3632 } });
	}
}
