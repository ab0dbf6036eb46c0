// Gossip packet authentication with a pre-shared key: libsodium's crypto_auth (HMAC-SHA512-256).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dmdns::net {

// Signs and verifies packets as body + 32-byte tag. The key lives in
// libsodium's guarded, mlock'd, read-only memory and is wiped when the
// Authenticator goes. A tag proves the sender knows the key, not that the
// packet is new: replays are for the protocol's sequence numbers to judge.
class Authenticator final
{
public:
	static constexpr std::size_t kKeyBytes = 32; // crypto_auth_KEYBYTES
	static constexpr std::size_t kTagBytes = 32; // crypto_auth_BYTES

	// Reads a key file: exactly 64 hex characters, optionally one trailing
	// newline. Like ssh, refuses a file that group or others may access in
	// any way, and one owned by someone other than this user or root.
	// Throws std::runtime_error naming the file and what is wrong with it.
	static Authenticator fromFile(const std::string &path);
	// A key from its 64 hex characters; throws std::runtime_error.
	static Authenticator fromHex(std::string_view hex);
	// A fresh random key as 64 lowercase hex characters, no newline: what
	// a key file holds (`--generate-key`).
	static std::string generateKeyHex();
	// Creates @path holding a fresh key and a newline: O_EXCL (never over
	// an existing file or link), mode 0600 whatever the umask, so that
	// fromFile accepts it. Throws std::runtime_error naming the path.
	static void generateKeyFile(const std::string &path);
	// Before a key is printed to @fd (`--generate-key > FILE`): a regular
	// file is made 0600 first, since the shell created it with the umask's
	// 0644 and fromFile would refuse it. Returns whether it was one; a
	// pipe or a terminal is left alone. Throws std::runtime_error if the
	// file cannot be made private (another user's file).
	static bool makeOutputPrivate(int fd);

	Authenticator(Authenticator &&other) noexcept;
	Authenticator &operator=(Authenticator &&other) noexcept;
	Authenticator(const Authenticator &) = delete;
	Authenticator &operator=(const Authenticator &) = delete;
	~Authenticator();

	// @body followed by its tag. Throws std::logic_error if moved from.
	std::vector<std::uint8_t> sign(std::span<const std::uint8_t> body) const;
	// The body of @packet (a view into it) if its trailing tag verifies,
	// compared in constant time; nullopt otherwise, also when moved from.
	std::optional<std::span<const std::uint8_t>> verify(std::span<const std::uint8_t> packet) const noexcept;

private:
	explicit Authenticator(unsigned char *key) noexcept
		: key_(key) { }

	unsigned char *key_; // sodium_malloc'd; nullptr once moved from
};

// 64 unpredictable bits from libsodium's CSPRNG (gossip cookies).
std::uint64_t randomU64() noexcept;

} // namespace dmdns::net
