// When distcc-mdns-run starts a second copy of a running compile on a faster slot (a backup job), and where.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace dmdns {

// One compile of the build that runs on a server now.
struct RunningCompile {
	std::uint64_t id = 0;
	std::size_t entry = 0; // its server: an index into the free slots' entries
	double speed = 1.0;    // what a job gets of that server's speed now
	double elapsed = 0.0;  // seconds since the compile reached the server
	bool backedUp = false; // a backup already runs (or ran) for it
};

// A listed server and how many of the build's slots there are free now.
struct FreeSlots {
	double speed = 1.0; // what one more job there would get of its speed
	unsigned free = 0;
};

struct BackupPick {
	std::uint64_t id = 0;  // the compile to copy
	std::size_t entry = 0; // where the copy goes
};

// The rule (also in distcc-mdns-run(1)):
//
// - Only when make has no job waiting (an idle token in the jobserver's
//   pipe): a free slot then idles anyway, so a copy costs the farm nothing
//   the build could have used, and a slow compile left alone sets the
//   build's end. In the body a job that waits gets the slot instead.
// - A compile's work is unknown; compile times are heavy-tailed, so a job
//   that has run e seconds is expected to run about e more at its speed s
//   (the same estimate the LATE scheduler makes for stragglers): work
//   W = 2 e s. A copy on a free slot of speed f ends after W / f + the
//   copy's own cost (preprocessing and sending again, kOverhead), the
//   original after e: the copy pays when 2 e s / f + kOverhead < e, that is
//   when f > 2 s and e > kOverhead / (1 - 2 s / f). So only servers less
//   than half as fast as a free one are ever copied from, and not before
//   the job has run long enough to be a straggler. Speeds are what a job
//   gets now: a server's speed, shared once its jobs outnumber its CPUs
//   (the gossiped load), so a fast server overloaded to a crawl counts as
//   slow.
// - At most one copy per compile; the oldest eligible compiles first, each
//   on the fastest free slot; never more copies than free slots.
class BackupPolicy final
{
public:
	// What a copy costs besides its compile: preprocessing again on this
	// machine and the round trip, seconds.
	static constexpr double kOverhead = 0.3;

	// The copies to start now. @entries: every listed server's free slots,
	// indexed by RunningCompile::entry. @waiting: whether make has jobs
	// waiting for tokens (then none).
	static std::vector<BackupPick> pick(std::span<const RunningCompile> running, std::span<const FreeSlots> entries,
					    bool waiting);

	// Whether a copy on a slot of speed @to pays for a compile of @from
	// running for @elapsed seconds.
	static bool pays(double from, double to, double elapsed) noexcept;
};

} // namespace dmdns
