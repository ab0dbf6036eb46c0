// The digest of what a server's TXT record says beyond its gossip samples, which its PROFILE carries.
#include "distcc-mdns/txt_digest.h"

#include <algorithm>
#include <vector>

#include <sodium.h>

#include "distcc-mdns/text.h"

namespace dmdns {

namespace {

bool gossipCarries(std::string_view entry)
{
	// Keys are case-insensitive (RFC 6763 §6.4), as decodeTxt reads them:
	// "LOAD=1" is left out as "load=1" is.
	const std::string key = text::lower(entry.substr(0, entry.find('=')));
	return std::find(kTxtKeysGossipCarries.begin(), kTxtKeysGossipCarries.end(), key) !=
	       kTxtKeysGossipCarries.end();
}

} // namespace

std::uint64_t txtProfileDigest(std::span<const std::string> txt)
{
	std::vector<std::string_view> kept;
	kept.reserve(txt.size());
	for (const std::string &entry : txt)
		if (!gossipCarries(entry))
			kept.push_back(entry);
	std::sort(kept.begin(), kept.end());

	// libsodium makes at least crypto_generichash_BYTES_MIN (16) bytes: the
	// first 8 are the digest. Hashing needs no sodium_init(), which would
	// read the random device: the core does no I/O.
	crypto_generichash_state state;
	crypto_generichash_init(&state, nullptr, 0, crypto_generichash_BYTES_MIN);
	for (std::string_view entry : kept) {
		// A length prefix, so that no two lists hash the same bytes.
		const auto size = static_cast<std::uint32_t>(entry.size());
		const unsigned char length[4] = { static_cast<unsigned char>(size >> 24),
						  static_cast<unsigned char>(size >> 16),
						  static_cast<unsigned char>(size >> 8), static_cast<unsigned char>(size) };
		crypto_generichash_update(&state, length, sizeof length);
		crypto_generichash_update(&state, reinterpret_cast<const unsigned char *>(entry.data()), entry.size());
	}
	unsigned char out[crypto_generichash_BYTES_MIN];
	crypto_generichash_final(&state, out, sizeof out);
	std::uint64_t digest = 0;
	for (std::size_t i = 0; i < 8; ++i)
		digest = (digest << 8) | out[i];
	return digest;
}

} // namespace dmdns
