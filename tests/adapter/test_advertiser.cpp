// Advertiser against a fake publisher: what it publishes, TXT updates, a collision's new name, withdrawal.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "adapter/support.h"
#include "daemon/advertiser.h"
#include "distcc-mdns/txt.h"
#include "host/probe.h"
#include "support/fake_mdns.h"

using namespace dmdns;
using namespace std::chrono_literals;
using Kind = test::FakePublisher::Event::Kind;

namespace {

// An advertiser that takes distccd as accepting (--advertise=yes), with
// the compiler found as cc (the masquerade directory is empty).
struct Fixture {
	uv::Loop loop; // first: outlives the advertiser's timer
	test::TempDir masquerade;
	test::FakeMdns mdns;
	std::optional<Advertiser> advertiser;
	int samples = 0;
	std::optional<ServerState> sampled;

	Fixture()
	{
		AdvertiserConfig config;
		config.mode = AdvertiserConfig::Mode::Yes;
		config.distccPort = 3632;
		config.cpus = 2;
		config.slots = 4;
		config.masqueradeDir = masquerade.file("");
		config.incarnation = 7;
		advertiser.emplace(loop.get(), mdns, config);
		advertiser->onSample = [this](const Server &self, const host::LoadReading &, bool) {
			++samples;
			sampled = self.state;
		};
	}

	test::FakePublisher &publisher() const { return mdns.published(kServiceType); }
};

Server decoded(const std::vector<std::string> &txt)
{
	const TxtDecoded d = decodeTxt(txt);
	REQUIRE(d.ours);
	return d.server;
}

} // namespace

TEST_SUITE("adapter_advertiser")
{
	TEST_CASE("publishes distcc@HOST with its capacity, the stock subtype and the run's incarnation")
	{
		Fixture f;
		test::FakePublisher &p = f.publisher();
		REQUIRE(p.spec());
		CHECK(p.name() == "distcc@" + host::hostName());
		CHECK(p.spec()->port == 3632);
		const Server s = decoded(p.spec()->txt);
		CHECK(s.cpus == 2);
		CHECK(s.slots == 4);
		CHECK(s.state == ServerState::Up);
		CHECK(s.id == host::hostId());
		REQUIRE(s.sample);
		CHECK(s.sample->incarnation == 7);
		REQUIRE_FALSE(s.compilers.empty());
		CHECK(p.spec()->subtypes == std::vector<std::string>{ stockSubtype(s.compilers.front()) });
		REQUIRE(f.advertiser->advertised());
		CHECK(f.advertiser->advertised()->slots == 4);
	}

	TEST_CASE("a drain is published in the TXT at once and goes to gossip; an unchanged state is no update")
	{
		Fixture f;
		test::FakePublisher &p = f.publisher();
		const std::size_t before = p.events().size();
		f.advertiser->setState(ServerState::Drain);
		REQUIRE(p.events().size() == before + 1);
		CHECK(p.events().back().kind == Kind::Txt);
		CHECK(decoded(p.events().back().txt).state == ServerState::Drain);
		CHECK(f.samples == 1);
		CHECK(f.sampled == ServerState::Drain);

		f.advertiser->setState(ServerState::Drain);
		CHECK(p.events().size() == before + 1);
		f.advertiser->setState(ServerState::Up);
		REQUIRE(p.events().size() == before + 2);
		CHECK(decoded(p.events().back().txt).state == ServerState::Up);
	}

	TEST_CASE("after a name collision the service is NAME #2 and later TXT goes there")
	{
		Fixture f;
		test::FakePublisher &p = f.publisher();
		const std::string name = "distcc@" + host::hostName();
		p.collide();
		CHECK(p.name() == name + " #2");
		CHECK(p.events().back().kind == Kind::Publish);
		CHECK(p.events().back().name == name + " #2");
		REQUIRE(f.advertiser->advertised());

		f.advertiser->setState(ServerState::Drain);
		CHECK(p.events().back().kind == Kind::Txt);
		CHECK(p.events().back().name == name + " #2");
		CHECK(decoded(p.events().back().txt).state == ServerState::Drain);

		p.collide();
		CHECK(p.name() == name + " #3");
	}

	TEST_CASE("stop withdraws the service")
	{
		Fixture f;
		test::FakePublisher &p = f.publisher();
		f.advertiser->stop();
		CHECK(p.events().back().kind == Kind::Withdraw);
		CHECK_FALSE(p.wanted());
		CHECK_FALSE(f.advertiser->advertised());
	}

	TEST_CASE("in auto mode with no distccd on its port, it publishes nothing and says why")
	{
		uv::Loop loop;
		test::TempDir masquerade;
		test::FakeMdns mdns;
		AdvertiserConfig config;
		config.mode = AdvertiserConfig::Mode::Auto;
		// A port nothing on a test machine listens on: 1 needs root to bind
		// and no service uses it.
		config.distccPort = 1;
		config.cpus = 2;
		config.masqueradeDir = masquerade.file("");
		Advertiser advertiser(loop.get(), mdns, config);
		CHECK(advertiser.notAdvertising().starts_with("no distccd listening on port 1 "));
		CHECK_FALSE(advertiser.advertised());

		config.mode = AdvertiserConfig::Mode::No;
		Advertiser off(loop.get(), mdns, config);
		CHECK(off.notAdvertising().find("--advertise=no") != std::string::npos);

		// Forced, it says nothing against itself.
		Fixture f;
		CHECK(f.advertiser->notAdvertising().empty());
	}
}
