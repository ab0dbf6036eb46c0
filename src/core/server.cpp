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

bool Compiler::valid() const noexcept
{
	return text::isToken(machine, text::kTripletChars) && text::isToken(version, text::kVersionChars);
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
	return std::find(compilers.begin(), compilers.end(), compiler) != compilers.end();
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
