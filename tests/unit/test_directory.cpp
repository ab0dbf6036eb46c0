// Unit tests of the directory that merges resolved DNS-SD instances into servers.
#include <doctest/doctest.h>

#include <set>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/txt_digest.h"
#include "support/txt_records.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> &kStock = test::kStockTxt;

ResolvedInstance instance(int interface, int protocol, const char *address,
			  std::vector<std::string> txt = kStock, const char *name = "distcc@a")
{
	ResolvedInstance r;
	r.key = { interface, protocol, name, "local" };
	r.hostName = "a.local";
	r.address = Address::parse(address, static_cast<std::uint32_t>(interface));
	r.port = 3632;
	r.txt = std::move(txt);
	return r;
}

// A directory whose vouch function says gossip hears the ids in heard.
struct Vouched {
	std::set<std::string, std::less<>> heard;
	Directory d;

	Vouched()
	{
		d.setVouch([this](std::string_view id, SteadyTime) { return heard.contains(id); });
	}
};

// A directory whose gossip vouches for the ids in heard and gossips the TXT
// digests in digests (a PROFILE each).
struct Profiled : Vouched {
	std::map<std::string, std::uint64_t, std::less<>> digests;

	Profiled()
	{
		d.setProfile([this](std::string_view id) -> std::optional<std::uint64_t> {
			auto it = digests.find(id);
			return it == digests.end() ? std::nullopt : std::optional(it->second);
		});
	}
};

// h1's TXT with another compiler list or --allow: what a forger would send.
std::vector<std::string> withKey(std::vector<std::string> txt, const std::string &entry)
{
	txt.push_back(entry);
	return txt;
}

} // namespace

