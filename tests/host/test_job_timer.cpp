// host::JobTimer against a fake socket table: which connections are jobs, their wall times and bounds.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "host/job_timer.h"

using namespace dmdns;
using namespace dmdns::host;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// A socket table the test edits between polls; `down` makes it unreadable.
struct FakeTable {
	std::map<std::uint16_t, std::vector<procfs::TcpEntry>> byPort;
	bool down = false;

	JobTimer::Source source()
	{
		return [this](std::uint16_t port) -> std::optional<std::vector<procfs::TcpEntry>> {
			if (down)
				return std::nullopt;
			auto it = byPort.find(port);
			return it == byPort.end() ? std::vector<procfs::TcpEntry>{} : it->second;
		};
	}
};

// An ESTABLISHED socket from local port @localPort to 10.0.0.@host:@port.
procfs::TcpEntry conn(std::uint8_t host, std::uint16_t port, std::uint16_t localPort, std::uint64_t inode)
{
	procfs::TcpEntry e;
	e.state = procfs::kTcpEstablished;
	e.local.address = { 10, 0, 0, 1 };
	e.local.port = localPort;
	e.remote.address = { 10, 0, 0, host };
	e.remote.port = port;
	e.uid = 1000;
	e.inode = inode;
	return e;
}

const std::set<std::uint16_t> kPorts{ 3632 };

} // namespace

