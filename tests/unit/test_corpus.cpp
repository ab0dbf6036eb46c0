// Replays the committed fuzz corpora through the fuzz targets' checks.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "targets.h"

namespace {

std::size_t replay(const char *name, void (*check)(const std::uint8_t *, std::size_t))
{
	const std::filesystem::path dir = std::filesystem::path(FUZZ_CORPUS_DIR) / name;
	std::size_t count = 0;
	for (const auto &entry : std::filesystem::directory_iterator(dir)) {
		std::ifstream in(entry.path(), std::ios::binary);
		const std::vector<char> bytes{ std::istreambuf_iterator<char>(in), {} };
		INFO(entry.path().string());
		check(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size());
		++count;
	}
	return count;
}

} // namespace

TEST_SUITE("corpus")
{
	TEST_CASE("the TXT corpus replays cleanly")
	{
		CHECK(replay("txt", dmdns::fuzz::checkTxt) >= 10);
	}

	TEST_CASE("the query-line corpus replays cleanly")
	{
		CHECK(replay("query", dmdns::fuzz::checkQueryLine) >= 10);
	}

	TEST_CASE("the gossip corpus replays cleanly")
	{
		CHECK(replay("gossip", dmdns::fuzz::checkGossipPacket) >= 10);
	}

	TEST_CASE("the gossip merge corpus replays cleanly: forged sequences never remove a speaking server")
	{
		CHECK(replay("gossip_merge", dmdns::fuzz::checkGossipMerge) >= 10);
	}

	TEST_CASE("the hosts-line corpus replays cleanly")
	{
		CHECK(replay("hosts_line", dmdns::fuzz::checkHostsLine) >= 10);
	}
}
