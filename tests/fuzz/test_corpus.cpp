// Replays the committed corpora of the fuzz targets over the pure core.
#include <doctest/doctest.h>

#include "fuzz/corpus.h"
#include "fuzz/targets.h"

using dmdns::fuzz::replay;

TEST_SUITE("corpus")
{
	TEST_CASE("the TXT corpus replays cleanly")
	{
		CHECK(replay("txt", dmdns::fuzz::checkTxt) >= 10);
	}

	TEST_CASE("the gossip corpus replays cleanly")
	{
		CHECK(replay("gossip", dmdns::fuzz::checkGossipPacket) >= 10);
	}

	TEST_CASE("the gossip merge corpus replays cleanly: forged sequences never remove a speaking server")
	{
		CHECK(replay("gossip_merge", dmdns::fuzz::checkGossipMerge) >= 10);
	}

	TEST_CASE("the speed corpus replays cleanly: hostile reports never make an honest server too slow")
	{
		CHECK(replay("speed", dmdns::fuzz::checkSpeedMerge) >= 10);
	}

	TEST_CASE("the corpus of remembered compile times and placements replays cleanly")
	{
		CHECK(replay("works", dmdns::fuzz::checkWorks) >= 10);
	}

	TEST_CASE("the hosts-line corpus replays cleanly")
	{
		CHECK(replay("hosts_line", dmdns::fuzz::checkHostsLine) >= 10);
	}
}
