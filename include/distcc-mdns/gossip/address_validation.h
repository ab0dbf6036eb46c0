// Anti-amplification: cookies prove a source receives at its address; until then answers stay small.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "distcc-mdns/directory.h"

namespace dmdns::gossip {

// Answers to a source that has not proved it receives at its address
// (a forged source address would turn them against its owner) carry at most
// this many times the bytes of what asked for them, as QUIC does.
inline constexpr std::size_t kAmplification = 3;

// The cookies this node hands out, one per source address (as DNS server
// cookies), and the addresses that echoed theirs back. A cookie is random,
// drawn from @random (the adapter's CSPRNG), so that a source can learn only
// its own. Both tables are bounded by @maxAddresses: the entry used least
// recently makes room.
class AddressValidator final
{
public:
	AddressValidator(std::function<std::uint64_t()> random, std::size_t maxAddresses,
			 std::chrono::milliseconds lifetime);

	// The cookie for @address: the same one until it expires.
	std::uint64_t cookieFor(const std::string &address, SteadyTime now);
	// Whether @cookie is the one handed to @address; if so the address is
	// validated for the cookie's lifetime.
	bool check(const std::string &address, std::uint64_t cookie, SteadyTime now);
	bool validated(const std::string &address, SteadyTime now) const;
	void expire(SteadyTime now);

	std::size_t size() const noexcept { return entries_.size(); }

private:
	struct Entry {
		std::uint64_t cookie = 0;
		SteadyTime issued{};
		std::optional<SteadyTime> validated;
	};

	std::function<std::uint64_t()> random_;
	std::size_t maxAddresses_;
	std::chrono::milliseconds lifetime_;
	std::map<std::string, Entry> entries_;
};

// The cookies peers handed this node, to echo in its requests to them.
// Only a datagram from the address itself can set its cookie, so a third
// party can spoil at most its own.
class CookieJar final
{
public:
	explicit CookieJar(std::size_t maxAddresses);

	void remember(const std::string &address, std::uint64_t cookie, SteadyTime now);
	std::optional<std::uint64_t> find(const std::string &address) const;

	std::size_t size() const noexcept { return cookies_.size(); }

private:
	struct Entry {
		std::uint64_t cookie = 0;
		SteadyTime heard{};
	};

	std::size_t maxAddresses_;
	std::map<std::string, Entry> cookies_;
};

} // namespace dmdns::gossip
