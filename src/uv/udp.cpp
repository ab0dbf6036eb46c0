// A UDP socket on a libuv loop for the gossip protocol, and numeric socket-address helpers.
#include "uv/udp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <system_error>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common/log.h"
#include "uv/handle_detail.h"

namespace dmdns::uv {

namespace {

constexpr std::size_t kReceiveBuffer = 64 * 1024;

// A queued send's bytes live here until libuv reports the send done.
struct SendRequest {
	uv_udp_send_t request{};
	std::vector<std::uint8_t> data;
};

sockaddr_storage ipv4(const in_addr &address, in_port_t port) noexcept
{
	sockaddr_storage out{};
	auto &in = reinterpret_cast<sockaddr_in &>(out);
	in.sin_family = AF_INET;
	in.sin_port = port;
	in.sin_addr = address;
	return out;
}

// A peer's IPv4 address in one form however it arrived: as AF_INET.
sockaddr_storage canonical(const sockaddr &address) noexcept
{
	sockaddr_storage out{};
	if (address.sa_family == AF_INET6) {
		const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(address);
		if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
			in_addr v4{};
			std::memcpy(&v4, in6.sin6_addr.s6_addr + 12, sizeof(v4));
			return ipv4(v4, in6.sin6_port);
		}
		std::memcpy(&out, &in6, sizeof(in6));
	} else if (address.sa_family == AF_INET) {
		std::memcpy(&out, &address, sizeof(sockaddr_in));
	} else {
		out.ss_family = address.sa_family;
	}
	return out;
}

// @to in the family of a socket bound as @family: an IPv6 socket reaches
// IPv4 peers only through v4-mapped addresses.
sockaddr_storage forSocket(const sockaddr_storage &to, int family) noexcept
{
	if (family != AF_INET6 || to.ss_family != AF_INET)
		return canonical(reinterpret_cast<const sockaddr &>(to));
	const auto &in = reinterpret_cast<const sockaddr_in &>(to);
	sockaddr_storage out{};
	auto &in6 = reinterpret_cast<sockaddr_in6 &>(out);
	in6.sin6_family = AF_INET6;
	in6.sin6_port = in.sin_port;
	in6.sin6_addr.s6_addr[10] = 0xff;
	in6.sin6_addr.s6_addr[11] = 0xff;
	std::memcpy(in6.sin6_addr.s6_addr + 12, &in.sin_addr, sizeof(in.sin_addr));
	return out;
}

std::optional<std::uint32_t> scopeId(const std::string &zone)
{
	if (zone.empty())
		return std::nullopt;
	if (std::all_of(zone.begin(), zone.end(), [](char c) { return c >= '0' && c <= '9'; })) {
		std::uint32_t id = 0;
		const auto [end, error] = std::from_chars(zone.data(), zone.data() + zone.size(), id);
		if (error != std::errc() || end != zone.data() + zone.size())
			return std::nullopt;
		return id;
	}
	// A name of an interface this host has; if_nametoindex asks the kernel, not DNS.
	if (zone.size() >= IF_NAMESIZE)
		return std::nullopt;
	const unsigned index = ::if_nametoindex(zone.c_str());
	if (index == 0)
		return std::nullopt;
	return index;
}

} // namespace

Udp::Udp(uv_loop_t &loop, OnDatagram onDatagram)
	: Handle(detail::make<uv_udp_t>([&](uv_udp_t *u) { return uv_udp_init(&loop, u); }, "uv_udp_init"),
		 detail::release<uv_udp_t>),
	  onDatagram_(std::move(onDatagram)), buffer_(kReceiveBuffer)
{
}

