// Keeps a distcc hosts file current, so that every compile of a running build reads fresh picks.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "handle.h"

namespace dmdns {

// Asks for the line every @interval and, when it differs from what the file
// holds, writes it to a temporary file beside @path and renames it over
// @path: distcc, which reads the file for every compile, sees either the
// old line or the new one, never half of one. At most one write per
// interval, however often the picture changes.
class HostsFileKeeper final
{
public:
	using Line = std::function<std::string()>;

	// Borrows @loop; writes the first line at once. Throws
	// std::system_error if that first write fails (a wrong path should stop
	// the daemon at start); later failures are logged and retried.
	HostsFileKeeper(uv_loop_t &loop, std::string path, std::chrono::milliseconds interval, Line line);

	HostsFileKeeper(const HostsFileKeeper &) = delete;
	HostsFileKeeper &operator=(const HostsFileKeeper &) = delete;

	std::uint64_t writes() const noexcept { return writes_; }

private:
	void refresh();

	std::string path_;
	Line line_;
	std::string written_;
	std::uint64_t writes_ = 0;
	uv::Timer timer_;
};

// Writes @content to @path by way of a temporary file in the same
// directory and rename(2); throws std::system_error naming the file.
void writeAtomically(const std::string &path, const std::string &content);

} // namespace dmdns
