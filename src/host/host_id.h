// The host id: a keyed hash of what identifies this host, so no raw machine id leaves it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dmdns::host {

// A network interface as getifaddrs(AF_PACKET) shows it.
struct NetInterface {
	std::string name;
	std::vector<std::uint8_t> mac;
	bool loopback = false;
};

// The host id: 16 hex digits of an HMAC-SHA256, under a key of this
// application's own, of the machine id, the host name and the MAC addresses
// that identify this host (see host_id.cpp for which). Stable while those
// stay, and distinct for network namespaces of one machine, which share the
// machine id and may share the host name. Keyed like systemd's
// sd_id128_get_machine_app_specific(): the id is advertised on the LAN, and
// must not let anyone recover /etc/machine-id or match it with what other
// programs derive from it.
std::string hostIdFrom(std::string_view machineId, std::string_view hostName,
		       std::span<const NetInterface> interfaces);

// The node id of a per-user daemon of uid @uid on the host whose id is
// @hostId: the same keyed hash over both, so it differs from the host's own
// id (which the system daemon gossips as, and which its advertised server
// carries) and from every other user's. A per-user daemon stopping then says
// goodbye for itself, never for the machine's distccd.
std::string userHostIdFrom(std::string_view hostId, std::uint32_t uid);

} // namespace dmdns::host