void Udp::bind(const std::string &address, std::uint16_t port)
{
	const std::optional<sockaddr_storage> local = resolveNumeric(address, port);
	if (!local)
		throw std::invalid_argument("not a numeric IP address: " + address);
	uv_udp_t *udp = live<uv_udp_t>();
	const std::string where = "bind UDP " + toString(*local);
	// No SO_REUSEADDR: UDP has no TIME_WAIT, so a restarted daemon rebinds
	// at once anyway, while on Linux the option would let a second daemon
	// bind the same port and silently take the unicast datagrams.
	try {
		// Our own socket, so that IPV6_V6ONLY can be cleared before bind:
		// libuv only ever sets it.
		const int fd = ::socket(local->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			throw std::system_error(errno, std::generic_category(), where + ": socket");
		if (local->ss_family == AF_INET6) {
			const int no = 0;
			if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no)) != 0) {
				const int error = errno;
				::close(fd);
				throw std::system_error(error, std::generic_category(), where + ": IPV6_V6ONLY");
			}
		}
		if (const int rc = uv_udp_open(udp, fd); rc < 0) {
			::close(fd);
			check(rc, where + ": uv_udp_open");
		}
		// The handle owns the socket from here on and closes it with itself.
		// uv_udp_open turned SO_REUSEADDR on (and SO_REUSEPORT where it
		// means the same); off again, so that a live port cannot be shared.
		const int no = 0;
		if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &no, sizeof(no)) != 0 ||
		    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &no, sizeof(no)) != 0)
			throw std::system_error(errno, std::generic_category(), where + ": SO_REUSEADDR");
		check(uv_udp_bind(udp, reinterpret_cast<const sockaddr *>(&*local), 0), where);
		check(uv_udp_recv_start(udp, &Udp::allocate, &Udp::received), where + ": uv_udp_recv_start");
	} catch (...) {
		// A half-set-up socket cannot be bound again: the owner goes inert.
		close();
		throw;
	}
	family_ = local->ss_family;
}

std::uint16_t Udp::localPort() const
{
	sockaddr_storage local{};
	int length = sizeof(local);
	check(uv_udp_getsockname(live<uv_udp_t>(), reinterpret_cast<sockaddr *>(&local), &length),
	      "UDP getsockname");
	if (local.ss_family == AF_INET)
		return ntohs(reinterpret_cast<const sockaddr_in &>(local).sin_port);
	if (local.ss_family == AF_INET6)
		return ntohs(reinterpret_cast<const sockaddr_in6 &>(local).sin6_port);
	throw std::system_error(EBADF, std::generic_category(), "UDP socket is not bound");
}

bool Udp::send(const sockaddr_storage &to, std::vector<std::uint8_t> datagram)
{
	if (datagram.size() > kMaxDatagram)
		throw std::length_error("UDP datagram of " + std::to_string(datagram.size()) + " bytes exceeds " +
					std::to_string(kMaxDatagram));
	uv_udp_t *udp = maybe<uv_udp_t>();
	if (!udp)
		return false;
	// Unbound, libuv would bind a random port that nobody reads.
	if (family_ == AF_UNSPEC)
		throw std::logic_error("UDP send before bind");
	const sockaddr_storage destination = forSocket(to, family_);
	const auto *address = reinterpret_cast<const sockaddr *>(&destination);
	uv_buf_t buf = uv_buf_init(reinterpret_cast<char *>(datagram.data()), static_cast<unsigned>(datagram.size()));
	// The common case: the kernel takes it now and nothing is allocated.
	// libuv answers EAGAIN too while earlier sends wait, keeping the order.
	int rc = uv_udp_try_send(udp, &buf, 1, address);
	if (rc >= 0) {
		++counters_.sent;
		return true;
	}
	if (rc == UV_EAGAIN) {
		auto request = std::make_unique<SendRequest>();
		request->data = std::move(datagram);
		request->request.data = request.get();
		buf = uv_buf_init(reinterpret_cast<char *>(request->data.data()),
				  static_cast<unsigned>(request->data.size()));
		rc = uv_udp_send(&request->request, udp, &buf, 1, address, &Udp::sent);
		if (rc >= 0) {
			request.release();
			return true;
		}
	}
	++counters_.failed;
	log(LogLevel::Debug, "UDP send to {}: {}", toString(to), uv_strerror(rc));
	return false;
}

std::size_t Udp::sendQueueCount() const noexcept
{
	const uv_udp_t *udp = maybe<uv_udp_t>();
	return udp ? uv_udp_get_send_queue_count(udp) : 0;
}

