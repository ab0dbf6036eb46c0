// The digest of what a server's TXT record says beyond its gossip samples, which its PROFILE carries.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dmdns {

// The TXT keys whose values a server's own gossip samples carry too and
// replace (overlayGossip): they change with the load, so the digest leaves
// them out. Every other key, a future one included, is covered.
inline constexpr std::array<std::string_view, 9> kTxtKeysGossipCarries = {
	"cpus",
	"jobs",
	"speed",
	"state",
	"opts",
	"run",
	"load",
	"inc",
	"seq",
};

// BLAKE2b (libsodium's crypto_generichash), 8 bytes read big-endian, over
// the TXT strings in a canonical order (sorted bytewise, each one
// length-prefixed), less those whose key (before '=', any case) is in
// kTxtKeysGossipCarries. The same strings in any order give the same
// digest, since resolvers report them reversed or shuffled.
std::uint64_t txtProfileDigest(std::span<const std::string> txt);

} // namespace dmdns
