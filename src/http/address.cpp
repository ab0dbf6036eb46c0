// --http's [ADDR:]PORT, and the Host names the web server answers to.
#include "http/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace dmdns::http {

namespace {

bool ipv4(const std::string &s)
{
	in_addr a{};
	return ::inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool ipv6(const std::string &s)
{
	in6_addr a{};
	return ::inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

bool sameName(std::string_view a, std::string_view b)
{
	if (a.size() != b.size())
		return false;
	for (std::size_t i = 0; i < a.size(); ++i) {
		auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
		if (lower(a[i]) != lower(b[i]))
			return false;
	}
	return true;
}

} // namespace

std::variant<ListenAddress, std::string> parseListenAddress(std::string_view text)
{
	ListenAddress out;
	out.address = "127.0.0.1";
	std::string_view port = text;
	if (!text.empty() && text.front() == '[') {
		const std::size_t close = text.find(']');
		if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
			return fmt::format("'{}': an IPv6 address is written [ADDR]:PORT", text);
		out.address = std::string(text.substr(1, close - 1));
		if (!ipv6(out.address))
			return fmt::format("'{}' is not a numeric IPv6 address", out.address);
		port = text.substr(close + 2);
	} else if (const std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
		out.address = std::string(text.substr(0, colon));
		if (out.address.find(':') != std::string::npos)
			return fmt::format("'{}': an IPv6 address is written [ADDR]:PORT", text);
		if (!ipv4(out.address))
			return fmt::format("'{}' is not a numeric IPv4 address (names are not looked up)", out.address);
		port = text.substr(colon + 1);
	}
	unsigned value = 0;
	const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
	if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535)
		return fmt::format("the port must be a number from 1 to 65535, not '{}'", port);
	out.port = static_cast<std::uint16_t>(value);
	return out;
}

std::string joinAddress(const std::string &address, std::uint16_t port)
{
	if (address.find(':') != std::string::npos)
		return fmt::format("[{}]:{}", address, port);
	return fmt::format("{}:{}", address, port);
}

std::string bindError(const std::string &address, std::uint16_t port)
{
	sockaddr_storage storage{};
	socklen_t len = 0;
	int family = AF_INET;
	if (ipv6(address)) {
		auto *a = reinterpret_cast<sockaddr_in6 *>(&storage);
		a->sin6_family = family = AF_INET6;
		a->sin6_port = htons(port);
		::inet_pton(AF_INET6, address.c_str(), &a->sin6_addr);
		len = sizeof *a;
	} else if (ipv4(address)) {
		auto *a = reinterpret_cast<sockaddr_in *>(&storage);
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		::inet_pton(AF_INET, address.c_str(), &a->sin_addr);
		len = sizeof *a;
	} else {
		return "not a numeric address";
	}
	const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return std::strerror(errno);
	const int on = 1;
	::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	std::string why = "the address is not usable";
	if (::bind(fd, reinterpret_cast<const sockaddr *>(&storage), len) != 0)
		why = std::strerror(errno);
	::close(fd);
	return why;
}

bool hostAllowed(std::string_view host, std::string_view machineName)
{
	// Browsers always send Host; a request without one (HTTP/1.0 from a
	// script) is no page's.
	if (host.empty())
		return true;
	// Host is NAME[:PORT], IPV4[:PORT] or [IPV6][:PORT].
	if (host.front() && host.front() == '[') {
		const std::size_t close = host.find(']');
		return close != std::string_view::npos && ipv6(std::string(host.substr(1, close - 1)));
	}
	if (const std::size_t colon = host.find(':'); colon != std::string_view::npos)
		host = host.substr(0, colon);
	if (host.empty())
		return false;
	if (ipv4(std::string(host)) || sameName(host, "localhost"))
		return true;
	if (machineName.empty())
		return false;
	const std::string_view first = host.substr(0, host.find('.'));
	return sameName(first, machineName);
}

bool hostAllowed(std::string_view host)
{
	char name[256] = "";
	if (::gethostname(name, sizeof name - 1) != 0)
		name[0] = '\0';
	std::string_view machine(name);
	machine = machine.substr(0, machine.find('.'));
	return hostAllowed(host, machine);
}

} // namespace dmdns::http
