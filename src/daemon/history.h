// The last ten minutes of the farm at one sample a second: per server busy and reserved slots, per client want and share.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace dmdns {

// A bounded ring per server and per client, so that a view opening has
// its history at once. Every series is indexed by the same second count
// (tick()): a series not recorded in a second reads 0 there. Values are
// kept as 16 bits (a count above 65535 reads 65535).
//
// Memory bound: at most kMaxSeries servers and kMaxSeries clients, each a
// fixed ring of kSamples pairs of 16-bit values (2,400 bytes) plus its map
// node: maxBytes() (about 1.3 MiB) whatever the farm. A key beyond the cap
// is not kept; one not recorded for kSamples seconds is dropped and frees
// its place.
class History final
{
public:
	static constexpr std::size_t kSamples = 600; // 10 minutes at 1 s
	static constexpr std::size_t kMaxSeries = 256;

	// One second of one key: two values (busy and reserved; want and share).
	struct Point {
		std::uint64_t key = 0;
		std::uint32_t first = 0;
		std::uint32_t second = 0;
	};
	// A series, oldest first, at most kSamples long.
	struct Series {
		std::vector<std::uint32_t> first;
		std::vector<std::uint32_t> second;
	};

	// Starts the next second and records its points (a key at most once;
	// later duplicates are ignored).
	void tick(std::span<const Point> servers, std::span<const Point> clients);

	// The seconds recorded so far.
	std::uint64_t ticks() const noexcept { return now_; }
	// A key's series since it was first recorded (at most kSamples
	// seconds); empty for a key not kept.
	Series server(std::uint64_t key) const;
	Series client(std::uint64_t key) const;

	std::size_t servers() const noexcept { return servers_.size(); }
	std::size_t clients() const noexcept { return clients_.size(); }
	// The bytes the rings hold now, map nodes included (an estimate of
	// the allocator's share: a node's size rounded up to 64 bytes).
	std::size_t bytes() const noexcept;
	// The most bytes() can reach.
	static constexpr std::size_t maxBytes() noexcept { return 2 * kMaxSeries * kSeriesBytes; }

private:
	struct Ring {
		std::array<std::uint16_t, kSamples> first{};
		std::array<std::uint16_t, kSamples> second{};
		std::uint64_t since = 0; // the first second recorded
		std::uint64_t last = 0;	 // the last second recorded
	};
	using Table = std::map<std::uint64_t, std::unique_ptr<Ring>>;
	static constexpr std::size_t kNodeBytes = 64;
	static constexpr std::size_t kSeriesBytes = sizeof(Ring) + kNodeBytes;

	void put(Table &table, std::span<const Point> points);
	Series read(const Table &table, std::uint64_t key) const;

	std::uint64_t now_ = 0; // seconds recorded; the current one is now_ - 1
	Table servers_;
	Table clients_;
};

} // namespace dmdns
