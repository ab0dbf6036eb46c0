// JobWatch on a fake clock and socket table: finished jobs reach the recorder by server id, idle polls are cheap.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "daemon/job_watch.h"
#include "support/entries.h"
#include "support/fake_clock.h"

using namespace dmdns;
using namespace std::chrono_literals;

namespace {

procfs::TcpEntry conn(std::uint8_t host, std::uint16_t localPort, std::uint64_t inode)
{
	procfs::TcpEntry e;
	e.state = procfs::kTcpEstablished;
	e.local.address = { 10, 0, 0, 1 };
	e.local.port = localPort;
	e.remote.address = { 10, 0, 0, host };
	e.remote.port = 3632;
	e.inode = inode;
	return e;
}

struct Rig {
	test::FakeClock clock;
	std::vector<procfs::TcpEntry> sockets;
	int reads = 0;
	bool moved = true;
	std::vector<std::tuple<std::uint64_t, std::chrono::milliseconds>> recorded;
	std::unique_ptr<JobWatch> watch;

	Rig()
	{
		std::vector<DirectoryEntry> entries{ test::entry("00000000000000a2", "10.0.0.2", 4),
						     test::entry("00000000000000a3", "10.0.0.3", 4) };
		entries[1].server.id = "not-an-id"; // a stock or foreign record: no gossip id
		watch = std::make_unique<JobWatch>(
			clock,
			[this](std::uint16_t port) -> std::optional<std::vector<procfs::TcpEntry>> {
				++reads;
				CHECK(port == 3632);
				return sockets;
			},
			[this] { return moved; }, [entries] { return entries; },
			[this](std::uint64_t server, std::chrono::milliseconds wall, SteadyTime) {
				recorded.emplace_back(server, wall);
			});
	}
	~Rig() { watch.reset(); }
};

} // namespace

TEST_SUITE("adapter_job_watch")
{
	TEST_CASE("a job on a listed server is recorded by its gossip id; one on an unlisted or id-less one is not")
	{
		Rig rig;
		rig.clock.advance(0ms);
		rig.sockets = { conn(2, 40000, 11), conn(3, 40001, 12), conn(9, 40002, 13) };
		rig.clock.advance(100ms);
		CHECK(rig.watch->timer().open() == 3);
		rig.clock.advance(1000ms);
		rig.sockets.clear();
		rig.clock.advance(100ms);
		REQUIRE(rig.recorded.size() == 1);
		CHECK(std::get<0>(rig.recorded[0]) == 0xa2);
		CHECK(std::get<1>(rig.recorded[0]) == 1100ms);
		CHECK(rig.watch->recorded() == 1);
		CHECK(rig.watch->unmatched() == 2);
	}

	TEST_CASE("with unmoved socket counts no table is read while idle, once a second while jobs run")
	{
		Rig rig;
		rig.clock.advance(0ms);
		rig.moved = false;
		int before = rig.reads;
		rig.clock.advance(3000ms);
		CHECK(rig.reads == before);
		// A connection opens: the counts move, the next tick reads.
		rig.moved = true;
		rig.sockets = { conn(2, 40000, 11) };
		rig.clock.advance(100ms);
		CHECK(rig.watch->timer().open() == 1);
		rig.moved = false;
		before = rig.reads;
		rig.clock.advance(2000ms);
		// 20 ticks, 2 reads: one per kIdleInterval as a backstop.
		CHECK(rig.reads - before <= 3);
		CHECK(rig.reads - before >= 1);
		rig.moved = true;
		rig.sockets.clear();
		rig.clock.advance(100ms);
		REQUIRE(rig.recorded.size() == 1);
		CHECK(rig.watch->timer().untimed() == 0);
		// Opened at 3000-3100 ms, gone at 5100-5200 ms.
		CHECK(std::get<1>(rig.recorded[0]) == 2100ms);
	}
}
