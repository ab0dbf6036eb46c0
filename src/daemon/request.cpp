// The strict reading of the HOST:PORT names a query request carries.
#include "request.h"

#include <fmt/format.h>

#include "distcc-mdns/text.h"

namespace dmdns {

std::optional<FailingHost> parseFailingHost(std::string_view text)
{
	std::string_view host;
	std::string_view rest;
	if (text.starts_with('[')) {
		const std::size_t close = text.find(']');
		if (close == std::string_view::npos)
			return std::nullopt;
		host = text.substr(1, close - 1);
		// distcc names a link-local host with its scope, which says
		// nothing about which server it is.
		host = host.substr(0, host.find('%'));
		rest = text.substr(close + 1);
	} else {
		const std::size_t colon = text.find(':');
		if (colon == std::string_view::npos)
			return std::nullopt;
		// A second colon: a bare IPv6 address, whose last group cannot be
		// told from a port.
		if (text.find(':', colon + 1) != std::string_view::npos)
			return std::nullopt;
		host = text.substr(0, colon);
		rest = text.substr(colon);
	}
	if (host.empty() || !rest.starts_with(':'))
		return std::nullopt;
	const auto port = text::parseUint(rest.substr(1), 1, 65535);
	if (!port)
		return std::nullopt;
	return FailingHost{ std::string(host), static_cast<std::uint16_t>(*port) };
}

std::string formatFailingHost(const FailingHost &host)
{
	if (host.host.find(':') != std::string::npos)
		return fmt::format("[{}]:{}", host.host, host.port);
	return fmt::format("{}:{}", host.host, host.port);
}

} // namespace dmdns
