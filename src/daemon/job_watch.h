// Times this machine's remote distcc jobs and hands each, by server id, to gossip's learned speeds.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "distcc-mdns/directory.h"
#include "host/job_timer.h"
#include "host/sock_diag.h"
#include "uv/clock.h"

namespace dmdns {

// Polls a host::JobTimer on the loop and maps each finished job's server
// address and port to the gossip id of the directory entry listing them
// (a job on a server nobody lists, or one without an id, is dropped and
// counted). Looks every JobTimer::kBusyInterval at the namespace's socket
// counts (about a microsecond) and reads the socket table (about a
// millisecond) only when they moved, or every kIdleInterval while jobs run
// (JobTimer::unchanged): an idle host reads no table at all.
class JobWatch final
{
public:
	// A finished job: Gossip::recordJob.
	using Record = std::function<void(std::uint64_t server, std::chrono::milliseconds wall, SteadyTime end)>;
	// The servers as the daemon lists them now.
	using Entries = std::function<std::vector<DirectoryEntry>()>;
	// Whether a connection may have opened since the last call (true when
	// unknown): SocketCounts moved.
	using Moved = std::function<bool()>;

	// Borrows @clock; starts polling at once.
	JobWatch(uv::Clock &clock, host::JobTimer::Source source, Moved moved, Entries entries, Record record);

	JobWatch(const JobWatch &) = delete;
	JobWatch &operator=(const JobWatch &) = delete;

	// The real thing: the kernel's table and socket counts of this
	// namespace.
	static std::unique_ptr<JobWatch> forKernel(uv::Clock &clock, Entries entries, Record record);

	std::uint64_t recorded() const noexcept { return recorded_; }
	// Finished jobs whose server no entry lists by address and port.
	std::uint64_t unmatched() const noexcept { return unmatched_; }
	const host::JobTimer &timer() const noexcept { return timer_; }

private:
	void tick();

	uv::Clock &clock_;
	host::JobTimer timer_;
	Moved moved_;
	Entries entries_;
	Record record_;
	std::unique_ptr<uv::Alarm> alarm_;
	SteadyTime polledAt_{};
	std::uint64_t recorded_ = 0;
	std::uint64_t unmatched_ = 0;
	// For forKernel(): the sockets the sources read through.
	std::unique_ptr<host::SockDiag> diag_;
	std::unique_ptr<host::SocketCounts> counts_;
};

} // namespace dmdns
