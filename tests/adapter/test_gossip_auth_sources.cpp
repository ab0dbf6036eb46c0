// GossipNode's count of datagrams failing authentication, per source: what --status shows as a key mismatch.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/gossip_node.h"
#include "daemon/json_codec.h"
#include "daemon/view.h"
#include "net/auth.h"
#include "support/fake_clock.h"
#include "support/fake_mdns.h"
#include "support/fake_udp.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

// One node on the fake clock, authenticating with the key @hex.
struct KeyedNode {
	test::FakeMdns mdns;
	test::FakeUdp *socket = nullptr; // owned by node
	std::unique_ptr<GossipNode> node;

	KeyedNode(uv_loop_t &loop, test::FakeClock &clock, std::uint64_t id, std::uint16_t port, const std::string &hex,
		  std::vector<HostPort> peers)
	{
		GossipNodeConfig config;
		config.gossip.node = id;
		config.gossip.incarnation = 1;
		config.port = port;
		config.peers = std::move(peers);
		config.keys.push_back(net::Authenticator::fromHex(hex));
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

} // namespace

TEST_SUITE("adapter_gossip_auth")
{
	TEST_CASE("datagrams under another key are counted per source, bounded, and reach the stats reply")
	{
		uv::Loop loop;
		test::FakeClock clock;
		const std::string keyA = net::Authenticator::generateKeyHex();
		const std::string keyB = net::Authenticator::generateKeyHex();
		KeyedNode a(loop.get(), clock, 0xa, 40001, keyA, { { "127.0.0.1", 40002 } });
		KeyedNode b(loop.get(), clock, 0xb, 40002, keyB, {});
		KeyedNode same(loop.get(), clock, 0xc, 40003, keyB, { { "127.0.0.1", 40002 } });

		// A's rounds arrive at B from two addresses; C, with B's key, from a third.
		std::uint64_t fromOne = 0, fromTwo = 0;
		std::vector<std::uint8_t> foreign; // one of A's datagrams, for the flood below
		// Bounded: at most 100 rounds of fake time.
		for (int round = 0; round < 100 && (fromOne < 2 || fromTwo < 1); ++round) {
			clock.advance(200ms);
			for (const test::FakeUdp::Sent &d : a.socket->take()) {
				const bool first = (fromOne + fromTwo) % 2 == 0;
				foreign = d.bytes;
				b.socket->deliver(d.bytes, first ? "10.99.0.2" : "10.99.0.7", 40001);
				++(first ? fromOne : fromTwo);
			}
			for (const test::FakeUdp::Sent &d : same.socket->take())
				b.socket->deliver(d.bytes, "10.99.0.3", 40003);
		}
		REQUIRE(fromOne > 0);
		REQUIRE(fromTwo > 0);
		clock.advance(1500ms);
		const GossipNodeStats stats = b.node->stats();
		REQUIRE(stats.authFailures.size() == 2);
		for (const AuthFailure &f : stats.authFailures) {
			CHECK(f.count == (f.address == "10.99.0.2" ? fromOne : fromTwo));
			CHECK(f.agoMs >= 1500);
		}
		CHECK(stats.counters.unauthenticated == fromOne + fromTwo);

		// Through the socket's JSON and back, as --status reads it.
		const nlohmann::json reply = codec::encode(std::optional(stats));
		const std::vector<AuthFailure> read = codec::decodeAuthFailures(reply);
		REQUIRE(read.size() == 2);
		CHECK(authFailureText(read.front()).find(" from 10.99.0.") != std::string::npos);
		CHECK(authFailureText(read.front()).find("failed authentication: different key?") != std::string::npos);
		CHECK(authFailureText({ "10.99.0.2", 5, 0 }).rfind("5 datagrams from 10.99.0.2 failed authentication: "
								   "different key?",
								   0) == 0);
		CHECK(codec::decodeAuthFailures(codec::encode(std::optional<GossipNodeStats>())).empty());

		// A flood of forged sources keeps 16, the most recent.
		for (int i = 0; i < 40; ++i) {
			clock.advance(1ms);
			b.socket->deliver(foreign, "10.98.0." + std::to_string(i), 40001);
		}
		const GossipNodeStats flooded = b.node->stats();
		CHECK(flooded.authFailures.size() == 16);
		CHECK(flooded.authFailures.front().address == "10.98.0.39");
		CHECK(flooded.authFailures.back().address == "10.98.0.24");
	}
}
