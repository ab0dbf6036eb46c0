// GossipNode on a fake clock and fake UDP: rounds on the clock's ticks, datagrams into the core, mDNS peers, a leave.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <unistd.h>

#include "common/log.h"
#include "support/temp_dir.h"

#include "daemon/gossip_node.h"
#include "distcc-mdns/gossip_wire.h"
#include "support/fake_clock.h"
#include "support/fake_mdns.h"
#include "support/fake_udp.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

// One node on the shared fake clock, with its own fake mDNS and socket.
struct Node {
	test::FakeMdns mdns;
	test::FakeUdp *socket = nullptr; // owned by node
	std::unique_ptr<GossipNode> node;

	Node(uv_loop_t &loop, test::FakeClock &clock, std::uint64_t id, std::uint16_t port,
	     std::vector<HostPort> peers)
	{
		GossipNodeConfig config;
		config.gossip.node = id;
		config.gossip.incarnation = 1;
		config.port = port;
		config.peers = std::move(peers);
		GossipIo io;
		io.clock = &clock;
		io.socket = [this](uv::DatagramSocket::OnDatagram onDatagram) {
			auto s = std::make_unique<test::FakeUdp>(std::move(onDatagram));
			socket = s.get();
			return std::unique_ptr<uv::DatagramSocket>(std::move(s));
		};
		node = std::make_unique<GossipNode>(loop, mdns, std::move(config), std::move(io));
	}
};

wire::Sample sample(std::uint32_t slots)
{
	wire::Sample s;
	s.slots = slots;
	s.cpus = 2;
	return s;
}

// Hands what @from sent to @to, as if from 127.0.0.1:@fromPort; how many.
std::size_t route(Node &from, std::uint16_t fromPort, Node &to, std::uint16_t toPort)
{
	std::size_t n = 0;
	for (const test::FakeUdp::Sent &d : from.socket->take()) {
		if (test::portOf(d.to) != toPort)
			continue;
		to.socket->deliver(d.bytes, "127.0.0.1", fromPort);
		++n;
	}
	return n;
}

ResolvedInstance gossipInstance(const char *name, const char *address, std::uint16_t port,
				std::vector<std::string> txt = {})
{
	ResolvedInstance r;
	r.key = { 2, 0, name, "local" };
	r.hostName = "peer.local";
	r.address = Address::parse(address, 2);
	r.port = port;
	r.txt = std::move(txt);
	return r;
}

// Everything logged (stderr, at Info) while it lives; text() reads it so far.
class LogCapture final
{
public:
	LogCapture()
		: path_(dir_.file("log"))
	{
		std::fflush(stderr);
		saved_ = ::dup(STDERR_FILENO);
		std::FILE *f = std::fopen(path_.c_str(), "w");
		REQUIRE(f);
		REQUIRE(::dup2(::fileno(f), STDERR_FILENO) >= 0);
		std::fclose(f);
		setLogLevel(LogLevel::Info);
	}
	~LogCapture()
	{
		setLogLevel(LogLevel::Warning);
		std::fflush(stderr);
		::dup2(saved_, STDERR_FILENO);
		::close(saved_);
	}
	LogCapture(const LogCapture &) = delete;
	LogCapture &operator=(const LogCapture &) = delete;

	std::string text() const
	{
		std::fflush(stderr);
		std::ifstream in(path_);
		std::stringstream out;
		out << in.rdbuf();
		return out.str();
	}

private:
	test::TempDir dir_;
	std::string path_;
	int saved_ = -1;
};

} // namespace

