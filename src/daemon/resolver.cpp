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
	const char *address = instance.address ? instance.address->text.c_str() : "?";
	switch (directory_.resolved(instance, std::chrono::steady_clock::now())) {
	case Directory::Outcome::Accepted:
		log(LogLevel::Debug, "resolved '{}' at {}", instance.key.name, address);
		break;
	case Directory::Outcome::Refused:
		log(LogLevel::Warning, "ignoring '{}' at {}: unusable advertisement, no port, or table full",
		    instance.key.name, address);
		break;
	case Directory::Outcome::IdentityChanged:
		// mDNS caches flush a departed owner's records within a second.
		log(LogLevel::Info, "'{}' changed hands; resolving it afresh", instance.key.name);
		browser_.reresolve(instance.key, kReresolveDelay);
		break;
	}
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
