// Resolver against a fake browser: contested names, renamed servers, goodbyes, settling.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "daemon/resolver.h"
#include "distcc-mdns/txt.h"
#include "support/fake_mdns.h"
#include "support/txt_records.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> &kStock = test::kStockTxt;

ResolvedInstance instance(const std::string &name, const std::string &host, const char *address,
			  std::vector<std::string> txt)
{
	ResolvedInstance r;
	r.key = { 2, 0, name, "local" };
	r.hostName = host;
	r.address = Address::parse(address, 2);
	r.port = 3632;
	r.txt = std::move(txt);
	return r;
}

// A resolver on a fake browser, with the ids gossip hears in heard.
struct Fixture {
	test::FakeMdns mdns;
	std::set<std::string, std::less<>> heard;
	Resolver resolver{ mdns };
	test::FakeBrowser &browser = mdns.browser(kServiceType);
	int changes = 0;

	Fixture()
	{
		resolver.setVouch([this](std::string_view id, SteadyTime) { return heard.contains(id); });
		resolver.onChange = [this] { ++changes; };
	}

	// The one entry named @name; fails the test if there is none.
	DirectoryEntry entry(const std::string &name) const
	{
		for (const DirectoryEntry &e : resolver.directory().snapshot(std::chrono::steady_clock::now()))
			if (e.name == name)
				return e;
		FAIL("no entry named " << name);
		return {};
	}
};

} // namespace

