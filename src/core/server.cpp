// Server record and load model.
#include "distcc-mdns/server.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>

#include <arpa/inet.h>

#include "distcc-mdns/text.h"

namespace dmdns {

std::string_view stateName(ServerState state) noexcept
{
	switch (state) {
	case ServerState::Up:
		return "up";
	case ServerState::Drain:
		return "drain";
	case ServerState::Down:
		return "down";
	}
	return "down";
}

std::optional<ServerState> parseServerState(std::string_view text) noexcept
{
	for (ServerState state : { ServerState::Up, ServerState::Drain, ServerState::Down })
		if (text == stateName(state))
			return state;
	return std::nullopt;
}

bool validCompilerIdentity(std::string_view identity) noexcept
{
	return identity.size() == kCompilerIdentityDigits &&
	       std::all_of(identity.begin(), identity.end(),
			   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool Compiler::valid() const noexcept
{
	return text::isToken(machine, text::kTripletChars) && text::isToken(version, text::kVersionChars) &&
	       (identity.empty() || validCompilerIdentity(identity));
}

bool Compiler::sameVersion(const Compiler &other) const noexcept
{
	return machine == other.machine && version == other.version;
}

std::string_view matchModeName(MatchMode mode) noexcept
{
	return mode == MatchMode::Exact ? "exact" : "version";
}

std::optional<MatchMode> parseMatchMode(std::string_view text) noexcept
{
	for (MatchMode mode : { MatchMode::Version, MatchMode::Exact })
		if (text == matchModeName(mode))
			return mode;
	return std::nullopt;
}

std::optional<Address> Address::parse(std::string_view text, std::uint32_t scope)
{
	// inet_pton needs a terminated string; longer input is no address.
	if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
		return std::nullopt;
	const std::string input(text);
	std::array<char, INET6_ADDRSTRLEN> canonical{};

	in_addr v4{};
	if (inet_pton(AF_INET, input.c_str(), &v4) == 1) {
		inet_ntop(AF_INET, &v4, canonical.data(), canonical.size());
		return Address{ Family::IPv4, canonical.data(), 0 };
	}
	in6_addr v6{};
	if (inet_pton(AF_INET6, input.c_str(), &v6) == 1) {
		inet_ntop(AF_INET6, &v6, canonical.data(), canonical.size());
		Address address{ Family::IPv6, canonical.data(), 0 };
		if (address.isLinkLocal())
			address.scope = scope;
		return address;
	}
	return std::nullopt;
}

bool Address::isLinkLocal() const noexcept
{
	if (family == Family::IPv4)
		return text.starts_with("169.254.");
	in6_addr v6{};
	const std::string input(text);
	if (inet_pton(AF_INET6, input.c_str(), &v6) != 1)
		return false;
	return v6.s6_addr[0] == 0xfe && (v6.s6_addr[1] & 0xc0) == 0x80;
}

bool Address::isLoopback() const noexcept
{
	return family == Family::IPv4 ? text.starts_with("127.") : text == "::1";
}

bool Address::isWildcard() const noexcept
{
	return text == (family == Family::IPv4 ? "0.0.0.0" : "::");
}

namespace {

// The 16 bytes of @a, an IPv4 address as its IPv4-mapped IPv6 form, so that
// a block and an address compare whatever families they were written in.
std::optional<std::array<std::uint8_t, 16>> mappedBytes(const Address &a) noexcept
{
	std::array<std::uint8_t, 16> bytes{};
	char input[INET6_ADDRSTRLEN] = {};
	if (a.text.size() >= sizeof input)
		return std::nullopt;
	a.text.copy(input, a.text.size());
	if (a.family == Address::Family::IPv4) {
		bytes[10] = bytes[11] = 0xff;
		if (inet_pton(AF_INET, input, bytes.data() + 12) != 1)
			return std::nullopt;
	} else if (inet_pton(AF_INET6, input, bytes.data()) != 1) {
		return std::nullopt;
	}
	return bytes;
}

} // namespace

std::optional<Network> Network::parse(std::string_view text)
{
	const auto slash = text.find('/');
	auto address = Address::parse(text.substr(0, slash));
	if (!address)
		return std::nullopt;
	const unsigned max = address->family == Address::Family::IPv4 ? 32 : 128;
	std::uint64_t prefix = max;
	if (slash != std::string_view::npos) {
		auto bits = text::parseUint(text.substr(slash + 1), 0, max);
		if (!bits)
			return std::nullopt;
		prefix = *bits;
	}
	return Network{ *address, static_cast<std::uint8_t>(prefix) };
}

bool Network::contains(const Address &a) const noexcept
{
	const auto block = mappedBytes(address);
	const auto bytes = mappedBytes(a);
	if (!block || !bytes)
		return false;
	// An IPv4 block covers the last 32 bits of the mapped form.
	const unsigned bits = address.family == Address::Family::IPv4 ? 96u + prefix : prefix;
	for (unsigned i = 0; i < bits / 8; ++i)
		if ((*block)[i] != (*bytes)[i])
			return false;
	if (const unsigned rest = bits % 8) {
		const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
		if (((*block)[bits / 8] & mask) != ((*bytes)[bits / 8] & mask))
			return false;
	}
	return true;
}

std::string Network::text() const
{
	const unsigned max = address.family == Address::Family::IPv4 ? 32 : 128;
	return prefix == max ? address.text : address.text + "/" + std::to_string(prefix);
}

bool LoadSample::newerThan(const LoadSample &other) const noexcept
{
	if (incarnation != other.incarnation)
		return incarnation > other.incarnation;
	return sequence > other.sequence;
}

double Server::capacity() const noexcept
{
	return static_cast<double>(slots) * speed;
}

double Server::assumedRunning() const noexcept
{
	if (sample)
		return sample->running;
	return slots / 2.0;
}

double Server::expectedWait(std::uint32_t reserved) const noexcept
{
	const double cap = capacity();
	if (cap <= 0.0)
		return std::numeric_limits<double>::infinity();
	return (assumedRunning() + reserved + 1.0) / cap;
}

bool Server::offers(const Compiler &compiler) const noexcept
{
	return offered(compiler) != nullptr;
}

const Compiler *Server::offered(const Compiler &compiler) const noexcept
{
	const auto it = std::find_if(compilers.begin(), compilers.end(),
				     [&](const Compiler &c) { return c.sameVersion(compiler); });
	return it == compilers.end() ? nullptr : &*it;
}

IdentityMatch Server::identityMatch(const Compiler &compiler) const noexcept
{
	const Compiler *there = offered(compiler);
	if (!there)
		return IdentityMatch::Unchecked;
	if (there->identity.empty() || compiler.identity.empty())
		return IdentityMatch::Unverified;
	return there->identity == compiler.identity ? IdentityMatch::Same : IdentityMatch::Differs;
}

bool Server::listensOn(const Address &a) const noexcept
{
	if (listens.empty())
		return true;
	return std::any_of(listens.begin(), listens.end(), [&](const Address &l) {
		return l.family == a.family && (l.isWildcard() || l.text == a.text);
	});
}

bool Server::admits(const Address &from) const noexcept
{
	if (allows.empty())
		return true;
	return std::any_of(allows.begin(), allows.end(), [&](const Network &n) { return n.contains(from); });
}

std::optional<Address> Server::preferredAddress() const
{
	// Lower rank is better; unscoped link-local IPv6 is unusable.
	auto rank = [](const Address &a) {
		if (a.family == Address::Family::IPv4)
			return a.isLinkLocal() ? 1 : 0;
		if (!a.isLinkLocal())
			return 2;
		return a.scope != 0 ? 3 : 4;
	};
	const Address *best = nullptr;
	for (const Address &a : addresses)
		if (rank(a) < 4 && (!best || rank(a) < rank(*best)))
			best = &a;
	if (!best)
		return std::nullopt;
	return *best;
}

std::string_view livenessName(Liveness liveness) noexcept
{
	switch (liveness) {
	case Liveness::Unknown:
		return "unknown";
	case Liveness::Alive:
		return "alive";
	case Liveness::Suspect:
		return "suspect";
	case Liveness::Dead:
		return "dead";
	case Liveness::Left:
		return "left";
	}
	return "unknown";
}

} // namespace dmdns
