// Unit tests of gossip laid over the directory: samples beat TXT, and gossip vouches against forged goodbyes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/gossip.h"
#include "distcc-mdns/live.h"
#include "distcc-mdns/txt_digest.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

const SteadyTime kStart = SteadyTime{} + std::chrono::hours(1);
constexpr std::uint64_t kServer = 0x1001;
constexpr std::uint64_t kClient = 0x2002;
const Endpoint kServerAt{ "10.0.0.1", 3632 };
const Endpoint kClientAt{ "10.0.0.2", 3632 };

GossipConfig configFor(std::uint64_t node)
{
	GossipConfig c;
	c.node = node;
	c.seed = node;
	return c;
}

wire::Sample sample(ServerState state)
{
	wire::Sample s;
	s.running = 1;
	s.slots = 8;
	s.cpus = 8;
	s.speed = 2.0;
	s.state = state;
	s.port = 3632;
	return s;
}

// A server daemon and a client daemon; the server samples and gossips
// every 250 ms while it runs.
struct Pair {
	Gossip server{ configFor(kServer) };
	Gossip client{ configFor(kClient) };
	SteadyTime now = kStart;
	ServerState state = ServerState::Up;
	bool running = true;

	Pair() { server.addPeer(kClientAt); }

	void run(std::chrono::milliseconds span)
	{
		const SteadyTime end = now + span;
		for (int i = 0; i < 1000 && now < end; ++i) {
			if (running) {
				server.setOwnSample(sample(state), now);
				// The client answers, so that the server counts it among
				// the peers that hear its rounds.
				for (const Datagram &d : server.tick(now))
					for (const Datagram &r : client.receive(kServerAt, d.bytes, now))
						server.receive(kClientAt, r.bytes, now);
			}
			client.tick(now);
			now += 50ms;
		}
	}

	void stop()
	{
		for (const Datagram &d : server.leave(now))
			client.receive(kServerAt, d.bytes, now);
		running = false;
	}
};

std::vector<std::string> txt(const std::string &id, const char *state, const char *jobs)
{
	return { "txtvers=1", "cpus=2", std::string("jobs=") + jobs, "distcc=3.4",
		 "gnuhost=x86_64-pc-linux-gnu", "cc_version=12", "cc_machine=x86_64-linux-gnu",
		 "dmver=1", "id=" + id, std::string("state=") + state };
}

ResolvedInstance instance(const std::vector<std::string> &strings)
{
	ResolvedInstance r;
	r.key = { 2, 0, "distcc@s", "local" };
	r.hostName = "s.local";
	r.address = Address::parse("10.0.0.1");
	r.port = 3632;
	r.txt = strings;
	return r;
}

} // namespace

