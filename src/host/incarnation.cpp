// The daemon's incarnation: one per run, larger than any earlier run's, kept in its state directory.
#include "host/incarnation.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <random>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.h"
#include "distcc-mdns/text.h"
#include "host/files.h"

namespace dmdns::host {

namespace {

constexpr const char *kFileName = "incarnation";
// "N\n" with N < 2^62: 20 bytes at most; anything longer is not ours.
constexpr std::size_t kMaxFileBytes = 32;

std::string_view trim(std::string_view s) noexcept
{
	while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
		s.remove_suffix(1);
	return s;
}

// Opens the state directory @dir, creating it (mode 0700) if missing, and
// checks that nobody but this user or root can change what is in it.
// Returns the fd or an empty one, with @why set.
UniqueFd openStateDir(const std::string &dir, std::string &why)
{
	if (::mkdir(dir.c_str(), 0700) < 0 && errno == ENOENT && ::geteuid() != 0) {
		// ~/.local/state may not exist yet; a user's own path, so its
		// parents are created as for any of the user's files. Root only
		// uses a directory whose parent exists (/var/lib, systemd's).
		std::error_code ec;
		std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
		::mkdir(dir.c_str(), 0700);
	}
	// The directory itself may be a link (systemd's DynamicUser= makes
	// /var/lib/NAME one to /var/lib/private/NAME); what is in it is not.
	UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (fd.get() < 0) {
		why = fmt::format("cannot open {}: {}", dir, std::strerror(errno));
		return UniqueFd();
	}
	struct stat st { };
	if (::fstat(fd.get(), &st) < 0) {
		why = fmt::format("cannot stat {}: {}", dir, std::strerror(errno));
		return UniqueFd();
	}
	if (st.st_uid != ::geteuid() && st.st_uid != 0) {
		why = fmt::format("{} belongs to uid {}, not to this user ({}) or root", dir, st.st_uid, ::geteuid());
		return UniqueFd();
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		why = fmt::format("{} is writable by others (mode {:04o})", dir, st.st_mode & 07777);
		return UniqueFd();
	}
	return fd;
}

// The last run's incarnation in @dirFd, 0 if there is none to trust: a
// missing file is a first run; a link, a non-regular file, a malformed or
// absurd value are warned about and ignored (the file is then replaced).
// Empty, with @why set, when the file exists but cannot be read.
std::optional<std::uint64_t> readLast(int dirFd, const std::string &dir, std::string &why)
{
	UniqueFd fd(::openat(dirFd, kFileName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
	if (fd.get() < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP) {
			log(LogLevel::Warning, "{}/{} is a symbolic link: not followed, replaced", dir, kFileName);
			return 0;
		}
		why = fmt::format("cannot open {}/{}: {}", dir, kFileName, std::strerror(errno));
		return std::nullopt;
	}
	struct stat st { };
	if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode)) {
		log(LogLevel::Warning, "{}/{} is not a regular file: ignored, replaced", dir, kFileName);
		return 0;
	}
	char buffer[kMaxFileBytes + 1];
	std::size_t used = 0;
	while (used < sizeof buffer) {
		const ssize_t n = ::read(fd.get(), buffer + used, sizeof buffer - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			why = fmt::format("cannot read {}/{}: {}", dir, kFileName, std::strerror(errno));
			return std::nullopt;
		}
		if (n == 0)
			break;
		used += static_cast<std::size_t>(n);
	}
	const std::string_view text(buffer, used);
	const auto value = used <= kMaxFileBytes ? text::parseUint(trim(text), 1, kMaxIncarnation) : std::nullopt;
	if (!value) {
		// A corrupt file must not make every later run huge: the clock
		// takes over, which is what the first run had.
		log(LogLevel::Warning, "{}/{} holds no incarnation up to 2^62 ({} bytes): ignored, replaced", dir,
		    kFileName, used);
		return 0;
	}
	return *value;
}

// Replaces DIR/incarnation by a file holding @value: a fresh temporary
// (O_EXCL, so nothing planted there is used), fsynced, renamed over it.
bool store(int dirFd, const std::string &dir, std::uint64_t value, std::string &why)
{
	std::random_device random;
	for (int attempt = 0; attempt < 8; ++attempt) {
		const std::string temp = fmt::format("{}.tmp.{}.{:08x}", kFileName, ::getpid(), random());
		UniqueFd fd(::openat(dirFd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
		if (fd.get() < 0 && errno == EEXIST)
			continue;
		if (fd.get() < 0) {
			why = fmt::format("cannot create a file in {}: {}", dir, std::strerror(errno));
			return false;
		}
		const std::string text = fmt::format("{}\n", value);
		const ssize_t n = ::write(fd.get(), text.data(), text.size());
		const bool ok = n == static_cast<ssize_t>(text.size()) && ::fsync(fd.get()) == 0 &&
				::renameat(dirFd, temp.c_str(), dirFd, kFileName) == 0;
		if (!ok) {
			why = fmt::format("cannot write {}/{}: {}", dir, kFileName,
					  n >= 0 && n < static_cast<ssize_t>(text.size()) ? "short write"
											  : std::strerror(errno));
			::unlinkat(dirFd, temp.c_str(), 0);
			return false;
		}
		// The rename lasts once the directory is on disk too.
		::fsync(dirFd);
		return true;
	}
	why = fmt::format("cannot create a temporary file in {}: names taken", dir);
	return false;
}

} // namespace

std::string defaultStateDir()
{
	if (const char *list = std::getenv("STATE_DIRECTORY"); list && *list) {
		const std::string_view dirs(list);
		return std::string(dirs.substr(0, dirs.find(':')));
	}
	if (::geteuid() == 0)
		return "/var/lib/distcc-mdns";
	if (const char *state = std::getenv("XDG_STATE_HOME"); state && *state == '/')
		return std::string(state) + "/distcc-mdns";
	if (const char *home = std::getenv("HOME"); home && *home == '/')
		return std::string(home) + "/.local/state/distcc-mdns";
	return {};
}

std::uint64_t IncarnationStore::wallClockMs()
{
	const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
				std::chrono::system_clock::now().time_since_epoch())
				.count();
	return ms > 0 ? static_cast<std::uint64_t>(ms) : 0;
}

IncarnationStore::IncarnationStore(std::string dir, Clock clock)
	: dir_(std::move(dir)), clock_(std::move(clock))
{
}

std::uint64_t IncarnationStore::next()
{
	persisted_ = false;
	const std::uint64_t now = std::clamp<std::uint64_t>(clock_(), 1, kMaxIncarnation);
	std::string why;
	if (dir_.empty()) {
		log(LogLevel::Warning, "no state directory (neither $STATE_DIRECTORY nor $HOME is set): incarnation "
				       "from the clock only");
		return now;
	}
	const UniqueFd dirFd = openStateDir(dir_, why);
	std::optional<std::uint64_t> last;
	if (dirFd.get() >= 0)
		last = readLast(dirFd.get(), dir_, why);
	if (!last) {
		log(LogLevel::Warning, "state directory unusable ({}): incarnation from the clock only, so a restart "
				       "after the clock stepped back may look older to peers",
		    why);
		return now;
	}
	const std::uint64_t incarnation = std::min(std::max(now, *last + 1), kMaxIncarnation);
	if (!store(dirFd.get(), dir_, incarnation, why)) {
		log(LogLevel::Warning, "state directory unusable ({}): this run's incarnation is not kept", why);
		return incarnation;
	}
	persisted_ = true;
	return incarnation;
}

} // namespace dmdns::host
