// Unit tests of the directory that merges resolved DNS-SD instances into servers.
#include <doctest/doctest.h>

#include "distcc-mdns/directory.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kStock = { "txtvers=1", "cpus=2", "jobs=4", "distcc=3.4",
					  "gnuhost=x86_64-pc-linux-gnu", "cc_version=12",
					  "cc_machine=x86_64-linux-gnu" };

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
		CHECK_FALSE(d.removed({ 2, 0, "distcc@a", "local" }));
		CHECK(d.snapshot(t0).at(0).server.addresses.size() == 2);
		CHECK_FALSE(d.removed({ 2, 1, "distcc@a", "local" }));
		CHECK(d.removed({ 3, 0, "distcc@a", "local" }));
		CHECK(d.size() == 0);
		CHECK_FALSE(d.removed({ 3, 0, "distcc@a", "local" }));
	}

	TEST_CASE("two servers with the same host name but different instance names are both kept")
	{
		Directory d;
		CHECK(d.resolved(instance(2, 0, "10.0.0.2", kStock, "distcc@twin"), {}) == Directory::Outcome::Accepted);
		CHECK(d.resolved(instance(2, 0, "10.0.0.3", kStock, "distcc@twin #2"), {}) == Directory::Outcome::Accepted);
		CHECK(d.size() == 2);
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
}
