// HOST:PORT and [IPV6]:PORT as users, distcc and peers write them, read without IPv6 ambiguity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dmdns {

// Longer is no host: 253 for a DNS name, brackets, a scope and a port.
inline constexpr std::size_t kMaxHostPortText = 300;

struct HostPort {
	// A host name, an IPv4 address, or an IPv6 address without brackets
	// and with its "%SCOPE" when it has one ("fe80::1%eth0").
	std::string host;
	std::uint16_t port = 0;

	bool operator==(const HostPort &) const = default;
};

struct HostPortParse {
	std::optional<HostPort> hostPort;
	std::string error; // why there is none, for a message; empty when parsed
};

// Reads "HOST", "HOST:PORT", "[IPV6]", "[IPV6]:PORT" or a bare IPv6 address
// ("2001:db8::7", "fe80::1%eth0", which can carry no port). Without a port
// the result has @defaultPort; when that is empty, a port is required.
// Refused: an empty or overlong text, a host name with characters DNS does
// not use, brackets around anything but an IPv6 address, a port outside
// 1-65535, an address that names no one host (0.0.0.0, ::, multicast,
// broadcast), digits and dots that are no IPv4 address ("10.1", "999.1.1.1"),
// and a bare IPv6 address whose last group reads as a port too
// ("fe80::1:3632": fe80::1 port 3632, or the address fe80::1:3632?).
HostPortParse readHostPort(std::string_view text, std::optional<std::uint16_t> defaultPort);

// The text readHostPort reads back: "HOST:PORT", or "[IPV6]:PORT".
std::string formatHostPort(const HostPort &hostPort);

} // namespace dmdns
