// This host's interface addresses, for telling which of a server's addresses distccd admits it on.
#include "host/interfaces.h"

#include <arpa/inet.h>
#include <bit>
#include <cerrno>
#include <cstring>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include "common/log.h"

namespace dmdns::host {

namespace {

// The prefix length of a contiguous netmask of @size bytes.
std::uint8_t prefixOf(const unsigned char *mask, std::size_t size) noexcept
{
	unsigned bits = 0;
	for (std::size_t i = 0; i < size; ++i)
		bits += static_cast<unsigned>(std::popcount(mask[i]));
	return static_cast<std::uint8_t>(bits);
}

} // namespace

std::vector<Network> localNetworks()
{
	std::vector<Network> out;
	ifaddrs *list = nullptr;
	if (::getifaddrs(&list) < 0) {
		log(LogLevel::Warning, "getifaddrs: {}", std::strerror(errno));
		return out;
	}
	for (const ifaddrs *i = list; i && out.size() < kMaxNetworks; i = i->ifa_next) {
		if (!i->ifa_addr || !i->ifa_netmask || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		char text[INET6_ADDRSTRLEN] = {};
		std::uint8_t prefix = 0;
		if (i->ifa_addr->sa_family == AF_INET) {
			const auto *a = reinterpret_cast<const sockaddr_in *>(i->ifa_addr);
			const auto *m = reinterpret_cast<const sockaddr_in *>(i->ifa_netmask);
			if (!inet_ntop(AF_INET, &a->sin_addr, text, sizeof text))
				continue;
			prefix = prefixOf(reinterpret_cast<const unsigned char *>(&m->sin_addr), 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const auto *a = reinterpret_cast<const sockaddr_in6 *>(i->ifa_addr);
			const auto *m = reinterpret_cast<const sockaddr_in6 *>(i->ifa_netmask);
			if (!inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text))
				continue;
			prefix = prefixOf(m->sin6_addr.s6_addr, 16);
		} else {
			continue;
		}
		if (auto address = Address::parse(text))
			out.push_back(Network{ *address, prefix });
	}
	::freeifaddrs(list);
	return out;
}

} // namespace dmdns::host
