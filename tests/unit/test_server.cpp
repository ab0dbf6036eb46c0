// Unit tests of the server record and load model.
#include <doctest/doctest.h>

#include "distcc-mdns/server.h"

using namespace dmdns;

TEST_SUITE("server")
{
	TEST_CASE("state names round-trip and unknown names are refused")
	{
		for (ServerState s : { ServerState::Up, ServerState::Drain, ServerState::Down })
			CHECK(parseServerState(stateName(s)) == s);
		CHECK_FALSE(parseServerState("UP"));
		CHECK_FALSE(parseServerState(""));
	}

	TEST_CASE("addresses parse to canonical form and know their scope")
	{
		auto v4 = Address::parse("192.168.001.2");
		CHECK_FALSE(v4); // inet_pton refuses leading zeros: no ambiguity
		v4 = Address::parse("10.0.0.7");
		REQUIRE(v4);
		CHECK(v4->family == Address::Family::IPv4);
		CHECK(v4->text == "10.0.0.7");

		auto v6 = Address::parse("2001:DB8:0:0::1");
		REQUIRE(v6);
		CHECK(v6->text == "2001:db8::1");
		CHECK_FALSE(v6->isLinkLocal());
		CHECK(v6->scope == 0);

		auto ll = Address::parse("fe80::1", 3);
		REQUIRE(ll);
		CHECK(ll->isLinkLocal());
		CHECK(ll->scope == 3);
		// A scope means nothing for a global address and is dropped.
		CHECK(Address::parse("2001:db8::1", 3)->scope == 0);

		CHECK_FALSE(Address::parse("host.example"));
		CHECK_FALSE(Address::parse("fe80::1%eth0"));
		CHECK_FALSE(Address::parse(std::string(200, '1')));
		CHECK(Address::parse("127.0.0.1")->isLoopback());
		CHECK(Address::parse("::1")->isLoopback());
	}

	TEST_CASE("samples order by incarnation, then sequence")
	{
		LoadSample a{ .incarnation = 5, .sequence = 100 };
		LoadSample b{ .incarnation = 6, .sequence = 1 };
		LoadSample c{ .incarnation = 6, .sequence = 2 };
		CHECK(b.newerThan(a));
		CHECK_FALSE(a.newerThan(b));
		CHECK(c.newerThan(b));
		CHECK_FALSE(c.newerThan(c));
	}

	TEST_CASE("expected wait counts running, reserved and the new job per unit of capacity")
	{
		Server s;
		s.slots = 8;
		s.speed = 2.0;
		s.sample = LoadSample{ .running = 3 };
		CHECK(s.capacity() == doctest::Approx(16.0));
		CHECK(s.expectedWait(0) == doctest::Approx(4.0 / 16.0));
		CHECK(s.expectedWait(4) == doctest::Approx(8.0 / 16.0));

		// Unknown load counts as half the slots busy.
		s.sample.reset();
		CHECK(s.expectedWait(0) == doctest::Approx(5.0 / 16.0));

		s.slots = 0;
		CHECK(s.expectedWait(0) > 1e300);
	}

	TEST_CASE("compiler matching needs machine and version")
	{
		Server s;
		s.compilers = { { "x86_64-linux-gnu", "12" }, { "aarch64-linux-gnu", "12" } };
		CHECK(s.offers({ "aarch64-linux-gnu", "12" }));
		CHECK_FALSE(s.offers({ "aarch64-linux-gnu", "13" }));
		CHECK_FALSE(s.offers({ "arm-linux-gnueabihf", "12" }));
	}

	TEST_CASE("preferred address: IPv4, then global IPv6, then scoped link-local, never unscoped")
	{
		Server s;
		s.addresses = { *Address::parse("fe80::2"), *Address::parse("fe80::1", 2),
				*Address::parse("2001:db8::5"), *Address::parse("192.0.2.4") };
		CHECK(s.preferredAddress()->text == "192.0.2.4");
		s.addresses.pop_back();
		CHECK(s.preferredAddress()->text == "2001:db8::5");
		s.addresses.pop_back();
		CHECK(s.preferredAddress()->text == "fe80::1");
		CHECK(s.preferredAddress()->scope == 2);
		s.addresses.pop_back();
		CHECK_FALSE(s.preferredAddress());
	}

	TEST_CASE("networks parse as distccd's --allow does and contain what they should")
	{
		const auto net = Network::parse("10.99.0.0/16");
		REQUIRE(net);
		CHECK(net->contains(*Address::parse("10.99.3.4")));
		CHECK_FALSE(net->contains(*Address::parse("10.98.3.4")));
		// An IPv4 peer on an IPv6 socket shows as IPv4-mapped.
		CHECK(net->contains(*Address::parse("::ffff:10.99.0.1")));
		CHECK_FALSE(net->contains(*Address::parse("::10.99.0.1")));
		CHECK(Network::parse("127.0.0.1")->prefix == 32);
		CHECK(Network::parse("127.0.0.1")->contains(*Address::parse("127.0.0.1")));
		CHECK_FALSE(Network::parse("127.0.0.1")->contains(*Address::parse("127.0.0.2")));
		CHECK(Network::parse("10.1.2.3/13")->contains(*Address::parse("10.7.255.255")));
		CHECK_FALSE(Network::parse("10.1.2.3/13")->contains(*Address::parse("10.8.0.0")));
		CHECK(Network::parse("0.0.0.0/0")->contains(*Address::parse("203.0.113.9")));
		CHECK(Network::parse("fe80::/10")->contains(*Address::parse("febf::1")));
		CHECK_FALSE(Network::parse("fe80::/10")->contains(*Address::parse("fec0::1")));
		CHECK_FALSE(Network::parse("fe80::/10")->contains(*Address::parse("10.0.0.1")));
		for (const char *bad : { "", "/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "x/8", "10.0.0.0/8/8" })
			CHECK_MESSAGE(!Network::parse(bad), bad);
		CHECK(Network::parse("fd00::/8")->text() == "fd00::/8");
		CHECK(Network::parse("10.0.0.1")->text() == "10.0.0.1");
	}

	TEST_CASE("listensOn and admits constrain only what the server said")
	{
		Server s;
		const Address v4 = *Address::parse("10.0.0.2"), v6 = *Address::parse("2001:db8::2");
		CHECK(s.listensOn(v4));
		CHECK(s.listensOn(v6));
		CHECK(s.admits(v4));
		s.listens = { *Address::parse("0.0.0.0") };
		CHECK(s.listensOn(v4));
		CHECK_FALSE(s.listensOn(v6));
		s.listens = { *Address::parse("10.0.0.3"), *Address::parse("::") };
		CHECK_FALSE(s.listensOn(v4));
		CHECK(s.listensOn(v6));
		s.allows = { *Network::parse("127.0.0.1"), *Network::parse("10.0.0.0/24") };
		CHECK(s.admits(*Address::parse("10.0.0.77")));
		CHECK_FALSE(s.admits(*Address::parse("10.0.1.77")));
	}
}
