// --domain: which names parseBrowseDomain takes, and a Resolver browsing a unicast DNS-SD domain beside .local.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "daemon/gossip_node.h"
#include "daemon/resolver.h"
#include "distcc-mdns/txt.h"
#include "support/fake_clock.h"
#include "support/fake_mdns.h"
#include "support/fake_udp.h"
#include "support/txt_records.h"
#include "uv/handle.h"

using namespace dmdns;

namespace {

ResolvedInstance instance(const std::string &name, const std::string &domain, const std::string &host,
			  const char *address, std::vector<std::string> txt)
{
	ResolvedInstance r;
	// Avahi reports a wide-area answer on no interface in particular.
	r.key = { -1, 0, name, domain };
	r.hostName = host;
	r.address = Address::parse(address, 0);
	r.port = 3632;
	r.txt = std::move(txt);
	return r;
}

std::vector<std::string> names(const Resolver &resolver)
{
	std::vector<std::string> out;
	for (const DirectoryEntry &e : resolver.directory().snapshot(std::chrono::steady_clock::now()))
		out.push_back(e.name);
	return out;
}

} // namespace

TEST_SUITE("adapter_resolver_domain")
{
	TEST_CASE("a domain is a DNS name: folded to lower case, the final dot dropped")
	{
		CHECK(parseBrowseDomain("Build.Example.COM.").domain == "build.example.com");
		CHECK(parseBrowseDomain("farm.test").error.empty());
		CHECK(parseBrowseDomain("_dns-sd.x-1.example").domain == "_dns-sd.x-1.example");
		CHECK(parseBrowseDomain(std::string(63, 'a') + ".test").error.empty());
	}

	TEST_CASE("anything else is refused with the reason, and nothing is taken")
	{
		for (const std::string &bad : std::vector<std::string>{ "", ".", "a..b", ".a", "-a.test", "a-.test", "a b", "a/b", "a\\.b", "x.test;rm", "local",
									"LOCAL.", "farm.local", std::string(64, 'a') + ".test" }) {
			CAPTURE(bad);
			const BrowseDomain d = parseBrowseDomain(bad);
			CHECK_FALSE(d.error.empty());
			CHECK(d.domain.empty());
		}
		std::string longName;
		while (longName.size() < 254)
			longName += "abcdefgh.";
		longName += "test";
		CHECK(parseBrowseDomain(longName).error.find("253") != std::string::npos);
		CHECK(parseBrowseDomain("farm.local").error.find(".local") != std::string::npos);
	}

	TEST_CASE("--domain, given again and again: a repeat changes nothing, a fifth is refused")
	{
		std::vector<std::string> domains;
		CHECK(addBrowseDomain(domains, "Build.Example.COM.").empty());
		CHECK(addBrowseDomain(domains, "build.example.com").empty());
		CHECK(domains == std::vector<std::string>{ "build.example.com" });
		CHECK(addBrowseDomain(domains, "a..b").find("empty label") != std::string::npos);
		for (const char *d : { "b.test", "c.test", "d.test" })
			CHECK(addBrowseDomain(domains, d).empty());
		CHECK(addBrowseDomain(domains, "e.test").find("at most 4") != std::string::npos);
		CHECK(domains.size() == kMaxBrowseDomains);
	}

	TEST_CASE("the resolver browses .local and each domain into one directory")
	{
		test::FakeMdns mdns;
		Resolver resolver{ mdns, {}, { "farm.test" } };
		CHECK(mdns.browsers() == 2);
		test::FakeBrowser &local = mdns.browser(kServiceType);
		test::FakeBrowser &wide = mdns.browser(kServiceType, "farm.test");

		local.resolve(instance("distcc@a", "local", "a.local", "10.0.0.2", test::kStockTxt));
		wide.resolve(instance("distcc@b", "farm.test", "b.farm.test", "10.1.0.2", test::kStockTxt));
		CHECK(names(resolver) == std::vector<std::string>{ "distcc@a", "distcc@b" });

		// Settled only when every browser is.
		local.allForNow();
		CHECK_FALSE(resolver.settled());
		wide.allForNow();
		CHECK(resolver.settled());

		// A goodbye from the domain (the record deleted from DNS) removes
		// only that server.
		wide.remove(instance("distcc@b", "farm.test", "", "10.1.0.2", {}).key);
		CHECK(names(resolver) == std::vector<std::string>{ "distcc@a" });
	}

	TEST_CASE("a domain whose browse found nothing is named, for the warning")
	{
		test::FakeMdns mdns;
		Resolver resolver{ mdns, {}, { "farm.test", "empty.test" } };
		test::FakeBrowser &farm = mdns.browser(kServiceType, "farm.test");
		test::FakeBrowser &empty = mdns.browser(kServiceType, "empty.test");
		CHECK(resolver.emptyDomains().empty()); // nothing said yet

		empty.allForNow();
		CHECK(resolver.emptyDomains() == std::vector<std::string>{ "empty.test" });
		farm.resolve(instance("distcc@b", "farm.test", "b.farm.test", "10.1.0.2", test::kStockTxt));
		farm.allForNow();
		CHECK(resolver.emptyDomains() == std::vector<std::string>{ "empty.test" });

		// Records added to the domain later take it off the list.
		empty.resolve(instance("distcc@c", "empty.test", "c.empty.test", "10.2.0.2", test::kStockTxt));
		CHECK(resolver.emptyDomains().empty());
	}

	TEST_CASE("a record of the domain that changed hands is resolved afresh by its own browser")
	{
		test::FakeMdns mdns;
		Resolver resolver{ mdns, {}, { "farm.test" } };
		test::FakeBrowser &local = mdns.browser(kServiceType);
		test::FakeBrowser &wide = mdns.browser(kServiceType, "farm.test");
		wide.resolve(instance("distcc@b", "farm.test", "b.farm.test", "10.1.0.2", test::oursTxt("aaa")));
		wide.resolve(instance("distcc@b", "farm.test", "b.farm.test", "10.1.0.2", test::oursTxt("bbb")));
		const auto asked = wide.takeReresolves();
		REQUIRE(asked.size() == 1);
		REQUIRE(asked[0].key);
		CHECK(asked[0].key->domain == "farm.test");
		// .local's browser never reported it, so it has nothing to resolve
		// (Avahi's browser ignores a key it does not follow).
		for (const auto &r : local.takeReresolves())
			CHECK(r.key->domain == "farm.test");
	}

	TEST_CASE("more domains than the bound is an error, not a silent cut")
	{
		test::FakeMdns mdns;
		const std::vector<std::string> domains(kMaxBrowseDomains + 1, "farm.test");
		CHECK_THROWS_AS(Resolver(mdns, {}, domains), std::invalid_argument);
		CHECK(mdns.browsers() == 0);
		// Nor is a domain the options would have refused or folded.
		CHECK_THROWS_AS(Resolver(mdns, {}, { "farm.local" }), std::invalid_argument);
		CHECK_THROWS_AS(Resolver(mdns, {}, { "Farm.Test." }), std::invalid_argument);
		CHECK(mdns.browsers() == 0);
	}

	TEST_CASE("gossip finds its peers' ports in the domains too, and forgets them with the record")
	{
		uv::Loop loop;
		test::FakeClock clock;
		test::FakeMdns mdns;
		GossipNodeConfig config;
		config.gossip.node = 0xa;
		config.gossip.incarnation = 1;
		config.port = 40001;
		config.domains = { "farm.test" };
		GossipIo io;
		io.clock = &clock;
		io.socket = [](uv::DatagramSocket::OnDatagram onDatagram) {
			return std::unique_ptr<uv::DatagramSocket>(std::make_unique<test::FakeUdp>(std::move(onDatagram)));
		};
		GossipNode node(loop.get(), mdns, std::move(config), std::move(io));
		test::FakeBrowser &wide = mdns.browser(kGossipServiceType, "farm.test");
		CHECK(node.gossip().peers().empty());

		ResolvedInstance peer = instance("distcc-mdns@b", "farm.test", "b.farm.test", "10.1.0.2", {});
		peer.port = 40002;
		wide.resolve(peer);
		CHECK(node.gossip().peers() == std::vector<Endpoint>{ { "10.1.0.2", 40002 } });
		wide.remove(peer.key);
		CHECK(node.gossip().peers().empty());
	}
}
