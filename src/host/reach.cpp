// Whether other hosts can reach this host's distccd, and where: its listening addresses and its --allow.
#include "host/reach.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdint>

#include <fmt/format.h>

#include "distcc-mdns/txt.h"

namespace dmdns::host {

namespace {

// Only this host can connect to a loopback address or come from a loopback
// network: 127.0.0.0/8 and ::1, IPv4-mapped or not.
bool loopbackOnly(const Network &n) noexcept
{
	static const Network v4 = *Network::parse("127.0.0.0/8");
	static const Network v6 = *Network::parse("::1");
	if (n.address.family == Address::Family::IPv4)
		return n.prefix >= 8 && v4.contains(n.address);
	if (n.prefix == 128 && v6.contains(n.address))
		return true;
	// ::ffff:127.0.0.0/104 and narrower.
	return n.prefix >= 104 && v4.contains(n.address);
}

// "10.77.0.0/24" for the interface address 10.77.0.2/24.
std::string networkOf(const Network &n)
{
	in_addr a{};
	if (inet_pton(AF_INET, n.address.text.c_str(), &a) != 1 || n.prefix > 32)
		return n.text();
	const std::uint32_t mask = n.prefix == 0 ? 0 : ~std::uint32_t{ 0 } << (32 - n.prefix);
	a.s_addr = htonl(ntohl(a.s_addr) & mask);
	char text[INET_ADDRSTRLEN] = {};
	inet_ntop(AF_INET, &a, text, sizeof text);
	return fmt::format("{}/{}", text, n.prefix);
}

std::string joined(const std::vector<std::string> &items)
{
	std::string out;
	for (const std::string &item : items)
		out += (out.empty() ? "" : ", ") + item;
	return out;
}

template <typename T>
void addOnce(std::vector<T> &list, T item)
{
	if (std::find(list.begin(), list.end(), item) == list.end())
		list.push_back(std::move(item));
}

} // namespace

DistccdReach reachOf(std::span<const procfs::TcpEndpoint> listeners, const std::optional<procfs::DistccdArgs> &args,
		     bool dualStack, std::span<const Network> local)
{
	DistccdReach reach;
	std::vector<std::string> loopback;
	for (const procfs::TcpEndpoint &l : listeners) {
		auto address = Address::parse(l.addressText());
		if (!address)
			continue;
		// An IPv6 socket bound to an IPv4-mapped address accepts IPv4.
		static const Network mapped = *Network::parse("::ffff:0.0.0.0/96");
		if (address->family == Address::Family::IPv6 && mapped.contains(*address) &&
		    address->text.starts_with("::ffff:"))
			address = Address::parse(address->text.substr(7));
		if (!address)
			continue;
		if (loopbackOnly(Network{ *address, static_cast<std::uint8_t>(
							    address->family == Address::Family::IPv4 ? 32 : 128) })) {
			addOnce(loopback, address->text);
			continue;
		}
		addOnce(reach.listens, *address);
		if (address->family == Address::Family::IPv6 && address->isWildcard() && dualStack)
			addOnce(reach.listens, *Address::parse("0.0.0.0"));
	}
	if (reach.listens.empty() && !loopback.empty()) {
		reach.refusal = fmt::format("distccd listens only on {}: set LISTENER=\"\" (every address) or this "
					    "host's address in /etc/default/distcc, or drop its --listen, and restart "
					    "distccd",
					    joined(loopback));
		return reach;
	}
	if (reach.listens.size() > kMaxTxtNetworks)
		reach.listens.clear();

	if (args && !args->allowUnknown && !args->allow.empty()) {
		std::vector<std::string> onlyHere;
		for (const Network &n : args->allow) {
			if (loopbackOnly(n))
				onlyHere.push_back(n.text());
			else
				reach.allows.push_back(n);
		}
		if (reach.allows.empty()) {
			std::string example = "192.168.1.0/24";
			for (const Network &n : local)
				if (n.address.family == Address::Family::IPv4) {
					example = networkOf(n);
					break;
				}
			reach.refusal = fmt::format("distccd admits only {} (its --allow): set ALLOWEDNETS= in "
						    "/etc/default/distcc to the clients' networks (e.g. \"{}\"), or give "
						    "distccd --allow for them, and restart distccd",
						    joined(onlyHere), example);
			return reach;
		}
		if (reach.allows.size() > kMaxTxtNetworks)
			reach.allows.clear();
	}
	return reach;
}

} // namespace dmdns::host
