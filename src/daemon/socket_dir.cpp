// Where the query socket lives and whom its users trust: the daemon's directory, the clients' order and checks.
#include "daemon/socket_dir.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"

namespace dmdns {

namespace {

std::string errnoText(int error)
{
	return std::strerror(error);
}

// A file descriptor closed on scope exit.
struct Fd {
	int fd;
	~Fd()
	{
		if (fd >= 0)
			::close(fd);
	}
};

} // namespace

std::optional<uid_t> systemUid()
{
	// getpwnam_r: the clients and the daemon may look up from any thread.
	passwd entry{};
	passwd *found = nullptr;
	std::vector<char> buffer(16384);
	if (::getpwnam_r(kSystemUser, &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
		return std::nullopt;
	return found->pw_uid;
}

std::string ownSocketPath()
{
	const uid_t uid = ::geteuid();
	if (uid == 0 || uid == systemUid())
		return kSystemSocket;
	if (const char *runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime)
		return std::string(runtime) + "/distcc-mdns/socket";
	return fmt::format("/tmp/distcc-mdns-{}/socket", uid);
}

std::vector<std::string> socketSearchOrder()
{
	std::vector<std::string> order = { ownSocketPath() };
	if (order.front() != kSystemSocket)
		order.emplace_back(kSystemSocket);
	return order;
}

mode_t socketDirectoryMode()
{
	const uid_t uid = ::geteuid();
	return uid == 0 || uid == systemUid() ? 0755 : 0700;
}

void prepareSocketDirectory(const std::string &dir)
{
	const mode_t mode = socketDirectoryMode();
	bool created = ::mkdir(dir.c_str(), mode) == 0;
	if (!created && errno != EEXIST)
		throw std::runtime_error(fmt::format("cannot create the socket directory {}: {}", dir, errnoText(errno)));
	// Whatever is there now, made or found, is opened without following a
	// link, and everything after acts on the descriptor.
	const Fd d{ ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) };
	if (d.fd < 0) {
		const int error = errno;
		if (error == ELOOP || error == ENOTDIR)
			throw std::runtime_error(fmt::format(
				"refusing the socket directory {}: it is a symbolic link or not a directory", dir));
		throw std::runtime_error(fmt::format("cannot open the socket directory {}: {}", dir, errnoText(error)));
	}
	struct stat st { };
	if (::fstat(d.fd, &st) != 0)
		throw std::runtime_error(fmt::format("cannot stat the socket directory {}: {}", dir, errnoText(errno)));
	const uid_t self = ::geteuid();
	if (st.st_uid != self && st.st_uid != 0)
		throw std::runtime_error(fmt::format("refusing the socket directory {}: it belongs to uid {}, not to "
						     "this daemon's user ({}) or root",
						     dir, st.st_uid, self));
	if (created) {
		// mkdir's mode went through the umask; ours is exact.
		if (::fchmod(d.fd, mode) != 0)
			throw std::runtime_error(fmt::format("cannot set the mode of {}: {}", dir, errnoText(errno)));
		return;
	}
	// Someone else's directory layout (RuntimeDirectory=, a --socket in
	// /tmp): its mode is not ours to change.
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		log(LogLevel::Warning,
		    "the socket directory {} is writable by others (mode {:04o}): distcc-mdns-hosts will not "
		    "trust a socket there",
		    dir, st.st_mode & 07777);
}

bool trustedOwner(uid_t uid, uid_t caller)
{
	return uid == caller || uid == 0 || uid == systemUid();
}

std::string userName(uid_t uid)
{
	if (uid == 0)
		return "root";
	passwd entry{};
	passwd *found = nullptr;
	std::vector<char> buffer(16384);
	if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found)
		return found->pw_name;
	return fmt::format("uid {}", uid);
}

SocketCheck checkSocket(const std::string &path, uid_t caller)
{
	std::string dir = std::filesystem::path(path).parent_path().string();
	if (dir.empty())
		dir = ".";
	auto refused = [](std::string why) { return SocketCheck{ SocketCheck::Verdict::Refused, std::move(why) }; };
	const auto owner = userName;
	const auto absent = [] { return SocketCheck{ SocketCheck::Verdict::Absent, {}, errno }; };
	struct stat st { };
	if (::lstat(dir.c_str(), &st) != 0)
		return absent();
	if (S_ISLNK(st.st_mode))
		return refused(fmt::format("{} is a symbolic link", dir));
	if (!S_ISDIR(st.st_mode))
		return refused(fmt::format("{} is not a directory", dir));
	if (!trustedOwner(st.st_uid, caller))
		return refused(fmt::format("{} belongs to {}, not to you, root or {}", dir, owner(st.st_uid), kSystemUser));
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return refused(fmt::format("{} is writable by others (mode {:04o})", dir, st.st_mode & 07777));
	if (::lstat(path.c_str(), &st) != 0)
		return absent();
	if (!S_ISSOCK(st.st_mode))
		return refused(fmt::format("{} is not a socket", path));
	if (!trustedOwner(st.st_uid, caller))
		return refused(fmt::format("{} belongs to {}, not to you, root or {}", path, owner(st.st_uid), kSystemUser));
	return { SocketCheck::Verdict::Trusted, {} };
}

} // namespace dmdns
