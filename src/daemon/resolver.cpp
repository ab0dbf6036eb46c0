// Follows every _distcc._tcp service on the network and keeps the directory of servers.
#include "resolver.h"

#include <chrono>

#include "distcc-mdns/txt.h"
#include "log.h"

namespace dmdns {

Resolver::Resolver(avahi::Client &client) : browser_(client, std::string(kServiceType), *this) {}

bool Resolver::settled() const noexcept
{
	return browser_.allForNowSeen() && browser_.unresolved() == 0;
}

void Resolver::instanceResolved(const ResolvedInstance &instance)
{
	const std::size_t known = directory_.size();
	if (!directory_.resolved(instance, std::chrono::steady_clock::now())) {
		log(LogLevel::Warning, "ignoring '{}' at {}: unusable advertisement or table full",
		    instance.key.name, instance.address ? instance.address->text : "?");
		changed();
		return;
	}
	log(LogLevel::Debug, "resolved '{}' at {} ({} known before)", instance.key.name,
	    instance.address ? instance.address->text : "?", known);
	changed();
}

void Resolver::instanceRemoved(const InstanceKey &key)
{
	if (directory_.removed(key))
		log(LogLevel::Info, "'{}' left", key.name);
	changed();
}

void Resolver::allForNow()
{
	changed();
}

void Resolver::browserReset()
{
	directory_.clear();
	changed();
}

void Resolver::changed()
{
	if (onChange)
		onChange();
}

} // namespace dmdns
