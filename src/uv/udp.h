// A UDP socket on a libuv loop for the gossip protocol, and numeric socket-address helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "uv/handle.h"

namespace dmdns::uv {

// The largest datagram sent or passed on: a 1400-byte gossip packet (kept
// under a typical path MTU) plus room for an authentication tag.
inline constexpr std::size_t kMaxDatagram = 1400 + 64;

// What a Udp socket did since construction.
struct UdpCounters {
	std::uint64_t sent = 0;	     // datagrams the kernel accepted
	std::uint64_t received = 0;  // datagrams passed to onDatagram
	std::uint64_t failed = 0;    // sends that failed, receive errors
	std::uint64_t oversized = 0; // datagrams dropped for exceeding kMaxDatagram
};

// A datagram socket as the gossip node uses it: Udp in the daemon, a fake
// in tests.
class DatagramSocket
{
public:
	using OnDatagram = std::function<void(std::span<const std::uint8_t> data, const sockaddr_storage &from)>;

	virtual ~DatagramSocket() = default;

	virtual void bind(const std::string &address, std::uint16_t port) = 0;
	virtual std::uint16_t localPort() const = 0;
	virtual bool send(const sockaddr_storage &to, std::vector<std::uint8_t> datagram) = 0;
};

// A UDP socket. Addresses are reported as AF_INET for IPv4 peers even on a
// dual-stack socket (no ::ffff:a.b.c.d forms), so that one peer has one
// address; send() maps IPv4 destinations onto an IPv6 socket likewise.
class Udp final : public Handle, public DatagramSocket
{
public:
	// @onDatagram sees each datagram of at most kMaxDatagram bytes, whole;
	// its data lives only during the call. It may destroy the Udp.
	Udp(uv_loop_t &loop, OnDatagram onDatagram);

	// Binds to a numeric @address (see resolveNumeric) and starts receiving.
	// "::" is dual-stack, whatever net.ipv6.bindv6only says. Port 0 picks a
	// free port. Throws std::invalid_argument for a non-numeric address,
	// std::system_error when binding fails (EADDRINUSE while another socket
	// holds the port: SO_REUSEADDR is deliberately not set, see udp.cpp).
	void bind(const std::string &address, std::uint16_t port) override;
	// The bound port; throws std::system_error before bind().
	std::uint16_t localPort() const override;

	// Sends @datagram to @to, now if the kernel takes it, else queued with
	// its bytes kept until libuv reports the send. False if it failed at
	// once or the socket is closed (counted as failed unless closed); a
	// queued send that fails later is counted only. Throws
	// std::length_error above kMaxDatagram: the encoder must not do that.
	bool send(const sockaddr_storage &to, std::vector<std::uint8_t> datagram) override;
	// Sends queued because the kernel was busy, not yet completed.
	std::size_t sendQueueCount() const noexcept;

	const UdpCounters &counters() const noexcept { return counters_; }

private:
	static void allocate(uv_handle_t *handle, std::size_t suggested, uv_buf_t *buf) noexcept;
	static void received(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf, const sockaddr *addr,
			     unsigned flags) noexcept;
	static void sent(uv_udp_send_t *request, int status) noexcept;

	OnDatagram onDatagram_;
	UdpCounters counters_;
	int family_ = AF_UNSPEC;
	// 64 KiB: any IPv4/IPv6 datagram fits, so a large one is seen whole
	// and counted as oversized rather than arriving truncated.
	std::vector<std::uint8_t> buffer_;
};

// @address as a socket address with @port: a numeric IPv4 dotted quad or
// an IPv6 address, optionally scoped ("fe80::1%eth0", "fe80::1%2"). Never
// resolves names; nullopt for names, shorthand IPv4 forms ("127.1"),
// brackets and unknown interfaces.
std::optional<sockaddr_storage> resolveNumeric(const std::string &address, std::uint16_t port);

// "1.2.3.4:3632", "[fe80::1%2]:3632"; unknown families as "(family N)".
std::string toString(const sockaddr_storage &address);

} // namespace dmdns::uv
