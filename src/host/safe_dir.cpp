// Writes files as root in directories other users own without following their links or blocking on their FIFOs.
#include "host/safe_dir.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.h"

namespace dmdns::host {

namespace {

namespace fs = std::filesystem;

// O_PATH opens without reading, so a directory only the owner may list is
// still walked, and nothing at the end of a name (FIFO, device) is opened.
constexpr int kDirFlags = O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC;
// Only the daemon's own files are created: never an existing one, never
// through a link, never waiting on whatever a name turns out to be.
constexpr int kCreateFlags = O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
// Temporary names tried before giving up; with random names a collision is
// either chance or someone guessing, and eight of either is not worth more.
constexpr int kTempAttempts = 8;
// More components than any real path to a user's directory has.
constexpr std::size_t kMaxDepth = 64;

PathError fault(int error, const std::string &what)
{
	return PathError(error, false, fmt::format("{}: {}", what, std::strerror(error)));
}

PathError refusal(int error, std::string message)
{
	return PathError(error, true, std::move(message));
}

const char *kindOf(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISREG(mode))
		return "a regular file";
	return "of an unknown type";
}

std::string because(mode_t mode)
{
	return S_ISLNK(mode) ? "; links are not followed" : "";
}

// Another user could rename a directory of theirs over a name in it:
// only a sticky directory of root's (/tmp) stops that.
bool othersMayWrite(const struct stat &st)
{
	return (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !((st.st_mode & S_ISVTX) != 0 && st.st_uid == 0);
}

void checkName(const std::string &name, const std::string &dir)
{
	if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
		throw PathError(EINVAL, false, fmt::format("'{}' is no file name in {}", name, dir));
}

// Opens directory @name in @dirfd, which the walk calls @path.
UniqueFd openDir(int dirfd, const std::string &name, const std::string &path)
{
	UniqueFd fd(::openat(dirfd, name.c_str(), kDirFlags));
	if (fd.get() >= 0)
		return fd;
	const int error = errno;
	struct stat st { };
	if ((error == ENOTDIR || error == ELOOP) && ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
		throw refusal(error, fmt::format("{} is {}, not a directory{}", path, kindOf(st.st_mode),
						 because(st.st_mode)));
	throw fault(error, "cannot open directory " + path);
}

struct stat statFd(int fd, const std::string &path)
{
	struct stat st { };
	if (::fstat(fd, &st) != 0)
		throw fault(errno, "cannot stat " + path);
	return st;
}

std::string randomTempName(const std::string &name)
{
	static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	std::random_device random;
	std::uniform_int_distribution<std::size_t> pick(0, sizeof kAlphabet - 2);
	std::string temporary = "." + name + ".tmp.";
	for (int i = 0; i < 12; ++i)
		temporary += kAlphabet[pick(random)];
	return temporary;
}

void writeAll(int fd, std::string_view content, const std::string &path)
{
	std::size_t done = 0;
	while (done < content.size()) {
		const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			throw fault(n < 0 ? errno : EIO, "cannot write " + path);
		done += static_cast<std::size_t>(n);
	}
}

} // namespace

SafeDir SafeDir::open(const std::string &path)
{
	std::string absolute;
	try {
		absolute = fs::absolute(path).lexically_normal().string();
	} catch (const fs::filesystem_error &e) {
		throw fault(e.code().value(), "cannot make " + path + " absolute");
	}
	if (absolute.size() > 1 && absolute.back() == '/')
		absolute.pop_back();

	struct Step {
		std::string path;
		struct stat st;
	};
	std::vector<Step> steps;
	UniqueFd fd(::open("/", kDirFlags));
	if (fd.get() < 0)
		throw fault(errno, "cannot open directory /");
	steps.push_back({ "/", statFd(fd.get(), "/") });
	std::string walked;
	for (const fs::path &part : fs::path(absolute).relative_path()) {
		const std::string name = part.string();
		if (name.empty() || name == "." || name == "..")
			continue; // lexically_normal keeps ".." only above "/", which is "/"
		if (steps.size() > kMaxDepth)
			throw PathError(ENAMETOOLONG, false, fmt::format("{} has more than {} components", path, kMaxDepth));
		walked += "/" + name;
		UniqueFd next = openDir(fd.get(), name, walked);
		steps.push_back({ walked, statFd(next.get(), walked) });
		fd = std::move(next);
	}

	// The user the files are for owns the last directory; every directory
	// on the way belongs to root, to that user or to this daemon's user.
	const struct stat &last = steps.back().st;
	for (const Step &step : steps) {
		const uid_t uid = step.st.st_uid;
		if (uid != 0 && uid != last.st_uid && uid != ::geteuid())
			throw refusal(EPERM, fmt::format("{} is owned by uid {}, neither root nor uid {} who owns {}",
							 step.path, uid, last.st_uid, absolute));
		if (othersMayWrite(step.st))
			throw refusal(EPERM, fmt::format("{} is writable by others (mode {:04o}) without being "
							 "a sticky directory of root's",
							 step.path, step.st.st_mode & 07777));
	}
	return SafeDir(std::move(fd), absolute, last.st_uid, last.st_gid);
}

std::string SafeDir::child(const std::string &name) const
{
	return path_ == "/" ? "/" + name : path_ + "/" + name;
}

void SafeDir::giveToOwner(int fd, const std::string &path) const
{
	// Only root can, and only root needs to: a daemon running as the user
	// creates the files as the user already.
	if (::geteuid() == 0 && uid_ != 0 && ::fchown(fd, uid_, gid_) != 0)
		throw fault(errno, fmt::format("cannot give {} to uid {}", path, uid_));
}

SafeDir SafeDir::subdir(const std::string &name) const
{
	checkName(name, path_);
	const std::string where = child(name);
	const bool made = ::mkdirat(fd_.get(), name.c_str(), 0755) == 0;
	if (!made && errno != EEXIST)
		throw fault(errno, "cannot create directory " + where);
	UniqueFd fd = openDir(fd_.get(), name, where);
	struct stat st = statFd(fd.get(), where);
	if (made && ::geteuid() == 0 && uid_ != 0 && st.st_uid == 0) {
		// fchown does not take an O_PATH descriptor; fchownat with an
		// empty name acts on the descriptor itself, still no path.
		if (::fchownat(fd.get(), "", uid_, gid_, AT_EMPTY_PATH) != 0)
			throw fault(errno, fmt::format("cannot give {} to uid {}", where, uid_));
		st = statFd(fd.get(), where);
	}
	if (st.st_uid != 0 && st.st_uid != uid_ && st.st_uid != ::geteuid())
		throw refusal(EPERM, fmt::format("{} is owned by uid {}, neither root nor uid {} who owns {}", where,
						 st.st_uid, uid_, path_));
	if (othersMayWrite(st))
		throw refusal(EPERM, fmt::format("{} is writable by others (mode {:04o}) without being a sticky "
						 "directory of root's",
						 where, st.st_mode & 07777));
	return SafeDir(std::move(fd), where, uid_, gid_);
}

std::optional<FileId> SafeDir::identity(const std::string &name) const
{
	checkName(name, path_);
	const std::string where = child(name);
	struct stat st { };
	if (::fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return std::nullopt;
		throw fault(errno, "cannot stat " + where);
	}
	if (!S_ISREG(st.st_mode))
		throw refusal(S_ISLNK(st.st_mode) ? ELOOP : EINVAL,
			      fmt::format("{} is {}, not a regular file{}", where, kindOf(st.st_mode), because(st.st_mode)));
	if (st.st_uid != 0 && st.st_uid != uid_ && st.st_uid != ::geteuid())
		throw refusal(EPERM, fmt::format("{} is owned by uid {}, neither root nor uid {} who owns {}", where,
						 st.st_uid, uid_, path_));
	return FileId{ st.st_dev, st.st_ino };
}

FileId SafeDir::replace(const std::string &name, std::string_view content, const TempNames &names) const
{
	const std::string where = child(name);
	identity(name); // refuses what must not be replaced

	std::string temporary;
	UniqueFd fd;
	int error = EEXIST;
	for (int attempt = 0; attempt < kTempAttempts && error == EEXIST; ++attempt) {
		temporary = names ? names(name) : randomTempName(name);
		checkName(temporary, path_);
		fd.reset(::openat(fd_.get(), temporary.c_str(), O_WRONLY | kCreateFlags, 0600));
		error = fd.get() < 0 ? errno : 0;
	}
	if (fd.get() < 0)
		throw fault(error, "cannot create a temporary file for " + where);
	try {
		const struct stat st = statFd(fd.get(), where);
		if (!S_ISREG(st.st_mode)) // O_EXCL made it; a surprise here is worth a refusal
			throw refusal(EINVAL, fmt::format("the temporary file for {} is {}", where, kindOf(st.st_mode)));
		writeAll(fd.get(), content, where);
		giveToOwner(fd.get(), where);
		// Readable by distcc whatever the daemon's umask.
		if (::fchmod(fd.get(), 0644) != 0)
			throw fault(errno, "cannot set the mode of " + where);
		if (::close(fd.release()) != 0)
			throw fault(errno, "cannot write " + where);
		if (::renameat(fd_.get(), temporary.c_str(), fd_.get(), name.c_str()) != 0)
			throw fault(errno, "cannot replace " + where);
		return FileId{ st.st_dev, st.st_ino };
	} catch (...) {
		::unlinkat(fd_.get(), temporary.c_str(), 0);
		throw;
	}
}

UniqueFd SafeDir::openFile(const std::string &name) const
{
	checkName(name, path_);
	const std::string where = child(name);
	// Looked at first, so that a FIFO or a device is refused unopened; the
	// fstat below is what counts, since the name may change in between.
	if (identity(name)) {
		UniqueFd fd(::openat(fd_.get(), name.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
		if (fd.get() >= 0) {
			const struct stat st = statFd(fd.get(), where);
			if (!S_ISREG(st.st_mode))
				throw refusal(EINVAL, fmt::format("{} is {}, not a regular file", where, kindOf(st.st_mode)));
			if (st.st_uid != 0 && st.st_uid != uid_ && st.st_uid != ::geteuid())
				throw refusal(EPERM, fmt::format("{} is owned by uid {}, neither root nor uid {} who owns {}",
								 where, st.st_uid, uid_, path_));
			if (st.st_nlink != 1)
				throw refusal(EMLINK, fmt::format("{} has {} hard links; a file of ours has one", where,
								  st.st_nlink));
			return fd;
		}
		if (errno == ELOOP)
			throw refusal(ELOOP, fmt::format("{} is a symbolic link, not a regular file; links are not followed",
							 where));
		if (errno != ENOENT)
			throw fault(errno, "cannot open " + where);
	}
	UniqueFd fd(::openat(fd_.get(), name.c_str(), O_RDWR | kCreateFlags, 0644));
	if (fd.get() < 0)
		throw fault(errno, "cannot create " + where);
	try {
		giveToOwner(fd.get(), where);
		if (::fchmod(fd.get(), 0644) != 0)
			throw fault(errno, "cannot set the mode of " + where);
	} catch (...) {
		::unlinkat(fd_.get(), name.c_str(), 0);
		throw;
	}
	return fd;
}

std::pair<std::string, std::string> splitFilePath(const std::string &path)
{
	const fs::path p(path);
	std::string name = p.filename().string();
	if (name.empty() || name == "." || name == "..")
		throw PathError(EINVAL, false, fmt::format("'{}' names no file", path));
	std::string dir = p.parent_path().string();
	if (dir.empty())
		dir = ".";
	return { std::move(dir), std::move(name) };
}

void PathFaults::failed(const PathError &error)
{
	const std::string cause = error.what();
	if (std::find(seen_.begin(), seen_.end(), cause) != seen_.end()) {
		log(LogLevel::Debug, "{}: still {}: {}", what_, error.refused() ? "refused" : "failing", cause);
		return;
	}
	if (seen_.size() == kMaxCauses)
		seen_.erase(seen_.begin());
	seen_.push_back(cause);
	if (error.refused())
		log(LogLevel::Warning, "{}: refused: {}; nothing written there, will retry", what_, cause);
	else
		log(LogLevel::Warning, "{}: {}; will retry", what_, cause);
}

void PathFaults::succeeded()
{
	if (seen_.empty())
		return;
	log(LogLevel::Info, "{}: written again", what_);
	seen_.clear();
}

} // namespace dmdns::host
