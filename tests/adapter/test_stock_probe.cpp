// StockProbe on a fake clock and connector (states, rate bounds, gossip's word), and TcpConnector on loopback.
#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/resolver.h"
#include "daemon/stock_probe.h"
#include "support/fake_clock.h"
#include "support/fake_mdns.h"
#include "support/txt_records.h"
#include "uv/handle.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

// Records every connect; the test says how each ends.
class FakeConnector final : public Connector
{
public:
	static constexpr std::size_t kMaxAttempts = 200000;

	struct Call {
		ProbeTarget target;
		SteadyTime at;
		Done done;
		std::shared_ptr<bool> open; // false once the probe abandoned it
	};

	explicit FakeConnector(test::FakeClock &clock)
		: clock_(clock) { }

	std::unique_ptr<Attempt> connect(const ProbeTarget &target, Done done) override
	{
		REQUIRE(calls.size() < kMaxAttempts);
		auto open = std::make_shared<bool>(true);
		calls.push_back({ target, clock_.now(), std::move(done), open });
		return std::make_unique<Handle>(open);
	}

	// Ends call @i with @error, as the loop would; false if abandoned.
	bool end(std::size_t i, int error)
	{
		Call &c = calls.at(i);
		if (!*c.open || !c.done)
			return false;
		*c.open = false;
		Done done = std::move(c.done);
		done(error);
		return true;
	}
	// Ends every open call to @target with @error.
	void endAll(const ProbeTarget &target, int error)
	{
		for (std::size_t i = 0; i < calls.size(); ++i)
			if (calls[i].target == target)
				end(i, error);
	}
	std::size_t open() const
	{
		return static_cast<std::size_t>(std::count_if(calls.begin(), calls.end(), [](const Call &c) { return *c.open; }));
	}

	std::vector<Call> calls;

private:
	class Handle final : public Attempt
	{
	public:
		explicit Handle(std::shared_ptr<bool> open)
			: open_(std::move(open)) { }
		~Handle() override { *open_ = false; }

	private:
		std::shared_ptr<bool> open_;
	};

	test::FakeClock &clock_;
};

ProbeTarget target(const char *address, std::uint16_t port = 3632)
{
	return { *Address::parse(address), port };
}

DirectoryEntry entry(const char *address, bool stock, std::string id = {})
{
	DirectoryEntry e;
	e.name = std::string("distcc@") + address;
	e.stock = stock;
	e.server.id = std::move(id);
	e.server.addresses = { *Address::parse(address) };
	e.server.port = 3632;
	return e;
}

bool heardAlive(const DirectoryEntry &e)
{
	return e.server.liveness == Liveness::Alive || e.server.liveness == Liveness::Suspect;
}

// A probe over a fixed target list the test changes.
struct Fixture {
	test::FakeClock clock;
	FakeConnector connector{ clock };
	std::vector<ProbeTarget> targets;
	std::optional<StockProbe> probe;

	explicit Fixture(StockProbeConfig config = {})
	{
		probe.emplace(
			clock, connector, [this] { return targets; }, config);
	}
	~Fixture() { probe.reset(); }
};

} // namespace

