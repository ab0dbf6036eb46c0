// The kernel's TCP socket table for one port, through NETLINK_SOCK_DIAG, with /proc/net/tcp* as the fallback.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "host/files.h"
#include "host/procfs.h"

namespace dmdns::host {

// The sockets of this network namespace on a local port: its listeners
// (local address, family, owner uid, inode) and how many connections it has
// accepted or queued (ESTABLISHED, local port = the port).
struct PortSockets {
	std::vector<procfs::TcpEntry> listeners;
	std::uint32_t established = 0;
	// The same per client address (procfs::countClients): who runs the
	// jobs. Bounded by the sockets read.
	std::map<std::string, std::uint32_t> clients;
	bool truncated = false; // more sockets than the bound: some were not seen
};

// ESTABLISHED connections of this machine to a remote port, counted per
// owner and remote end: one user's distcc jobs running on one server.
struct OutgoingKey {
	std::uint32_t uid = 0;
	bool ipv6 = false;			// the socket's family (v4-mapped counts as IPv6)
	std::array<std::uint8_t, 16> address{}; // network byte order; IPv4 fills the first 4 bytes
	std::uint16_t port = 0;

	auto operator<=>(const OutgoingKey &) const = default;
};

struct OutgoingCount {
	OutgoingKey key;
	std::uint32_t count = 0;
};

// A NETLINK_SOCK_DIAG (inet_diag) socket that asks the kernel only for the
// sockets on one port: the port is a filter the kernel runs
// (INET_DIAG_REQ_BYTECODE), so a reading costs the same on a host with a
// hundred thousand unrelated sockets. Every answer is bounded by
// procfs::kMaxTcpEntries sockets per family. Not thread-safe: one per user.
class SockDiag final
{
public:
	// Opens the socket; a kernel or sandbox without it leaves the object
	// unavailable (every query then answers empty).
	SockDiag();

	bool available() const noexcept { return fd_.get() >= 0; }

	// How many sockets the kernel has sent so far, filter passed: with the
	// filter working, the ones on the port asked about only.
	std::uint64_t received() const noexcept { return received_; }

	// Listeners and ESTABLISHED connections on local @port, IPv4 and IPv6;
	// empty when the kernel does not answer (then the caller reads /proc).
	// The connections of a family are looked for only where a listener of
	// that family is (every accepted connection is of its listener's
	// family; with none, no job runs): that costs a walk over the kernel's
	// whole connection table (~1 ms with 256 Ki buckets), the listeners not.
	std::optional<PortSockets> port(std::uint16_t port);

	// The listeners on local @port only (established stays 0): the
	// kernel walks its listening table, tens of microseconds.
	std::optional<PortSockets> listeners(std::uint16_t port);

	// ESTABLISHED sockets of @family (AF_INET, AF_INET6) on local @port.
	std::optional<std::uint32_t> established(std::uint16_t port, int family);

	// ESTABLISHED sockets to remote @remotePort per (uid, remote address,
	// remote port), in key order; empty when the kernel does not answer.
	// A uid's count on a server is its distcc jobs running there.
	std::optional<std::vector<OutgoingCount>> outgoing(std::uint16_t remotePort);

	// The ESTABLISHED sockets to remote @remotePort themselves, IPv4 and
	// IPv6 (ends, owner, inode): one per remote job, for JobTimer. Empty
	// when the kernel does not answer.
	std::optional<std::vector<procfs::TcpEntry>> outgoingSockets(std::uint16_t remotePort);

private:
	// Each socket that passes the filter, as a /proc/net/tcp line would read.
	struct Dump {
		std::vector<procfs::TcpEntry> entries;
		bool truncated = false;
	};
	// One dump of @family's TCP sockets in @states (a bit per TCP state)
	// whose local (@local) or remote port is @port.
	std::optional<Dump> dump(int family, std::uint32_t states, bool local, std::uint16_t port);
	void fail(const char *what, int error);

	UniqueFd fd_;
	std::uint32_t sequence_ = 0;
	std::uint64_t received_ = 0;
	std::vector<std::uint8_t> buffer_; // for the answers, kept between dumps
};

// Whether the socket table of this network namespace may have changed,
// from its TCP socket counts (/proc/net/sockstat and sockstat6): sockets in
// use per family, orphaned (closed by their process, still closing) and in
// TIME_WAIT. A connection that opens, or that its process on this host
// closes, moves them; one whose peer closes first (ESTABLISHED to
// CLOSE_WAIT) does not until this side closes too, nor one closing while
// another opens in between: a reader re-counts after a while anyway. A few
// microseconds, where the walk over every connection costs a millisecond.
class SocketCounts final
{
public:
	explicit SocketCounts(std::string procRoot = "/proc");

	// IPv4 in use, orphaned, in TIME_WAIT, IPv6 in use; empty when the
	// files cannot be read or parsed (then nothing is known to be unchanged).
	std::optional<std::array<std::uint64_t, 4>> read();

private:
	std::string procRoot_;
	// Kept open: a seq file is regenerated by each read from offset 0.
	UniqueFd ipv4_;
	UniqueFd ipv6_;
};

// The sockets on local @port as distccd's probes read them: through a
// SockDiag when @procRoot is the real "/proc" and the kernel answers (at
// most @diag, else a short-lived one), else by parsing @procRoot/net/tcp and
// tcp6 (any other root is a tree of files: tests, snapshots). Files that
// cannot be read count as empty.
PortSockets portSockets(std::uint16_t port, const std::string &procRoot = "/proc", SockDiag *diag = nullptr);

// ESTABLISHED connections of this machine to remote @remotePort per (uid,
// remote address, remote port), in key order: through @diag (or a
// short-lived SockDiag) when @procRoot is "/proc" and the kernel answers,
// else from @procRoot/net/tcp and tcp6. At most procfs::kMaxTcpEntries
// sockets per family are counted.
std::vector<OutgoingCount> outgoingConnections(std::uint16_t remotePort, const std::string &procRoot = "/proc",
					       SockDiag *diag = nullptr);

// The same from @procRoot/net/tcp and tcp6 only: the old way, which costs
// more the more sockets the host has; for the benchmark's comparison.
PortSockets portSocketsFromProc(std::uint16_t port, const std::string &procRoot = "/proc");

} // namespace dmdns::host
