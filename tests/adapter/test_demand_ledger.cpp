// DemandLedger on the fake clock: a look leaves nothing, a line handed out lasts only until its build shows, builds carry the demand.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "daemon/demand_ledger.h"
#include "daemon/gossip_node.h"
#include "daemon/hosts_query.h"
#include "support/entries.h"
#include "support/fake_clock.h"
#include "support/fake_mdns.h"
#include "support/fake_udp.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

using Census = std::map<std::uint32_t, std::uint32_t>;

// A line handed out: 4 jobs reserved on server 0x20, 2 on 0x21, 6 wanted.
HostsAnswer handedOut(bool reserve)
{
	HostsAnswer a;
	a.reservations = { { 0x20, 4 }, { 0x21, 2 } };
	a.want = 6;
	a.localSlots = 3;
	a.reserve = reserve;
	return a;
}

struct Told {
	DemandLedger::Reservations reservations;
	std::uint32_t want;
	std::uint32_t slots;
};

// A ledger whose census answers what the test sets, and what it told.
struct Ledger {
	test::FakeClock &clock;
	Census census;
	std::size_t censuses = 0;
	std::vector<Told> told;
	DemandLedger ledger{ clock,
			     [this](const DemandLedger::Reservations &r, std::uint32_t want, std::uint32_t slots) {
				     told.push_back({ r, want, slots });
			     },
			     [this] {
				     ++censuses;
				     return census;
			     },
			     [] { return 8u; } };

	explicit Ledger(test::FakeClock &c)
		: clock(c) { }

	std::vector<std::uint32_t> wants() const
	{
		std::vector<std::uint32_t> w;
		for (const Told &t : told)
			w.push_back(t.want);
		return w;
	}
};

// Two gossip nodes on one fake clock, each other's --peer: a client whose
// ledger tells its node, and another client that sees what it tells.
struct Farm {
	uv::Loop loop;
	test::FakeClock clock;
	test::FakeMdns mdnsA, mdnsB;
	test::FakeUdp *socketA = nullptr, *socketB = nullptr;
	std::unique_ptr<GossipNode> a, b;

	Farm()
	{
		a = node(0xa, 41001, 41002, mdnsA, socketA);
		b = node(0xb, 41002, 41001, mdnsB, socketB);
	}

	std::unique_ptr<GossipNode> node(std::uint64_t id, std::uint16_t port, std::uint16_t peer, test::FakeMdns &mdns,
					 test::FakeUdp *&socket)
	{
		GossipNodeConfig config;
		config.gossip.node = id;
		config.gossip.incarnation = 1;
		config.port = port;
		config.peers = { { "127.0.0.1", peer } };
		GossipIo io;
		io.clock = &clock;
		io.socket = [&socket](uv::DatagramSocket::OnDatagram onDatagram) {
			auto s = std::make_unique<test::FakeUdp>(std::move(onDatagram));
			socket = s.get();
			return std::unique_ptr<uv::DatagramSocket>(std::move(s));
		};
		return std::make_unique<GossipNode>(loop.get(), mdns, std::move(config), std::move(io));
	}

	// Moves time on in steps of 50 ms, carrying every datagram across.
	void run(std::chrono::milliseconds span)
	{
		for (auto passed = 0ms; passed < span; passed += 50ms) {
			clock.advance(50ms);
			for (const test::FakeUdp::Sent &d : socketA->take())
				socketB->deliver(d.bytes, "127.0.0.1", 41001);
			for (const test::FakeUdp::Sent &d : socketB->take())
				socketA->deliver(d.bytes, "127.0.0.1", 41002);
		}
	}

	std::uint64_t wantedSeenByB() const { return b->gossip().othersDemand(clock.now()).summary.wanted; }
	std::uint32_t reservedSeenByB(std::uint64_t server) const
	{
		return b->gossip().reservedByOthers(server, clock.now());
	}
};

} // namespace