TEST_SUITE("adapter_stock_probe")
{
	TEST_CASE("only stock records nobody's gossip speaks for are probed, each address once")
	{
		std::vector<DirectoryEntry> entries = { entry("10.0.0.1", true), entry("10.0.0.2", true),
							entry("10.0.0.2", false, "aaa"), entry("10.0.0.3", false, "bbb"),
							entry("10.0.0.1", true), entry("10.0.0.4", true) };
		entries[2].server.liveness = Liveness::Alive;
		entries[5].server.port = 0; // no port: nothing to probe
		const std::vector<ProbeTarget> got = stockOnly(entries, heardAlive);
		REQUIRE(got.size() == 1);
		CHECK(got[0] == target("10.0.0.1"));
		// Gossip went silent on 10.0.0.2's daemon: its stock record is
		// probed like any other.
		entries[2].server.liveness = Liveness::Dead;
		CHECK(stockOnly(entries, heardAlive).size() == 2);
	}

	TEST_CASE("a refused or unanswered connect marks the server down until a probe succeeds or mDNS announces it")
	{
		Fixture f;
		const ProbeTarget a = target("10.0.0.1"), b = target("10.0.0.2");
		f.targets = { a, b };
		f.clock.advance(1ms);
		REQUIRE(f.connector.calls.size() == 2); // at once, not an interval later
		CHECK(f.probe->tracked() == 2);
		f.connector.endAll(a, 0);
		f.connector.endAll(b, ECONNREFUSED);
		CHECK_FALSE(f.probe->down(a));
		CHECK(f.probe->down(b));
		CHECK(f.probe->stats().connected == 1);
		CHECK(f.probe->stats().failed == 1);

		std::vector<DirectoryEntry> entries = { entry("10.0.0.1", true), entry("10.0.0.2", true) };
		CHECK(f.probe->markDown(entries, heardAlive) == 1);
		CHECK(entries[0].server.state == ServerState::Up);
		CHECK(entries[1].server.state == ServerState::Down);

		// a's link is pulled: its next connect, an interval later, never
		// answers and is given up after the timeout.
		f.clock.advance(998ms);
		CHECK(f.connector.calls.size() == 2);
		f.clock.advance(100ms);
		REQUIRE(f.connector.calls.size() == 4);
		const std::size_t lost = f.connector.calls[2].target == a ? 2 : 3;
		REQUIRE(f.connector.calls[lost].target == a);
		f.connector.endAll(b, 0); // b answers
		CHECK_FALSE(f.probe->down(b));
		f.clock.advance(1400ms); // 1.4 s after the start
		CHECK_FALSE(f.probe->down(a));
		f.clock.advance(200ms);
		CHECK(f.probe->down(a));
		CHECK(f.probe->stats().timedOut == 1);
		// The abandoned connect cannot answer any more.
		CHECK_FALSE(f.connector.end(lost, 0));
		CHECK(f.probe->down(a));
		// Overdue, a was probed again at once: unreachable still.
		REQUIRE(f.connector.calls.back().target == a);
		f.connector.endAll(a, EHOSTUNREACH);
		CHECK(f.probe->down(a));

		// mDNS announces a again: listed at once, and probed at the next
		// tick rather than an interval later.
		const std::size_t before = f.connector.calls.size();
		f.probe->announced(a);
		CHECK_FALSE(f.probe->down(a));
		f.clock.advance(100ms);
		REQUIRE(f.connector.calls.size() == before + 1);
		CHECK(f.connector.calls.back().target == a);
		f.connector.endAll(a, EHOSTUNREACH);
		CHECK(f.probe->down(a));
		// Back on its link: the next probe, an interval later, succeeds.
		f.clock.advance(1100ms);
		REQUIRE(f.connector.calls.back().target == a);
		f.connector.endAll(a, 0);
		CHECK_FALSE(f.probe->down(a));
	}

	TEST_CASE("a server gossip hears at the same address and port is never marked down")
	{
		Fixture f;
		const ProbeTarget a = target("10.0.0.1");
		f.targets = { a };
		f.clock.advance(1ms);
		f.connector.endAll(a, ECONNREFUSED);
		REQUIRE(f.probe->down(a));
		std::vector<DirectoryEntry> entries = { entry("10.0.0.1", true), entry("10.0.0.1", false, "aaa") };
		entries[1].server.liveness = Liveness::Suspect;
		CHECK(f.probe->markDown(entries, heardAlive) == 0);
		CHECK(entries[0].server.state == ServerState::Up);
		CHECK(entries[1].server.state == ServerState::Up);
		entries[1].server.liveness = Liveness::Dead;
		CHECK(f.probe->markDown(entries, heardAlive) == 1);
		CHECK(entries[0].server.state == ServerState::Down);
		CHECK(entries[1].server.state == ServerState::Up); // not stock: gossip's to judge
	}

	TEST_CASE("thousands of hostile records get a bounded table, rate and number of connects at once")
	{
		StockProbeConfig config;
		Fixture f(config);
		for (int i = 0; i < 5000; ++i)
			f.targets.push_back(target(("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)).c_str()));
		// Half answer, half never do: the in-flight bound matters.
		std::size_t peak = 0;
		for (int step = 0; step < 300; ++step) { // 30 s
			f.clock.advance(100ms);
			peak = std::max(peak, f.connector.open());
			for (std::size_t i = 0; i < f.connector.calls.size(); ++i)
				if (i % 2 == 0)
					f.connector.end(i, 0);
		}
		const auto &calls = f.connector.calls;
		CHECK(f.probe->tracked() == config.maxTargets);
		CHECK(f.probe->stats().untracked == 5000 - config.maxTargets);
		CHECK(peak <= config.inFlight);
		CHECK(peak == config.inFlight); // the bound is reached, so it is what holds
		// At most perSecond starts in any second.
		std::size_t most = 0;
		for (std::size_t i = 0, j = 0; i < calls.size(); ++i) {
			while (calls[i].at - calls[j].at >= 1s)
				++j;
			most = std::max(most, i - j + 1);
		}
		CHECK(most <= config.perSecond);
		// Every tracked server had its turn, each at most once per interval.
		std::map<ProbeTarget, std::vector<SteadyTime>> byTarget;
		for (const auto &c : calls)
			byTarget[c.target].push_back(c.at);
		CHECK(byTarget.size() == config.maxTargets);
		for (const auto &[t, times] : byTarget)
			for (std::size_t k = 1; k < times.size(); ++k)
				CHECK(times[k] - times[k - 1] >= config.interval);
		MESSAGE("5000 records: " << calls.size() << " connects in 30 s, at most " << most
					 << " in one second, " << peak << " at once, " << byTarget.size()
					 << " servers probed");
	}

	TEST_CASE("without a stock server the probe wakes once an interval, and starts on the first one soon")
	{
		test::FakeClock fake;
		// Counts the probe's wake-ups.
		struct CountingClock final : uv::Clock {
			test::FakeClock &inner;
			std::size_t fired = 0;
			explicit CountingClock(test::FakeClock &c)
				: inner(c) { }
			std::chrono::steady_clock::time_point now() const override { return inner.now(); }
			std::unique_ptr<uv::Alarm> alarm(std::function<void()> onExpire) override
			{
				return inner.alarm([this, onExpire = std::move(onExpire)] {
					++fired;
					onExpire();
				});
			}
		} clock(fake);
		FakeConnector connector{ fake };
		std::vector<ProbeTarget> targets;
		std::optional<StockProbe> probe;
		probe.emplace(clock, connector, [&] { return targets; });
		fake.advance(10000ms);
		CHECK(clock.fired <= 11);
		CHECK(connector.calls.empty());
		targets = { target("10.0.0.1") };
		fake.advance(1000ms);
		REQUIRE(connector.calls.size() == 1);
		// Followed now: timeouts are looked at every tick again.
		const std::size_t fired = clock.fired;
		fake.advance(1499ms);
		CHECK_FALSE(probe->down(target("10.0.0.1")));
		fake.advance(101ms);
		CHECK(probe->down(target("10.0.0.1")));
		CHECK(clock.fired - fired >= 15);
		probe.reset();
	}

	TEST_CASE("a server that leaves the list is forgotten, its connect abandoned")
	{
		Fixture f;
		const ProbeTarget a = target("10.0.0.1");
		f.targets = { a };
		f.clock.advance(1ms);
		REQUIRE(f.connector.open() == 1);
		f.targets.clear();
		f.probe->refresh();
		CHECK(f.probe->tracked() == 0);
		CHECK(f.connector.open() == 0);
		CHECK_FALSE(f.connector.end(0, ECONNREFUSED));
		CHECK_FALSE(f.probe->down(a));
	}

	TEST_CASE("the resolver probes its stock records and leaves out the unreachable ones")
	{
		test::FakeMdns mdns;
		test::FakeClock clock;
		FakeConnector connector{ clock };
		std::set<std::string, std::less<>> heard;
		{
			Resolver resolver{ mdns };
			resolver.setVouch([&](std::string_view id, SteadyTime) { return heard.contains(id); });
			resolver.probeStock(clock, connector);
			test::FakeBrowser &browser = mdns.browser(kServiceType);
			const auto resolve = [&](const char *name, const char *address, std::vector<std::string> txt) {
				ResolvedInstance r;
				r.key = { 2, 0, name, "local" };
				r.hostName = std::string(name).substr(7) + ".local";
				r.address = Address::parse(address);
				r.port = 3632;
				r.txt = std::move(txt);
				browser.resolve(r);
			};
			resolve("distcc@s1", "10.0.0.1", test::kStockTxt);
			resolve("distcc@s2", "10.0.0.2", test::kStockTxt);
			resolve("distcc@s2b", "10.0.0.2", test::oursTxt("00000000000000a2"));
			heard = { "00000000000000a2" };
			clock.advance(1ms);
			// s2's stock record shares its address with a server gossip hears.
			REQUIRE(connector.calls.size() == 1);
			CHECK(connector.calls[0].target == target("10.0.0.1"));
			connector.endAll(target("10.0.0.1"), ETIMEDOUT);
			std::vector<DirectoryEntry> entries = resolver.directory().snapshot(clock.now());
			for (DirectoryEntry &e : entries)
				if (!e.stock)
					e.server.liveness = Liveness::Alive; // as overlayGossip marks it
			CHECK(resolver.markUnreachable(entries) == 1);
			for (const DirectoryEntry &e : entries)
				CHECK(e.server.state == (e.name == "distcc@s1" ? ServerState::Down : ServerState::Up));
			// Announced again: listed again.
			resolve("distcc@s1", "10.0.0.1", test::kStockTxt);
			entries = resolver.directory().snapshot(clock.now());
			CHECK(resolver.markUnreachable(entries) == 0);
		}
	}

	TEST_CASE("TcpConnector: connects to a listener without sending a byte, and reports a refused port")
	{
		uv::Loop loop;
		TcpConnector connector(loop.get());
		const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		REQUIRE(listener >= 0);
		sockaddr_in at{};
		at.sin_family = AF_INET;
		at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		REQUIRE(::bind(listener, reinterpret_cast<sockaddr *>(&at), sizeof(at)) == 0);
		REQUIRE(::listen(listener, 4) == 0);
		socklen_t size = sizeof(at);
		REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr *>(&at), &size) == 0);
		const std::uint16_t open = ntohs(at.sin_port);
		// A port nobody listens on: bound, never listening.
		const int closed = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		at.sin_port = 0;
		REQUIRE(::bind(closed, reinterpret_cast<sockaddr *>(&at), sizeof(at)) == 0);
		size = sizeof(at);
		REQUIRE(::getsockname(closed, reinterpret_cast<sockaddr *>(&at), &size) == 0);
		const std::uint16_t refused = ntohs(at.sin_port);

		std::optional<int> good, bad;
		auto a = connector.connect(target("127.0.0.1", open), [&](int error) { good = error; });
		auto b = connector.connect(target("127.0.0.1", refused), [&](int error) { bad = error; });
		REQUIRE(a);
		REQUIRE(b);
		CHECK_FALSE(good); // never from inside connect()
		CHECK_FALSE(bad);
		for (int i = 0; i < 1000 && (!good || !bad); ++i)
			loop.run(UV_RUN_ONCE);
		REQUIRE(good);
		REQUIRE(bad);
		CHECK(*good == 0);
		CHECK(*bad == ECONNREFUSED);
		// The probe's connection is there, closed at once and empty.
		const int accepted = ::accept(listener, nullptr, nullptr);
		REQUIRE(accepted >= 0);
		char byte = 0;
		CHECK(::recv(accepted, &byte, 1, 0) == 0); // end of stream, no data
		::close(accepted);
		::close(closed);
		::close(listener);
		a.reset();
		b.reset();
	}
}
