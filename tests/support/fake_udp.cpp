// A datagram socket that records what is sent and receives what the test delivers.
#include "support/fake_udp.h"

#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace dmdns::test {

void FakeUdp::bind(const std::string &address, std::uint16_t port)
{
	if (port_)
		throw std::logic_error("FakeUdp: bound twice");
	socketAddress(address, port); // the same refusal of names as uv::Udp
	// Where Linux's ephemeral ports start.
	port_ = port != 0 ? port : 32768;
}

std::uint16_t FakeUdp::localPort() const
{
	if (!port_)
		throw std::logic_error("FakeUdp: not bound");
	return *port_;
}

bool FakeUdp::send(const sockaddr_storage &to, std::vector<std::uint8_t> datagram)
{
	if (datagram.size() > uv::kMaxDatagram)
		throw std::length_error("FakeUdp: datagram above kMaxDatagram");
	if (sent_.size() >= kMaxSent)
		throw std::length_error("FakeUdp: too many datagrams not taken");
	sent_.push_back({ to, std::move(datagram) });
	return true;
}

void FakeUdp::deliver(std::span<const std::uint8_t> data, const std::string &from, std::uint16_t port)
{
	onDatagram_(data, socketAddress(from, port));
}

sockaddr_storage socketAddress(const std::string &address, std::uint16_t port)
{
	const std::optional<sockaddr_storage> s = uv::resolveNumeric(address, port);
	if (!s)
		throw std::invalid_argument("not a numeric address: " + address);
	return *s;
}

std::uint16_t portOf(const sockaddr_storage &address)
{
	if (address.ss_family == AF_INET)
		return ntohs(reinterpret_cast<const sockaddr_in &>(address).sin_port);
	return ntohs(reinterpret_cast<const sockaddr_in6 &>(address).sin6_port);
}

} // namespace dmdns::test
