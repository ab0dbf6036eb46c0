// Keeps a distcc hosts file current, so that every compile of a running build reads fresh picks.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "host/safe_dir.h"
#include "uv/handle.h"

namespace dmdns {

// Asks for the line every @interval and, when it differs from what the file
// holds or the file was deleted or replaced, writes it to a temporary file
// beside @path and renames it over @path: distcc, which reads the file for
// every compile, sees either the old line or the new one, never half of
// one. At most one write per interval, however often the picture changes.
// The directory is walked afresh at every write (host::SafeDir: no links,
// no foreign owners, nothing others may write), so a directory deleted and
// made again is found again, and the file is given to the directory's
// owner.
class HostsFileKeeper final
{
public:
	using Line = std::function<std::string()>;

	// Borrows @loop; writes the first line at once, making the directory
	// (0755, given to its parent's owner) when it is missing. A path that
	// names no file, or whose directory is missing and cannot be made,
	// throws PathError saying what to do; a write that fails or is
	// refused, then or later (a directory deleted later is waited for, not
	// made again), is logged once per cause and retried at every interval:
	// the user who owns the directory must not be able to stop the daemon.
	HostsFileKeeper(uv_loop_t &loop, std::string path, std::chrono::milliseconds interval, Line line);

	HostsFileKeeper(const HostsFileKeeper &) = delete;
	HostsFileKeeper &operator=(const HostsFileKeeper &) = delete;

	std::uint64_t writes() const noexcept { return writes_; }
	// Whether the last attempt left the file holding the current line.
	bool current() const noexcept { return faults_.pending() == 0 && file_.has_value(); }

private:
	void refresh();

	std::string path_;
	std::string dir_;
	std::string name_;
	Line line_;
	std::string written_;
	std::optional<host::FileId> file_; // the file written last, to notice it gone
	std::uint64_t writes_ = 0;
	host::PathFaults faults_;
	uv::Timer timer_;
};

// Writes @content to @path by way of a temporary file in the same
// directory and rename(2), through host::SafeDir; throws host::PathError (a
// std::system_error) naming the file.
void writeAtomically(const std::string &path, const std::string &content);

} // namespace dmdns
