// Remote distcc jobs' wall times, from this machine's TCP connections to the servers' ports.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "host/procfs.h"

namespace dmdns::host {

class SockDiag;

// One remote job that ended: the server's numeric address (IPv4-mapped as
// plain IPv4, as a hosts line names it), its port, how long it ran and when
// it was seen gone.
struct FinishedJob {
	std::string address;
	std::uint16_t port = 0;
	std::chrono::milliseconds wall{ 0 };
	std::chrono::steady_clock::time_point end{};
};

// Times the remote jobs of every user of this machine. distcc holds one
// ESTABLISHED connection to the server's port for each remote job, from
// sending the source to reading the object, so a connection's life is the
// job's wall time as the server's speed and load decide it; the client's
// own preprocessing (before it connects) is left out, which the lock files
// of distcc's slots would include.
//
// The table is read by polling, so a job's start is known to lie between
// the last poll that did not see its connection and the first that did,
// and its end between the last poll that saw it and the first that did not:
// each end is off by at most one poll interval. The wall time reported is
// between the midpoints of both brackets, off by at most half an interval
// at each end; a job whose start or end bracket is wider than
// kMaxBracket (it began while polling was slow, or a poll failed) is not
// reported: its time would be a guess.
class JobTimer final
{
public:
	using Clock = std::chrono::steady_clock;
	// ESTABLISHED connections of this machine to remote @port, IPv4 and
	// IPv6; empty when the table cannot be read now.
	using Source = std::function<std::optional<std::vector<procfs::TcpEntry>>(std::uint16_t port)>;

	// Connections followed at once; more are left untimed (counted).
	static constexpr std::size_t kMaxOpen = 4096;
	// The widest bracket of a job's start or end that is still timed.
	static constexpr std::chrono::milliseconds kMaxBracket{ 250 };
	// Polling while connections are open, and while none are.
	static constexpr std::chrono::milliseconds kBusyInterval{ 100 };
	static constexpr std::chrono::milliseconds kIdleInterval{ 1000 };

	explicit JobTimer(Source source);

	// Reads the connections to each port of @ports at @now: a connection
	// seen for the first time starts a job, one seen before and gone now
	// ends it. Connections to a port no longer in @ports are forgotten,
	// not reported. Returns the jobs that ended and were timed.
	std::vector<FinishedJob> poll(const std::set<std::uint16_t> &ports, Clock::time_point now);

	// What a poll at @now would have seen when the caller knows the table
	// did not change since the last one (the namespace's socket counts,
	// SocketCounts, did not move: no connection opened, none was closed by
	// this host): every open job still running, none new. Keeps the jobs'
	// brackets short while a poll costs microseconds instead of a walk of
	// the kernel's connection table. A server that closes first leaves the
	// connection in CLOSE_WAIT until the client closes it too, which distcc
	// does as soon as it has read the object: that end is seen as late.
	void unchanged(Clock::time_point now) noexcept
	{
		if (!lastGood_)
			return;
		for (auto &[key, job] : open_)
			job.last = now;
		lastGood_ = now;
	}

	// When to poll next: kBusyInterval while jobs run, else kIdleInterval.
	// A job that starts while idle is thus seen late and not timed
	// (kMaxBracket) unless unchanged() kept the bracket short.
	std::chrono::milliseconds nextDelay() const noexcept
	{
		return open_.empty() ? kIdleInterval : kBusyInterval;
	}

	std::size_t open() const noexcept { return open_.size(); }
	// Connections seen but not followed because the table was full.
	std::uint64_t untracked() const noexcept { return untracked_; }
	// Jobs that ended but were not timed (a bracket too wide).
	std::uint64_t untimed() const noexcept { return untimed_; }

	// The real source: the kernel's table through @diag (NETLINK_SOCK_DIAG,
	// port-filtered), else /proc/net/tcp and tcp6. @diag is borrowed.
	static Source kernel(SockDiag &diag);

private:
	// One connection: both ends and the socket's inode, so that a port
	// reused by a new connection is a new job.
	using Key = std::tuple<std::array<std::uint8_t, 16>, std::uint16_t, std::array<std::uint8_t, 16>, std::uint16_t,
			       bool, std::uint64_t>;
	struct Open {
		Clock::time_point before; // the last good poll that did not see it
		Clock::time_point first;  // the first that did
		Clock::time_point last;	  // the last that did
		std::string address;
		std::uint16_t port = 0;
	};

	Source source_;
	std::map<Key, Open> open_;
	// The last poll whose table was read whole.
	std::optional<Clock::time_point> lastGood_;
	std::uint64_t untracked_ = 0;
	std::uint64_t untimed_ = 0;
};

} // namespace dmdns::host