TEST_SUITE("adapter_demand_ledger")
{
	TEST_CASE("a look leaves nothing; a line handed out is told with its reservations")
	{
		test::FakeClock clock;
		Ledger l(clock);
		l.ledger.answered(handedOut(false));
		clock.advance(60s);
		CHECK(l.told.empty());
		CHECK(l.censuses == 0); // an idle daemon reads nothing

		l.ledger.answered(handedOut(true));
		REQUIRE(l.told.size() == 1);
		CHECK(l.told[0].reservations == handedOut(true).reservations);
		CHECK(l.told[0].want == 6);
		CHECK(l.told[0].slots == 3);
	}

	TEST_CASE("a line with no build after it is withdrawn after the hold; the census then stops")
	{
		test::FakeClock clock;
		Ledger l(clock);
		l.ledger.answered(handedOut(true));
		clock.advance(DemandLedger::kQueryHold - 1ms);
		// Told once: gossip's own hold of a demand outlasts the ledger's.
		CHECK(l.wants() == std::vector<std::uint32_t>{ 6 });
		// Withdrawn when the hold ends, not a census interval later.
		clock.advance(1ms);
		CHECK(l.wants() == std::vector<std::uint32_t>{ 6, 0 });
		CHECK(l.ledger.demand() == 0);
		// It watches a while for the build, then reads nothing more.
		clock.advance(DemandLedger::kWatch);
		const std::size_t censuses = l.censuses;
		clock.advance(60s);
		CHECK(l.censuses == censuses);
		CHECK(l.wants().back() == 0);
		CHECK(clock.armed() == 0);
	}

	TEST_CASE("the hold ends when its alarm fires, though the loop's time lags the real clock")
	{
		test::FakeClock clock;
		// The iteration that answered worked 5 ms past the loop's cached
		// time: the alarm fires 5 ms short of kQueryHold in real time.
		clock.setLoopLag(5ms);
		Ledger l(clock);
		l.ledger.answered(handedOut(true));
		clock.advance(DemandLedger::kQueryHold - 5ms);
		CHECK(l.wants() == std::vector<std::uint32_t>{ 6, 0 });
		CHECK(l.ledger.demand() == 0);
	}

	TEST_CASE("the build that follows a line carries the demand while it runs, and its end is told once")
	{
		test::FakeClock clock;
		Ledger l(clock);
		l.ledger.answered(handedOut(true));
		l.census = { { 1000, 9 } };
		clock.advance(5s); // long past the hold: the build's 9 clients
		CHECK(l.wants().back() == 9);
		CHECK(l.ledger.clients() == 9);
		CHECK(l.ledger.clients(1000) == 9);
		CHECK(l.ledger.clients(1001) == 0);
		clock.advance(60s); // past the watch: still counted while it runs
		CHECK(l.wants().back() == 9);
		l.census = {};
		const std::size_t before = l.told.size();
		clock.advance(10s);
		CHECK(l.told.size() == before + 1);
		CHECK(l.wants().back() == 0);
	}

	TEST_CASE("kept files follow the builds: told while they run and once more when they end")
	{
		test::FakeClock clock;
		Ledger l(clock);
		l.ledger.watchAlways();
		std::vector<std::uint32_t> counts;
		for (std::uint32_t clients : { 0u, 0u, 3u, 3u, 5u, 0u, 0u, 2u }) {
			l.census = clients ? Census{ { 1000, clients - 1 }, { 1001, 1 } } : Census{};
			clock.advance(DemandLedger::kCensusInterval);
		}
		CHECK(l.wants() == std::vector<std::uint32_t>{ 3, 3, 5, 0, 2 });
		CHECK(l.ledger.clients() == 2);
		CHECK(l.ledger.clients(1001) == 1);
	}

	TEST_CASE("on the farm, a line with no build leaves the other clients' view within 3 s")
	{
		Farm farm;
		DemandLedger ledger(
			farm.clock,
			[&](const DemandLedger::Reservations &r, std::uint32_t want, std::uint32_t slots) {
				farm.a->handedOut(r, want, slots);
			},
			[] { return Census{}; }, [] { return 2u; });
		farm.run(1s); // the nodes meet
		ledger.answered(handedOut(true));
		farm.run(500ms);
		CHECK(farm.wantedSeenByB() == 6);
		CHECK(farm.reservedSeenByB(0x20) == 4);
		CHECK(farm.reservedSeenByB(0x21) == 2);
		// The old ledger held a look's demand for 30 s and gossip for 5 s more.
		farm.run(2500ms);
		CHECK(farm.wantedSeenByB() == 0);
		CHECK(farm.reservedSeenByB(0x20) == 0);
		CHECK(farm.reservedSeenByB(0x21) == 0);
		CHECK(farm.b->gossip().othersDemand(farm.clock.now()).each.empty());
	}
}

TEST_SUITE("adapter_demand_ledger")
{
	TEST_CASE("users of one machine are each other's clients in a per-user line")
	{
		FarmState farm;
		farm.wanted = 5;
		farm.demands = { 5 };
		const FarmState seen = withLocalUsers(farm, { { 1000, 3 }, { 1001, 4 }, { 1002, 0 } }, 1000);
		CHECK(seen.wanted == 9);
		CHECK(seen.demands == std::vector<std::uint32_t>{ 5, 4 });
		// Alone on the machine: the farm as gossip sees it.
		const FarmState alone = withLocalUsers(farm, { { 1000, 3 } }, 1000);
		CHECK(alone.wanted == 5);
		CHECK(alone.demands == std::vector<std::uint32_t>{ 5 });
	}
}

