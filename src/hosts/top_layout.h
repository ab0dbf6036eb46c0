// The --top screen as text: a pure function of the farm object, this user's distcc jobs and the terminal's size.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/distcc_state.h"
#include "hosts/farm.h"

namespace dmdns::top {

// The order of the server rows.
enum class SortKey {
	Name,  // by name
	Busy,  // most running first
	Free,  // most free slots first (slots - running - reserved)
	State, // up, then drain, then down; by name within
	Speed, // fastest first
	Age    // youngest sample first
};

// The key a letter names (n, b, f, s, p, a), or nullopt.
std::optional<SortKey> sortKeyOf(char key) noexcept;
std::optional<SortKey> parseSortKey(std::string_view name) noexcept;
std::string_view sortKeyName(SortKey key) noexcept;

struct LayoutOptions {
	int width = 80;
	int height = 24; // 0: no limit (plain lines)
	SortKey sort = SortKey::Name;
	bool unicode = true; // block characters for bars and sparklines
	// A line under the header when something is wrong ("the daemon went
	// away: retrying"); empty when all is well.
	std::string note;
	// The keys line at the bottom (interactive only).
	bool keys = true;
};

// The screen: each line at most width columns. marked holds the indexes of
// lines that are this machine's own rows (its server and client row), for
// the terminal to highlight.
struct Screen {
	std::vector<std::string> lines;
	std::vector<std::size_t> marked;
};

// Seconds of history one sparkline character covers, and the characters.
inline constexpr std::size_t kSparkSeconds = 15;
inline constexpr std::size_t kSparkWidth = 8;
inline constexpr std::size_t kBarWidth = 8;

// @history (oldest first, one a second) as kSparkWidth characters, each the
// busiest second of its kSparkSeconds, scaled to @full; the newest at the
// right, blank where there is no history yet.
std::string sparkline(std::span<const std::uint32_t> history, std::uint32_t full, bool unicode);
// A bar of kBarWidth cells: busy slots, then reserved, then free.
std::string busyBar(std::uint32_t busy, std::uint32_t reserved, std::uint32_t slots, bool unicode);

Screen layoutTop(const Farm &farm, std::span<const client::DistccJob> jobs, const LayoutOptions &options);

// The columns a UTF-8 string takes (every character here is one column).
std::size_t columns(std::string_view s) noexcept;

} // namespace dmdns::top
