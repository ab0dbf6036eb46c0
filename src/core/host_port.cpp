// HOST:PORT and [IPV6]:PORT, read so that an IPv6 address is never split at the wrong colon.
#include "distcc-mdns/host_port.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include "distcc-mdns/text.h"

namespace dmdns {

namespace {

// Interface names are at most IFNAMSIZ - 1 = 15 bytes; numeric scopes fit too.
constexpr std::size_t kMaxScope = 15;

// An IPv6 address, optionally with "%SCOPE"; inet_pton is pure (it parses a
// string, touching no socket) and knows every form RFC 4291 allows.
bool isIpv6(std::string_view s)
{
	const std::size_t percent = s.find('%');
	const std::string_view address = s.substr(0, percent);
	if (address.empty() || address.size() >= INET6_ADDRSTRLEN)
		return false;
	if (percent != std::string_view::npos) {
		const std::string_view scope = s.substr(percent + 1);
		if (scope.empty() || scope.size() > kMaxScope || !text::onlyChars(scope, "._-"))
			return false;
	}
	const std::string copy(address); // inet_pton wants a NUL at the end
	unsigned char bytes[16];
	return inet_pton(AF_INET6, copy.c_str(), bytes) == 1;
}

// A DNS name or an IPv4 address: letters, digits, '.', '-' and '_' (which
// some LAN names use), not starting with '-' or '.'.
bool isHostName(std::string_view s)
{
	return !s.empty() && s.size() <= 253 && s.front() != '-' && s.front() != '.' &&
	       text::onlyChars(s, ".-_");
}

std::optional<std::uint16_t> parsePort(std::string_view s)
{
	const auto port = text::parseUint(s, 1, 65535);
	if (!port)
		return std::nullopt;
	return static_cast<std::uint16_t>(*port);
}

HostPortParse refuse(std::string error)
{
	return HostPortParse{ std::nullopt, std::move(error) };
}

// Why @host (a name or an address, IPv6 without brackets) can name no host
// to send to, or nothing. Digits and dots alone are an IPv4 address or
// nothing: the resolver would read "10.1" as 10.0.0.1 and "999.1.1.1" as a
// name, neither of which anyone means.
std::optional<std::string> notAHost(std::string_view host)
{
	const std::string address(host.substr(0, host.find('%')));
	if (address.find(':') != std::string::npos) {
		in6_addr a6{};
		if (inet_pton(AF_INET6, address.c_str(), &a6) != 1)
			return std::nullopt; // isIpv6 said it is one; nothing more to say
		if (IN6_IS_ADDR_UNSPECIFIED(&a6))
			return "'::' is no host (it means any address)";
		if (IN6_IS_ADDR_MULTICAST(&a6))
			return "a multicast address is no host";
		return std::nullopt;
	}
	if (address.find_first_not_of("0123456789.") != std::string::npos)
		return std::nullopt;
	in_addr a4{};
	if (inet_pton(AF_INET, address.c_str(), &a4) != 1)
		return "not an IPv4 address (four numbers 0-255 with dots between)";
	const std::uint32_t value = ntohl(a4.s_addr);
	if (value == 0)
		return "'0.0.0.0' is no host (it means any address)";
	if (value == 0xffffffffU)
		return "the broadcast address is no host";
	if ((value >> 28) == 0xe)
		return "a multicast address is no host";
	return std::nullopt;
}

} // namespace

HostPortParse readHostPort(std::string_view text, std::optional<std::uint16_t> defaultPort)
{
	if (text.empty())
		return refuse("empty");
	if (text.size() > kMaxHostPortText)
		return refuse(fmt::format("longer than {} characters", kMaxHostPortText));

	std::string_view host;
	std::optional<std::string_view> port;
	if (text.front() == '[') {
		const std::size_t close = text.find(']');
		if (close == std::string_view::npos)
			return refuse("'[' without its ']'");
		host = text.substr(1, close - 1);
		if (!isIpv6(host))
			return refuse("brackets must hold an IPv6 address");
		const std::string_view rest = text.substr(close + 1);
		if (!rest.empty()) {
			if (rest.front() != ':')
				return refuse("only ':PORT' may follow ']'");
			port = rest.substr(1);
		}
	} else if (const std::size_t colon = text.find(':'); colon == std::string_view::npos) {
		host = text;
	} else if (text.find(':', colon + 1) == std::string_view::npos) {
		host = text.substr(0, colon);
		port = text.substr(colon + 1);
	} else {
		// Two colons or more: an IPv6 address, which takes a port only in
		// brackets. When its last group could be a port after an address,
		// no reading is safe.
		host = text;
		if (!isIpv6(host))
			return refuse("not an IPv6 address (write [IPV6]:PORT for one with a port)");
		const std::size_t last = text.rfind(':');
		if (isIpv6(text.substr(0, last)) && parsePort(text.substr(last + 1)))
			return refuse("ambiguous: write [IPV6]:PORT, or [IPV6] for the address alone");
	}

	if (host.find(':') == std::string_view::npos && !isHostName(host))
		return refuse("the host must be a name or an address (letters, digits, '.', '-', '_')");
	if (auto problem = notAHost(host))
		return refuse(std::move(*problem));
	HostPort hostPort{ std::string(host), 0 };
	if (port) {
		const auto value = parsePort(*port);
		if (!value)
			return refuse("the port must be a number from 1 to 65535");
		hostPort.port = *value;
	} else if (defaultPort) {
		hostPort.port = *defaultPort;
	} else {
		return refuse("a port is required (HOST:PORT or [IPV6]:PORT)");
	}
	return HostPortParse{ std::move(hostPort), {} };
}

std::string formatHostPort(const HostPort &hostPort)
{
	if (hostPort.host.find(':') != std::string::npos)
		return fmt::format("[{}]:{}", hostPort.host, hostPort.port);
	return fmt::format("{}:{}", hostPort.host, hostPort.port);
}

} // namespace dmdns
