// The strict reading of the HOST:PORT names a query request carries.
#include "daemon/request.h"

#include <algorithm>

#include "distcc-mdns/host_port.h"

namespace dmdns {

std::optional<FailingHost> parseFailingHost(std::string_view text)
{
	// A port is required: distcc names every host it backs off from with one.
	const HostPortParse read = readHostPort(text, std::nullopt);
	if (!read.hostPort)
		return std::nullopt;
	// distcc names a link-local host with its scope, which says nothing
	// about which server it is.
	std::string host = read.hostPort->host;
	host.erase(std::min(host.find('%'), host.size()));
	return FailingHost{ std::move(host), read.hostPort->port };
}

std::string formatFailingHost(const FailingHost &host)
{
	return formatHostPort({ host.host, host.port });
}

} // namespace dmdns
