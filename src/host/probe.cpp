// Measurements of the local host: its identity, distccd and its load.
#include "probe.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <ifaddrs.h>
#include <memory>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "distcc-mdns/procfs.h"
#include "files.h"
#include "log.h"

namespace dmdns::host {

namespace {

// /proc/net/tcp6 lines are 150-180 bytes: room for kMaxTcpEntries of them.
constexpr std::size_t kMaxTcpBytes = 16u << 20;
constexpr std::size_t kMaxSmallFile = 4096;
// distccd's command line is short; a long one is read this far.
constexpr std::size_t kMaxCmdline = 64u << 10;
// pid_max can reach 4M; a scan stops after this many processes.
constexpr std::size_t kMaxProcesses = 1u << 17;

bool allDigits(const char *s) noexcept
{
	if (!*s)
		return false;
	for (; *s; ++s)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

std::vector<procfs::NetInterface> packetInterfaces()
{
	std::vector<procfs::NetInterface> interfaces;
	ifaddrs *list = nullptr;
	// AF_PACKET entries follow the caller's network namespace even where
	// /sys/class/net shows another one (nsenter without remounting /sys).
	if (::getifaddrs(&list) < 0) {
		log(LogLevel::Warning, "getifaddrs: {}", std::strerror(errno));
		return interfaces;
	}
	for (const ifaddrs *i = list; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_PACKET || !i->ifa_name)
			continue;
		const auto *ll = reinterpret_cast<const sockaddr_ll *>(i->ifa_addr);
		const std::size_t length = std::min<std::size_t>(ll->sll_halen, sizeof ll->sll_addr);
		interfaces.push_back({ i->ifa_name, std::vector<std::uint8_t>(ll->sll_addr, ll->sll_addr + length),
				       (i->ifa_flags & IFF_LOOPBACK) != 0 });
	}
	::freeifaddrs(list);
	return interfaces;
}

struct TcpCounts {
	bool listening = false;
	std::uint32_t established = 0;
};

TcpCounts countTcp(const std::string &procRoot, std::uint16_t port)
{
	TcpCounts counts;
	// tcp6 holds IPv6 and v4-mapped sockets, tcp the IPv4 ones: no socket in both.
	for (const char *name : { "/net/tcp", "/net/tcp6" }) {
		auto file = readBounded(procRoot + name, kMaxTcpBytes);
		if (!file)
			continue;
		const auto entries = procfs::parseTcp(wholeLines(*file));
		counts.listening = counts.listening || procfs::listening(entries, port);
		counts.established += procfs::established(entries, port);
	}
	return counts;
}

} // namespace

std::uint32_t onlineCpus() noexcept
{
	const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
	return static_cast<std::uint32_t>(std::clamp<long>(n, 1, kMaxCpus));
}

std::string hostName()
{
	char buffer[HOST_NAME_MAX + 1] = {};
	if (::gethostname(buffer, sizeof buffer - 1) < 0)
		return {};
	std::string name(buffer, ::strnlen(buffer, sizeof buffer));
	name.resize(std::min(name.find('.'), name.size()));
	return name;
}

std::string hostId()
{
	std::string machineId;
	// systemd's file, else D-Bus's older copy of the same id.
	for (const char *path : { "/etc/machine-id", "/var/lib/dbus/machine-id" }) {
		if (auto file = readBounded(path, kMaxSmallFile); file && !file->text.empty()) {
			machineId = std::move(file->text);
			break;
		}
	}
	const auto interfaces = packetInterfaces();
	return procfs::hostIdFrom(machineId, hostName(), interfaces);
}

LoadProbe::LoadProbe(std::uint16_t port, std::string procRoot) : port_(port), procRoot_(std::move(procRoot))
{
}

LoadReading LoadProbe::read() const
{
	LoadReading reading;
	const TcpCounts tcp = countTcp(procRoot_, port_);
	reading.listening = tcp.listening;
	reading.running = tcp.established;
	if (auto file = readBounded(procRoot_ + "/loadavg", kMaxSmallFile)) {
		if (auto load = procfs::parseLoadavg(file->text)) {
			// The count includes the task reading it, which is not load.
			reading.runnable = load->runnable > 0 ? load->runnable - 1 : 0;
			reading.load1 = load->load1;
		}
	}
	return reading;
}

std::optional<std::uint32_t> distccdSlots(std::uint16_t port, const std::string &procRoot)
{
	std::unique_ptr<DIR, int (*)(DIR *)> dir(::opendir(procRoot.c_str()), ::closedir);
	if (!dir)
		return std::nullopt;
	// /proc lists every pid namespace member, so hosts simulated in network
	// namespaces see each other's distccd; the namespace link tells them
	// apart where it is readable (it needs ptrace access to the process).
	const auto ownNet = readLink(procRoot + "/self/ns/net");

	std::optional<procfs::DistccdArgs> best;
	bool bestSameNet = false;
	unsigned long bestPid = 0;
	std::size_t scanned = 0;
	while (const dirent *entry = ::readdir(dir.get())) {
		if (!allDigits(entry->d_name))
			continue;
		if (++scanned > kMaxProcesses) {
			log(LogLevel::Warning, "more than {} processes; distccd looked for among the first only",
			    kMaxProcesses);
			break;
		}
		const std::string base = procRoot + "/" + entry->d_name;
		auto cmdline = readBounded(base + "/cmdline", kMaxCmdline);
		if (!cmdline)
			continue; // exited meanwhile
		auto args = procfs::parseDistccd(procfs::splitCmdline(cmdline->text));
		if (!args || args->inetd || args->port != port)
			continue;
		const auto net = readLink(base + "/ns/net");
		if (ownNet && net && *net != *ownNet)
			continue;
		const bool sameNet = ownNet && net;
		const unsigned long pid = std::strtoul(entry->d_name, nullptr, 10);
		// A known match beats an unknown one; among equals the choice only
		// has to be stable: the lowest pid (usually the parent, whose
		// workers share its command line).
		if (!best || (sameNet && !bestSameNet) || (sameNet == bestSameNet && pid < bestPid)) {
			best = args;
			bestSameNet = sameNet;
			bestPid = pid;
		}
	}
	if (!best)
		return std::nullopt;
	// A distccd whose namespace is unknown may serve another namespace; it
	// can be ours only if something listens on the port here.
	if (!bestSameNet && !countTcp(procRoot, port).listening)
		return std::nullopt;
	// distccd's default: the CPUs it sees plus two.
	return best->jobs.value_or(std::min(onlineCpus() + 2, kMaxSlots));
}

namespace {

// Calls @fn for every regular file of @kind ("cpu", "backoff") in distcc's
// @lockDir, with its parsed name and its stat.
template<typename Fn>
void forEachDistccFile(const std::string &lockDir, std::string_view kind, Fn fn)
{
	std::unique_ptr<DIR, int (*)(DIR *)> dir(::opendir(lockDir.c_str()), ::closedir);
	if (!dir)
		return;
	// distcc keeps a few files per host and slot; more means something else.
	for (int n = 0; n < 65536; ++n) {
		const dirent *e = ::readdir(dir.get());
		if (!e)
			break;
		const auto slot = procfs::parseDistccLockName(e->d_name, kind);
		if (!slot)
			continue;
		struct stat st {};
		if (::fstatat(::dirfd(dir.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			fn(*slot, st);
	}
}

} // namespace

std::map<std::pair<std::string, std::uint16_t>, std::uint32_t> distccJobsInFlight(const std::string &lockDir,
									  const std::string &procRoot)
{
	std::map<std::pair<std::string, std::uint16_t>, std::uint32_t> jobs;
	// /proc/locks has a line per lock on the system: bounded at 4 MiB.
	const auto locks = readBounded(procRoot + "/locks", 4u << 20);
	if (!locks)
		return jobs;
	std::vector<procfs::LockedFile> held = procfs::parseLocks(wholeLines(*locks));
	std::sort(held.begin(), held.end());
	forEachDistccFile(lockDir, "cpu", [&](const procfs::DistccSlot &slot, const struct stat &st) {
		const procfs::LockedFile file{ ::major(st.st_dev), ::minor(st.st_dev),
					       static_cast<std::uint64_t>(st.st_ino) };
		if (std::binary_search(held.begin(), held.end(), file))
			++jobs[{ slot.host, slot.port }];
	});
	return jobs;
}

std::uint32_t distccClients(const std::string &procRoot)
{
	std::unique_ptr<DIR, int (*)(DIR *)> dir(::opendir(procRoot.c_str()), ::closedir);
	if (!dir)
		return 0;
	const auto ownNet = readLink(procRoot + "/self/ns/net");
	auto isDistcc = [&](const std::string &pid) {
		const auto exe = readLink(procRoot + "/" + pid + "/exe");
		if (!exe)
			return false;
		std::string_view name(*exe);
		name.remove_prefix(std::min(name.size(), name.rfind('/') + 1));
		return name == "distcc" || name == "distcc (deleted)";
	};
	std::uint32_t count = 0;
	std::size_t scanned = 0;
	while (const dirent *entry = ::readdir(dir.get())) {
		if (!allDigits(entry->d_name))
			continue;
		if (++scanned > kMaxProcesses)
			break;
		const std::string pid = entry->d_name;
		if (!isDistcc(pid))
			continue;
		// Simulated hosts share one pid namespace: only this network's.
		const auto net = readLink(procRoot + "/" + pid + "/ns/net");
		if (!ownNet || !net || *net != *ownNet)
			continue;
		const auto stat = readBounded(procRoot + "/" + pid + "/stat", kMaxSmallFile);
		const auto parent = stat ? procfs::parseStatParent(stat->text) : std::nullopt;
		if (parent && isDistcc(std::to_string(*parent)))
			continue; // a child forked to run the preprocessor or compiler
		++count;
	}
	return count;
}

std::string distccDir()
{
	if (const char *dir = std::getenv("DISTCC_DIR"); dir && *dir)
		return dir;
	if (const char *home = std::getenv("HOME"); home && *home)
		return std::string(home) + "/.distcc";
	return {};
}

long distccBackoffPeriod()
{
	const char *text = std::getenv("DISTCC_BACKOFF_PERIOD");
	return text ? std::atol(text) : 60;
}

std::set<std::pair<std::string, std::uint16_t>> distccBackoffs(const std::string &lockDir, long period)
{
	std::set<std::pair<std::string, std::uint16_t>> failing;
	if (period <= 0)
		return failing;
	const std::time_t now = std::time(nullptr);
	forEachDistccFile(lockDir, "backoff", [&](const procfs::DistccSlot &host, const struct stat &st) {
		// distcc's own test: difftime(now, mtime) < period.
		if (std::difftime(now, st.st_mtime) < double(period))
			failing.emplace(host.host, host.port);
	});
	return failing;
}

} // namespace dmdns::host
