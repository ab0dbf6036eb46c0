// Anti-amplification: cookies prove a source receives at its address; until then answers stay small.
#include "distcc-mdns/gossip/address_validation.h"

#include <algorithm>
#include <stdexcept>

namespace dmdns::gossip {

namespace {

template <typename Map, typename Time>
void makeRoom(Map &table, std::size_t max, Time when)
{
	while (table.size() >= max)
		table.erase(std::min_element(table.begin(), table.end(), [&](const auto &a, const auto &b) {
			return when(a.second) < when(b.second);
		}));
}

} // namespace

AddressValidator::AddressValidator(std::function<std::uint64_t()> random, std::size_t maxAddresses,
				   std::chrono::milliseconds lifetime)
	: random_(std::move(random)), maxAddresses_(maxAddresses), lifetime_(lifetime)
{
	if (!random_ || maxAddresses == 0 || lifetime <= std::chrono::milliseconds::zero())
		throw std::invalid_argument("address validator: a random source, room and a lifetime");
}

std::uint64_t AddressValidator::cookieFor(const std::string &address, SteadyTime now)
{
	auto it = entries_.find(address);
	if (it != entries_.end() && now - it->second.issued < lifetime_)
		return it->second.cookie;
	if (it == entries_.end()) {
		makeRoom(entries_, maxAddresses_, [](const Entry &e) { return e.validated.value_or(e.issued); });
		it = entries_.emplace(address, Entry{}).first;
	}
	std::uint64_t cookie = 0;
	while (cookie == 0)
		cookie = random_();
	// A renewed cookie keeps the address validated until the old one's
	// proof runs out: the peer echoes the new one at its next request.
	it->second.cookie = cookie;
	it->second.issued = now;
	return cookie;
}

bool AddressValidator::check(const std::string &address, std::uint64_t cookie, SteadyTime now)
{
	auto it = entries_.find(address);
	if (it == entries_.end() || cookie == 0 || it->second.cookie != cookie || now - it->second.issued >= 2 * lifetime_)
		return false;
	it->second.validated = now;
	return true;
}

bool AddressValidator::validated(const std::string &address, SteadyTime now) const
{
	auto it = entries_.find(address);
	return it != entries_.end() && it->second.validated && now - *it->second.validated < lifetime_;
}

void AddressValidator::expire(SteadyTime now)
{
	std::erase_if(entries_, [&](const auto &kv) {
		const SteadyTime last = std::max(kv.second.issued, kv.second.validated.value_or(kv.second.issued));
		return now - last >= 2 * lifetime_;
	});
}

CookieJar::CookieJar(std::size_t maxAddresses)
	: maxAddresses_(maxAddresses)
{
	if (maxAddresses == 0)
		throw std::invalid_argument("cookie jar needs room");
}

void CookieJar::remember(const std::string &address, std::uint64_t cookie, SteadyTime now)
{
	if (cookie == 0)
		return;
	if (!cookies_.contains(address))
		makeRoom(cookies_, maxAddresses_, [](const Entry &e) { return e.heard; });
	cookies_[address] = Entry{ cookie, now };
}

std::optional<std::uint64_t> CookieJar::find(const std::string &address) const
{
	auto it = cookies_.find(address);
	if (it == cookies_.end())
		return std::nullopt;
	return it->second.cookie;
}

} // namespace dmdns::gossip
