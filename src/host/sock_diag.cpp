// The kernel's TCP socket table for one port, through NETLINK_SOCK_DIAG, with /proc/net/tcp* as the fallback.
#include "host/sock_diag.h"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <map>
#include <netinet/in.h>
#include <span>
#include <string_view>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"

namespace dmdns::host {

namespace {

// /proc/net/tcp6 lines are 150-180 bytes: room for kMaxTcpEntries of them.
constexpr std::size_t kMaxTcpBytes = 16u << 20;
// The kernel fills a dump datagram up to 32 KiB (or a page, whichever the
// receive buffer allows); a larger buffer never sees a cut message.
constexpr std::size_t kReceiveBuffer = 64u << 10;
// A dump of kMaxTcpEntries sockets takes a few hundred datagrams; a kernel
// that keeps sending past this many is not trusted to stop.
constexpr int kMaxDatagrams = 8192;

// Whether the fallback was logged: once per process is enough to explain it.
std::atomic<bool> fallbackLogged{ false };

void logFallback(const char *what, int error)
{
	if (!fallbackLogged.exchange(true))
		log(LogLevel::Debug, "NETLINK_SOCK_DIAG {}: {}; reading /proc/net/tcp and tcp6 instead", what,
		    std::strerror(error));
}

// The filter program: local (or remote) port >= @port and <= @port. Each
// comparison is two ops (the second carries the port in its `no`); a failed
// comparison jumps 4 bytes past the end, which the kernel reads as "reject".
// GE and LE exist in every kernel with inet_diag; EQ only since 4.16.
std::array<inet_diag_bc_op, 4> portFilter(bool local, std::uint16_t port)
{
	const std::uint8_t ge = local ? INET_DIAG_BC_S_GE : INET_DIAG_BC_D_GE;
	const std::uint8_t le = local ? INET_DIAG_BC_S_LE : INET_DIAG_BC_D_LE;
	constexpr std::uint16_t op = sizeof(inet_diag_bc_op);
	return { inet_diag_bc_op{ ge, 2 * op, 4 * op + 4 }, inet_diag_bc_op{ 0, 0, port },
		 inet_diag_bc_op{ le, 2 * op, 2 * op + 4 }, inet_diag_bc_op{ 0, 0, port } };
}

procfs::TcpEndpoint endpoint(int family, const __be32 (&address)[4], __be16 port)
{
	procfs::TcpEndpoint e;
	e.ipv6 = family == AF_INET6;
	std::memcpy(e.address.data(), address, e.ipv6 ? 16 : 4);
	e.port = ntohs(port);
	return e;
}

} // namespace

SockDiag::SockDiag()
{
	fd_.reset(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
	if (fd_.get() < 0) {
		logFallback("socket", errno);
		return;
	}
	// The kernel answers a dump at once; a receive that waits this long
	// means something is wrong, and the caller falls back to /proc.
	const timeval timeout{ 1, 0 };
	::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

void SockDiag::fail(const char *what, int error)
{
	logFallback(what, error);
	// A dump left half read keeps the socket busy (EBUSY for the next one):
	// a fresh socket starts clean, and stays closed if it cannot be had.
	fd_.reset(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
	if (fd_.get() >= 0) {
		const timeval timeout{ 1, 0 };
		::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	}
}

std::optional<SockDiag::Dump> SockDiag::dump(int family, std::uint32_t states, bool local, std::uint16_t port)
{
	if (fd_.get() < 0)
		return std::nullopt;
	const auto filter = portFilter(local, port);
	nlmsghdr header{};
	inet_diag_req_v2 request{};
	rtattr attribute{};
	constexpr std::size_t kLength = NLMSG_LENGTH(sizeof request) + RTA_LENGTH(sizeof filter);
	static_assert(NLMSG_LENGTH(sizeof request) == NLMSG_ALIGN(NLMSG_LENGTH(sizeof request)));
	header.nlmsg_len = kLength;
	header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	header.nlmsg_seq = ++sequence_;
	request.sdiag_family = static_cast<std::uint8_t>(family);
	request.sdiag_protocol = IPPROTO_TCP;
	request.idiag_states = states;
	attribute.rta_type = INET_DIAG_REQ_BYTECODE;
	attribute.rta_len = RTA_LENGTH(sizeof filter);
	std::array<std::uint8_t, kLength> message{};
	std::memcpy(message.data(), &header, sizeof header);
	std::memcpy(message.data() + NLMSG_HDRLEN, &request, sizeof request);
	std::memcpy(message.data() + NLMSG_LENGTH(sizeof request), &attribute, sizeof attribute);
	std::memcpy(message.data() + NLMSG_LENGTH(sizeof request) + RTA_LENGTH(0), filter.data(), sizeof filter);

	sockaddr_nl kernel{};
	kernel.nl_family = AF_NETLINK;
	if (::sendto(fd_.get(), message.data(), message.size(), 0, reinterpret_cast<const sockaddr *>(&kernel),
		     sizeof kernel) < 0) {
		fail("send", errno);
		return std::nullopt;
	}

	Dump out;
	std::vector<std::uint8_t> &buffer = buffer_;
	buffer.resize(kReceiveBuffer);
	for (int datagrams = 0; datagrams < kMaxDatagrams; ++datagrams) {
		const ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("receive", errno);
			return std::nullopt;
		}
		std::size_t at = 0;
		const auto size = static_cast<std::size_t>(n);
		while (size - at >= sizeof(nlmsghdr)) {
			nlmsghdr h;
			std::memcpy(&h, buffer.data() + at, sizeof h);
			if (h.nlmsg_len < sizeof h || h.nlmsg_len > size - at)
				break; // cut or malformed: nothing more in this datagram
			const std::uint8_t *body = buffer.data() + at + NLMSG_HDRLEN;
			const std::size_t bodyLength = h.nlmsg_len - NLMSG_HDRLEN;
			at += std::min<std::size_t>(NLMSG_ALIGN(h.nlmsg_len), size - at);
			if (h.nlmsg_seq != sequence_)
				continue; // an answer to an earlier request
			if (h.nlmsg_type == NLMSG_DONE)
				return out;
			if (h.nlmsg_type == NLMSG_ERROR) {
				nlmsgerr error{};
				std::memcpy(&error, body, std::min(bodyLength, sizeof error));
				if (error.error == 0)
					continue; // an acknowledgement
				// A kernel without IPv6 (ipv6.disable=1) has no handler
				// for it, and no IPv6 socket either.
				if (family == AF_INET6 && (error.error == -ENOENT || error.error == -EAFNOSUPPORT))
					return out;
				fail("dump", -error.error);
				return std::nullopt;
			}
			if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY || bodyLength < sizeof(inet_diag_msg))
				continue;
			++received_;
			if (out.entries.size() >= procfs::kMaxTcpEntries) {
				out.truncated = true;
				continue;
			}
			inet_diag_msg m;
			std::memcpy(&m, body, sizeof m);
			procfs::TcpEntry e;
			e.local = endpoint(m.idiag_family, m.id.idiag_src, m.id.idiag_sport);
			e.remote = endpoint(m.idiag_family, m.id.idiag_dst, m.id.idiag_dport);
			e.state = m.idiag_state;
			e.uid = m.idiag_uid;
			e.inode = m.idiag_inode;
			out.entries.push_back(e);
		}
	}
	fail("dump", EMSGSIZE);
	return std::nullopt;
}

std::optional<PortSockets> SockDiag::listeners(std::uint16_t port)
{
	PortSockets out;
	for (const int family : { AF_INET, AF_INET6 }) {
		auto d = dump(family, 1u << procfs::kTcpListen, true, port);
		if (!d)
			return std::nullopt;
		out.truncated = out.truncated || d->truncated;
		for (procfs::TcpEntry &e : d->entries)
			// The kernel ran the filter; checked again so that a kernel
			// that ignored it cannot make other ports count.
			if (e.local.port == port && e.state == procfs::kTcpListen)
				out.listeners.push_back(std::move(e));
	}
	return out;
}

std::optional<std::uint32_t> SockDiag::established(std::uint16_t port, int family)
{
	auto d = dump(family, 1u << procfs::kTcpEstablished, true, port);
	if (!d)
		return std::nullopt;
	return static_cast<std::uint32_t>(std::count_if(d->entries.begin(), d->entries.end(), [&](const procfs::TcpEntry &e) {
		return e.local.port == port && e.state == procfs::kTcpEstablished;
	}));
}

std::optional<PortSockets> SockDiag::port(std::uint16_t port)
{
	auto out = listeners(port);
	if (!out)
		return std::nullopt;
	for (const bool ipv6 : { false, true }) {
		if (std::none_of(out->listeners.begin(), out->listeners.end(),
				 [&](const procfs::TcpEntry &l) { return l.local.ipv6 == ipv6; }))
			continue;
		auto d = dump(ipv6 ? AF_INET6 : AF_INET, 1u << procfs::kTcpEstablished, true, port);
		if (!d)
			return std::nullopt;
		// Checked again, as in established(): the kernel ran the filter.
		out->established += procfs::established(d->entries, port);
		procfs::countClients(d->entries, port, out->clients);
	}
	return out;
}

namespace {

// Adds the ESTABLISHED sockets to remote @port among @entries to @counts.
void countOutgoing(std::span<const procfs::TcpEntry> entries, std::uint16_t port,
		   std::map<OutgoingKey, std::uint32_t> &counts)
{
	for (const procfs::TcpEntry &e : entries)
		if (e.remote.port == port && e.state == procfs::kTcpEstablished)
			++counts[OutgoingKey{ e.uid.value_or(UINT32_MAX), e.remote.ipv6, e.remote.address, e.remote.port }];
}

std::vector<OutgoingCount> sorted(const std::map<OutgoingKey, std::uint32_t> &counts)
{
	std::vector<OutgoingCount> out;
	out.reserve(counts.size());
	for (const auto &[key, count] : counts)
		out.push_back({ key, count });
	return out;
}

} // namespace

std::optional<std::vector<OutgoingCount>> SockDiag::outgoing(std::uint16_t remotePort)
{
	std::map<OutgoingKey, std::uint32_t> counts;
	for (const int family : { AF_INET, AF_INET6 }) {
		auto d = dump(family, 1u << procfs::kTcpEstablished, false, remotePort);
		if (!d)
			return std::nullopt;
		countOutgoing(d->entries, remotePort, counts);
	}
	return sorted(counts);
}

std::optional<std::vector<procfs::TcpEntry>> SockDiag::outgoingSockets(std::uint16_t remotePort)
{
	std::vector<procfs::TcpEntry> sockets;
	for (const int family : { AF_INET, AF_INET6 }) {
		auto d = dump(family, 1u << procfs::kTcpEstablished, false, remotePort);
		if (!d)
			return std::nullopt;
		for (procfs::TcpEntry &e : d->entries)
			if (e.remote.port == remotePort && e.state == procfs::kTcpEstablished)
				sockets.push_back(std::move(e));
	}
	return sockets;
}

namespace {

// The whole of a small seq file kept open, read again from offset 0 (which
// makes the kernel regenerate it); empty if it cannot be read.
std::optional<std::string> reread(int fd)
{
	char buffer[1024];
	const ssize_t n = fd < 0 ? -1 : ::pread(fd, buffer, sizeof buffer, 0);
	if (n <= 0)
		return std::nullopt;
	return std::string(buffer, static_cast<std::size_t>(n));
}

// The number after @key in the line of a sockstat file that starts with
// @line: "TCP: inuse 5 orphan 0 tw 2 alloc 9 mem 1".
std::optional<std::uint64_t> sockstatField(std::string_view text, std::string_view line, std::string_view key)
{
	std::size_t at = 0;
	while (text.compare(at, line.size(), line) != 0) {
		const std::size_t next = text.find('\n', at);
		if (next == std::string_view::npos)
			return std::nullopt;
		at = next + 1;
	}
	const std::string_view rest = text.substr(at, text.find('\n', at) - at);
	const std::string spaced = " " + std::string(key) + " ";
	const std::size_t k = rest.find(spaced);
	if (k == std::string_view::npos)
		return std::nullopt;
	std::uint64_t value = 0;
	std::size_t digits = 0;
	for (std::size_t i = k + spaced.size(); i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && digits < 19;
	     ++i, ++digits)
		value = value * 10 + static_cast<std::uint64_t>(rest[i] - '0');
	if (digits == 0)
		return std::nullopt;
	return value;
}

} // namespace

SocketCounts::SocketCounts(std::string procRoot)
	: procRoot_(std::move(procRoot))
{
}

std::optional<std::array<std::uint64_t, 4>> SocketCounts::read()
{
	if (ipv4_.get() < 0)
		ipv4_.reset(::open((procRoot_ + "/net/sockstat").c_str(), O_RDONLY | O_CLOEXEC));
	if (ipv6_.get() < 0)
		ipv6_.reset(::open((procRoot_ + "/net/sockstat6").c_str(), O_RDONLY | O_CLOEXEC));
	const auto v4 = reread(ipv4_.get());
	if (!v4)
		return std::nullopt;
	const auto inuse4 = sockstatField(*v4, "TCP: ", "inuse");
	const auto orphan = sockstatField(*v4, "TCP: ", "orphan");
	const auto tw4 = sockstatField(*v4, "TCP: ", "tw");
	// A kernel without IPv6 has no sockstat6, and no IPv6 sockets.
	std::uint64_t inuse6 = 0;
	if (ipv6_.get() >= 0) {
		const auto v6 = reread(ipv6_.get());
		const auto n = v6 ? sockstatField(*v6, "TCP6: ", "inuse") : std::nullopt;
		if (!n)
			return std::nullopt;
		inuse6 = *n;
	}
	if (!inuse4 || !orphan || !tw4)
		return std::nullopt;
	return std::array<std::uint64_t, 4>{ *inuse4, *orphan, *tw4, inuse6 };
}

PortSockets portSocketsFromProc(std::uint16_t port, const std::string &procRoot)
{
	PortSockets counts;
	// tcp6 holds IPv6 and v4-mapped sockets, tcp the IPv4 ones: no socket in both.
	for (const char *name : { "/net/tcp", "/net/tcp6" }) {
		auto file = readBounded(procRoot + name, kMaxTcpBytes);
		if (!file)
			continue;
		counts.truncated = counts.truncated || file->truncated;
		const auto entries = procfs::parseTcp(wholeLines(*file));
		for (procfs::TcpEntry &e : procfs::listeners(entries, port))
			counts.listeners.push_back(std::move(e));
		counts.established += procfs::established(entries, port);
		procfs::countClients(entries, port, counts.clients);
	}
	return counts;
}

std::vector<OutgoingCount> outgoingConnections(std::uint16_t remotePort, const std::string &procRoot, SockDiag *diag)
{
	if (procRoot == "/proc") {
		std::optional<std::vector<OutgoingCount>> answer;
		if (diag)
			answer = diag->outgoing(remotePort);
		else
			answer = SockDiag().outgoing(remotePort);
		if (answer)
			return std::move(*answer);
	}
	std::map<OutgoingKey, std::uint32_t> counts;
	for (const char *name : { "/net/tcp", "/net/tcp6" })
		if (auto file = readBounded(procRoot + name, kMaxTcpBytes))
			countOutgoing(procfs::parseTcp(wholeLines(*file)), remotePort, counts);
	return sorted(counts);
}

PortSockets portSockets(std::uint16_t port, const std::string &procRoot, SockDiag *diag)
{
	if (procRoot == "/proc") {
		std::optional<PortSockets> answer;
		if (diag)
			answer = diag->port(port);
		else
			answer = SockDiag().port(port);
		if (answer)
			return std::move(*answer);
	}
	return portSocketsFromProc(port, procRoot);
}

} // namespace dmdns::host
