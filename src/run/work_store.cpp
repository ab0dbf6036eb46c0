// The user's file of remembered compile works (run/work_store.h).
#include "run/work_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/log.h"
#include "host/files.h"

namespace dmdns::run {

namespace {

constexpr const char *kFile = "works";
constexpr const char *kLock = "works.lock";

// How long a build's end waits for another build that saves at the same
// moment; past it, this build's works are not kept.
constexpr auto kLockWait = std::chrono::seconds(2);
constexpr auto kLockPoll = std::chrono::milliseconds(10);

} // namespace

std::optional<WorkStore> WorkStore::open()
{
	const char *xdg = std::getenv("XDG_CACHE_HOME");
	const char *home = std::getenv("HOME");
	try {
		// The XDG rule: a relative XDG_CACHE_HOME is ignored.
		std::optional<host::SafeDir> cache;
		if (xdg && xdg[0] == '/')
			cache.emplace(host::SafeDir::open(xdg));
		else if (home && home[0] == '/')
			cache.emplace(host::SafeDir::open(home).subdir(".cache"));
		else
			throw host::PathError(ENOENT, false, "neither XDG_CACHE_HOME nor HOME names a directory");
		host::SafeDir dir = cache->subdir("distcc-mdns");
		if (dir.owner() != ::geteuid())
			throw host::PathError(EPERM, true, dir.path() + " belongs to another user");
		return WorkStore(std::move(dir));
	} catch (const host::PathError &e) {
		log(LogLevel::Info, "no remembered compile times: {}", e.what());
		return std::nullopt;
	}
}

WorkHistory WorkStore::load() const
{
	WorkHistory history;
	host::UniqueFd fd(::openat(dir_.fd(), kFile, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
	if (fd.get() < 0) {
		if (errno != ENOENT)
			log(LogLevel::Warning, "cannot read {}/{}: {}", dir_.path(), kFile, std::strerror(errno));
		return history;
	}
	struct stat st;
	if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
	    static_cast<std::size_t>(st.st_size) > WorkHistory::kMaxBytes) {
		log(LogLevel::Warning, "{}/{} is not a file of yours of at most {} bytes: not read", dir_.path(), kFile,
		    WorkHistory::kMaxBytes);
		return history;
	}
	std::string text;
	char buf[65536];
	ssize_t n;
	while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() <= WorkHistory::kMaxBytes)
		text.append(buf, static_cast<std::size_t>(n));
	if (n < 0 || text.size() > WorkHistory::kMaxBytes) {
		log(LogLevel::Warning, "cannot read {}/{}: not read", dir_.path(), kFile);
		return history;
	}
	if (const std::size_t bad = history.parse(text))
		log(LogLevel::Warning, "{}/{}: {} bad line{} ignored", dir_.path(), kFile, bad, bad == 1 ? "" : "s");
	return history;
}

void WorkStore::save(const WorkHistory &measured) const
{
	if (measured.empty())
		return;
	try {
		const host::UniqueFd lock = dir_.openFile(kLock);
		// Bounded: another build holds the lock for one read and write.
		const auto until = std::chrono::steady_clock::now() + kLockWait;
		while (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
			if ((errno != EWOULDBLOCK && errno != EINTR) || std::chrono::steady_clock::now() >= until) {
				log(LogLevel::Warning, "cannot lock {}/{}: this build's compile times are not kept",
				    dir_.path(), kLock);
				return;
			}
			std::this_thread::sleep_for(kLockPoll);
		}
		WorkHistory history = load();
		history.update(measured);
		dir_.replace(kFile, history.format());
	} catch (const host::PathError &e) {
		log(LogLevel::Warning, "cannot keep this build's compile times: {}", e.what());
	}
}

} // namespace dmdns::run
