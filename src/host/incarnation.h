// The daemon's incarnation: one per run, larger than any earlier run's, kept in its state directory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace dmdns::host {

// Incarnations stay far below 2^63 (and 2^64, where gossip's refutation
// adds one): a stored value above this is corrupt, not a past run's.
inline constexpr std::uint64_t kMaxIncarnation = std::uint64_t{ 1 } << 62;

// Where the state lives: $STATE_DIRECTORY (systemd's StateDirectory=, the
// first of a list), else /var/lib/distcc-mdns for root, else
// $XDG_STATE_HOME/distcc-mdns, else ~/.local/state/distcc-mdns; empty when
// none of those can be named.
std::string defaultStateDir();

// Draws the incarnation of this run: max(wall-clock ms, last run's + 1), so
// that peers take it as newer even when the clock stepped back since, and
// stores it in DIR/incarnation before returning it (written to a fresh
// temporary beside it, fsynced and renamed over it). A state directory that
// cannot be used (missing parent, not a directory, writable by others,
// owned by someone else, full) is warned about and the wall clock alone is
// used: the run goes on, only the guarantee across a clock step is lost.
class IncarnationStore final
{
public:
	// Wall-clock milliseconds since the epoch; injectable for tests.
	using Clock = std::function<std::uint64_t()>;
	static std::uint64_t wallClockMs();

	explicit IncarnationStore(std::string dir, Clock clock = wallClockMs);

	// The next incarnation, in [1, kMaxIncarnation].
	std::uint64_t next();

	// Whether the last next() read and stored through the state directory.
	bool persisted() const noexcept { return persisted_; }

private:
	std::string dir_;
	Clock clock_;
	bool persisted_ = false;
};

} // namespace dmdns::host
