// Unit tests of distcc-mdns-run's backup rule: which slow compiles get a copy on a faster free slot.
#include <doctest/doctest.h>

#include <vector>

#include "distcc-mdns/backup_policy.h"

using namespace dmdns;

namespace {

// The benchmark farm's speeds: fast 1.5, middle 1.0, slow 0.6.
std::vector<FreeSlots> farm(unsigned fastFree, unsigned middleFree, unsigned slowFree)
{
	return { { 1.5, fastFree }, { 1.0, middleFree }, { 0.6, slowFree } };
}

} // namespace

TEST_SUITE("backup_policy")
{
	TEST_CASE("pays: only from a server less than half as fast, and only for a straggler")
	{
		// f = 1.5, s = 0.6: 2 s / f = 0.8, so e > 0.3 / 0.2 = 1.5 s.
		CHECK_FALSE(BackupPolicy::pays(0.6, 1.5, 1.4));
		CHECK(BackupPolicy::pays(0.6, 1.5, 1.6));
		// A server at 1.0 is two thirds of 1.5: a copy never pays.
		CHECK_FALSE(BackupPolicy::pays(1.0, 1.5, 100.0));
		CHECK_FALSE(BackupPolicy::pays(0.75, 1.5, 100.0));
		CHECK(BackupPolicy::pays(0.1, 0.6, 1.0));
		// Nonsense never pays.
		CHECK_FALSE(BackupPolicy::pays(0.0, 1.5, 10.0));
		CHECK_FALSE(BackupPolicy::pays(0.6, 0.0, 10.0));
		CHECK_FALSE(BackupPolicy::pays(0.6, 1.5, -1.0));
	}

	TEST_CASE("a straggler on the slow server gets a copy on the fastest free slot")
	{
		const std::vector<RunningCompile> running = { { .id = 7, .entry = 2, .speed = 0.6, .elapsed = 4.0 } };
		const auto picks = BackupPolicy::pick(running, farm(1, 1, 0), false);
		REQUIRE(picks.size() == 1);
		CHECK(picks[0].id == 7);
		CHECK(picks[0].entry == 0);
	}

	TEST_CASE("never while make has jobs waiting: the free slot is theirs")
	{
		const std::vector<RunningCompile> running = { { .id = 7, .entry = 2, .speed = 0.6, .elapsed = 10.0 } };
		CHECK(BackupPolicy::pick(running, farm(4, 4, 0), true).empty());
	}

	TEST_CASE("no copy without a free faster slot, nor of a young job, nor twice")
	{
		std::vector<RunningCompile> running = { { .id = 1, .entry = 2, .speed = 0.6, .elapsed = 4.0 } };
		CHECK(BackupPolicy::pick(running, farm(0, 0, 3), false).empty());
		// Only the middle server is free: 1.0 is not twice 0.6.
		CHECK(BackupPolicy::pick(running, farm(0, 2, 0), false).empty());
		running[0].elapsed = 1.0;
		CHECK(BackupPolicy::pick(running, farm(2, 0, 0), false).empty());
		running[0].elapsed = 4.0;
		running[0].backedUp = true;
		CHECK(BackupPolicy::pick(running, farm(2, 0, 0), false).empty());
	}

	TEST_CASE("the oldest first, never more copies than free slots")
	{
		const std::vector<RunningCompile> running = {
			{ .id = 1, .entry = 2, .speed = 0.6, .elapsed = 2.0 },
			{ .id = 2, .entry = 2, .speed = 0.6, .elapsed = 6.0 },
			{ .id = 3, .entry = 0, .speed = 1.5, .elapsed = 9.0 }, // already on the fastest
			{ .id = 4, .entry = 2, .speed = 0.6, .elapsed = 3.0 },
		};
		const auto picks = BackupPolicy::pick(running, farm(2, 0, 0), false);
		REQUIRE(picks.size() == 2);
		CHECK(picks[0].id == 2);
		CHECK(picks[1].id == 4);
		CHECK(BackupPolicy::pick(running, farm(5, 0, 0), false).size() == 3);
	}

	TEST_CASE("a compile on a server no longer listed is copied like any other")
	{
		// entry past the list: the line left the slow server out.
		const std::vector<RunningCompile> running = { { .id = 5, .entry = 99, .speed = 0.6, .elapsed = 3.0 } };
		const auto picks = BackupPolicy::pick(running, farm(1, 0, 0), false);
		REQUIRE(picks.size() == 1);
		CHECK(picks[0].entry == 0);
	}
}
