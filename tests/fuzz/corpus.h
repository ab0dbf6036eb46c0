// Replays one committed fuzz corpus through its target's check, for the corpus tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include <doctest/doctest.h>

namespace dmdns::fuzz {

// Runs @check on every file of tests/fuzz/corpus/@name; the number of files.
inline std::size_t replay(const char *name, void (*check)(const std::uint8_t *, std::size_t))
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

} // namespace dmdns::fuzz
