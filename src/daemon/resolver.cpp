// Follows every _distcc._tcp service on the network and keeps the directory of servers.
#include "daemon/resolver.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"
#include "distcc-mdns/txt.h"

namespace dmdns {

BrowseDomain parseBrowseDomain(std::string_view text)
{
	std::string domain(text);
	if (!domain.empty() && domain.back() == '.')
		domain.pop_back();
	std::transform(domain.begin(), domain.end(), domain.begin(),
		       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
	const auto fail = [&](std::string why) { return BrowseDomain{ {}, std::move(why) }; };
	if (domain.empty())
		return fail("an empty domain");
	// RFC 1035: 255 bytes on the wire, so 253 characters written out.
	if (domain.size() > 253)
		return fail("longer than 253 characters");
	std::size_t start = 0;
	while (start <= domain.size()) {
		const std::size_t end = std::min(domain.find('.', start), domain.size());
		const std::string_view label = std::string_view(domain).substr(start, end - start);
		if (label.empty())
			return fail("an empty label (two dots in a row, or a leading dot)");
		if (label.size() > 63)
			return fail(fmt::format("label '{}' is longer than 63 characters", label));
		// Host-name letters, and '_' for DNS-SD's own labels.
		for (const char c : label)
			if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
				return fail(fmt::format("'{}' is not a letter, digit, '-' or '_'", c));
		if (label.front() == '-' || label.back() == '-')
			return fail(fmt::format("label '{}' starts or ends with '-'", label));
		start = end + 1;
	}
	// Avahi answers .local and its subdomains by multicast, never by DNS.
	if (domain == "local" || domain.ends_with(".local"))
		return fail("mDNS's own domain: .local is always browsed");
	return { std::move(domain), {} };
}

std::string addBrowseDomain(std::vector<std::string> &domains, std::string_view text)
{
	BrowseDomain domain = parseBrowseDomain(text);
	if (!domain.error.empty())
		return fmt::format("--domain must be a DNS domain name, e.g. build.example.com, not '{}': {}", text,
				   domain.error);
	if (std::find(domains.begin(), domains.end(), domain.domain) != domains.end())
		return {};
	if (domains.size() == kMaxBrowseDomains)
		return fmt::format("--domain at most {} times", kMaxBrowseDomains);
	domains.push_back(std::move(domain.domain));
	return {};
}

Resolver::Resolver(avahi::Mdns &mdns, LocalNetworks localNetworks, const std::vector<std::string> &domains)
	: localNetworks_(std::move(localNetworks)), domains_(domains)
{
	if (domains.size() > kMaxBrowseDomains)
		throw std::invalid_argument(
			fmt::format("at most {} domains can be browsed besides .local", kMaxBrowseDomains));
	for (const std::string &domain : domains)
		if (const BrowseDomain d = parseBrowseDomain(domain); !d.error.empty() || d.domain != domain)
			throw std::invalid_argument(fmt::format("cannot browse domain '{}': {}", domain,
								d.error.empty() ? "not in the form parseBrowseDomain gives" : d.error));
	browsers_.push_back(mdns.browse(std::string(kServiceType), *this));
	for (const std::string &domain : domains) {
		log(LogLevel::Info, "browsing {} in {} too (wide-area DNS-SD: unicast DNS)", kServiceType, domain);
		browsers_.push_back(mdns.browse(std::string(kServiceType), *this, domain));
	}
}

bool Resolver::settled() const noexcept
{
	return std::all_of(browsers_.begin(), browsers_.end(),
			   [](const auto &b) { return b->allForNowSeen() && b->unresolved() == 0; });
}

std::vector<std::string> Resolver::emptyDomains() const
{
	std::vector<std::string> out;
	for (std::size_t i = 0; i < domains_.size(); ++i)
		if (browsers_[i + 1]->allForNowSeen() && browsers_[i + 1]->unresolved() == 0 &&
		    !domainsFound_.contains(domains_[i]))
			out.push_back(domains_[i]);
	return out;
}

void Resolver::warnEmptyDomains()
{
	for (const std::string &domain : emptyDomains())
		if (domainsWarned_.insert(domain).second)
			log(LogLevel::Warning,
			    "no {} server found in {} by unicast DNS: does avahi-daemon.conf say enable-wide-area=yes, "
			    "and does a nameserver of /etc/resolv.conf serve the domain's records "
			    "(tools/dns-sd-records prints them)?",
			    kServiceType, domain);
}

void Resolver::reresolve(const InstanceKey &key)
{
	for (const auto &b : browsers_)
		b->reresolve(key, kReresolveDelay);
}

void Resolver::instanceResolved(const ResolvedInstance &instance)
{
	const char *address = instance.address ? instance.address->text.c_str() : "?";
	const auto now = std::chrono::steady_clock::now();
	const Directory::Outcome outcome = directory_.resolved(instance, now);
	for (const auto &[oldName, domain] : directory_.takeReleased()) {
		log(LogLevel::Info, "'{}' is now '{}'; resolving '{}' afresh", oldName, instance.key.name,
		    oldName);
		contested_.erase({ oldName, domain });
		for (const auto &b : browsers_)
			b->reresolve(oldName, domain, kReresolveDelay);
	}
	const std::pair<std::string, std::string> name{ instance.key.name, instance.key.domain };
	const bool reported = outcome == Directory::Outcome::Contested && contested_.contains(name);
	if (outcome == Directory::Outcome::Contested)
		contested_.insert(name);
	else
		contested_.erase(name);
	switch (outcome) {
	case Directory::Outcome::Accepted:
		log(LogLevel::Debug, "resolved '{}' at {}", instance.key.name, address);
		// Avahi reports the domain as it was asked, lower case included;
		// only the browsed ones are kept, so the set stays that small.
		if (std::find(domains_.begin(), domains_.end(), instance.key.domain) != domains_.end())
			domainsFound_.insert(instance.key.domain);
		// An announcement (a stock server back on its link) lifts what
		// a failed probe said; the next probe looks again.
		if (probe_ && instance.address)
			probe_->announced({ *instance.address, instance.port });
		break;
	case Directory::Outcome::Refused:
		log(LogLevel::Warning, "ignoring '{}' at {}: unusable advertisement, no port, or table full",
		    instance.key.name, address);
		break;
	case Directory::Outcome::IdentityChanged:
		// mDNS caches flush a departed owner's records within a second.
		log(LogLevel::Info, "'{}' changed hands; resolving it afresh", instance.key.name);
		reresolve(instance.key);
		break;
	case Directory::Outcome::Contested:
		// Forged, or the server really went and gossip has not noticed
		// yet: look again later, when gossip may have let go.
		log(reported ? LogLevel::Debug : LogLevel::Warning,
		    "ignoring '{}' at {} ({}): it would re-point the name or the id of a server gossip "
		    "still hears, or change what that server does not say by gossip it advertises",
		    instance.key.name, address, instance.hostName);
		reresolve(instance.key);
		break;
	}
	changed();
}

void Resolver::instanceRemoved(const InstanceKey &key)
{
	contested_.erase({ key.name, key.domain });
	switch (directory_.removed(key, std::chrono::steady_clock::now())) {
	case Directory::Removal::Kept:
		break;
	case Directory::Removal::Gone:
		log(LogLevel::Debug, "'{}' withdrawn", key.name); // logChanges says it left
		break;
	case Directory::Removal::Withdrawn:
		log(LogLevel::Info, "mDNS withdrew '{}', but gossip still hears it: kept", key.name);
		break;
	}
	changed();
}

void Resolver::allForNow()
{
	warnEmptyDomains();
	changed();
}

void Resolver::browserReset()
{
	directory_.clear();
	contested_.clear();
	domainsFound_.clear();
	changed();
}

void Resolver::changed()
{
	if (const std::size_t n = directory_.forgetUnvouched(std::chrono::steady_clock::now()))
		log(LogLevel::Info, "forgot {} withdrawn server(s) gossip no longer hears", n);
	if (localNetworks_)
		directory_.setLocalNetworks(localNetworks_());
	// A snapshot per mDNS event: only when someone reads the lines.
	if (logEnabled(LogLevel::Info))
		logChanges();
	if (onChange)
		onChange();
}

void Resolver::probeStock(uv::Clock &clock, uv_loop_t &loop, StockProbeConfig config)
{
	connector_ = std::make_unique<TcpConnector>(loop);
	probeStock(clock, *connector_, config);
}

void Resolver::probeStock(uv::Clock &clock, Connector &connector, StockProbeConfig config)
{
	probe_ = std::make_unique<StockProbe>(
		clock, connector,
		[this, &clock] {
			const SteadyTime now = clock.now();
			return stockOnly(directory_.snapshot(now), [&](const DirectoryEntry &e) {
				return vouch_ && vouch_(e.server.id, now);
			});
		},
		config);
}

std::size_t Resolver::markUnreachable(std::vector<DirectoryEntry> &entries) const
{
	if (!probe_)
		return 0;
	return probe_->markDown(entries, [](const DirectoryEntry &e) {
		return e.server.liveness == Liveness::Alive || e.server.liveness == Liveness::Suspect;
	});
}

void Resolver::logChanges()
{
	const auto snapshot = directory_.snapshot(std::chrono::steady_clock::now());
	std::map<std::string, Seen> now;
	for (const DirectoryEntry &e : snapshot) {
		Seen seen{ e.server.state, {} };
		if (const auto a = e.server.preferredAddress())
			seen.address = a->scope ? fmt::format("{}%{}", a->text, a->scope) : a->text;
		const auto old = seen_.find(e.name);
		const std::string where = seen.address.empty() ? "no usable address" : seen.address;
		if (old == seen_.end())
			log(LogLevel::Info, "server '{}' joined at {}, {}", e.name, where, stateName(seen.state));
		else if (old->second.state != seen.state)
			log(LogLevel::Info, "server '{}' is {} now (was {})", e.name, stateName(seen.state),
			    stateName(old->second.state));
		if (old != seen_.end() && old->second.address != seen.address)
			log(LogLevel::Info, "server '{}' moved from {} to {}", e.name,
			    old->second.address.empty() ? "no usable address" : old->second.address, where);
		now.emplace(e.name, std::move(seen));
	}
	for (const auto &[name, _] : seen_)
		if (!now.contains(name))
			log(LogLevel::Info, "server '{}' left", name);
	seen_ = std::move(now);
}

} // namespace dmdns
