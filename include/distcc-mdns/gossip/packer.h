// Records into datagrams: bounded in size, numbered, and tagged when the node holds a key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "distcc-mdns/gossip_wire.h"

namespace dmdns::gossip {

// What Packer takes of GossipConfig (which see).
struct PackerSettings {
	std::uint64_t node = 0;
	std::uint64_t incarnation = 1;
	std::size_t maxDatagram = wire::kMaxDatagram;
	std::size_t minRequest = 128;
	std::function<void(std::span<const std::uint8_t> body, std::span<std::uint8_t, wire::kTagSize> tag)>
		sign;
};

// Every datagram this node sends gets the next sequence number of its
// header (the receivers' replay window) and, with sign set, its tag.
class Packer final
{
public:
	explicit Packer(PackerSettings settings);

	// Datagrams holding @records, as many as they need; the first carries
	// @flags, and when that is a push-pull request also @cookie (the one
	// the peer handed us) and padding to minRequest, so that the peer
	// answers once and may answer in full.
	std::vector<std::vector<std::uint8_t>> pack(const std::vector<wire::Record> &records, std::uint8_t flags,
						    std::optional<std::uint64_t> cookie = std::nullopt);
	// One datagram of at most @budget bytes holding, in order, those of
	// @records that fit; nullopt when not even an empty one fits.
	std::optional<std::vector<std::uint8_t>> packWithin(std::span<const wire::Record> records,
							    std::size_t budget);
	bool tagged() const noexcept { return static_cast<bool>(settings_.sign); }

private:
	std::vector<std::uint8_t> seal(std::vector<std::uint8_t> bytes);

	PackerSettings settings_;
	std::uint64_t sequence_ = 0; // of every datagram sent
};

} // namespace dmdns::gossip
