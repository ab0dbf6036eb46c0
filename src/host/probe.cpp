// Measurements of the local host: its identity, distccd and its load.
#include "host/probe.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <memory>
#include <net/if.h>
#include <netpacket/packet.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.h"
#include "distcc-mdns/host_port.h"
#include "host/files.h"
#include "host/host_id.h"
#include "host/procfs.h"
#include "host/sock_diag.h"
#include "host/user_jobs.h"

namespace dmdns::host {

namespace {

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

std::vector<NetInterface> packetInterfaces()
{
	std::vector<NetInterface> interfaces;
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

// The sockets of this namespace on @port: its listeners and how many
// connections it has accepted or queued (portSockets in sock_diag.h).
using TcpCounts = PortSockets;

TcpCounts countTcp(const std::string &procRoot, std::uint16_t port)
{
	return portSockets(port, procRoot);
}

// A command line fit for the log: spaces between the arguments, anything
// unprintable (it is the text of whoever runs the process) shown as '?'.
std::string printableCommand(const std::vector<std::string> &argv)
{
	constexpr std::size_t kMaxShown = 160;
	std::string out;
	for (const std::string &arg : argv) {
		if (!out.empty())
			out += ' ';
		for (char c : arg)
			out += c >= 0x20 && c < 0x7f ? c : '?';
		if (out.size() > kMaxShown) {
			out.resize(kMaxShown);
			out += "...";
			break;
		}
	}
	return out.empty() ? "(none)" : out;
}

std::string userName(std::uint32_t uid)
{
	const passwd *pw = ::getpwuid(uid);
	return pw && pw->pw_name ? fmt::format("uid {} ({})", uid, pw->pw_name) : fmt::format("uid {}", uid);
}

// A process that may hold one of the listeners: its uid is a listener's.
struct Holder {
	unsigned long pid = 0;
	procfs::ProcessUids uids;
	std::vector<std::string> argv;
	std::optional<procfs::DistccdArgs> distccd;	   // serving the port, not --inetd
	std::optional<bool> sameNet;			   // empty: its namespace is unreadable
	std::optional<std::vector<std::uint64_t>> sockets; // empty: its fds are unreadable
};

// The socket inodes among the fds of @pid; empty when they cannot be read.
std::optional<std::vector<std::uint64_t>> socketInodes(const std::string &base)
{
	// A process has up to RLIMIT_NOFILE fds; distccd a handful.
	constexpr std::size_t kMaxFds = 1u << 16;
	const std::string dirPath = base + "/fd";
	std::unique_ptr<DIR, int (*)(DIR *)> dir(::opendir(dirPath.c_str()), ::closedir);
	if (!dir)
		return std::nullopt;
	std::vector<std::uint64_t> inodes;
	std::size_t seen = 0;
	while (const dirent *entry = ::readdir(dir.get())) {
		if (!allDigits(entry->d_name))
			continue;
		if (++seen > kMaxFds)
			break;
		if (auto target = readLink(dirPath + "/" + entry->d_name))
			if (auto inode = procfs::parseSocketLink(*target))
				inodes.push_back(*inode);
	}
	return inodes;
}

bool hasUid(const Holder &h, std::uint32_t uid) noexcept
{
	return h.uids.real == uid || h.uids.effective == uid;
}

bool holds(const Holder &h, std::uint64_t inode)
{
	return h.sockets && inode != 0 && std::find(h.sockets->begin(), h.sockets->end(), inode) != h.sockets->end();
}

// The processes whose uid owns one of @listeners, read from @procRoot.
std::vector<Holder> findHolders(const std::string &procRoot, std::uint16_t port,
				const std::vector<procfs::TcpEntry> &listeners)
{
	std::vector<Holder> holders;
	std::unique_ptr<DIR, int (*)(DIR *)> dir(::opendir(procRoot.c_str()), ::closedir);
	if (!dir)
		return holders;
	// /proc lists every pid namespace member, so hosts simulated in network
	// namespaces see each other's processes; the namespace link tells them
	// apart where it is readable (it needs ptrace access to the process).
	const auto ownNet = readLink(procRoot + "/self/ns/net");
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
		// /proc/PID/status is readable by anyone and names the real uid even
		// of a process that changed uid (which makes /proc/PID root's).
		const auto status = readBounded(base + "/status", kMaxSmallFile);
		const auto uids = status ? procfs::parseStatusUids(status->text) : std::nullopt;
		if (!uids)
			continue; // exited meanwhile
		Holder h;
		h.uids = *uids;
		if (std::none_of(listeners.begin(), listeners.end(),
				 [&](const procfs::TcpEntry &l) { return l.uid && hasUid(h, *l.uid); }))
			continue;
		auto cmdline = readBounded(base + "/cmdline", kMaxCmdline);
		if (!cmdline)
			continue;
		h.pid = std::strtoul(entry->d_name, nullptr, 10);
		h.argv = procfs::splitCmdline(cmdline->text);
		if (auto args = procfs::parseDistccd(h.argv); args && !args->inetd && args->port == port)
			h.distccd = args;
		if (const auto net = readLink(base + "/ns/net"); ownNet && net)
			h.sameNet = *net == *ownNet;
		h.sockets = socketInodes(base);
		// A listener's uid may be root's, with many processes: only the ones
		// that matter to the verdict or to its log line are kept.
		const bool holding = std::any_of(listeners.begin(), listeners.end(),
						 [&](const procfs::TcpEntry &l) { return holds(h, l.inode); });
		if (h.distccd || holding)
			holders.push_back(std::move(h));
	}
	return holders;
}

// Why @listener is not distccd's, or empty if it is; @verifiedBy is set to
// the distccd that holds it.
std::string judge(const procfs::TcpEntry &listener, std::span<const std::uint32_t> uids,
		  const std::vector<Holder> &holders, const Holder *&verifiedBy)
{
	verifiedBy = nullptr;
	const std::string where = formatHostPort({ listener.local.addressText(), listener.local.port });
	// The processes known to hold the socket, by their fds.
	std::vector<const Holder *> known;
	for (const Holder &h : holders)
		if (holds(h, listener.inode))
			known.push_back(&h);
	auto command = [&] {
		return known.empty() ? std::string("command unknown (its fds are not readable)")
				     : "command '" + printableCommand(known.front()->argv) + "'";
	};
	if (!listener.uid)
		return fmt::format("the listener on {} has no owner in the socket table", where);
	const std::uint32_t uid = *listener.uid;
	if (std::find(uids.begin(), uids.end(), uid) == uids.end())
		return fmt::format("the listener on {} belongs to {}, not root or distccd's user; {}", where,
				   userName(uid), command());
	for (const Holder *h : known)
		if (h->distccd && hasUid(*h, uid)) {
			verifiedBy = h;
			return {};
		}
	if (!known.empty())
		return fmt::format("the listener on {} belongs to {} but no distccd of that uid holds it; {}", where,
				   userName(uid), command());
	// Nobody's fds show it: a distccd of that uid whose fds and namespace
	// are hidden, or known to be this namespace's, stands for it.
	for (const Holder &h : holders)
		if (h.distccd && hasUid(h, uid) && !h.sockets && h.sameNet != false) {
			verifiedBy = &h;
			return {};
		}
	return fmt::format("the listener on {} belongs to {} but no distccd of that uid serving port {} runs in "
			   "this network namespace; {}",
			   where, userName(uid), listener.local.port, command());
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
	return hostIdFrom(machineId, hostName(), interfaces);
}

std::vector<std::uint32_t> distccdUids()
{
	std::vector<std::uint32_t> uids{ 0 };
	if (const passwd *pw = ::getpwnam("distccd"); pw && pw->pw_uid != 0)
		uids.push_back(pw->pw_uid);
	return uids;
}

DistccdListener checkDistccd(std::uint16_t port, const std::string &procRoot, std::span<const std::uint32_t> uids)
{
	DistccdListener result;
	const TcpCounts tcp = countTcp(procRoot, port);
	if (tcp.listeners.empty())
		return result;
	result.listening = true;
	if (tcp.listeners.size() > kMaxListeners) {
		result.refusal = fmt::format("{} sockets listen on port {}; distccd has a few", tcp.listeners.size(), port);
		return result;
	}
	for (const procfs::TcpEntry &listener : tcp.listeners)
		result.addresses.push_back(listener.local);
	const std::vector<Holder> holders = findHolders(procRoot, port, tcp.listeners);
	const Holder *best = nullptr;
	for (const procfs::TcpEntry &listener : tcp.listeners) {
		const Holder *by = nullptr;
		result.refusal = judge(listener, uids, holders, by);
		if (!result.refusal.empty())
			return result;
		// Workers share the parent's command line: the lowest pid is stable.
		if (!best || by->pid < best->pid)
			best = by;
	}
	result.verified = true;
	result.args = best->distccd;
	return result;
}

LoadProbe::LoadProbe(std::uint16_t port, std::string procRoot, std::vector<std::uint32_t> uids, bool legacy)
	: port_(port), procRoot_(std::move(procRoot)), uids_(std::move(uids)), legacy_(legacy), counts_(procRoot_)
{
}

PortSockets LoadProbe::sockets()
{
	if (legacy_)
		return portSocketsFromProc(port_, procRoot_);
	// The connections are re-counted at least this often even when the
	// socket counts stay put: a client that closes first leaves distccd's
	// end in CLOSE_WAIT (still compiling, until distccd closes it too), and
	// a job ending while an unrelated connection opens in the same instant
	// leaves the counts equal. Rare and short-lived both; the walk costs
	// ~1 ms (every 2 s, that was a third of an idle daemon's CPU).
	constexpr auto kMaxSocketAge = std::chrono::seconds(10);
	const auto now = std::chrono::steady_clock::now();
	// Read before the sockets, so that a change meanwhile shows next time.
	const auto counts = counts_.read();
	const bool unchanged = counts && counts == lastCounts_ && last_ && now - lastAt_ < kMaxSocketAge;
	// The listeners are always asked for (cheap, and distccd restarting
	// between two readings changes no count), the connections only when
	// something moved: the kernel walks every connection of the host.
	if (auto listeners = procRoot_ == "/proc" ? diag_.listeners(port_) : std::nullopt) {
		unsigned families = 0;
		for (const procfs::TcpEntry &l : listeners->listeners)
			families |= l.local.ipv6 ? 2u : 1u;
		if (unchanged && families == lastFamilies_) {
			listeners->established = last_->established;
			listeners->clients = last_->clients;
			return std::move(*listeners);
		}
		if (auto all = diag_.port(port_)) {
			last_ = std::move(*all);
			lastCounts_ = counts;
			lastFamilies_ = families;
			lastAt_ = now;
			return *last_;
		}
	}
	// No netlink (or a tree of files instead of /proc): the files, parsed
	// only when something moved.
	if (!unchanged) {
		last_ = portSocketsFromProc(port_, procRoot_);
		lastCounts_ = counts;
		lastFamilies_ = 0;
		lastAt_ = now;
	}
	return *last_;
}

LoadReading LoadProbe::read()
{
	LoadReading reading;
	const TcpCounts tcp = sockets();
	reading.listening = !tcp.listeners.empty();
	reading.running = tcp.established;
	reading.clients = tcp.clients;
	std::vector<std::pair<std::uint64_t, std::uint32_t>> now;
	for (const procfs::TcpEntry &l : tcp.listeners)
		now.emplace_back(l.inode, l.uid.value_or(UINT32_MAX));
	std::sort(now.begin(), now.end());
	if (now != checked_) {
		const DistccdListener check = checkDistccd(port_, procRoot_, uids_);
		verified_ = check.verified;
		checked_ = std::move(now);
		// Once per distinct reason: a listener that comes and goes is not
		// a log line every time.
		if (!check.refusal.empty() && check.refusal != logged_) {
			log(LogLevel::Warning, "not advertising port {}: {}", port_, check.refusal);
			logged_ = check.refusal;
		}
	}
	reading.distccd = reading.listening && verified_;
	if (auto file = readBounded(procRoot_ + "/loadavg", kMaxSmallFile)) {
		if (auto load = procfs::parseLoadavg(file->text)) {
			// The count includes the task reading it, which is not load.
			reading.runnable = load->runnable > 0 ? load->runnable - 1 : 0;
			reading.load1 = load->load1;
		}
	}
	return reading;
}

std::optional<std::uint32_t> distccdSlots(std::uint16_t port, const std::string &procRoot,
					  const std::vector<std::uint32_t> &uids)
{
	const DistccdListener check = checkDistccd(port, procRoot, uids);
	if (!check.verified || !check.args)
		return std::nullopt;
	// distccd's default: the CPUs it sees plus two.
	return check.args->jobs.value_or(std::min(onlineCpus() + 2, kMaxSlots));
}

namespace {

// Calls @fn for every regular file of @kind ("cpu", "backoff") in distcc's
// @lockDir, with its parsed name and its stat.
template <typename Fn>
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
		struct stat st { };
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
	// One walk of /proc for both: the per-uid census is the daemon's.
	std::uint64_t count = 0;
	for (const auto &[uid, clients] : distccClientsByUid(procRoot))
		count += clients;
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(count, UINT32_MAX));
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