TEST_SUITE("directory")
{
	TEST_CASE("one server seen over several interfaces and protocols is one record")
	{
		Directory d;
		const SteadyTime t0{};
		CHECK(d.resolved(instance(2, 0, "10.0.0.2"), t0) == Directory::Outcome::Accepted);
		CHECK(d.resolved(instance(2, 1, "fe80::2"), t0) == Directory::Outcome::Accepted);
		CHECK(d.resolved(instance(3, 0, "192.168.5.2"), t0) == Directory::Outcome::Accepted);
		REQUIRE(d.size() == 1);
		const auto snap = d.snapshot(t0);
		REQUIRE(snap.size() == 1);
		CHECK(snap[0].name == "distcc@a");
		CHECK(snap[0].stock);
		CHECK(snap[0].server.addresses.size() == 3);
		CHECK(snap[0].server.slots == 4);
		CHECK(snap[0].server.preferredAddress()->family == Address::Family::IPv4);

		// It stays while any sighting remains.
		CHECK(d.removed({ 2, 0, "distcc@a", "local" }, t0) == Directory::Removal::Kept);
		CHECK(d.snapshot(t0).at(0).server.addresses.size() == 2);
		CHECK(d.removed({ 2, 1, "distcc@a", "local" }, t0) == Directory::Removal::Kept);
		CHECK(d.removed({ 3, 0, "distcc@a", "local" }, t0) == Directory::Removal::Gone);
		CHECK(d.size() == 0);
		CHECK(d.removed({ 3, 0, "distcc@a", "local" }, t0) == Directory::Removal::Kept);
	}

	TEST_CASE("two servers with the same host name but different instance names are both kept")
	{
		Directory d;
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", kStock, "distcc@twin"), {}) == Directory::Outcome::Accepted);
		CHECK(d.resolved(instance(2, 0, "10.0.0.3", kStock, "distcc@twin #2"), {}) == Directory::Outcome::Accepted);
		CHECK(d.size() == 2);
	}

	TEST_CASE("one host advertised by stock distccd and by us is our record only, by host name and port")
	{
		Directory d;
		const SteadyTime t0{};
		// A multi-homed host: the two records resolved to addresses of
		// different interfaces, and the host name in another case.
		CHECK(d.resolved(instance(2, 0, "10.0.0.2"), t0) == Directory::Outcome::Accepted);
		ResolvedInstance ours = instance(2, 0, "10.0.0.102", test::oursTxt("00000000000000aa"), "distcc@a #2");
		ours.hostName = "A.local";
		CHECK(d.resolved(ours, t0) == Directory::Outcome::Accepted);
		// Another host's stock record, and one on another port of this host.
		ResolvedInstance other = instance(2, 0, "10.0.0.3", kStock, "distcc@b");
		other.hostName = "b.local";
		CHECK(d.resolved(other, t0) == Directory::Outcome::Accepted);
		ResolvedInstance otherPort = instance(2, 0, "10.0.0.2", kStock, "distcc@a-test");
		otherPort.port = 3633;
		CHECK(d.resolved(otherPort, t0) == Directory::Outcome::Accepted);
		CHECK(d.size() == 4);

		auto names = [&] {
			std::set<std::string> out;
			for (const DirectoryEntry &e : d.snapshot(t0))
				out.insert(e.name);
			return out;
		};
		CHECK(names() == std::set<std::string>{ "distcc@a #2", "distcc@a-test", "distcc@b" });

		// Our record gone from mDNS (a clean stop's goodbye, no gossip to
		// vouch): the stock record speaks for the host again.
		CHECK(d.removed(ours.key, t0) == Directory::Removal::Gone);
		CHECK(names() == std::set<std::string>{ "distcc@a", "distcc@a-test", "distcc@b" });
	}

	TEST_CASE("a stock record stays hidden behind our record of its host that died with its gossip")
	{
		Vouched v;
		const SteadyTime t0{};
		v.heard.insert("00000000000000aa");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2"), t0) == Directory::Outcome::Accepted);
		const ResolvedInstance ours = instance(2, 0, "10.0.0.2", test::oursTxt("00000000000000aa"), "distcc@a #2");
		CHECK(v.d.resolved(ours, t0) == Directory::Outcome::Accepted);
		// Its daemon crashed: avahi-daemon withdrew its record while
		// gossip still heard it, then gossip let go. The host is gone.
		CHECK(v.d.removed(ours.key, t0) == Directory::Removal::Withdrawn);
		auto snap = v.d.snapshot(t0);
		REQUIRE(snap.size() == 1);
		CHECK(snap[0].name == "distcc@a #2");
		v.heard.clear();
		CHECK(v.d.snapshot(t0).empty());
		// Announced again, ours lists the host once more.
		CHECK(v.d.resolved(ours, t0) == Directory::Outcome::Accepted);
		snap = v.d.snapshot(t0);
		REQUIRE(snap.size() == 1);
		CHECK(snap[0].name == "distcc@a #2");
		// It hides the stock record for kDeadHostHidden after the
		// withdrawal, then the stock record lists the host again.
		v.heard.insert("00000000000000aa");
		const SteadyTime t1 = t0 + 1h;
		CHECK(v.d.removed(ours.key, t1) == Directory::Removal::Withdrawn);
		v.heard.clear();
		CHECK(v.d.snapshot(t1 + Directory::kDeadHostHidden - 1s).empty());
		snap = v.d.snapshot(t1 + Directory::kDeadHostHidden);
		REQUIRE(snap.size() == 1);
		CHECK(snap[0].name == "distcc@a");
		// A forgotten tombstone (the table needed room) hides nothing.
		CHECK(v.d.forgetUnvouched(t1) == 1);
		snap = v.d.snapshot(t1);
		REQUIRE(snap.size() == 1);
		CHECK(snap[0].name == "distcc@a");
	}

	TEST_CASE("a host whose machine crashed: our record stays in mDNS, and so does its stock one, hidden")
	{
		Vouched v;
		const SteadyTime t0{};
		v.heard.insert("00000000000000aa");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2"), t0) == Directory::Outcome::Accepted);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("00000000000000aa"), "distcc@a #2"), t0) ==
		      Directory::Outcome::Accepted);
		v.heard.clear(); // gossip calls it dead; the overlay drops our record
		const auto snap = v.d.snapshot(t0);
		REQUIRE(snap.size() == 1);
		CHECK_FALSE(snap[0].stock);
	}

	TEST_CASE("the same-host key folds the host name's case and carries the port")
	{
		CHECK(sameHostKey("Build-01.Local", 3632) == "build-01.local:3632");
		CHECK(sameHostKey("build-01.local", 3633) != sameHostKey("build-01.local", 3632));
	}

	TEST_CASE("an unusable TXT is refused, and a server turning unusable is dropped")
	{
		Directory d;
		std::vector<std::string> bad = kStock;
		bad[0] = "txtvers=9";
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", bad), {}) == Directory::Outcome::Refused);
		CHECK(d.size() == 0);
		CHECK(d.resolved(instance(2, 0, "10.0.0.2"), {}) == Directory::Outcome::Accepted);
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", bad), {}) == Directory::Outcome::Refused);
		CHECK(d.size() == 0);
	}

	TEST_CASE("TXT changes replace the record and restart the sample age")
	{
		Directory d;
		std::vector<std::string> ours = kStock;
		ours.insert(ours.end(), { "dmver=1", "id=abc", "run=1", "seq=1" });
		const SteadyTime t0{};
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", ours), t0) == Directory::Outcome::Accepted);
		auto snap = d.snapshot(t0 + 4s);
		CHECK_FALSE(snap.at(0).stock);
		CHECK(snap.at(0).server.id == "abc");
		CHECK(snap.at(0).server.sample->age == 4000ms);
		CHECK(snap.at(0).server.sample->running == 1);

		// The same TXT again keeps the age; a new one resets it.
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", ours), t0 + 5s) == Directory::Outcome::Accepted);
		CHECK(d.snapshot(t0 + 6s).at(0).server.sample->age == 6000ms);
		ours[ours.size() - 2] = "run=3";
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", ours), t0 + 7s) == Directory::Outcome::Accepted);
		snap = d.snapshot(t0 + 8s);
		CHECK(snap.at(0).server.sample->age == 1000ms);
		CHECK(snap.at(0).server.sample->running == 3);
	}

	TEST_CASE("a stock server without an id is known by its instance name")
	{
		Directory d;
		CHECK(d.resolved(instance(2, 0, "10.0.0.2"), {}) == Directory::Outcome::Accepted);
		CHECK(d.snapshot({}).at(0).server.id == "distcc@a");
		CHECK_FALSE(d.snapshot({}).at(0).server.sample);
	}

	TEST_CASE("the table is bounded")
	{
		Directory d;
		for (std::size_t i = 0; i < Directory::kMaxServers; ++i)
			REQUIRE(d.resolved(instance(2, 0, "10.0.0.2", kStock, ("s" + std::to_string(i)).c_str()), {}) == Directory::Outcome::Accepted);
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", kStock, "one-too-many"), {}) == Directory::Outcome::Refused);
		CHECK(d.size() == Directory::kMaxServers);
	}

	TEST_CASE("a service on port 0 is refused")
	{
		Directory d;
		ResolvedInstance r = instance(2, 0, "10.0.0.2");
		r.port = 0;
		CHECK(d.resolved(r, {}) == Directory::Outcome::Refused);
		CHECK(d.size() == 0);
	}

	TEST_CASE("a name taken over by another advertiser or host is dropped, not mixed")
	{
		std::vector<std::string> ours = kStock;
		ours.insert(ours.end(), { "dmver=1", "id=abc", "run=1" });
		Directory d;
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", ours), {}) == Directory::Outcome::Accepted);
		// Same name, a stock TXT now, still the old address: a forger won
		// the name and the resolver mixes its TXT with the old address.
		CHECK(d.resolved(instance(2, 0, "10.0.0.2"), {}) == Directory::Outcome::IdentityChanged);
		CHECK(d.size() == 0);

		// Another id is another server too.
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", ours), {}) == Directory::Outcome::Accepted);
		std::vector<std::string> other = ours;
		other[other.size() - 2] = "id=def";
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", other), {}) == Directory::Outcome::IdentityChanged);

		// So is the same TXT served by another host.
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", ours), {}) == Directory::Outcome::Accepted);
		ResolvedInstance moved = instance(2, 0, "10.0.0.3", ours);
		moved.hostName = "b.local";
		CHECK(d.resolved(moved, {}) == Directory::Outcome::IdentityChanged);

		// A load change of the same server is no change of identity.
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", ours), {}) == Directory::Outcome::Accepted);
		ours.back() = "run=3";
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", ours), {}) == Directory::Outcome::Accepted);
	}

	TEST_CASE("a goodbye withdraws a server gossip hears, which stays listed until gossip lets go")
	{
		Vouched v;
		const SteadyTime t0{};
		v.heard.insert("abc");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("abc")), t0) == Directory::Outcome::Accepted);
		CHECK(v.d.resolved(instance(2, 1, "fe80::2", test::oursTxt("abc")), t0) == Directory::Outcome::Accepted);
		CHECK(v.d.removed({ 2, 1, "distcc@a", "local" }, t0) == Directory::Removal::Kept);
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, t0) == Directory::Removal::Withdrawn);
		// Repeated goodbyes change nothing.
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, t0) == Directory::Removal::Kept);
		REQUIRE(v.d.snapshot(t0).size() == 1);
		const DirectoryEntry e = v.d.snapshot(t0).at(0);
		CHECK(e.withdrawn);
		CHECK(e.server.id == "abc");
		// Every last sighting is kept, whichever went first: the IPv4
		// address stays the one named.
		CHECK(e.server.addresses.size() == 2);
		CHECK(e.server.preferredAddress()->text == "10.0.0.2");
		CHECK(v.d.forgetUnvouched(t0) == 0);
		CHECK(v.d.size() == 1);

		// Gossip hears it no more (it left or died): gone from the
		// snapshot at once, and forgotten.
		v.heard.clear();
		CHECK(v.d.snapshot(t0).empty());
		CHECK(v.d.forgetUnvouched(t0) == 1);
		CHECK(v.d.size() == 0);
	}

	TEST_CASE("a withdrawn server announced again is listed at its fresh address, not withdrawn")
	{
		Vouched v;
		v.heard.insert("abc");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("abc")), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, {}) == Directory::Removal::Withdrawn);
		CHECK(v.d.resolved(instance(3, 0, "10.0.1.2", test::oursTxt("abc")), {}) == Directory::Outcome::Accepted);
		const auto snap = v.d.snapshot({});
		REQUIRE(snap.size() == 1);
		CHECK_FALSE(snap[0].withdrawn);
		REQUIRE(snap[0].server.addresses.size() == 1);
		CHECK(snap[0].server.addresses[0].text == "10.0.1.2");
		// The new sighting's goodbye withdraws it again.
		CHECK(v.d.removed({ 3, 0, "distcc@a", "local" }, {}) == Directory::Removal::Withdrawn);
	}

	TEST_CASE("a goodbye removes what gossip does not vouch for: stock, unheard, or no gossip at all")
	{
		Vouched v;
		v.heard.insert("abc");
		v.heard.insert("distcc@s"); // a stock server's name is never asked about
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", kStock, "distcc@s"), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.removed({ 2, 0, "distcc@s", "local" }, {}) == Directory::Removal::Gone);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.3", test::oursTxt("def"), "distcc@u"), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.removed({ 2, 0, "distcc@u", "local" }, {}) == Directory::Removal::Gone);
		CHECK(v.d.size() == 0);

		Directory plain; // no vouch function: --no-gossip
		CHECK(plain.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("abc")), {}) == Directory::Outcome::Accepted);
		CHECK(plain.removed({ 2, 0, "distcc@a", "local" }, {}) == Directory::Removal::Gone);
		CHECK(plain.size() == 0);
	}

	TEST_CASE("while gossip vouches, a TXT or SRV re-pointing the name is refused and the server kept")
	{
		Vouched v;
		v.heard.insert("abc");
		v.heard.insert("def");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("abc")), {}) == Directory::Outcome::Accepted);
		auto unchanged = [&] {
			const auto snap = v.d.snapshot({});
			REQUIRE(snap.size() == 1);
			CHECK(snap[0].server.id == "abc");
			CHECK(snap[0].hostName == "a.local");
			CHECK_FALSE(snap[0].stock);
			REQUIRE(snap[0].server.addresses.size() == 1);
			CHECK(snap[0].server.addresses[0].text == "10.0.0.2");
		};
		// Another id, even one gossip hears too.
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("def")), {}) == Directory::Outcome::Contested);
		unchanged();
		// A stock record, an unusable one.
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2"), {}) == Directory::Outcome::Contested);
		unchanged();
		std::vector<std::string> bad = test::oursTxt("abc");
		bad[0] = "txtvers=9";
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", bad), {}) == Directory::Outcome::Contested);
		unchanged();
		// Another host behind the name.
		ResolvedInstance moved = instance(2, 0, "10.0.0.66", test::oursTxt("abc"));
		moved.hostName = "evil.local";
		CHECK(v.d.resolved(moved, {}) == Directory::Outcome::Contested);
		unchanged();
		// A withdrawn record is no easier to take.
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, {}) == Directory::Removal::Withdrawn);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("def")), {}) == Directory::Outcome::Contested);
		unchanged();

		// A TXT of the same server with other values is its own news.
		std::vector<std::string> drain = test::oursTxt("abc");
		drain.back() = "state=drain";
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", drain), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.snapshot({}).at(0).server.state == ServerState::Drain);
		CHECK_FALSE(v.d.snapshot({}).at(0).withdrawn);

		// Once gossip lets go, the name changes hands as before.
		v.heard.erase("abc");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("def")), {}) == Directory::Outcome::IdentityChanged);
		CHECK(v.d.size() == 0);
	}

	TEST_CASE("a full table makes room by forgetting withdrawn servers gossip no longer hears")
	{
		Vouched v;
		v.heard.insert("abc");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("abc")), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, {}) == Directory::Removal::Withdrawn);
		for (std::size_t i = 1; i < Directory::kMaxServers; ++i)
			REQUIRE(v.d.resolved(instance(2, 0, "10.0.0.3", kStock, ("s" + std::to_string(i)).c_str()), {}) ==
				Directory::Outcome::Accepted);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.4", kStock, "late"), {}) == Directory::Outcome::Refused);
		v.heard.clear();
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.4", kStock, "late"), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.size() == Directory::kMaxServers);
	}

	TEST_CASE("a new name on another host cannot claim the id of a server gossip vouches for")
	{
		Vouched v;
		v.heard.insert("abc");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("abc")), {}) == Directory::Outcome::Accepted);
		ResolvedInstance evil = instance(2, 0, "10.0.0.66", test::oursTxt("abc"), "distcc@evil");
		evil.hostName = "evil.local";
		CHECK(v.d.resolved(evil, {}) == Directory::Outcome::Contested);
		CHECK(v.d.size() == 1);
		// Withdrawn, the holder still keeps its id from other hosts.
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, {}) == Directory::Removal::Withdrawn);
		CHECK(v.d.resolved(evil, {}) == Directory::Outcome::Contested);

		// The same host under a new name (Avahi renamed it) replaces the
		// withdrawn holder.
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", test::oursTxt("abc"), "distcc@a #2"), {}) ==
		      Directory::Outcome::Accepted);
		auto snap = v.d.snapshot({});
		REQUIRE(snap.size() == 1);
		CHECK(snap[0].name == "distcc@a #2");
		CHECK_FALSE(snap[0].withdrawn);

		// Once gossip lets go, anyone may claim it, as plain DNS-SD allows.
		v.heard.clear();
		CHECK(v.d.resolved(evil, {}) == Directory::Outcome::Accepted);
		CHECK(v.d.size() == 2);
	}

	TEST_CASE("a server renamed after a conflict releases its old name to the winner")
	{
		// lan-same-hostname: twin-2 holds 'distcc@twin'; twin's daemon
		// takes the name and Avahi renames twin-2's instance.
		Vouched v;
		v.heard.insert("aaa");
		v.heard.insert("bbb");
		ResolvedInstance first = instance(2, 0, "10.0.0.2", test::oursTxt("aaa"), "distcc@twin");
		first.hostName = "twin-2.local";
		CHECK(v.d.resolved(first, {}) == Directory::Outcome::Accepted);
		CHECK(v.d.takeReleased().empty());

		// The winner's TXT, reported with the loser's old host: refused
		// while gossip hears the holder.
		ResolvedInstance mixed = instance(2, 0, "10.0.0.2", test::oursTxt("bbb"), "distcc@twin");
		mixed.hostName = "twin-2.local";
		CHECK(v.d.resolved(mixed, {}) == Directory::Outcome::Contested);

		// The loser under its new name: the old name is released, and the
		// caller is told to resolve it afresh.
		ResolvedInstance renamed = first;
		renamed.key.name = "distcc@twin #2";
		CHECK(v.d.resolved(renamed, {}) == Directory::Outcome::Accepted);
		const auto released = v.d.takeReleased();
		REQUIRE(released.size() == 1);
		CHECK(released[0].first == "distcc@twin");
		CHECK(v.d.takeReleased().empty());

		ResolvedInstance winner = instance(2, 0, "10.0.0.3", test::oursTxt("bbb"), "distcc@twin");
		winner.hostName = "twin.local";
		CHECK(v.d.resolved(winner, {}) == Directory::Outcome::Accepted);
		const auto snap = v.d.snapshot({});
		REQUIRE(snap.size() == 2);
		for (const DirectoryEntry &e : snap)
			CHECK(e.server.addresses.at(0).text ==
			      (e.server.id == "aaa" ? "10.0.0.2" : "10.0.0.3"));
		CHECK(snap[0].name != snap[1].name);
	}

	TEST_CASE("the address choice: IPv4 first, only where distccd listens and admits, link-local only scoped")
	{
		const SteadyTime t0{};
		auto ours = [](std::vector<std::string> extra) {
			std::vector<std::string> txt = test::oursTxt("a1");
			txt.insert(txt.end(), extra.begin(), extra.end());
			return txt;
		};
		auto addresses = [&](const Directory &d) {
			std::vector<std::string> out;
			const auto snapshot = d.snapshot(t0); // outlives the loop
			for (const Address &a : snapshot.at(0).server.addresses)
				out.push_back(a.text);
			return out;
		};

		SUBCASE("a stock server resolved over IPv6 first still gets its IPv4 address")
		{
			Directory d;
			d.resolved(instance(2, 1, "fe80::2"), t0);
			d.resolved(instance(2, 0, "10.0.0.2"), t0);
			CHECK(d.snapshot(t0).at(0).server.preferredAddress()->text == "10.0.0.2");
		}
		SUBCASE("never a link-local IPv6 address without its interface")
		{
			Directory d;
			d.resolved(instance(0, 1, "fe80::2"), t0);
			CHECK(addresses(d).empty());
			CHECK_FALSE(d.snapshot(t0).at(0).server.preferredAddress());
		}
		SUBCASE("distccd on IPv4 only: its IPv6 addresses are never named")
		{
			Directory d;
			d.resolved(instance(2, 1, "fe80::2", ours({ "listen=0.0.0.0" })), t0);
			d.resolved(instance(2, 1, "2001:db8::2", ours({ "listen=0.0.0.0" })), t0);
			CHECK(addresses(d).empty());
			d.resolved(instance(2, 0, "10.0.0.2", ours({ "listen=0.0.0.0" })), t0);
			CHECK(addresses(d) == std::vector<std::string>{ "10.0.0.2" });
		}
		SUBCASE("distccd on IPv6 only: a scoped link-local address is used, IPv4 is not")
		{
			Directory d;
			d.resolved(instance(2, 0, "10.0.0.2", ours({ "listen=::" })), t0);
			d.resolved(instance(2, 1, "fe80::2", ours({ "listen=::" })), t0);
			const auto preferred = d.snapshot(t0).at(0).server.preferredAddress();
			REQUIRE(preferred);
			CHECK(preferred->text == "fe80::2");
			CHECK(preferred->scope == 2);
		}
		SUBCASE("distccd on one address: only that one")
		{
			Directory d;
			d.resolved(instance(2, 0, "10.0.0.2", ours({ "listen=192.168.5.2" })), t0);
			d.resolved(instance(3, 0, "192.168.5.2", ours({ "listen=192.168.5.2" })), t0);
			CHECK(addresses(d) == std::vector<std::string>{ "192.168.5.2" });
		}
		SUBCASE("an address on a link where --allow admits none of this client's addresses is dropped")
		{
			Directory d;
			d.setLocalNetworks({ *Network::parse("10.0.0.9/24"), *Network::parse("192.168.5.9/24") });
			const auto txt = ours({ "listen=0.0.0.0", "allow=192.168.5.0/24" });
			d.resolved(instance(2, 0, "10.0.0.2", txt), t0);
			d.resolved(instance(3, 0, "192.168.5.2", txt), t0);
			CHECK(addresses(d) == std::vector<std::string>{ "192.168.5.2" });
			// Off every link of ours, the route decides: kept.
			d.resolved(instance(4, 0, "172.16.0.2", txt), t0);
			CHECK(addresses(d) == std::vector<std::string>{ "192.168.5.2", "172.16.0.2" });
		}
		SUBCASE("only loopback admitted: nothing to name from here")
		{
			Directory d;
			d.setLocalNetworks({ *Network::parse("10.0.0.9/24") });
			d.resolved(instance(2, 0, "10.0.0.2", ours({ "allow=127.0.0.1" })), t0);
			CHECK(addresses(d).empty());
		}
	}

	TEST_CASE("while gossip vouches, an address mDNS said goodbye to stays until the record is withdrawn or announced again")
	{
		Vouched v;
		v.heard.insert("abc");
		const auto txt = [] {
			auto t = test::oursTxt("abc");
			t.push_back("listen=0.0.0.0");
			return t;
		}();
		v.d.resolved(instance(2, 0, "10.0.0.2", txt), {});
		v.d.resolved(instance(2, 1, "fe80::2", txt), {});
		// The IPv4 goodbye first: the server is still named at 10.0.0.2,
		// not dropped for want of an address its distccd accepts.
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, {}) == Directory::Removal::Kept);
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, {}) == Directory::Removal::Kept);
		CHECK(v.d.snapshot({}).at(0).server.preferredAddress()->text == "10.0.0.2");
		CHECK_FALSE(v.d.snapshot({}).at(0).withdrawn);
		CHECK(v.d.removed({ 2, 1, "distcc@a", "local" }, {}) == Directory::Removal::Withdrawn);
		CHECK(v.d.snapshot({}).at(0).server.preferredAddress()->text == "10.0.0.2");
		// Announced again at a new address: only that one.
		v.d.resolved(instance(2, 0, "10.0.0.7", txt), {});
		const auto snap = v.d.snapshot({});
		REQUIRE(snap.at(0).server.addresses.size() == 1);
		CHECK(snap.at(0).server.addresses[0].text == "10.0.0.7");

		// Unvouched, a goodbye removes its sighting and the kept ones.
		v.d.resolved(instance(2, 1, "fe80::2", txt), {});
		CHECK(v.d.removed({ 2, 1, "distcc@a", "local" }, {}) == Directory::Removal::Kept);
		v.heard.clear();
		CHECK(v.d.snapshot({}).at(0).server.addresses.size() == 1);
		CHECK(v.d.removed({ 2, 0, "distcc@a", "local" }, {}) == Directory::Removal::Gone);
		CHECK(v.d.size() == 0);
	}

	TEST_CASE("while gossip vouches and has a digest, a TXT that does not match it changes nothing")
	{
		Profiled v;
		v.heard.insert("abc");
		const std::vector<std::string> genuine = test::oursTxt("abc");
		v.digests["abc"] = txtProfileDigest(genuine);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", genuine), {}) == Directory::Outcome::Accepted);
		// Forged: h1's own id and host, but compilers no client has, an
		// --allow that excludes every client, listen addresses elsewhere.
		for (const auto &forged : { withKey(genuine, "cc=mips-linux-gnu:1.0"), withKey(genuine, "allow=192.0.2.0/24"),
					    withKey(genuine, "listen=192.0.2.9") }) {
			CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", forged), {}) == Directory::Outcome::Contested);
			const auto snap = v.d.snapshot({});
			REQUIRE(snap.size() == 1);
			CHECK(snap[0].server.compilers.size() == 1);
			CHECK(snap[0].server.allows.empty());
			CHECK(snap[0].server.listens.empty());
			REQUIRE(snap[0].server.addresses.size() == 1);
		}
		// What gossip's samples carry anyway is no change to the digest:
		// the server's own TXT with a new load goes through.
		std::vector<std::string> drained = genuine;
		drained.back() = "state=drain";
		CHECK(txtProfileDigest(drained) == v.digests["abc"]);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", drained), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.snapshot({}).at(0).server.state == ServerState::Drain);
	}

	TEST_CASE("a genuine TXT change is taken when the digest matches, whichever arrives first")
	{
		Profiled v;
		v.heard.insert("abc");
		const std::vector<std::string> before = test::oursTxt("abc");
		const std::vector<std::string> after = withKey(before, "allow=10.0.0.0/8");
		v.digests["abc"] = txtProfileDigest(before);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", before), {}) == Directory::Outcome::Accepted);

		// The gossip first: the TXT is taken as it comes.
		v.digests["abc"] = txtProfileDigest(after);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", after), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.snapshot({}).at(0).server.allows.size() == 1);

		// The TXT first: kept aside, shown as soon as the digest moves to
		// it, and the record's own from its next mDNS event on.
		const std::vector<std::string> third = withKey(before, "cc=aarch64-linux-gnu:12");
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", third), {}) == Directory::Outcome::Contested);
		CHECK(v.d.snapshot({}).at(0).server.compilers.size() == 1);
		CHECK(v.d.snapshot({}).at(0).server.allows.size() == 1);
		v.digests["abc"] = txtProfileDigest(third);
		REQUIRE(v.d.snapshot({}).at(0).server.compilers.size() == 2);
		CHECK(v.d.snapshot({}).at(0).server.allows.empty());
		CHECK(v.d.resolved(instance(3, 0, "192.168.5.2", third), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.snapshot({}).at(0).server.compilers.size() == 2);

		// A forged one in between is kept aside only until a newer TXT of
		// the server replaces it; it is never shown.
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", withKey(third, "allow=192.0.2.0/24")), {}) ==
		      Directory::Outcome::Contested);
		CHECK(v.d.snapshot({}).at(0).server.allows.empty());
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", third), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.snapshot({}).at(0).server.allows.empty());
	}

	TEST_CASE("without a gossiped digest, or once gossip lets go, TXT changes are taken as before")
	{
		Profiled v;
		v.heard.insert("abc");
		const std::vector<std::string> genuine = test::oursTxt("abc");
		const std::vector<std::string> other = withKey(genuine, "allow=192.0.2.0/24");
		// No PROFILE (an older daemon): the TXT is the server's word.
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", genuine), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", other), {}) == Directory::Outcome::Accepted);
		CHECK(v.d.snapshot({}).at(0).server.allows.size() == 1);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", genuine), {}) == Directory::Outcome::Accepted);

		// Kept aside while gossip vouched; gossip lets go: mDNS decides.
		v.digests["abc"] = txtProfileDigest(genuine);
		CHECK(v.d.resolved(instance(2, 0, "10.0.0.2", other), {}) == Directory::Outcome::Contested);
		CHECK(v.d.snapshot({}).at(0).server.allows.empty());
		v.heard.erase("abc");
		CHECK(v.d.snapshot({}).at(0).server.allows.size() == 1);

		// No profile function at all (no gossip): plain DNS-SD.
		Directory plain;
		CHECK(plain.resolved(instance(2, 0, "10.0.0.2", genuine), {}) == Directory::Outcome::Accepted);
		CHECK(plain.resolved(instance(2, 0, "10.0.0.2", other), {}) == Directory::Outcome::Accepted);
	}

	TEST_CASE("the TXT digest ignores order and what gossip carries, and covers every other key")
	{
		const std::vector<std::string> txt = test::oursTxt("abc");
		std::vector<std::string> reversed(txt.rbegin(), txt.rend());
		CHECK(txtProfileDigest(reversed) == txtProfileDigest(txt));
		std::vector<std::string> loaded = txt;
		loaded.insert(loaded.end(), { "LOAD=7.5", "inc=9", "seq=12", "speed=2", "opts=lzo", "cpus=64", "jobs=99" });
		CHECK(txtProfileDigest(loaded) == txtProfileDigest(txt));
		// Keys nobody knows yet count too: the list excludes, never includes.
		CHECK(txtProfileDigest(withKey(txt, "ccid=gcc:12:a1b2")) != txtProfileDigest(txt));
		CHECK(txtProfileDigest(withKey(txt, "flag")) != txtProfileDigest(txt));
		// No two lists of strings hash the same bytes.
		CHECK(txtProfileDigest(std::vector<std::string>{ "ab", "c" }) !=
		      txtProfileDigest(std::vector<std::string>{ "a", "bc" }));
	}
}
