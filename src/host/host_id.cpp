// The host id: an HMAC-SHA256 of the machine id, the host name and the lasting MAC addresses.
#include "host/host_id.h"

#include <algorithm>
#include <array>
#include <stdexcept>

#include <fmt/format.h>
#include <sodium.h>

namespace dmdns::host {

namespace {

// This application's HMAC key (32 random bytes, fixed forever: changing it
// changes every host's id). It is no secret; it only makes our id a value
// nothing else derives from the machine id, as systemd asks of applications.
constexpr std::array<unsigned char, crypto_auth_hmacsha256_KEYBYTES> kAppKey = {
	0xf7,
	0x17,
	0xc1,
	0xfa,
	0x43,
	0x47,
	0x2b,
	0x10,
	0x32,
	0x5d,
	0x9a,
	0x51,
	0x69,
	0x3c,
	0x37,
	0x49,
	0x32,
	0x55,
	0xbd,
	0xc1,
	0x60,
	0x40,
	0x9d,
	0xf3,
	0xcc,
	0x61,
	0x36,
	0x01,
	0x5a,
	0xf3,
	0xc7,
	0x60,
};

// Interfaces whose MAC address says nothing lasting about the host: container
// and VM plumbing comes and goes with random addresses, and ifb and dummy
// devices get new random ones at every boot.
constexpr std::string_view kTransientPrefixes[] = {
	"br-",
	"cali",
	"cni",
	"docker",
	"dummy",
	"flannel",
	"ifb",
	"kube",
	"lxc",
	"tap",
	"tun",
	"veth",
	"virbr",
	"vnet",
	"vxlan",
	"weave",
};

bool transientInterface(std::string_view name) noexcept
{
	return std::any_of(std::begin(kTransientPrefixes), std::end(kTransientPrefixes),
			   [&](std::string_view prefix) { return name.starts_with(prefix); });
}

bool universallyAdministered(const std::vector<std::uint8_t> &mac) noexcept
{
	return (mac.front() & 0x02) == 0;
}

std::string_view trimRight(std::string_view s) noexcept
{
	while (!s.empty() && std::string_view(" \t\r\n\v\f").find(s.back()) != std::string_view::npos)
		s.remove_suffix(1);
	return s;
}

// Each field goes in with its length first, so that ("ab", "c") and
// ("a", "bc") differ.
void addField(crypto_auth_hmacsha256_state &state, std::string_view field)
{
	std::array<unsigned char, 8> length{};
	for (std::size_t i = 0; i < length.size(); ++i)
		length[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(field.size()) >> (8 * i));
	crypto_auth_hmacsha256_update(&state, length.data(), length.size());
	crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char *>(field.data()), field.size());
}

// The first 8 bytes of the digest, as the 16 hex digits ids have always had.
std::string finalId(crypto_auth_hmacsha256_state &state)
{
	std::array<unsigned char, crypto_auth_hmacsha256_BYTES> digest{};
	crypto_auth_hmacsha256_final(&state, digest.data());
	sodium_memzero(&state, sizeof state);
	std::string id;
	for (std::size_t i = 0; i < 8; ++i)
		id += fmt::format("{:02x}", digest[i]);
	return id;
}

} // namespace

std::string hostIdFrom(std::string_view machineId, std::string_view hostName,
		       std::span<const NetInterface> interfaces)
{
	// Loopback and address-less interfaces carry nothing; transient ones
	// would change the id whenever a container starts. Of the rest, burnt-in
	// (universally administered) addresses win when there are any, since
	// locally administered ones are often random; hosts in network
	// namespaces have only the latter (veth) and are told apart by them.
	std::vector<const NetInterface *> candidates;
	for (const NetInterface &i : interfaces) {
		if (i.loopback || i.mac.empty() || transientInterface(i.name) ||
		    std::all_of(i.mac.begin(), i.mac.end(), [](std::uint8_t b) { return b == 0; }))
			continue;
		candidates.push_back(&i);
	}
	const bool anyUniversal = std::any_of(candidates.begin(), candidates.end(),
					      [](const NetInterface *i) { return universallyAdministered(i->mac); });

	std::vector<std::string> macs;
	for (const NetInterface *i : candidates) {
		if (anyUniversal && !universallyAdministered(i->mac))
			continue;
		std::string mac;
		for (std::uint8_t b : i->mac)
			mac += fmt::format("{}{:02x}", mac.empty() ? "" : ":", b);
		macs.push_back(std::move(mac));
	}
	// Interface order and names vary between boots; the set does not.
	std::sort(macs.begin(), macs.end());
	macs.erase(std::unique(macs.begin(), macs.end()), macs.end());

	// sodium_init is thread-safe and cheap after the first call.
	if (sodium_init() < 0)
		throw std::runtime_error("libsodium failed to initialise");
	crypto_auth_hmacsha256_state state;
	crypto_auth_hmacsha256_init(&state, kAppKey.data(), kAppKey.size());
	addField(state, trimRight(machineId));
	addField(state, hostName);
	for (const std::string &mac : macs)
		addField(state, mac);
	return finalId(state);
}

std::string userHostIdFrom(std::string_view hostId, std::uint32_t uid)
{
	if (sodium_init() < 0)
		throw std::runtime_error("libsodium failed to initialise");
	crypto_auth_hmacsha256_state state;
	crypto_auth_hmacsha256_init(&state, kAppKey.data(), kAppKey.size());
	// A label first: no host's own fields hash to the same input.
	addField(state, "per-user daemon");
	addField(state, hostId);
	addField(state, std::to_string(uid));
	return finalId(state);
}

} // namespace dmdns::host
