// Unit tests of who runs jobs where in gossip: CLIENTS and LOCAL_JOBS on the wire, their trust rules and bounds.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "distcc-mdns/gossip.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

const SteadyTime kT0 = SteadyTime{} + std::chrono::hours(1);

const Endpoint kServerAt{ "10.0.0.2", 3632 }, kClientAt{ "10.0.0.1", 3632 }, kEvilAt{ "10.0.0.66", 3632 },
	kRelayAt{ "10.0.0.5", 3632 };
constexpr std::uint64_t kServer = 0x20, kClient = 0x10, kRelay = 0x55;

wire::Sample sampleOf(std::uint64_t server, std::uint64_t incarnation, std::uint64_t sequence)
{
	wire::Sample s;
	s.server = server;
	s.incarnation = incarnation;
	s.sequence = sequence;
	s.running = 1;
	s.slots = 8;
	s.cpus = 8;
	return s;
}

std::array<std::uint8_t, 16> mapped(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d)
{
	return { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d };
}

wire::Clients listOf(std::uint64_t server, std::uint64_t incarnation, std::uint64_t sequence,
		     std::vector<std::pair<std::uint8_t, std::uint32_t>> clients)
{
	wire::Clients c{ server, incarnation, sequence, 0, 1, 0, {} };
	for (const auto &[last, running] : clients)
		c.entries.push_back({ mapped(10, 0, 0, last), running });
	return c;
}

std::vector<std::uint8_t> datagram(std::uint64_t sender, std::vector<wire::Record> records,
				   std::uint64_t incarnation = 1)
{
	wire::PacketWriter w({ 0, sender, incarnation });
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

// A client that knows server 0x20 (run 7) first hand, at 10.0.0.2.
Gossip clientKnowingServer(GossipConfig c = configFor(kClient))
{
	Gossip g(c);
	g.addPeer(kServerAt);
	const std::vector<std::uint64_t> listed{ kServer };
	g.pin(listed);
	g.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 7, 100) }, 7), kT0);
	REQUIRE(g.liveness(kServer, kT0) == Liveness::Alive);
	return g;
}

// Every datagram of @out to @to, as from @from; what @to answers is dropped.
void pass(const std::vector<Datagram> &out, Gossip &to, const Endpoint &from, SteadyTime now)
{
	for (const Datagram &d : out)
		to.receive(from, d.bytes, now);
}

std::size_t countOf(const std::vector<Datagram> &out, wire::RecordType type)
{
	std::size_t n = 0;
	for (const Datagram &d : out) {
		const auto decoded = wire::decode(d.bytes);
		REQUIRE(decoded.packet);
		for (const wire::Record &r : decoded.packet->records)
			n += (type == wire::RecordType::Clients && std::holds_alternative<wire::Clients>(r)) ||
			     (type == wire::RecordType::LocalJobs && std::holds_alternative<wire::LocalJobs>(r));
	}
	return n;
}

} // namespace

