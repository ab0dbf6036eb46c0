// The advertiser's sampling cadence: fast while the load moves, backing off to the heartbeat's period while it does not.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <vector>

#include "adapter/support.h"
#include "daemon/advertiser.h"
#include "daemon/sample_cadence.h"
#include "host/files.h"
#include "support/fake_mdns.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

// A TCP listener on 127.0.0.1 with an ephemeral port: distccd's stand-in.
class Listener final
{
public:
	Listener()
	{
		fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		REQUIRE(fd_.get() >= 0);
		sockaddr_in addr = loopback(0);
		REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
		REQUIRE(::listen(fd_.get(), 16) == 0);
		socklen_t len = sizeof addr;
		REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr *>(&addr), &len) == 0);
		port_ = ntohs(addr.sin_port);
	}

	std::uint16_t port() const noexcept { return port_; }

	host::UniqueFd connect() const
	{
		host::UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		sockaddr_in addr = loopback(port_);
		REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
		return c;
	}

private:
	static sockaddr_in loopback(std::uint16_t port)
	{
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addr.sin_port = htons(port);
		return addr;
	}

	host::UniqueFd fd_;
	std::uint16_t port_ = 0;
};

host::LoadReading reading(std::uint32_t running, double runnable = 0.0, bool listening = true)
{
	host::LoadReading r;
	r.listening = listening;
	r.distccd = listening;
	r.running = running;
	r.runnable = runnable;
	return r;
}

} // namespace

TEST_SUITE("adapter_sample_cadence")
{
	TEST_CASE("the delay doubles while nothing changes, up to the slow one, and a change brings it back")
	{
		SampleCadence c(250ms, 1000ms);
		CHECK(c.current() == 250ms);
		CHECK(c.next(false) == 500ms);
		CHECK(c.next(false) == 1000ms);
		CHECK(c.next(false) == 1000ms);
		CHECK(c.next(true) == 250ms);
		CHECK(c.next(true) == 250ms);
		CHECK(c.next(false) == 500ms);

		// --sample-interval above the slow delay: a fixed cadence.
		SampleCadence fixed(2000ms, 1000ms);
		CHECK(fixed.next(false) == 2000ms);
		CHECK(fixed.next(true) == 2000ms);
		// A zero interval cannot make a busy loop of the timer.
		SampleCadence zero(0ms, 0ms);
		CHECK(zero.next(false) == 1ms);
	}

	TEST_CASE("a change is distccd coming or going, a job more or less, or a quarter of the cpus runnable")
	{
		CHECK_FALSE(loadChanged(reading(2, 1.0), reading(2, 1.0), 8));
		CHECK(loadChanged(reading(2), reading(3), 8));
		CHECK(loadChanged(reading(2), reading(1), 8));
		CHECK(loadChanged(reading(0, 0.0, true), reading(0, 0.0, false), 8));
		host::LoadReading impostor = reading(0);
		impostor.distccd = false;
		CHECK(loadChanged(reading(0), impostor, 8));
		// Runnable jitter below a quarter of the cpus (at least one task) is none.
		CHECK_FALSE(loadChanged(reading(0, 1.0), reading(0, 2.5), 8));
		CHECK(loadChanged(reading(0, 1.0), reading(0, 3.0), 8));
		CHECK_FALSE(loadChanged(reading(0, 0.0), reading(0, 0.9), 2));
		CHECK(loadChanged(reading(0, 0.0), reading(0, 1.0), 2));
	}

	TEST_CASE("after backing off while idle, the advertiser's next sample shows new connections")
	{
		uv::Loop loop;
		test::TempDir masquerade;
		test::FakeMdns mdns;
		Listener distccd;
		AdvertiserConfig config;
		config.mode = AdvertiserConfig::Mode::Yes;
		config.distccPort = distccd.port();
		config.cpus = 2;
		config.slots = 4;
		config.masqueradeDir = masquerade.file("");
		config.checkInterval = 10ms;
		config.maxCheckInterval = 40ms;
		Advertiser advertiser(loop.get(), mdns, config);
		std::vector<std::uint32_t> running;
		std::vector<host::UniqueFd> jobs;
		constexpr std::size_t kIdle = 8; // 10, 20, 40, 40... ms: backed off
		advertiser.onSample = [&](const Server &, const host::LoadReading &r, bool) {
			running.push_back(r.running);
			if (running.size() == kIdle) {
				jobs.push_back(distccd.connect());
				jobs.push_back(distccd.connect());
			} else if (running.size() == kIdle + 2) {
				jobs.pop_back();
			} else if (running.size() == kIdle + 3) {
				loop.stop();
			}
		};
		REQUIRE(test::runUntilStopped(loop, 20s));
		advertiser.stop();
		REQUIRE(running.size() == kIdle + 3);
		for (std::size_t i = 0; i < kIdle; ++i)
			CHECK(running[i] == 0);
		CHECK(running[kIdle] == 2); // the first sample after they opened
		CHECK(running[kIdle + 1] == 2);
		CHECK(running[kIdle + 2] == 1); // one closed (client side: orphaned)
	}
}
