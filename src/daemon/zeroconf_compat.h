// Serves stock distcc's +zeroconf: keeps its hosts file in $DISTCC_DIR/zeroconf with our picks.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "host/files.h"
#include "host/safe_dir.h"
#include "uv/clock.h"

namespace dmdns {

// Stock distcc (3.4, zeroconf.c) expands +zeroconf by reading
// $DISTCC_DIR/zeroconf/hosts, unless no process holds an fcntl write lock on
// $DISTCC_DIR/zeroconf/lock: then it forks its own avahi browser, which
// takes the lock and writes the file. Holding that lock for as long as this
// daemon runs keeps the stock browser from starting, and the file holds our
// line instead: load-aware, pick-ordered, with ,lzo and ,cpp where offered.
// While a stock browser still holds the lock, the lock is tried again every
// interval (it exits after 20 s without use).
//
// The daemon runs as root in a directory its user owns, so every step goes
// through host::SafeDir: DIR and DIR/zeroconf are opened without following
// links and must belong to root or DIR's owner, files are made with O_EXCL
// and given away with fchown on their descriptors, the lock is opened
// O_NOFOLLOW|O_NONBLOCK and must be a regular file. Whatever is refused or
// fails is logged once per cause and tried again at the next interval; a
// lock file deleted or replaced is taken again.
class ZeroconfCompat final
{
public:
	using Line = std::function<std::string()>;

	// Borrows @loop. @distccDir is the user's $DISTCC_DIR; the files are
	// given to its owner, so that the user's distcc can open the lock file
	// read-write as it must. Never throws for what is in the directory: the
	// user who owns it must not be able to stop the daemon.
	// The interval runs on @clock if given (tests), else on @loop.
	ZeroconfCompat(uv_loop_t &loop, std::string distccDir, std::chrono::milliseconds interval, Line line,
		       uv::Clock *clock = nullptr);

	ZeroconfCompat(const ZeroconfCompat &) = delete;
	ZeroconfCompat &operator=(const ZeroconfCompat &) = delete;

	bool holdsLock() const noexcept { return lock_.get() >= 0; }

private:
	void refresh();
	bool takeLock(const host::SafeDir &dir);
	std::string content() const;

	std::string distccDir_;
	Line line_;
	std::optional<std::string> written_;
	std::optional<host::FileId> file_; // the hosts file written last
	host::UniqueFd lock_;		   // open for as long as the lock is held: closing drops it
	host::FileId lockId_;
	host::PathFaults faults_;
	std::unique_ptr<uv::Clock> loopClock_; // when no clock was given
	std::unique_ptr<uv::Alarm> timer_;
};

} // namespace dmdns