TEST_SUITE("gossip_jobs")
{
	TEST_CASE("CLIENTS and LOCAL_JOBS round-trip through the wire, and their bounds hold")
	{
		wire::Clients c = listOf(kServer, 3, 9, { { 3, 4096 }, { 4, 2 }, { 5, 1 } });
		c.others = 17;
		for (int i = 0; i < 5; ++i)
			c.entries.push_back({ mapped(192, 168, 0, static_cast<std::uint8_t>(i)), 1 });
		REQUIRE(c.entries.size() == wire::kClientsPerRecord);
		const wire::LocalJobs l{ kClient, 4, 11, 4096 };
		const auto bytes = datagram(kServer, { c, l });
		CHECK(bytes.size() == wire::kHeaderSize + 2 + wire::kClientsHeadSize + 8 * wire::kClientEntrySize + 2 +
					      wire::kLocalJobsSize);
		CHECK(wire::encodedSize(c) == 2 + 27 + 8 * 18);
		const auto decoded = wire::decode(bytes);
		REQUIRE(decoded.packet);
		REQUIRE(decoded.packet->records.size() == 2);
		CHECK(std::get<wire::Clients>(decoded.packet->records[0]) == c);
		CHECK(std::get<wire::LocalJobs>(decoded.packet->records[1]) == l);

		// An empty list (nobody runs jobs now) is a valid list.
		const wire::Clients none = listOf(kServer, 3, 10, {});
		const auto empty = wire::decode(datagram(kServer, { none }));
		REQUIRE(empty.packet);
		CHECK(std::get<wire::Clients>(empty.packet->records[0]) == none);

		auto refused = [](wire::Record r) { return !wire::validate(r).empty(); };
		wire::Clients nine = c;
		nine.entries.push_back({ mapped(1, 2, 3, 4), 1 });
		CHECK(refused(nine));
		CHECK(refused(listOf(kServer, 3, 9, { { 3, 0 } })));
		CHECK(refused(listOf(kServer, 3, 9, { { 3, 4097 } })));
		CHECK(refused(listOf(kServer, 3, 9, { { 3, 1 }, { 3, 2 } }))); // named twice
		CHECK(refused(listOf(0, 3, 9, {})));
		CHECK(refused(listOf(kServer, wire::kMaxCounter, 9, {})));
		wire::Clients part = listOf(kServer, 3, 9, {});
		part.parts = 3;
		CHECK(refused(part));
		part.parts = 2;
		part.part = 2;
		CHECK(refused(part));
		part.part = 1;
		CHECK_FALSE(refused(part));
		part.others = 1; // others belong in part 0
		CHECK(refused(part));
		wire::Clients many = listOf(kServer, 3, 9, {});
		many.others = wire::kMaxClientJobs + 1;
		CHECK(refused(many));
		CHECK(refused(wire::LocalJobs{ kClient, 1, 1, wire::kMaxClientJobs + 1 }));
		CHECK(refused(wire::LocalJobs{ 0, 1, 1, 1 }));

		// A length that is no whole number of entries, or more than a
		// record's, makes the datagram invalid.
		auto mangled = datagram(kServer, { listOf(kServer, 3, 9, { { 3, 1 } }) });
		mangled[wire::kHeaderSize + 1] = static_cast<std::uint8_t>(wire::kClientsHeadSize + 17);
		mangled.pop_back();
		CHECK_FALSE(wire::decode(mangled).packet);
		std::vector<std::uint8_t> long9 = datagram(kServer, {});
		long9.push_back(static_cast<std::uint8_t>(wire::RecordType::Clients));
		long9.push_back(static_cast<std::uint8_t>(wire::kClientsHeadSize + 9 * wire::kClientEntrySize));
		long9.resize(long9.size() + wire::kClientsHeadSize + 9 * wire::kClientEntrySize, 1);
		long9[wire::kHeaderSize - 1] = 1;
		CHECK_FALSE(wire::decode(long9).packet);
	}

	TEST_CASE("a server's list: the busiest 16 named, the rest summed as others, and it reaches a client whole")
	{
		GossipConfig sc = configFor(kServer);
		sc.incarnation = 8;
		Gossip server(sc);
		std::vector<ClientJobs> mine;
		for (int i = 1; i <= 20; ++i)
			mine.push_back({ "10.0.1." + std::to_string(i), static_cast<std::uint32_t>(i) });
		mine.push_back({ "fd00::7", 30 });
		mine.push_back({ "not an address", 5 }); // counted, but as others
		mine.push_back({ "10.0.1.20", 1 });	 // the same client twice: added up
		server.setOwnClients(mine);
		const std::vector<ClientJobs> own = server.serverClients(kServer);
		REQUIRE(own.size() == wire::kMaxClientEntries + 1);
		CHECK(own[0] == ClientJobs{ "fd00::7", 30 });
		CHECK(own[1] == ClientJobs{ "10.0.1.20", 21 });
		CHECK(own[2] == ClientJobs{ "10.0.1.19", 19 });
		CHECK(own[15] == ClientJobs{ "10.0.1.6", 6 });
		// Clients 1..5 (15 jobs) and the unreadable one (5) are others.
		CHECK(own[16] == ClientJobs{ "", 20 });

		Gossip client = clientKnowingServer();
		server.addPeer(kClientAt);
		server.setOwnSample(sampleOf(kServer, 0, 0), kT0); // run 8: newer than the client holds
		// The client writes first, so that the server has heard it.
		server.receive(kClientAt, datagram(kClient, { wire::Demand{ kClient, 1, 1, 0, 1, 0 } }), kT0);
		// It rides on the client's first paced turn, within a pace.
		std::size_t first = 0;
		int i = 0;
		for (SteadyTime t = kT0 + 1ms; first == 0 && t <= kT0 + sc.loadPace + 200ms; t += 200ms, ++i) {
			server.setOwnSample(sampleOf(kServer, 0, 0), t);
			const auto out = server.tick(t);
			first = countOf(out, wire::RecordType::Clients);
			pass(out, client, kServerAt, t);
		}
		CHECK(first == wire::kMaxClientParts);
		CHECK(client.serverClients(kServer) == own);

		// Unchanged, a peer does not get it again, however many turns pass.
		std::size_t later = 0;
		for (int k = i; k < i + 100; ++k) {
			server.setOwnSample(sampleOf(kServer, 0, 0), kT0 + 200ms * k);
			server.setOwnClients(mine);
			for (const Datagram &d : server.tick(kT0 + 200ms * k))
				if (!(wire::decode(d.bytes).packet->header.flags & wire::kFlagPushPullRequest))
					later += countOf({ d }, wire::RecordType::Clients);
		}
		CHECK(later == 0);
	}

	TEST_CASE("a changed list goes out at most once a clientsInterval, the newest one")
	{
		GossipConfig sc = configFor(kServer);
		sc.incarnation = 8;
		Gossip server(sc);
		Gossip client = clientKnowingServer();
		server.addPeer(kClientAt);
		server.receive(kClientAt, datagram(kClient, { wire::Demand{ kClient, 1, 1, 0, 1, 0 } }), kT0);
		server.setOwnSample(sampleOf(kServer, 0, 0), kT0);
		server.setOwnClients({ { "10.0.0.3", 1 } });
		SteadyTime t = kT0;
		std::size_t sent = 0;
		auto round = [&] {
			const auto out = server.tick(t);
			for (const Datagram &d : out)
				if (!(wire::decode(d.bytes).packet->header.flags & wire::kFlagPushPullRequest))
					sent += countOf({ d }, wire::RecordType::Clients);
			pass(out, client, kServerAt, t);
		};
		// The first list rides on the client's first paced turn.
		for (int i = 0; sent == 0 && i < 20; ++i, t += 200ms)
			round();
		REQUIRE(sent == 1);
		CHECK(client.serverClients(kServer) == std::vector<ClientJobs>{ { "10.0.0.3", 1 } });
		const SteadyTime firstAt = t - 200ms;
		const auto interval = server.config().clientsInterval;
		const auto pace = std::max(server.config().loadPace, server.config().minLoadPace);
		std::uint32_t running = 1;
		for (; t <= firstAt + interval + pace + 200ms; t += 200ms) {
			server.setOwnClients({ { "10.0.0.3", ++running } });
			round();
			// Held back until the interval is over.
			if (t - firstAt < interval)
				CHECK(client.serverClients(kServer) == std::vector<ClientJobs>{ { "10.0.0.3", 1 } });
		}
		// A change every round for a whole interval: one new list, not 50,
		// made an interval after the first was (its turn came within a pace).
		CHECK(sent == 2);
		const auto last = client.serverClients(kServer);
		REQUIRE(last.size() == 1);
		CHECK(last[0].running >= static_cast<std::uint32_t>((interval - pace) / 200ms));
	}

	TEST_CASE("own local jobs go out on change and again every localJobsRefresh, not every round")
	{
		Gossip client(configFor(kClient));
		Gossip server(configFor(kServer));
		client.addPeer(kServerAt);
		client.receive(kServerAt, datagram(kServer, { sampleOf(kServer, 1, 1) }), kT0);
		client.setOwnLocalJobs(2);
		CHECK(client.localJobs(kClient) == 2u);
		SteadyTime t = kT0;
		std::size_t sent = 0;
		const int rounds = static_cast<int>(client.config().localJobsRefresh / 200ms);
		for (int i = 0; i < rounds; ++i, t += 200ms) {
			const auto out = client.tick(t);
			for (const Datagram &d : out)
				if (!(wire::decode(d.bytes).packet->header.flags & wire::kFlagPushPullRequest))
					sent += countOf({ d }, wire::RecordType::LocalJobs);
			pass(out, server, kClientAt, t);
		}
		CHECK(server.localJobs(kClient) == 2u);
		CHECK(sent == client.config().clientsTransmits);
		for (int i = 0; i < 5; ++i, t += 200ms)
			for (const Datagram &d : client.tick(t))
				if (!(wire::decode(d.bytes).packet->header.flags & wire::kFlagPushPullRequest))
					sent += countOf({ d }, wire::RecordType::LocalJobs);
		CHECK(sent == client.config().clientsTransmits + 1); // the refresh
		client.setOwnLocalJobs(0);
		const auto out = client.tick(t);
		pass(out, server, kClientAt, t);
		CHECK(server.localJobs(kClient) == 0u);
	}

	TEST_CASE("with relayJobs, push-pull answers carry the lists and local jobs held; by default only the own list")
	{
		for (const bool relays : { true, false }) {
			CAPTURE(relays);
			GossipConfig rc = configFor(kRelay);
			rc.relayJobs = relays;
			Gossip relay(rc);
			relay.addPeer(kServerAt);
			relay.receive(kServerAt,
				      datagram(kServer, { sampleOf(kServer, 7, 1), listOf(kServer, 7, 1, { { 3, 2 } }) }, 7),
				      kT0);
			relay.receive(kClientAt, datagram(kClient, { wire::LocalJobs{ kClient, 1, 1, 4 } }), kT0);
			relay.setOwnSample(sampleOf(kRelay, 0, 0), kT0);
			relay.setOwnClients({ { "10.0.0.9", 5 } });
			relay.tick(kT0); // originated at its round
			REQUIRE(relay.serverClients(kServer) == std::vector<ClientJobs>{ { "10.0.0.3", 2 } });
			// A newcomer pulls the relay's state (its --peer: trusted).
			Gossip newcomer(configFor(0x77));
			newcomer.addPeer(kRelayAt, true);
			SteadyTime t = kT0 + 10ms;
			for (int hop = 0; hop < 8; ++hop, t += 10ms) {
				std::vector<Datagram> answers;
				for (const Datagram &d : newcomer.tick(t))
					for (Datagram &a : relay.receive({ "10.0.0.77", 3632 }, d.bytes, t))
						answers.push_back(std::move(a));
				pass(answers, newcomer, kRelayAt, t);
				if (!newcomer.serverClients(kRelay).empty())
					break;
			}
			CHECK(newcomer.server(kServer, t).has_value());
			CHECK(newcomer.serverClients(kRelay) == std::vector<ClientJobs>{ { "10.0.0.9", 5 } });
			if (relays) {
				CHECK(newcomer.serverClients(kServer) == std::vector<ClientJobs>{ { "10.0.0.3", 2 } });
				CHECK(newcomer.localJobs(kClient) == 4u);
			} else {
				CHECK(newcomer.serverClients(kServer).empty());
				CHECK_FALSE(newcomer.localJobs(kClient).has_value());
			}
		}
	}

	TEST_CASE("nodeAt: the node a peer's address speaks for")
	{
		Gossip g = clientKnowingServer();
		CHECK(g.nodeAt("10.0.0.2") == kServer);
		CHECK_FALSE(g.nodeAt("10.0.0.3").has_value());
		std::map<std::uint64_t, std::set<std::string>> vouched{ { 0x42, { "fd00::42" } } };
		g.vouch(vouched);
		CHECK(g.nodeAt("fd00::42") == 0x42u);
	}

	TEST_CASE("the tables stay bounded: least recently heard lists and local jobs go")
	{
		gossip::JobsTable t(2, 2, 60s);
		for (std::uint64_t s = 1; s <= 3; ++s)
			CHECK(t.clients(listOf(s, 1, 1, { { 3, 1 } }), true, 1, kT0 + 1ms * s) ==
			      gossip::Verdict::Applied);
		CHECK(t.clientsOf(1) == nullptr);
		CHECK(t.clientsOf(3) != nullptr);
		for (std::uint64_t c = 1; c <= 3; ++c)
			t.localJobs({ c, 1, 1, 1 }, true, kT0 + 1ms * c);
		CHECK(t.localOf(1) == nullptr);
		CHECK(t.locals().size() == 2);
		CHECK(t.evicted() == 2);
		// A list of a server gossip no longer knows goes with it.
		t.expire(kT0, [](std::uint64_t s) { return s != 3; });
		CHECK(t.clientsOf(3) == nullptr);
	}
}
