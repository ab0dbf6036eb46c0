// Pure parsers of what Linux and distccd tell about the local host: no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/server.h"

namespace dmdns::procfs {

// TCP states as /proc/net/tcp prints them (include/net/tcp_states.h).
inline constexpr std::uint8_t kTcpEstablished = 0x01;
inline constexpr std::uint8_t kTcpListen = 0x0A;

// Ceilings on untrusted input; callers may pass lower ones.
inline constexpr std::size_t kMaxTcpEntries = 65536;
inline constexpr std::size_t kMaxArgs = 4096;

// The largest --jobs we accept; distccd 3.4 itself refuses more than 200.
inline constexpr std::uint32_t kMaxJobs = kMaxSlots;

struct TcpEndpoint {
	bool ipv6 = false;
	// Network byte order; an IPv4 address fills the first 4 bytes.
	std::array<std::uint8_t, 16> address{};
	std::uint16_t port = 0;

	// Numeric form: "127.0.0.1", "::1", "::ffff:10.0.0.2".
	std::string addressText() const;
	// As a hosts line and the directory write it: an IPv4-mapped address
	// (an IPv6 socket connected to an IPv4 server) as plain IPv4.
	std::string lineAddress() const;
};

// One socket line of /proc/net/tcp or /proc/net/tcp6.
struct TcpEntry {
	TcpEndpoint local;
	TcpEndpoint remote;
	std::uint8_t state = 0;
	// The socket's owner as the kernel records it (the creator's uid);
	// empty when the line stops before that column or it is malformed.
	std::optional<std::uint32_t> uid;
	std::uint64_t inode = 0; // 0: none or unknown (TIME_WAIT, a short line)
};

// Reads the socket lines of /proc/net/tcp or tcp6 (both formats, even mixed);
// the header and malformed lines are skipped, at most @maxEntries are kept.
std::vector<TcpEntry> parseTcp(std::string_view text, std::size_t maxEntries = kMaxTcpEntries);

// Whether a socket listens on local @port.
bool listening(std::span<const TcpEntry> entries, std::uint16_t port) noexcept;

// The sockets listening on local @port (one per address and family bound).
std::vector<TcpEntry> listeners(std::span<const TcpEntry> entries, std::uint16_t port);

// ESTABLISHED sockets whose local port is @port: on a distccd host its
// running plus queued jobs, because distccd never rejects a connection and the
// accept backlog holds the excess. Outgoing connections to @port do not count.
// distccd sets TCP_DEFER_ACCEPT, so a connection stays SYN_RECV on the server
// side until the client sends; distcc sends its request at once, and a bare
// connect (a port scan, a health check) is thus no job.
std::uint32_t established(std::span<const TcpEntry> entries, std::uint16_t port) noexcept;

// The same per client: adds each ESTABLISHED socket on local @port to the
// count of its remote address (TcpEndpoint::lineAddress(): an IPv4 client
// of an IPv6 listener as plain IPv4), which client runs how many jobs.
void countClients(std::span<const TcpEntry> entries, std::uint16_t port, std::map<std::string, std::uint32_t> &counts);

struct LoadAvg {
	double load1 = 0.0;	    // the 1-minute load average
	std::uint32_t runnable = 0; // tasks runnable right now, the reader included
	std::uint32_t tasks = 0;    // all tasks
};

// Reads /proc/loadavg: "0.43 1.03 0.58 1/85 7060".
std::optional<LoadAvg> parseLoadavg(std::string_view text) noexcept;

// Splits /proc/PID/cmdline (NUL-terminated arguments) into at most @maxArgs.
std::vector<std::string> splitCmdline(std::string_view raw, std::size_t maxArgs = kMaxArgs);

struct DistccdArgs {
	std::uint16_t port = kDistccPort;
	std::optional<std::uint32_t> jobs; // empty: distccd's default, cpus + 2
	bool inetd = false;		   // serves one connection on stdin, listens on nothing
	// --listen ADDRESS: empty, distccd's default, 0.0.0.0 (measured with
	// distccd 3.4); the kernel's socket table says the same, and is what
	// the advertiser reads.
	std::optional<Address> listen;
	// The networks --allow and --allow-private admit, at most kMaxAllow
	// (distccd refuses every client when there are none).
	std::vector<Network> allow;
	// Some --allow could not be read, or there were more than kMaxAllow:
	// whom distccd admits is not known in full.
	bool allowUnknown = false;
};

inline constexpr std::size_t kMaxAllow = 64;

// What distccd 3.4's --allow-private stands for (distccd(1)).
inline constexpr std::string_view kPrivateNetworks[] = { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
							 "127.0.0.0/8" };

// The options of a distccd command line; empty when argv[0] is not distccd or
// an option distccd would refuse to start with (a bad --jobs or --port).
std::optional<DistccdArgs> parseDistccd(std::span<const std::string> argv);

// A compiler name distccd could run from its masquerade directory: letters,
// digits and "._+-", not starting with '.' or '-'.
bool validCompilerName(std::string_view name) noexcept;

// `cc -dumpmachine` and `cc -dumpversion` output as one Compiler, or empty
// when it is not one line each that the TXT schema can carry.
std::optional<Compiler> parseCompilerOutput(std::string_view dumpMachine,
					    std::string_view dumpVersion);

// A file some process holds a lock on, as /proc/locks names it.
struct LockedFile {
	std::uint32_t major = 0;
	std::uint32_t minor = 0;
	std::uint64_t inode = 0;

	auto operator<=>(const LockedFile &) const = default;
};

// The files /proc/locks shows held (waiters, the "->" lines, are not
// holders). Malformed lines are skipped; at most @maxEntries are read.
std::vector<LockedFile> parseLocks(std::string_view text, std::size_t maxEntries = 65536);

// The real and effective uid of a process, from the "Uid:" line of
// /proc/PID/status (readable by anyone, unlike the process's fds).
struct ProcessUids {
	std::uint32_t real = 0;
	std::uint32_t effective = 0;
};
std::optional<ProcessUids> parseStatusUids(std::string_view status);

// The inode of "socket:[INODE]", the target of a /proc/PID/fd link to a
// socket; empty for any other target.
std::optional<std::uint64_t> parseSocketLink(std::string_view target);

// The state and parent pid in the text of /proc/PID/stat ("PID (COMM) STATE
// PPID ..."), read after the last ')' since COMM may hold anything; empty if
// malformed.
struct StatHead {
	char state = 0; // 'R', 'S', 'Z' (a zombie) ...
	std::uint64_t parent = 0;
};
std::optional<StatHead> parseStatHead(std::string_view stat);
// Its parent pid alone.
std::optional<std::uint64_t> parseStatParent(std::string_view stat);

// One of distcc's per-host files in $DISTCC_DIR/lock, "KIND_tcp_HOST_PORT_SLOT":
// the host as the hosts line names it and the port. KIND "cpu" is a slot
// lock, held while a job runs there; "backoff" (slot 0) is touched when a
// job there failed, and distcc skips the host while it is recent.
struct DistccSlot {
	std::string host;
	std::uint16_t port = 0;
	std::uint32_t slot = 0;
};
std::optional<DistccSlot> parseDistccLockName(std::string_view name, std::string_view kind = "cpu");

} // namespace dmdns::procfs