TEST_SUITE("adapter_resolver")
{
	TEST_CASE("a contested name stays with the holder gossip vouches for, and is looked at again later")
	{
		Fixture f;
		f.heard = { "aaa", "bbb" };
		f.browser.resolve(instance("distcc@twin", "twin-2.local", "10.0.0.2", test::oursTxt("aaa")));
		CHECK(f.changes == 1);
		CHECK(f.entry("distcc@twin").server.id == "aaa");
		CHECK(f.browser.takeReresolves().empty());

		// Another server's TXT on the holder's name, while gossip still
		// hears the holder: refused, and resolved afresh after a delay.
		f.browser.resolve(instance("distcc@twin", "twin-2.local", "10.0.0.2", test::oursTxt("bbb")));
		CHECK(f.changes == 2);
		const DirectoryEntry kept = f.entry("distcc@twin");
		CHECK(kept.server.id == "aaa");
		REQUIRE(kept.server.addresses.size() == 1);
		CHECK(kept.server.addresses[0].text == "10.0.0.2");
		const auto asked = f.browser.takeReresolves();
		REQUIRE(asked.size() == 1);
		REQUIRE(asked[0].key);
		CHECK(asked[0].key->name == "distcc@twin");
		CHECK(asked[0].delay == Resolver::kReresolveDelay);

		// Once gossip lets go, the name changes hands: dropped, and asked
		// about afresh.
		f.heard.erase("aaa");
		f.browser.resolve(instance("distcc@twin", "twin.local", "10.0.0.3", test::oursTxt("bbb")));
		CHECK(f.resolver.directory().size() == 0);
		REQUIRE(f.browser.takeReresolves().size() == 1);
		f.browser.resolve(instance("distcc@twin", "twin.local", "10.0.0.3", test::oursTxt("bbb")));
		CHECK(f.entry("distcc@twin").server.id == "bbb");
	}

	TEST_CASE("a server Avahi renamed releases its old name, which is resolved afresh for the winner")
	{
		// lan-same-hostname: twin-2 held 'distcc@twin' until twin's
		// daemon took it and Avahi renamed twin-2's instance.
		Fixture f;
		f.heard = { "aaa", "bbb" };
		f.browser.resolve(instance("distcc@twin", "twin-2.local", "10.0.0.2", test::oursTxt("aaa")));
		f.browser.resolve(instance("distcc@twin", "twin-2.local", "10.0.0.2", test::oursTxt("bbb")));
		REQUIRE(f.browser.takeReresolves().size() == 1); // contested

		f.browser.resolve(instance("distcc@twin #2", "twin-2.local", "10.0.0.2", test::oursTxt("aaa")));
		const auto asked = f.browser.takeReresolves();
		REQUIRE(asked.size() == 1);
		CHECK_FALSE(asked[0].key); // on every interface the old name was seen on
		CHECK(asked[0].name == "distcc@twin");
		CHECK(asked[0].domain == "local");
		CHECK(asked[0].delay == Resolver::kReresolveDelay);
		CHECK(f.entry("distcc@twin #2").server.id == "aaa");

		// The winner's record, resolved afresh, is accepted at once: the
		// old name is no longer contested.
		f.browser.resolve(instance("distcc@twin", "twin.local", "10.0.0.3", test::oursTxt("bbb")));
		CHECK(f.browser.takeReresolves().empty());
		CHECK(f.entry("distcc@twin").server.id == "bbb");
		CHECK(f.resolver.directory().size() == 2);
	}

	TEST_CASE("a goodbye removes a server gossip does not hear and only withdraws one it does")
	{
		Fixture f;
		f.heard = { "aaa" };
		f.browser.resolve(instance("distcc@a", "a.local", "10.0.0.2", test::oursTxt("aaa")));
		f.browser.resolve(instance("distcc@b", "b.local", "10.0.0.3", test::oursTxt("bbb")));
		f.browser.resolve(instance("distcc@s", "s.local", "10.0.0.4", kStock));
		REQUIRE(f.resolver.directory().size() == 3);

		const int before = f.changes;
		f.browser.remove({ 2, 0, "distcc@a", "local" });
		f.browser.remove({ 2, 0, "distcc@b", "local" });
		f.browser.remove({ 2, 0, "distcc@s", "local" });
		CHECK(f.changes == before + 3);
		CHECK(f.resolver.directory().size() == 1);
		CHECK(f.entry("distcc@a").withdrawn);

		// Gossip stops hearing it: the next change forgets it.
		f.heard.clear();
		f.browser.allForNow();
		CHECK(f.resolver.directory().size() == 0);
	}

	TEST_CASE("settled once Avahi reported every instance present at start and each resolved")
	{
		Fixture f;
		CHECK_FALSE(f.resolver.settled());
		f.browser.setUnresolved(1);
		f.browser.allForNow();
		CHECK_FALSE(f.resolver.settled());
		f.browser.setUnresolved(0);
		CHECK(f.resolver.settled());
	}

	TEST_CASE("the browser's reset forgets every server, vouched or not")
	{
		Fixture f;
		f.heard = { "aaa" };
		f.browser.resolve(instance("distcc@a", "a.local", "10.0.0.2", test::oursTxt("aaa")));
		f.browser.resolve(instance("distcc@s", "s.local", "10.0.0.4", kStock));
		REQUIRE(f.resolver.directory().size() == 2);
		f.browser.reset();
		CHECK(f.resolver.directory().size() == 0);
		CHECK_FALSE(f.resolver.settled());
	}

	TEST_CASE("the resolver names only addresses distccd accepts from this client, whatever resolves first")
	{
		test::FakeMdns mdns;
		std::vector<Network> local{ *Network::parse("10.0.0.9/24"), *Network::parse("fe80::9/64") };
		Resolver resolver{ mdns, [&] { return local; } };
		test::FakeBrowser &browser = mdns.browser(kServiceType);
		auto preferred = [&](const std::string &name) -> std::string {
			for (const DirectoryEntry &e : resolver.directory().snapshot(std::chrono::steady_clock::now()))
				if (e.name == name) {
					const auto a = e.server.preferredAddress();
					return a ? a->text : "none";
				}
			return "absent";
		};
		auto seen = [](const char *name, int protocol, const char *address, std::uint32_t scope,
			       std::vector<std::string> txt) {
			ResolvedInstance r;
			r.key = { 2, protocol, name, "local" };
			r.hostName = std::string(name).substr(7) + ".local";
			r.address = Address::parse(address, scope);
			r.port = 3632;
			r.txt = std::move(txt);
			return r;
		};
		auto txt = [](std::vector<std::string> extra) {
			std::vector<std::string> t = test::oursTxt("id-" + extra.front());
			t.insert(t.end(), extra.begin() + 1, extra.end());
			return t;
		};

		// Avahi publishes AAAA over IPv4 too; distccd listens on IPv4 only.
		browser.resolve(seen("distcc@v4", 1, "fe80::2", 2, txt({ "v4", "listen=0.0.0.0" })));
		CHECK(preferred("distcc@v4") == "none");
		browser.resolve(seen("distcc@v4", 0, "10.0.0.2", 2, txt({ "v4", "listen=0.0.0.0" })));
		CHECK(preferred("distcc@v4") == "10.0.0.2");

		// A stock server: IPv4 first, a link-local address only with its scope.
		browser.resolve(seen("distcc@stock", 1, "fe80::3", 0, kStock));
		CHECK(preferred("distcc@stock") == "none");
		browser.resolve(seen("distcc@stock", 1, "fe80::3", 2, kStock));
		CHECK(preferred("distcc@stock") == "fe80::3");
		browser.resolve(seen("distcc@stock", 0, "10.0.0.3", 2, kStock));
		CHECK(preferred("distcc@stock") == "10.0.0.3");

		// --allow admits another network only: nothing from here, until
		// this host gets an address there (asked again at every change).
		browser.resolve(seen("distcc@strict", 0, "10.0.0.4", 2, txt({ "strict", "allow=192.168.7.0/24" })));
		CHECK(preferred("distcc@strict") == "none");
		local.push_back(*Network::parse("10.0.0.77/24"));
		local.push_back(*Network::parse("192.168.7.9/24"));
		browser.resolve(seen("distcc@strict", 0, "10.0.0.4", 2, txt({ "strict", "allow=10.0.0.77" })));
		CHECK(preferred("distcc@strict") == "10.0.0.4");
	}
}