TEST_SUITE("adapter_gossip_node")
{
	TEST_CASE("a round goes to the --peer on the fake clock's tick, and push-pull again later")
	{
		uv::Loop loop;
		test::FakeClock clock;
		Node a(loop.get(), clock, 0xa, 40001, { { "127.0.0.1", 40002 } });
		a.node->gossip().setOwnSample(sample(4), clock.now());
		// Binds the configured port and publishes it with the node id.
		CHECK(a.socket->localPort() == 40001);
		const test::FakePublisher &p = a.mdns.published(kGossipServiceType);
		REQUIRE(p.spec());
		CHECK(p.spec()->port == 40001);
		CHECK(p.spec()->txt == std::vector<std::string>{ "id=" + wire::formatNodeId(0xa) });

		// Nothing before the clock ticks: the first round is an alarm.
		CHECK(a.socket->take().empty());
		clock.advance(0ms);
		auto sent = a.socket->take();
		REQUIRE_FALSE(sent.empty());
		for (const test::FakeUdp::Sent &d : sent) {
			CHECK(test::portOf(d.to) == 40002);
			CHECK(d.bytes.size() <= uv::kMaxDatagram);
		}
		CHECK(clock.armed() >= 1); // the next round is scheduled

		// Nothing new to tell: the next datagram is the periodic push-pull.
		const GossipConfig &c = a.node->gossip().config();
		clock.advance(c.pushPullInterval + c.period);
		CHECK_FALSE(a.socket->take().empty());
	}

	TEST_CASE("datagrams from the fake transport reach the core: each node learns the other's sample")
	{
		uv::Loop loop;
		test::FakeClock clock;
		Node a(loop.get(), clock, 0xa, 40001, { { "127.0.0.1", 40002 } });
		Node b(loop.get(), clock, 0xb, 40002, { { "127.0.0.1", 40001 } });
		a.node->gossip().setOwnSample(sample(4), clock.now());
		b.node->gossip().setOwnSample(sample(6), clock.now());

		std::optional<GossipServer> aSeenByB, bSeenByA;
		// Bounded: a few rounds of 100 ms of fake time.
		for (int round = 0; round < 50 && !(aSeenByB && bSeenByA); ++round) {
			clock.advance(100ms);
			route(a, 40001, b, 40002);
			route(b, 40002, a, 40001);
			aSeenByB = b.node->gossip().server(0xa, clock.now());
			bSeenByA = a.node->gossip().server(0xb, clock.now());
		}
		REQUIRE(aSeenByB);
		REQUIRE(bSeenByA);
		CHECK(aSeenByB->sample.slots == 4);
		CHECK(bSeenByA->sample.slots == 6);
		CHECK(aSeenByB->firstHand);
		CHECK(b.node->gossip().stats().accepted > 0);
		CHECK(b.node->gossip().peerNode({ "127.0.0.1", 40001 }) == 0xa);
	}

	TEST_CASE("through the adapter, a server's client list and a client's local jobs reach the other node")
	{
		uv::Loop loop;
		test::FakeClock clock;
		Node server(loop.get(), clock, 0xa, 40001, { { "127.0.0.1", 40002 } });
		Node client(loop.get(), clock, 0xb, 40002, { { "127.0.0.1", 40001 } });
		server.node->gossip().setOwnSample(sample(4), clock.now());
		server.node->gossip().setOwnClients({ { "127.0.0.1", 3 }, { "10.0.0.7", 1 } });
		client.node->gossip().setOwnLocalJobs(2);

		const std::vector<ClientJobs> expected{ { "127.0.0.1", 3 }, { "10.0.0.7", 1 } };
		std::vector<ClientJobs> seen;
		std::optional<std::uint32_t> local;
		// Bounded: a few rounds of 100 ms of fake time.
		for (int round = 0; round < 50 && !(seen == expected && local); ++round) {
			clock.advance(100ms);
			route(server, 40001, client, 40002);
			route(client, 40002, server, 40001);
			seen = client.node->gossip().serverClients(0xa);
			local = server.node->gossip().localJobs(0xb);
		}
		CHECK(seen == expected);
		CHECK(local == 2u);
		// The address a client list names maps to the node sending from it.
		CHECK(server.node->gossip().nodeAt("127.0.0.1") == 0xbu);
		CHECK_FALSE(server.node->gossip().nodeAt("10.0.0.7").has_value());
	}

	TEST_CASE("mDNS sightings of _distcc-mdns._udp become peers, not our own, and leave with their goodbye")
	{
		uv::Loop loop;
		test::FakeClock clock;
		Node a(loop.get(), clock, 0xa, 40001, {});
		test::FakeBrowser &browser = a.mdns.browser(kGossipServiceType);
		const auto peers = [&] { return a.node->gossip().peers(); };
		CHECK(peers().empty());

		browser.resolve(gossipInstance("distcc-mdns@p", "10.0.0.9", 40009));
		CHECK(peers() == std::vector<Endpoint>{ { "10.0.0.9", 40009 } });
		// The record's host name names the peer at its address only.
		CHECK(a.node->hostAt({ "10.0.0.9", 40009 }) == "peer.local");
		CHECK_FALSE(a.node->hostAt({ "10.0.0.9", 40010 }));
		CHECK_FALSE(a.node->hostAt({ "10.0.0.1", 40001 }));
		// Our own record, seen through another interface.
		browser.resolve(gossipInstance("distcc-mdns@me", "10.0.0.1", 40001, { "id=" + wire::formatNodeId(0xa) }));
		CHECK(peers().size() == 1);
		// An IPv6 sighting of a name seen over IPv4 does not replace it.
		ResolvedInstance v6 = gossipInstance("distcc-mdns@p", "2001:db8::9", 40009);
		v6.key.protocol = 1;
		browser.resolve(v6);
		CHECK(peers() == std::vector<Endpoint>{ { "10.0.0.9", 40009 } });

		browser.remove({ 2, 0, "distcc-mdns@p", "local" });
		CHECK(peers().empty());
		CHECK_FALSE(a.node->hostAt({ "10.0.0.9", 40009 }));
	}

	TEST_CASE("an IPv6 sighting waits for an IPv4 one of the same name, and is taken alone after the hold")
	{
		// A receiver binds a node to the first address it speaks from: a
		// dual-stack peer first reached over IPv6 and moved to IPv4 a moment
		// later was refused there for deadAfter, and counted dead.
		uv::Loop loop;
		test::FakeClock clock;
		Node a(loop.get(), clock, 0xa, 40001, {});
		test::FakeBrowser &browser = a.mdns.browser(kGossipServiceType);
		const auto peers = [&] { return a.node->gossip().peers(); };
		ResolvedInstance v6 = gossipInstance("distcc-mdns@p", "2001:db8::9", 40009);
		v6.key.protocol = 1;
		browser.resolve(v6);
		clock.advance(300ms);
		CHECK(peers().empty());
		browser.resolve(gossipInstance("distcc-mdns@p", "10.0.0.9", 40009));
		CHECK(peers() == std::vector<Endpoint>{ { "10.0.0.9", 40009 } });
		clock.advance(3s);
		CHECK(peers() == std::vector<Endpoint>{ { "10.0.0.9", 40009 } });

		// A name seen over IPv6 only becomes a peer once the hold is over.
		ResolvedInstance q = gossipInstance("distcc-mdns@q", "2001:db8::10", 40010);
		q.key.protocol = 1;
		browser.resolve(q);
		clock.advance(300ms);
		CHECK(peers().size() == 1);
		clock.advance(500ms);
		CHECK(peers().size() == 2);
		CHECK(a.node->hostAt({ "2001:db8::10", 40010 }) == "peer.local");
		// Its later sightings over IPv6 (a new address) take effect at once.
		q.address = Address::parse("2001:db8::11", 2);
		browser.resolve(q);
		CHECK(a.node->hostAt({ "2001:db8::11", 40010 }) == "peer.local");
		// A goodbye during the hold leaves nothing behind.
		ResolvedInstance r = gossipInstance("distcc-mdns@r", "2001:db8::12", 40012);
		r.key.protocol = 1;
		browser.resolve(r);
		browser.remove(r.key);
		clock.advance(2s);
		CHECK(peers().size() == 2);
	}

	TEST_CASE("a leave tells the peers, withdraws the advertisement and stops the rounds")
	{
		uv::Loop loop;
		test::FakeClock clock;
		Node a(loop.get(), clock, 0xa, 40001, { { "127.0.0.1", 40002 } });
		a.node->gossip().setOwnSample(sample(4), clock.now());
		clock.advance(0ms);
		a.socket->take();

		a.node->leave();
		const auto sent = a.socket->take();
		REQUIRE_FALSE(sent.empty());
		CHECK(test::portOf(sent.front().to) == 40002);
		CHECK_FALSE(a.mdns.published(kGossipServiceType).wanted());
		clock.advance(10s);
		CHECK(a.socket->take().empty());
		CHECK(clock.armed() == 0);
	}

	TEST_CASE("-v logs a peer joining, leaving with a goodbye, and a silent one suspected, then dead")
	{
		LogCapture logged;
		uv::Loop loop;
		test::FakeClock clock;
		Node a(loop.get(), clock, 0xa, 40001, { { "127.0.0.1", 40002 } });
		Node b(loop.get(), clock, 0xb, 40002, { { "127.0.0.1", 40001 } });
		Node c(loop.get(), clock, 0xc, 40003, { { "127.0.0.1", 40002 } });
		a.node->gossip().setOwnSample(sample(4), clock.now());
		c.node->gossip().setOwnSample(sample(2), clock.now());
		const std::string aAtB = "gossip peer " + wire::formatNodeId(0xa) + " at 127.0.0.1:40001";
		const std::string cAtB = "gossip peer " + wire::formatNodeId(0xc) + " at 127.0.0.1:40003";
		const auto has = [&](const std::string &what) { return logged.text().find(what) != std::string::npos; };
		// Bounded: rounds of 100 ms of fake time.
		// A node may join before its first sample: alive comes after.
		const auto cAlive = [&] { return has(cAtB + " joined (alive)") || has(cAtB + " is alive"); };
		for (int round = 0; round < 50 && !(has(aAtB + " joined") && cAlive()); ++round) {
			clock.advance(100ms);
			route(a, 40001, b, 40002);
			route(b, 40002, a, 40001);
			route(c, 40003, b, 40002);
			route(b, 40002, c, 40003);
		}
		INFO(logged.text());
		CHECK(has(aAtB + " joined"));
		CHECK(has(cAtB + " joined"));
		CHECK(cAlive());
		CHECK_FALSE(has("left"));

		// a says goodbye; c falls silent (a crash or a pulled link).
		a.node->leave();
		route(a, 40001, b, 40002);
		for (int round = 0; round < 100 && !has(cAtB + " left"); ++round) {
			clock.advance(100ms);
			b.socket->take();
			c.socket->take();
		}
		const std::string text = logged.text();
		INFO(text);
		CHECK(has(aAtB + " left: it said goodbye"));
		CHECK(has(cAtB + " is suspected: no fresh sample for"));
		CHECK(has(cAtB + " left: suspected dead, no fresh sample for"));
		CHECK(text.find(cAtB + " is suspected") < text.find(cAtB + " left"));
		CHECK_FALSE(has(aAtB + " left: suspected dead"));
	}
}