TEST_SUITE("adapter_demand_ledger")
{
	TEST_CASE("a build's want is told at once, stands with no distcc client, a renew replaces it, its end is told at once")
	{
		test::FakeClock clock;
		Ledger l(clock);
		l.ledger.building(7, 1000, 6, { { 0x20, 4 } }, 3);
		REQUIRE(l.told.size() == 1);
		CHECK(l.told[0].want == 6);
		CHECK(l.told[0].reservations == DemandLedger::Reservations{ { 0x20, 4 } });
		CHECK(l.told[0].slots == 3);
		// Long past a line's hold and the census's watch: no distcc client
		// runs, and the build still stands.
		clock.advance(DemandLedger::kQueryHold + DemandLedger::kWatch + 5s);
		CHECK(l.ledger.clients() == 0);
		CHECK(l.wants().back() == 6);
		CHECK(l.ledger.demand() == 6);
		// The census kept running, telling the build every second, and
		// sees its distcc clients when they outnumber its want.
		CHECK(l.told.size() >= 30);
		l.census = { { 1000, 9 } };
		clock.advance(DemandLedger::kCensusInterval);
		CHECK(l.wants().back() == 9);
		l.census = {};
		clock.advance(DemandLedger::kCensusInterval);
		CHECK(l.wants().back() == 6);
		// A renew replaces the want, told at once.
		const std::size_t before = l.told.size();
		l.ledger.building(7, 1000, 2, {}, 3);
		CHECK(l.told.size() == before + 1);
		CHECK(l.wants().back() == 2);
		CHECK(l.ledger.builds() == 1);
		CHECK(l.ledger.buildWant(1000) == 2);
		clock.advance(10s);
		CHECK(l.wants().back() == 2);
		// The connection closes: zero is told before any census runs.
		const std::size_t atEnd = l.told.size();
		const std::size_t censuses = l.censuses;
		l.ledger.ended(7);
		REQUIRE(l.told.size() == atEnd + 1);
		CHECK(l.censuses == censuses);
		CHECK(l.told.back().want == 0);
		CHECK(l.told.back().slots == 8);
		CHECK(l.ledger.demand() == 0);
		CHECK(l.ledger.builds() == 0);
		// A connection that carried no build, or one that ended already,
		// tells nothing.
		l.ledger.ended(7);
		l.ledger.ended(8);
		CHECK(l.told.size() == atEnd + 1);
		// Nothing stands: the census stops.
		clock.advance(2 * DemandLedger::kCensusInterval);
		CHECK(clock.armed() == 0);
	}

	TEST_CASE("per uid the larger of the builds' wants and the distcc clients; the machine adds the uids up")
	{
		test::FakeClock clock;
		Ledger l(clock);
		l.ledger.building(1, 1000, 4, {}, 8);
		l.ledger.building(2, 1000, 3, {}, 8);
		CHECK(l.wants().back() == 7);
		l.ledger.building(3, 1001, 5, {}, 8);
		CHECK(l.wants().back() == 12);
		CHECK(l.ledger.buildWants(1000, 1) == std::vector<std::uint32_t>{ 3 });
		CHECK(l.ledger.buildWant(1001) == 5);
		// uid 1000 runs more distcc clients than its builds want; uid 1002
		// builds without the runner.
		l.census = { { 1000, 10 }, { 1001, 1 }, { 1002, 2 } };
		clock.advance(DemandLedger::kCensusInterval);
		CHECK(l.ledger.demandByUid() == Census{ { 1000, 10 }, { 1001, 5 }, { 1002, 2 } });
		CHECK(l.wants().back() == 17);
		l.census = { { 1002, 2 } };
		clock.advance(DemandLedger::kCensusInterval);
		CHECK(l.wants().back() == 7 + 5 + 2);
		l.ledger.ended(3);
		CHECK(l.wants().back() == 7 + 2);
		l.ledger.ended(1);
		CHECK(l.wants().back() == 3 + 2);
	}

	TEST_CASE("a line handed out beside a build: the larger counts while held, and the build outlasts the hold")
	{
		test::FakeClock clock;
		Ledger l(clock);
		l.ledger.building(1, 1000, 4, {}, 8);
		l.ledger.answered(handedOut(true)); // 6, which counts the other users already
		CHECK(l.wants().back() == 6);
		clock.advance(DemandLedger::kQueryHold);
		CHECK(l.wants().back() == 4);
	}

	TEST_CASE("two uids' builds split this machine's part of the farm, each seeing the other's build")
	{
		test::FakeClock clock;
		Ledger l(clock);
		// Two servers of 4 slots: the farm has 8 remote slots, and both
		// users' builds want all of them.
		const std::vector<DirectoryEntry> entries = { test::entry("a", "10.0.0.2", 4),
							      test::entry("b", "10.0.0.3", 4) };
		HostsRequest request;
		request.want = 8;
		request.localSlots = 2;
		const LocalMachine local{ 2, 1.0 };
		const auto shareOf = [&](std::uint32_t uid) {
			return answerHosts(request, entries, withLocalUsers({}, l.ledger.demandByUid(), uid), local,
					   "test", 1)
				.view.share;
		};
		l.ledger.building(1, 1000, 8, {}, 2);
		// Alone: the farm has room for the one demand.
		CHECK_FALSE(shareOf(1000).has_value());
		l.ledger.building(2, 1001, 8, {}, 2);
		CHECK(shareOf(1000) == 4u);
		CHECK(shareOf(1001) == 4u);
		const FarmState seen = withLocalUsers({}, l.ledger.demandByUid(), 1000);
		CHECK(seen.demands == std::vector<std::uint32_t>{ 8 });
		CHECK(seen.wanted == 8);
		// The other's build ends: the farm is the first's again.
		l.ledger.ended(2);
		CHECK_FALSE(shareOf(1000).has_value());
	}
}
