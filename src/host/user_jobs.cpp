// Who on this machine runs distcc now: its clients and their connections to servers, per uid.
#include "host/user_jobs.h"

#include <dirent.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>

#include "host/files.h"
#include "host/procfs.h"

namespace dmdns::host {

namespace {

// The same bounds as the load probe's: /proc/net/tcp6 lines are 150-180
// bytes, and a scan stops after this many processes.
constexpr std::size_t kMaxTcpBytes = 16u << 20;
constexpr std::size_t kMaxSmallFile = 4096;
constexpr std::size_t kMaxProcesses = 1u << 17;

bool allDigits(std::string_view s) noexcept
{
	return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// COMM of "PID (COMM) STATE PPID ...": between the first '(' and the last
// ')', since COMM may hold anything.
std::string_view statName(std::string_view stat)
{
	const std::size_t open = stat.find('(');
	const std::size_t close = stat.rfind(')');
	if (open == std::string_view::npos || close == std::string_view::npos || close < open)
		return {};
	return stat.substr(open + 1, close - open - 1);
}

} // namespace

std::map<std::uint32_t, JobsByServer> tcpJobsByUid(const std::set<std::uint32_t> &uids,
						   const std::set<std::uint16_t> &ports, const std::string &procRoot)
{
	std::map<std::uint32_t, JobsByServer> jobs;
	if (uids.empty() || ports.empty())
		return jobs;
	// tcp6 holds IPv6 and v4-mapped sockets, tcp the IPv4 ones: no socket in both.
	for (const char *name : { "/net/tcp", "/net/tcp6" }) {
		const auto file = readBounded(procRoot + name, kMaxTcpBytes);
		if (!file)
			continue;
		for (const procfs::TcpEntry &e : procfs::parseTcp(wholeLines(*file))) {
			if (e.state != procfs::kTcpEstablished || !e.uid || !uids.contains(*e.uid) ||
			    !ports.contains(e.remote.port))
				continue;
			++jobs[*e.uid][{ e.remote.lineAddress(), e.remote.port }];
		}
	}
	return jobs;
}

std::map<std::uint32_t, std::uint32_t> distccClientsByUid(const std::string &procRoot)
{
	std::map<std::uint32_t, std::uint32_t> clients;
	std::unique_ptr<DIR, int (*)(DIR *)> dir(::opendir(procRoot.c_str()), ::closedir);
	if (!dir)
		return clients;
	const auto ownNet = readLink(procRoot + "/self/ns/net");
	const auto statOf = [&](const std::string &pid) {
		return readBounded(procRoot + "/" + pid + "/stat", kMaxSmallFile);
	};
	// The executable names masquerading clients too (/usr/lib/distcc/gcc
	// runs as "gcc"), but only root and the process's user may read it;
	// others see the name it was started as.
	const auto isDistcc = [&](const std::string &pid, const std::optional<FileText> &stat) {
		if (const auto exe = readLink(procRoot + "/" + pid + "/exe")) {
			std::string_view name(*exe);
			name.remove_prefix(std::min(name.size(), name.rfind('/') + 1));
			return name == "distcc" || name == "distcc (deleted)";
		}
		return stat && statName(stat->text) == "distcc";
	};
	std::size_t scanned = 0;
	while (const dirent *entry = ::readdir(dir.get())) {
		if (!allDigits(entry->d_name))
			continue;
		if (++scanned > kMaxProcesses)
			break;
		const std::string pid = entry->d_name;
		const auto stat = statOf(pid);
		if (!stat || !isDistcc(pid, stat))
			continue;
		if (const auto parent = procfs::parseStatParent(stat->text)) {
			const std::string parentPid = std::to_string(*parent);
			if (isDistcc(parentPid, statOf(parentPid)))
				continue; // a child forked to run the preprocessor or compiler
		}
		// Simulated hosts share one pid namespace: only this network's.
		if (const auto net = readLink(procRoot + "/" + pid + "/ns/net"); ownNet && net && *net != *ownNet)
			continue;
		const auto status = readBounded(procRoot + "/" + pid + "/status", kMaxSmallFile);
		const auto uids = status ? procfs::parseStatusUids(status->text) : std::nullopt;
		if (uids)
			++clients[uids->real];
	}
	return clients;
}

} // namespace dmdns::host
