// A toy gossip key for unit tests: gossip only calls sign and verify, and the adapter's key is libsodium's.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "distcc-mdns/gossip.h"

namespace dmdns::test {

// Gives @config a sign and a verify that agree with each other's (and every
// other toy-keyed node's) tags, and refuse any other: a checksum over the
// body, repeated over the tag.
inline void useToyKey(GossipConfig &config)
{
	auto tagOf = [](std::span<const std::uint8_t> body, std::span<std::uint8_t, wire::kTagSize> tag) {
		std::uint8_t sum = 0x5a;
		for (std::uint8_t b : body)
			sum = static_cast<std::uint8_t>(sum * 31 + b);
		std::fill(tag.begin(), tag.end(), sum);
	};
	config.sign = tagOf;
	config.verify = [tagOf](std::span<const std::uint8_t> datagram) {
		if (datagram.size() < wire::kTagSize)
			return false;
		const auto body = datagram.first(datagram.size() - wire::kTagSize);
		std::array<std::uint8_t, wire::kTagSize> want{};
		tagOf(body, want);
		return std::equal(want.begin(), want.end(), datagram.begin() + body.size());
	};
}

} // namespace dmdns::test
