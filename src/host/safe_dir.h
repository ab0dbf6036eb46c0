// Writes files as root in directories other users own without following their links or blocking on their FIFOs.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <sys/types.h>

#include "host/files.h"

namespace dmdns::host {

// Why a path was not used. A refusal means the path is unsafe to touch (a
// link, a FIFO, a foreign owner, a directory others may write); a fault is
// the system's word (ENOSPC, EACCES, a missing directory). Both name the
// path; neither names a temporary file, so the same cause gives the same
// message every time.
class PathError final : public std::system_error
{
public:
	PathError(int error, bool refused, std::string message)
		: std::system_error(error, std::generic_category()), refused_(refused), message_(std::move(message))
	{
	}

	const char *what() const noexcept override { return message_.c_str(); }
	bool refused() const noexcept { return refused_; }

private:
	bool refused_;
	std::string message_;
};

// Which file a name held when we last looked: a file replaced or deleted
// behind our back has another identity, or none.
struct FileId {
	dev_t dev = 0;
	ino_t ino = 0;
	bool operator==(const FileId &) const = default;
};

// A directory opened one component at a time from "/" with
// O_PATH|O_NOFOLLOW|O_DIRECTORY, and the files made in it through its
// descriptor, so that nobody can swap a component for a link between the
// check and the use. Every component must be a real directory (a link is
// refused, not followed) owned by root or by the final directory's owner
// (the user the files are for), and none may be writable by group or
// others unless it is sticky and owned by root, like /tmp: the owner rule
// stops another user's directory, the mode rule stops another user from
// renaming one in (as OpenSSH's StrictModes does). openat2's
// RESOLVE_NO_SYMLINKS would refuse links in one call but not check owners,
// which needs each component's descriptor anyway.
class SafeDir final
{
public:
	// Gives the names to try for temporary files; random when empty.
	using TempNames = std::function<std::string(const std::string &name)>;

	// Opens @path (made absolute from the working directory, "." and ".."
	// removed as words). Throws PathError.
	static SafeDir open(const std::string &path);

	SafeDir(SafeDir &&) noexcept = default;
	SafeDir &operator=(SafeDir &&) noexcept = default;

	// The directory @name in this one, made with mode 0755 and given to
	// owner() when missing. It must be a directory (not a link) owned by
	// root or owner() and not writable by others. Throws PathError.
	SafeDir subdir(const std::string &name) const;

	// Replaces @name with a new regular file holding @content, mode 0644,
	// given to owner() when run as root: written under a fresh temporary
	// name (O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK, another name tried on
	// EEXIST) and renamed over @name, so a reader sees the old content or
	// the new. What @name holds now must be missing or a regular file of
	// root or owner(). Returns the new file's identity. Throws PathError.
	FileId replace(const std::string &name, std::string_view content, const TempNames &names = {}) const;

	// The identity of the regular file @name, nullopt if there is none.
	// Throws PathError if @name is something else (a link, a FIFO, a
	// directory) or belongs to another user.
	std::optional<FileId> identity(const std::string &name) const;

	// Opens @name read-write, creating it (mode 0644, given to owner())
	// when missing. An existing @name is opened O_NOFOLLOW|O_NONBLOCK and
	// must be a regular file of root or owner() with one link. Throws
	// PathError.
	UniqueFd openFile(const std::string &name) const;

	const std::string &path() const noexcept { return path_; }
	uid_t owner() const noexcept { return uid_; }
	gid_t group() const noexcept { return gid_; }
	int fd() const noexcept { return fd_.get(); }

private:
	SafeDir(UniqueFd fd, std::string path, uid_t uid, gid_t gid)
		: fd_(std::move(fd)), path_(std::move(path)), uid_(uid), gid_(gid)
	{
	}

	std::string child(const std::string &name) const;
	void giveToOwner(int fd, const std::string &name) const;

	UniqueFd fd_;
	std::string path_;
	uid_t uid_;
	gid_t gid_;
};

// Splits @path into its directory and last name ("." for a bare name);
// throws PathError when there is no file name ("", "/", "dir/", "..").
std::pair<std::string, std::string> splitFilePath(const std::string &path);

// Reports a file's faults and refusals at warning, once per cause until it
// works again, rather than at every retry; says at info when it works again.
class PathFaults final
{
public:
	// @what names the file in every message, e.g. "hosts file".
	explicit PathFaults(std::string what)
		: what_(std::move(what)) { }

	void failed(const PathError &error);
	void succeeded();

	// How many distinct causes were reported since the last success.
	std::size_t pending() const noexcept { return seen_.size(); }

private:
	static constexpr std::size_t kMaxCauses = 16;

	std::string what_;
	std::vector<std::string> seen_; // at most kMaxCauses, then the oldest goes
};

} // namespace dmdns::host
