// A datagram socket that records what is sent and receives what the test delivers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "uv/udp.h"

namespace dmdns::test {

class FakeUdp final : public uv::DatagramSocket
{
public:
	struct Sent {
		sockaddr_storage to;
		std::vector<std::uint8_t> bytes;
	};
	// Bounded: a test must take() what is sent now and then.
	static constexpr std::size_t kMaxSent = 4096;

	explicit FakeUdp(OnDatagram onDatagram)
		: onDatagram_(std::move(onDatagram)) { }

	// Port 0 picks a port, as the kernel would.
	void bind(const std::string &address, std::uint16_t port) override;
	std::uint16_t localPort() const override;
	// Throws std::length_error above uv::kMaxDatagram, as uv::Udp does.
	bool send(const sockaddr_storage &to, std::vector<std::uint8_t> datagram) override;

	// A datagram from @from (numeric address and port) arrives.
	void deliver(std::span<const std::uint8_t> data, const std::string &from, std::uint16_t port);
	// What was sent since the last take(), oldest first.
	std::vector<Sent> take() { return std::exchange(sent_, {}); }

private:
	OnDatagram onDatagram_;
	std::optional<std::uint16_t> port_;
	std::vector<Sent> sent_;
};

// A numeric address and port as a socket address; throws if not numeric.
sockaddr_storage socketAddress(const std::string &address, std::uint16_t port);
// The port of @address.
std::uint16_t portOf(const sockaddr_storage &address);

} // namespace dmdns::test
