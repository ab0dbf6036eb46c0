// Unit tests of whether other hosts can reach distccd: its listening addresses and its --allow.
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include "host/reach.h"

using namespace dmdns;
using namespace dmdns::host;

namespace {

procfs::TcpEndpoint endpoint(const char *text)
{
	procfs::TcpEndpoint e;
	e.ipv6 = std::string_view(text).find(':') != std::string_view::npos;
	inet_pton(e.ipv6 ? AF_INET6 : AF_INET, text, e.address.data());
	e.port = kDistccPort;
	return e;
}

procfs::DistccdArgs allowing(std::initializer_list<const char *> networks)
{
	procfs::DistccdArgs args;
	for (const char *n : networks)
		args.allow.push_back(*Network::parse(n));
	return args;
}

std::vector<std::string> texts(const std::vector<Address> &list)
{
	std::vector<std::string> out;
	for (const Address &a : list)
		out.push_back(a.text);
	return out;
}

} // namespace

TEST_SUITE("reach")
{
	TEST_CASE("Debian's default distccd, on 127.0.0.1 only, is refused with what to change")
	{
		const std::vector listeners{ endpoint("127.0.0.1") };
		const DistccdReach reach = reachOf(listeners, allowing({ "127.0.0.1" }), true);
		CHECK(reach.refusal.find("distccd listens only on 127.0.0.1") == 0);
		CHECK(reach.refusal.find("LISTENER=") != std::string::npos);
		CHECK(reach.refusal.find("/etc/default/distcc") != std::string::npos);
		// ::1 and an IPv4-mapped loopback are loopback too.
		const std::vector six{ endpoint("::1"), endpoint("::ffff:127.0.0.1") };
		CHECK(reachOf(six, std::nullopt, true).refusal.find("distccd listens only on ::1, 127.0.0.1:") == 0);
	}

	TEST_CASE("a distccd on the network that admits only loopback is refused, with this host's network as example")
	{
		const std::vector listeners{ endpoint("0.0.0.0") };
		const std::vector local{ *Network::parse("10.99.3.4/16") };
		const DistccdReach reach = reachOf(listeners, allowing({ "127.0.0.1", "127.0.0.0/8", "::1" }), true, local);
		CHECK(reach.refusal.find("distccd admits only 127.0.0.1, 127.0.0.0/8, ::1 (its --allow)") == 0);
		CHECK(reach.refusal.find("ALLOWEDNETS=") != std::string::npos);
		CHECK(reach.refusal.find("10.99.0.0/16") != std::string::npos);
		// One other network is enough; loopback ones are not advertised.
		const DistccdReach ok = reachOf(listeners, allowing({ "127.0.0.1", "10.99.0.0/16" }), true);
		CHECK(ok.refusal.empty());
		REQUIRE(ok.allows.size() == 1);
		CHECK(ok.allows[0].text() == "10.99.0.0/16");
		// 127.0.0.0/7 reaches beyond loopback.
		CHECK(reachOf(listeners, allowing({ "126.0.0.0/7" }), true).refusal.empty());
	}

	TEST_CASE("the families advertised follow the sockets")
	{
		CHECK(texts(reachOf(std::vector{ endpoint("0.0.0.0") }, std::nullopt, true).listens) ==
		      std::vector<std::string>{ "0.0.0.0" });
		// An IPv6 wildcard takes IPv4 too unless bindv6only is set.
		CHECK(texts(reachOf(std::vector{ endpoint("::") }, std::nullopt, true).listens) ==
		      std::vector<std::string>{ "::", "0.0.0.0" });
		CHECK(texts(reachOf(std::vector{ endpoint("::") }, std::nullopt, false).listens) ==
		      std::vector<std::string>{ "::" });
		// A specific address, loopback beside it left out, mapped as IPv4.
		CHECK(texts(reachOf(std::vector{ endpoint("127.0.0.1"), endpoint("::ffff:10.0.0.2"), endpoint("fe80::1") },
				    std::nullopt, true)
				    .listens) == std::vector<std::string>{ "10.0.0.2", "fe80::1" });
	}

	TEST_CASE("what the record cannot carry, or distccd's arguments do not say, is left unknown")
	{
		std::vector<procfs::TcpEndpoint> many;
		for (int i = 1; i <= 9; ++i)
			many.push_back(endpoint(("10.0.0." + std::to_string(i)).c_str()));
		const DistccdReach wide = reachOf(many, allowing({ "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16", "10.6.0.0/16", "10.7.0.0/16", "10.8.0.0/16", "10.9.0.0/16" }),
						  true);
		CHECK(wide.refusal.empty());
		CHECK(wide.listens.empty());
		CHECK(wide.allows.empty());

		procfs::DistccdArgs unreadable = allowing({ "127.0.0.1" });
		unreadable.allowUnknown = true;
		const DistccdReach unknown = reachOf(std::vector{ endpoint("0.0.0.0") }, unreadable, true);
		CHECK(unknown.refusal.empty());
		CHECK(unknown.allows.empty());
	}
}