TEST_SUITE("job_timer")
{
	TEST_CASE("a connection's life is one job, timed between the midpoints of its brackets")
	{
		FakeTable table;
		JobTimer timer(table.source());
		const Clock::time_point t0 = Clock::time_point{} + 1h;
		CHECK(timer.poll(kPorts, t0).empty());
		CHECK(timer.nextDelay() == JobTimer::kIdleInterval);
		table.byPort[3632] = { conn(2, 3632, 40000, 11) };
		CHECK(timer.poll(kPorts, t0 + 100ms).empty());
		CHECK(timer.open() == 1);
		CHECK(timer.nextDelay() == JobTimer::kBusyInterval);
		for (int i = 2; i <= 20; ++i)
			CHECK(timer.poll(kPorts, t0 + i * 100ms).empty());
		table.byPort[3632].clear();
		const auto done = timer.poll(kPorts, t0 + 2100ms);
		REQUIRE(done.size() == 1);
		CHECK(done[0].address == "10.0.0.2");
		CHECK(done[0].port == 3632);
		// Started in (0, 100] ms, ended in (2000, 2100] ms: 2000 ms between
		// the midpoints, off by at most 50 ms at each end.
		CHECK(done[0].wall == 2000ms);
		CHECK(done[0].end == t0 + 2050ms);
		CHECK(timer.open() == 0);
	}

	TEST_CASE("jobs to several servers and a reused local port are told apart")
	{
		FakeTable table;
		JobTimer timer(table.source());
		const Clock::time_point t0 = Clock::time_point{} + 1h;
		timer.poll(kPorts, t0);
		table.byPort[3632] = { conn(2, 3632, 40000, 11), conn(3, 3632, 40001, 12) };
		timer.poll(kPorts, t0 + 100ms);
		// Same ends, new socket (inode): the first job ended, a second began.
		table.byPort[3632] = { conn(2, 3632, 40000, 13), conn(3, 3632, 40001, 12) };
		auto done = timer.poll(kPorts, t0 + 200ms);
		REQUIRE(done.size() == 1);
		CHECK(done[0].address == "10.0.0.2");
		CHECK(done[0].wall == 100ms);
		table.byPort[3632].clear();
		done = timer.poll(kPorts, t0 + 300ms);
		REQUIRE(done.size() == 2);
		CHECK(timer.untimed() == 0);
	}

	TEST_CASE("a job whose start or end is not bracketed closely is not reported")
	{
		FakeTable table;
		JobTimer timer(table.source());
		const Clock::time_point t0 = Clock::time_point{} + 1h;
		// Seen on the very first poll: its start is unknown.
		table.byPort[3632] = { conn(2, 3632, 40000, 11) };
		timer.poll(kPorts, t0);
		table.byPort[3632].clear();
		CHECK(timer.poll(kPorts, t0 + 100ms).empty());
		CHECK(timer.untimed() == 1);
		// Began while polling was slow (idle cadence): not timed either.
		table.byPort[3632] = { conn(2, 3632, 40002, 14) };
		timer.poll(kPorts, t0 + 1100ms);
		table.byPort[3632].clear();
		CHECK(timer.poll(kPorts, t0 + 1200ms).empty());
		CHECK(timer.untimed() == 2);
	}

	TEST_CASE("a failed read ends no job, and widens the brackets it spans")
	{
		FakeTable table;
		JobTimer timer(table.source());
		const Clock::time_point t0 = Clock::time_point{} + 1h;
		timer.poll(kPorts, t0);
		table.byPort[3632] = { conn(2, 3632, 40000, 11) };
		timer.poll(kPorts, t0 + 100ms);
		table.down = true;
		CHECK(timer.poll(kPorts, t0 + 200ms).empty());
		CHECK(timer.open() == 1);
		table.down = false;
		CHECK(timer.poll(kPorts, t0 + 300ms).empty());
		table.byPort[3632].clear();
		// Last seen at 300 ms, gone at 400: timed; not at 200 ms, when the
		// table could not be read.
		const auto done = timer.poll(kPorts, t0 + 400ms);
		REQUIRE(done.size() == 1);
		CHECK(done[0].wall == 300ms);
	}

	TEST_CASE("a port dropped from the list forgets its connections; other ports and states are ignored")
	{
		FakeTable table;
		JobTimer timer(table.source());
		const Clock::time_point t0 = Clock::time_point{} + 1h;
		const std::set<std::uint16_t> both{ 3632, 3700 };
		timer.poll(both, t0);
		auto listening = conn(4, 3632, 40005, 20);
		listening.state = procfs::kTcpListen;
		table.byPort[3632] = { conn(2, 3632, 40000, 11), listening };
		table.byPort[3700] = { conn(3, 3700, 40001, 12) };
		timer.poll(both, t0 + 100ms);
		CHECK(timer.open() == 2);
		table.byPort[3700].clear();
		CHECK(timer.poll(kPorts, t0 + 200ms).empty());
		CHECK(timer.open() == 1);
	}

	TEST_CASE("the table is bounded")
	{
		FakeTable table;
		JobTimer timer(table.source());
		const Clock::time_point t0 = Clock::time_point{} + 1h;
		timer.poll(kPorts, t0);
		auto &sockets = table.byPort[3632];
		for (std::size_t i = 0; i < JobTimer::kMaxOpen + 10; ++i)
			sockets.push_back(conn(2, 3632, static_cast<std::uint16_t>(1024 + i), 100 + i));
		timer.poll(kPorts, t0 + 100ms);
		CHECK(timer.open() == JobTimer::kMaxOpen);
		CHECK(timer.untracked() == 10);
		sockets.clear();
		CHECK(timer.poll(kPorts, t0 + 200ms).size() == JobTimer::kMaxOpen);
	}

	TEST_CASE("an IPv4-mapped server address is reported as plain IPv4")
	{
		FakeTable table;
		JobTimer timer(table.source());
		const Clock::time_point t0 = Clock::time_point{} + 1h;
		timer.poll(kPorts, t0);
		procfs::TcpEntry e = conn(0, 3632, 40000, 11);
		e.remote.ipv6 = e.local.ipv6 = true;
		e.remote.address = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7 };
		table.byPort[3632] = { e };
		timer.poll(kPorts, t0 + 100ms);
		table.byPort[3632].clear();
		const auto done = timer.poll(kPorts, t0 + 200ms);
		REQUIRE(done.size() == 1);
		CHECK(done[0].address == "10.0.0.7");
	}
}
