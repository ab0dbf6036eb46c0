// --http's [ADDR:]PORT, and the Host names the web server answers to.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace dmdns::http {

struct ListenAddress {
	std::string address; // numeric IPv4 or IPv6, without brackets
	std::uint16_t port = 0;
};

// Parses PORT, IPV4:PORT or [IPV6]:PORT (the address defaults to
// 127.0.0.1: nothing beyond this machine unless asked). Only numeric
// addresses: a name would need a DNS lookup at start and could mean
// several addresses. Returns the address or a message saying what is wrong.
std::variant<ListenAddress, std::string> parseListenAddress(std::string_view text);

// "127.0.0.1:8080", "[::1]:8080".
std::string joinAddress(const std::string &address, std::uint16_t port);

// Why binding @address:@port fails (strerror of a bind() tried now), for
// the start-up error.
std::string bindError(const std::string &address, std::uint16_t port);

// Whether a request's Host header names this server: a numeric address,
// localhost, or this machine's host name (alone, with .local, or as the
// first label of a longer name), with any port. Anything else is a
// page elsewhere that made a browser resolve its own name to us (DNS
// rebinding) and must not read the farm.
bool hostAllowed(std::string_view host);
bool hostAllowed(std::string_view host, std::string_view machineName);

} // namespace dmdns::http
