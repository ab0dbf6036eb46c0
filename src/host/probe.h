// Measurements of the local host: its identity, distccd, its load, its compilers.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "distcc-mdns/server.h"
#include "host/procfs.h"
#include "host/sock_diag.h"

namespace dmdns::host {

// Where Debian's distccd finds the compilers it may run.
inline constexpr const char *kMasqueradeDir = "/usr/lib/distcc";

// Online CPUs, as distccd counts them for its default --jobs; in [1, kMaxCpus].
std::uint32_t onlineCpus() noexcept;

// The host name up to the first dot; empty if the system has none.
std::string hostName();

// 16 hex digits, stable for the host, distinct between network namespaces of
// one machine even with one machine id and host name: a keyed hash of
// /etc/machine-id, the host name and this namespace's lasting MAC addresses
// (hostIdFrom in host_id.h), which does not reveal the machine id.
std::string hostId();

struct LoadReading {
	bool listening = false;	   // something listens on the distcc port
	bool distccd = false;	   // and it is distccd: see checkDistccd
	std::uint32_t running = 0; // running + queued jobs: ESTABLISHED to the port
	double runnable = 0.0;	   // runnable tasks of the host, this reader excluded
	double load1 = 0.0;	   // the 1-minute load average
	// Of running, per client address (numeric): who runs the jobs.
	std::map<std::string, std::uint32_t> clients;
};

// Who may own distccd's listening socket: root, and distccd's user where the
// system has one (Debian's `distccd`, by getpwnam).
std::vector<std::uint32_t> distccdUids();

// Whether what listens on a port is distccd, and which distccd.
struct DistccdListener {
	bool listening = false;			 // some socket listens on the port here
	bool verified = false;			 // and every one of them is distccd's
	std::optional<procfs::DistccdArgs> args; // the verified distccd's options
	std::string refusal;			 // why not: the uid and command, for the log
	// Where the listeners listen, as the kernel's socket table says (at
	// most kMaxListeners): what distccd accepts on, whatever its --listen.
	std::vector<procfs::TcpEndpoint> addresses;
};

// At most this many listeners on one port are looked at; more are refused.
inline constexpr std::size_t kMaxListeners = 64;

// Checks what listens on @port in this network namespace. Any user may bind
// a port above 1023, so a listener counts as distccd only if the kernel's
// socket table says one of @uids owns it, and a process of that uid whose
// command line is distccd's (serving @port, not --inetd) runs in this
// network namespace. Where a process's fds are readable (as root: all) the
// socket must be among the fds of such a process; where they are not, the
// uid, command line and namespace are enough, so no ptrace rights are
// needed. Every listener on the port must pass: a client may connect to any
// of the host's addresses.
DistccdListener checkDistccd(std::uint16_t port, const std::string &procRoot,
			     std::span<const std::uint32_t> uids);

// Reads distccd's live load: the sockets on its port from the kernel
// (portSockets: NETLINK_SOCK_DIAG, or /proc/net/tcp* where that is refused or
// @procRoot is not the real /proc) and the runnable tasks from /proc/loadavg,
// of this network namespace. Bounded: a host with more sockets than
// procfs::kMaxTcpEntries per family reads as having that many.
class LoadProbe final
{
public:
	// @legacy reads every socket of the host from /proc/net/tcp* as before
	// netlink, for the benchmark's comparison (DISTCC_MDNS_SAMPLING=legacy).
	explicit LoadProbe(std::uint16_t port, std::string procRoot = "/proc",
			   std::vector<std::uint32_t> uids = distccdUids(), bool legacy = false);

	// A file that cannot be read counts as empty: no listener, no jobs. The
	// listeners are checked with checkDistccd when they change (not at every
	// read: it walks /proc); a refused one is logged once.
	LoadReading read();

private:
	// The sockets on the port: the listeners from the kernel at every
	// reading, the connections re-counted when the namespace's socket counts
	// moved or 10 s passed (a peer that closes first moves none).
	PortSockets sockets();

	std::uint16_t port_;
	std::string procRoot_;
	std::vector<std::uint32_t> uids_;
	bool legacy_;
	SockDiag diag_; // kept open: one socket for every reading
	SocketCounts counts_;
	// What the last walk over the connections saw, when, and the counts and
	// listener families it was made under.
	std::optional<PortSockets> last_;
	std::optional<std::array<std::uint64_t, 4>> lastCounts_;
	unsigned lastFamilies_ = 0;
	std::chrono::steady_clock::time_point lastAt_{};
	// The listeners last checked, as (inode, uid) pairs, and the verdict.
	std::vector<std::pair<std::uint64_t, std::uint32_t>> checked_;
	bool verified_ = false;
	std::string logged_; // the last refusal logged
};

// distccd's job slots on @port: its --jobs, or its default onlineCpus() + 2;
// empty unless checkDistccd verifies the listener on @port as distccd's.
std::optional<std::uint32_t> distccdSlots(std::uint16_t port, const std::string &procRoot = "/proc",
					  const std::vector<std::uint32_t> &uids = distccdUids());

// This user's distcc jobs in flight per host and port: the slot lock files
// in @lockDir ($DISTCC_DIR/lock) that some process holds, by /proc/locks.
std::map<std::pair<std::string, std::uint16_t>, std::uint32_t>
distccJobsInFlight(const std::string &lockDir, const std::string &procRoot = "/proc");

// The distcc clients running in this network namespace: processes whose
// executable is distcc (masqueraded as gcc or not), not counting the
// children a distcc forks. Each stands for one compile wanting a slot,
// whether it runs, waits for a lock or compiles here: the demand of the
// builds on this machine: distccClientsByUid() (host/user_jobs.h) added
// up.
std::uint32_t distccClients(const std::string &procRoot = "/proc");

// distcc's own directory: $DISTCC_DIR, else $HOME/.distcc; empty when
// neither is set.
std::string distccDir();

// distcc's backoff period in seconds: $DISTCC_BACKOFF_PERIOD as distcc
// reads it (atoi; 0 turns backoff off), else its default of 60.
long distccBackoffPeriod();

// The hosts and ports this user's distcc recently failed on and skips for
// now: backoff files in @lockDir ($DISTCC_DIR/lock) changed less than
// @period seconds ago (none when @period is 0 or less).
std::set<std::pair<std::string, std::uint16_t>> distccBackoffs(const std::string &lockDir, long period);

// `NAME -dumpmachine` and `NAME -dumpversion` of one compiler, and its
// identity (host/compiler_id.h; empty when its files cannot be read). A bare
// NAME is looked up on $PATH with @excludeDir skipped (so that the
// masquerade symlinks do not find distcc itself); a NAME with a '/' is run
// as is. Runs the compiler four times (twice without @identify), each with
// a timeout of 3 s; blocks meanwhile.
// Without @identify the identity is left empty and the compiler's files are
// not read (a line matched by version does not need it).
std::optional<Compiler> probeCompiler(const std::string &name, const std::string &excludeDir = kMasqueradeDir,
				      bool identify = true);

// The distinct compilers distccd will run: one per target machine and
// version that an entry of its masquerade directory answers for with a real
// compiler on $PATH, `cc` first if present, the rest in name order, each
// with the identity of the first entry that answered for it. Blocks while
// the compilers run.
std::vector<Compiler> masqueradeCompilers(const std::string &dir = kMasqueradeDir);

} // namespace dmdns::host
