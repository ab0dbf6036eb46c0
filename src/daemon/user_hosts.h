// Keeps one live distcc hosts file per local user who asked, in the daemon's runtime directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "host/safe_dir.h"
#include "uv/clock.h"

namespace dmdns {

// The system daemon cannot write into homes (the unit hides them), and one
// shared file would let two users' distcc double-book every slot, since
// each user's distcc has its own lock directory. So each uid that asks
// ("setup-user" on the query socket, the uid from SO_PEERCRED) gets
// RUNTIME/users/UID/hosts, owned by the daemon, mode 0644, rewritten
// atomically through the directory's descriptor (host::SafeDir) when its
// line changes; the user links ~/.distcc/hosts to it. The uids are kept in
// STATE (one decimal uid a line, replaced atomically), so the files come
// back after a restart. At most kMaxUsers uids: a local user can add only
// their own, so the bound is never reached on a real machine, and a flood
// of uids (setuid tricks) cannot grow the table.
class UserHostsFiles final
{
public:
	static constexpr std::size_t kMaxUsers = 256;
	// Every registered uid's line, computed together (one look at the
	// farm and the socket table for all of them).
	using Lines = std::function<std::map<std::uint32_t, std::string>(const std::set<std::uint32_t> &uids)>;

	// Borrows @clock. @runtimeDir: the query socket's directory; @stateFile:
	// where the uids are kept, empty for nowhere. Reads the uids kept, writes
	// their files at once and then every @interval. Never throws for what
	// is on disk: a fault is logged once per cause and retried.
	UserHostsFiles(uv::Clock &clock, std::string runtimeDir, std::string stateFile,
		       std::chrono::milliseconds interval, Lines lines);

	UserHostsFiles(const UserHostsFiles &) = delete;
	UserHostsFiles &operator=(const UserHostsFiles &) = delete;

	// Keeps a file for @uid from now on (and after a restart); returns its
	// path once it is written. Throws std::runtime_error when the table is
	// full or the file cannot be written, saying why.
	std::string add(std::uint32_t uid);

	std::string pathOf(std::uint32_t uid) const;
	std::set<std::uint32_t> uids() const;
	bool empty() const noexcept { return files_.empty(); }

private:
	struct File {
		std::string written;
		std::optional<host::FileId> id;
	};

	void load();
	void save();
	void refresh();
	// Writes @uid's file if its line changed or it was replaced; throws
	// host::PathError.
	void write(std::uint32_t uid, File &file, const std::string &line);

	std::string runtimeDir_;
	std::string stateFile_;
	Lines lines_;
	std::map<std::uint32_t, File> files_;
	host::PathFaults faults_;
	host::PathFaults stateFaults_;
	std::unique_ptr<uv::Alarm> timer_;
};

// The uids a state file lists: decimal, one a line, at most @max; anything
// else is skipped and named in @bad (its line numbers).
std::set<std::uint32_t> parseUserList(std::string_view text, std::size_t max, std::vector<std::size_t> *bad = nullptr);

} // namespace dmdns
