// Follows every _distcc._tcp service on the network and keeps the directory of servers.
#include "daemon/resolver.h"

#include <chrono>

#include <fmt/format.h>

#include "common/log.h"
#include "distcc-mdns/txt.h"

namespace dmdns {

Resolver::Resolver(avahi::Mdns &mdns, LocalNetworks localNetworks)
	: localNetworks_(std::move(localNetworks)), browser_(mdns.browse(std::string(kServiceType), *this)) { }

bool Resolver::settled() const noexcept
{
	return browser_->allForNowSeen() && browser_->unresolved() == 0;
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
		browser_->reresolve(oldName, domain, kReresolveDelay);
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
		browser_->reresolve(instance.key, kReresolveDelay);
		break;
	case Directory::Outcome::Contested:
		// Forged, or the server really went and gossip has not noticed
		// yet: look again later, when gossip may have let go.
		log(reported ? LogLevel::Debug : LogLevel::Warning,
		    "ignoring '{}' at {} ({}): it would re-point the name or the id of a server gossip "
		    "still hears, or change what that server does not say by gossip it advertises",
		    instance.key.name, address, instance.hostName);
		browser_->reresolve(instance.key, kReresolveDelay);
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
	changed();
}

void Resolver::browserReset()
{
	directory_.clear();
	contested_.clear();
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