TEST_SUITE("live")
{
	TEST_CASE("gossip vouches for a server while it hears the server itself, not after it left or died")
	{
		Pair p;
		const std::string id = wire::formatNodeId(kServer);
		CHECK_FALSE(gossipVouches(p.client, id, p.now));
		p.run(1000ms);
		CHECK(gossipVouches(p.client, id, p.now));
		CHECK_FALSE(gossipVouches(p.client, "not-an-id", p.now));
		CHECK_FALSE(gossipVouches(p.client, wire::formatNodeId(0x3003), p.now));

		// A crash: still vouched while only suspect, then no more.
		p.running = false;
		for (int i = 0; i < 200 && p.client.liveness(kServer, p.now) == Liveness::Alive; ++i)
			p.run(50ms);
		CHECK(p.client.liveness(kServer, p.now) == Liveness::Suspect);
		CHECK(gossipVouches(p.client, id, p.now));
		for (int i = 0; i < 200 && p.client.liveness(kServer, p.now) == Liveness::Suspect; ++i)
			p.run(50ms);
		CHECK(p.client.liveness(kServer, p.now) == Liveness::Dead);
		CHECK_FALSE(gossipVouches(p.client, id, p.now));

		// A clean stop ends it at once.
		Pair q;
		q.run(1000ms);
		q.stop();
		CHECK_FALSE(gossipVouches(q.client, id, q.now));
	}

	TEST_CASE("a TXT contradicting the server's sample loses to it: state, slots, cpus, speed")
	{
		Pair p;
		p.run(1000ms);
		const std::string id = wire::formatNodeId(kServer);
		Directory d;
		REQUIRE(d.resolved(instance(txt(id, "drain", "1")), p.now) == Directory::Outcome::Accepted);
		REQUIRE(d.snapshot(p.now).at(0).server.state == ServerState::Drain);
		const LiveServers live = overlayGossip(d.snapshot(p.now), p.client, p.now);
		REQUIRE(live.entries.size() == 1);
		const Server &s = live.entries[0].server;
		CHECK(s.liveness == Liveness::Alive);
		CHECK(s.state == ServerState::Up);
		CHECK(s.slots == 8);
		CHECK(s.cpus == 8);
		CHECK(s.speed == doctest::Approx(2.0));

		// The server's own drain, told by gossip, is believed over an
		// "up" TXT.
		p.state = ServerState::Drain;
		p.run(500ms);
		REQUIRE(d.resolved(instance(txt(id, "up", "8")), p.now) == Directory::Outcome::Accepted);
		CHECK(overlayGossip(d.snapshot(p.now), p.client, p.now).entries.at(0).server.state ==
		      ServerState::Drain);
	}

	TEST_CASE("a forged goodbye leaves the server listed while it gossips; its clean stop removes it")
	{
		Pair p;
		p.run(1000ms);
		const std::string id = wire::formatNodeId(kServer);
		Directory d;
		d.setVouch([&p](std::string_view v, SteadyTime now) { return gossipVouches(p.client, v, now); });
		REQUIRE(d.resolved(instance(txt(id, "up", "8")), p.now) == Directory::Outcome::Accepted);
		CHECK(d.removed({ 2, 0, "distcc@s", "local" }, p.now) == Directory::Removal::Withdrawn);
		// A forged TXT giving the name another id is refused too.
		CHECK(d.resolved(instance(txt(wire::formatNodeId(0x4004), "up", "8")), p.now) ==
		      Directory::Outcome::Contested);
		p.run(5000ms);
		LiveServers live = overlayGossip(d.snapshot(p.now), p.client, p.now);
		REQUIRE(live.entries.size() == 1);
		CHECK(live.entries[0].withdrawn);
		CHECK(live.entries[0].server.id == id);
		CHECK(live.entries[0].server.liveness == Liveness::Alive);
		CHECK(live.entries[0].server.preferredAddress()->text == "10.0.0.1");

		p.stop();
		CHECK(overlayGossip(d.snapshot(p.now), p.client, p.now).entries.empty());
		CHECK(d.forgetUnvouched(p.now) == 1);
		CHECK(d.size() == 0);
	}

	TEST_CASE("a forged TXT or SRV with the server's own id and host changes nothing the server gossips")
	{
		Pair p;
		const std::string id = wire::formatNodeId(kServer);
		const std::vector<std::string> genuine = txt(id, "up", "8");
		p.server.setOwnProfile(txtProfileDigest(genuine), p.now);
		p.run(1000ms);
		Directory d;
		d.setVouch([&](std::string_view i, SteadyTime now) { return gossipVouches(p.client, i, now); });
		d.setProfile([&](std::string_view i) -> std::optional<std::uint64_t> {
			const auto node = wire::parseNodeId(i);
			return node ? p.client.profileDigest(*node) : std::nullopt;
		});
		REQUIRE(d.resolved(instance(genuine), p.now) == Directory::Outcome::Accepted);

		std::vector<std::string> forged = genuine;
		forged.push_back("allow=192.0.2.0/24");
		CHECK(d.resolved(instance(forged), p.now) == Directory::Outcome::Contested);
		ResolvedInstance otherPort = instance(genuine);
		otherPort.port = 9;
		CHECK(d.resolved(otherPort, p.now) == Directory::Outcome::Accepted);
		const LiveServers live = overlayGossip(d.snapshot(p.now), p.client, p.now);
		REQUIRE(live.entries.size() == 1);
		CHECK(live.entries[0].server.allows.empty());
		CHECK(live.entries[0].server.port == 3632);

		// Had the server itself published that TXT, its PROFILE follows and
		// the TXT kept aside is taken.
		p.server.setOwnProfile(txtProfileDigest(forged), p.now);
		p.run(1000ms);
		CHECK(overlayGossip(d.snapshot(p.now), p.client, p.now).entries.at(0).server.allows.size() == 1);
	}
}
