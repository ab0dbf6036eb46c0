// Serves stock distcc's +zeroconf: keeps its hosts file in $DISTCC_DIR/zeroconf with our picks.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>

#include "handle.h"

namespace dmdns {

// Stock distcc (3.4, zeroconf.c) expands +zeroconf by reading
// $DISTCC_DIR/zeroconf/hosts, unless no process holds an fcntl write lock on
// $DISTCC_DIR/zeroconf/lock: then it forks its own avahi browser, which
// takes the lock and writes the file. Holding that lock for as long as this
// daemon runs keeps the stock browser from starting, and the file holds our
// line instead: load-aware, pick-ordered, with ,lzo and ,cpp where offered.
// While a stock browser still holds the lock, the lock is tried again every
// interval (it exits after 20 s without use).
class ZeroconfCompat final
{
public:
	using Line = std::function<std::string()>;

	// Borrows @loop. @distccDir is the user's $DISTCC_DIR; the files are
	// given to its owner, so that the user's distcc can open the lock file
	// read-write as it must. Throws std::system_error if the directory
	// cannot be made.
	ZeroconfCompat(uv_loop_t &loop, std::string distccDir, std::chrono::milliseconds interval, Line line);
	~ZeroconfCompat();

	ZeroconfCompat(const ZeroconfCompat &) = delete;
	ZeroconfCompat &operator=(const ZeroconfCompat &) = delete;

	bool holdsLock() const noexcept { return lockFd_ >= 0; }

private:
	void refresh();
	bool takeLock();
	void giveToOwner(const std::string &path) const;

	std::string dir_;
	uid_t owner_;
	gid_t group_;
	Line line_;
	std::optional<std::string> written_;
	int lockFd_ = -1; // open for as long as the lock is held: closing drops it
	uv::Timer timer_;
};

} // namespace dmdns