void Udp::allocate(uv_handle_t *handle, std::size_t, uv_buf_t *buf) noexcept
{
	Udp *self = owner<Udp>(handle);
	// An empty buffer makes libuv report UV_ENOBUFS, which received() ignores.
	*buf = self ? uv_buf_init(reinterpret_cast<char *>(self->buffer_.data()),
				  static_cast<unsigned>(self->buffer_.size()))
		    : uv_buf_init(nullptr, 0);
}

void Udp::received(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf, const sockaddr *addr,
		   unsigned flags) noexcept
{
	Udp *self = owner<Udp>(udp);
	if (!self)
		return;
	if (nread < 0) {
		// Datagram sockets carry on after an error; there is nothing to close.
		++self->counters_.failed;
		log(LogLevel::Debug, "UDP receive: {}", uv_strerror(static_cast<int>(nread)));
		return;
	}
	// No address: libuv found nothing to read. With one, nread 0 is an
	// empty datagram, passed on for the decoder to refuse.
	if (!addr)
		return;
	const sockaddr_storage from = canonical(*addr);
	const auto size = static_cast<std::size_t>(nread);
	// PARTIAL means the kernel cut it to fit the buffer: never pass on a prefix.
	if ((flags & UV_UDP_PARTIAL) != 0 || size > kMaxDatagram) {
		++self->counters_.oversized;
		log(LogLevel::Debug, "dropped a {}{}-byte UDP datagram from {}",
		    (flags & UV_UDP_PARTIAL) != 0 ? "truncated " : "", size, toString(from));
		return;
	}
	++self->counters_.received;
	// May destroy the Udp: nothing touches it afterwards.
	if (self->onDatagram_)
		guarded("UDP datagram callback", self->onDatagram_,
			std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t *>(buf->base), size),
			from);
}

void Udp::sent(uv_udp_send_t *request, int status) noexcept
{
	const std::unique_ptr<SendRequest> owned(static_cast<SendRequest *>(request->data));
	// Cancelled sends belong to a socket that is closing: no owner to tell.
	// The handle's memory lives until its close callback, after this one.
	Udp *self = owner<Udp>(request->handle);
	if (!self || status == UV_ECANCELED)
		return;
	if (status < 0) {
		++self->counters_.failed;
		log(LogLevel::Debug, "UDP send: {}", uv_strerror(status));
		return;
	}
	++self->counters_.sent;
}

std::optional<sockaddr_storage> resolveNumeric(const std::string &address, std::uint16_t port)
{
	// inet_pton reads a C string: an embedded NUL would hide a suffix.
	if (address.find('\0') != std::string::npos)
		return std::nullopt;
	if (address.find(':') == std::string::npos) {
		// inet_pton, unlike inet_aton, takes dotted quads only: no "127.1".
		in_addr v4{};
		if (::inet_pton(AF_INET, address.c_str(), &v4) != 1)
			return std::nullopt;
		return ipv4(v4, htons(port));
	}
	const std::size_t percent = address.find('%');
	const std::string host = address.substr(0, percent);
	sockaddr_storage out{};
	auto &in6 = reinterpret_cast<sockaddr_in6 &>(out);
	if (::inet_pton(AF_INET6, host.c_str(), &in6.sin6_addr) != 1)
		return std::nullopt;
	if (percent != std::string::npos) {
		const std::optional<std::uint32_t> scope = scopeId(address.substr(percent + 1));
		if (!scope)
			return std::nullopt;
		in6.sin6_scope_id = *scope;
	}
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(port);
	return out;
}

std::string toString(const sockaddr_storage &address)
{
	char text[INET6_ADDRSTRLEN] = {};
	if (address.ss_family == AF_INET) {
		const auto &in = reinterpret_cast<const sockaddr_in &>(address);
		::inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text));
		return fmt::format("{}:{}", text, ntohs(in.sin_port));
	}
	if (address.ss_family == AF_INET6) {
		const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(address);
		::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
		// fmt, not operator+ on strings: GCC 12 at -O3 warns falsely there.
		if (in6.sin6_scope_id != 0)
			return fmt::format("[{}%{}]:{}", text, in6.sin6_scope_id, ntohs(in6.sin6_port));
		return fmt::format("[{}]:{}", text, ntohs(in6.sin6_port));
	}
	return fmt::format("(family {})", address.ss_family);
}

} // namespace dmdns::uv
