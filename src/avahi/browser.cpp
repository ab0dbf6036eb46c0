// Browses one DNS-SD service type and keeps following every instance found.
#include "avahi/browser.h"

#include <algorithm>

#include <avahi-common/address.h>
#include <avahi-common/error.h>

#include "common/log.h"
#include "uv/guarded.h"

namespace dmdns::avahi {

namespace {

std::vector<std::string> toStrings(AvahiStringList *list)
{
	std::vector<std::string> out;
	for (AvahiStringList *l = list; l; l = avahi_string_list_get_next(l))
		out.emplace_back(reinterpret_cast<const char *>(avahi_string_list_get_text(l)),
				 avahi_string_list_get_size(l));
	return out;
}

std::optional<Address> toAddress(const AvahiAddress *address, AvahiIfIndex interface)
{
	if (!address)
		return std::nullopt;
	char text[AVAHI_ADDRESS_STR_MAX];
	if (!avahi_address_snprint(text, sizeof text, address))
		return std::nullopt;
	return Address::parse(text, interface > 0 ? static_cast<std::uint32_t>(interface) : 0);
}

} // namespace

Browser::Browser(Client &client, std::string type, BrowserHandler &handler, std::string domain)
	: client_(client), type_(std::move(type)), domain_(std::move(domain)), handler_(handler),
	  restart_(client.loop(), [this] { restartDue(); }), retry_(client.loop(), [this] {
		  // Not from the failed browser's own callback: it may be freed.
		  if (AvahiClient *running = client_.running())
			  clientRunning(*running);
	  })
{
	client_.addListener(*this);
}

Browser::~Browser()
{
	client_.removeListener(*this);
	entries_.clear();
	browser_.reset();
}

std::size_t Browser::unresolved() const noexcept
{
	return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(),
						      [](const auto &e) {
							      return !e.second.resolved && !e.second.failed;
						      }));
}

void Browser::clientRunning(AvahiClient &client)
{
	allForNow_ = false;
	AvahiServiceBrowser *b = avahi_service_browser_new(&client, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
							   type_.c_str(), domain_.empty() ? nullptr : domain_.c_str(),
							   AvahiLookupFlags(0), &Browser::browseCallback, this);
	if (!b) {
		log(LogLevel::Error, "cannot browse {}{}: {}", type_, domain_.empty() ? "" : " in " + domain_,
		    avahi_strerror(avahi_client_errno(&client)));
		return;
	}
	browser_.reset(b);
}

void Browser::clientGone()
{
	restart_.stop();
	restartDue_.reset();
	retry_.stop();
	entries_.clear();
	browser_.reset();
	allForNow_ = false;
	handler_.browserReset();
}

bool Browser::startResolver(const InstanceKey &key, Entry &entry)
{
	entry.resolver.reset();
	entry.resolved = false;
	entry.failed = false;
	entry.restartAt.reset();
	// The address in the protocol the instance was seen over: with
	// AVAHI_PROTO_UNSPEC an instance seen over IPv4 resolves to whichever
	// of its A and AAAA records comes first (Avahi publishes AAAA over IPv4
	// by default), and distccd may not listen on IPv6. An instance on both
	// protocols is seen, and so resolved, once per protocol: the directory
	// keeps both addresses and the client picks.
	AvahiServiceResolver *r = avahi_service_resolver_new(
		client_.running(), key.interface, key.protocol, key.name.c_str(), type_.c_str(),
		key.domain.c_str(), static_cast<AvahiProtocol>(key.protocol), AvahiLookupFlags(0),
		&Browser::resolveCallback, this);
	if (!r) {
		log(LogLevel::Warning, "cannot resolve '{}': {}", key.name,
		    avahi_strerror(avahi_client_errno(client_.running())));
		entry.failed = true;
		retryResolver(key, entry);
		return false;
	}
	entry.resolver.reset(r);
	entry.retries = 0;
	return true;
}

void Browser::retryResolver(const InstanceKey &key, Entry &entry)
{
	const std::chrono::milliseconds delay =
		std::min<std::chrono::milliseconds>(std::chrono::seconds(1L << std::min(entry.retries, 6u)), kMaxResolveRetry);
	entry.retries = std::min(entry.retries + 1, 16u);
	log(LogLevel::Info, "resolving '{}' again in {} s", key.name, delay.count() / 1000);
	entry.restartAt = std::chrono::steady_clock::now() + delay;
	restartBy(*entry.restartAt);
}

void Browser::restartBy(std::chrono::steady_clock::time_point at)
{
	if (restart_.active() && restartDue_ && *restartDue_ <= at)
		return;
	const auto now = std::chrono::steady_clock::now();
	restartDue_ = at;
	restart_.start(std::max(std::chrono::milliseconds::zero(),
				std::chrono::ceil<std::chrono::milliseconds>(at - now)));
}

void Browser::reresolve(const InstanceKey &key, std::chrono::milliseconds delay)
{
	auto it = entries_.find(key);
	if (it == entries_.end())
		return;
	it->second.resolved = false;
	it->second.restartAt = std::chrono::steady_clock::now() + delay;
	restartBy(*it->second.restartAt);
}

void Browser::reresolve(std::string_view name, std::string_view domain, std::chrono::milliseconds delay)
{
	std::vector<InstanceKey> keys;
	for (const auto &[key, entry] : entries_)
		if (key.name == name && key.domain == domain)
			keys.push_back(key);
	for (const InstanceKey &key : keys)
		reresolve(key, delay);
}

void Browser::restartDue()
{
	if (!client_.running())
		return;
	restartDue_.reset();
	const auto now = std::chrono::steady_clock::now();
	for (auto &[key, entry] : entries_)
		if (entry.restartAt && *entry.restartAt <= now)
			startResolver(key, entry); // may set a later retry
	std::optional<std::chrono::steady_clock::time_point> next;
	for (const auto &[key, entry] : entries_)
		if (entry.restartAt && (!next || *entry.restartAt < *next))
			next = entry.restartAt;
	if (next)
		restartBy(*next);
}

void Browser::browseCallback(AvahiServiceBrowser *, AvahiIfIndex interface, AvahiProtocol protocol,
			     AvahiBrowserEvent event, const char *name, const char *, const char *domain,
			     AvahiLookupResultFlags, void *self) noexcept
{
	guarded("Avahi browser callback",
		[&] { static_cast<Browser *>(self)->browseEvent(interface, protocol, event, name, domain); });
}

void Browser::browseEvent(AvahiIfIndex interface, AvahiProtocol protocol, AvahiBrowserEvent event,
			  const char *name, const char *domain)
{
	switch (event) {
	case AVAHI_BROWSER_NEW: {
		InstanceKey key{ interface, protocol, name, domain };
		if (entries_.count(key))
			return;
		if (entries_.size() >= kMaxInstances) {
			log(LogLevel::Warning, "ignoring '{}': already following {} instances", name,
			    kMaxInstances);
			return;
		}
		startResolver(key, entries_[key]);
		break;
	}
	case AVAHI_BROWSER_REMOVE: {
		InstanceKey key{ interface, protocol, name, domain };
		if (entries_.erase(key))
			handler_.instanceRemoved(key);
		break;
	}
	case AVAHI_BROWSER_ALL_FOR_NOW:
		allForNow_ = true;
		failures_ = 0;
		handler_.allForNow();
		break;
	case AVAHI_BROWSER_CACHE_EXHAUSTED:
		break;
	case AVAHI_BROWSER_FAILURE:
		if (domain_.empty()) {
			log(LogLevel::Error, "browsing {} failed: {}", type_,
			    avahi_strerror(avahi_client_errno(client_.running())));
			break;
		}
		log(failures_++ == 0 ? LogLevel::Warning : LogLevel::Info,
		    "browsing {} in {} failed: {} (does a nameserver of /etc/resolv.conf serve {}, and does "
		    "avahi-daemon.conf say enable-wide-area=yes?); trying again in {} s",
		    type_, domain_, avahi_strerror(avahi_client_errno(client_.running())), domain_,
		    kRetryAfter.count());
		retry_.start(kRetryAfter);
		break;
	}
}

void Browser::resolveCallback(AvahiServiceResolver *, AvahiIfIndex interface, AvahiProtocol protocol,
			      AvahiResolverEvent event, const char *name, const char *,
			      const char *domain, const char *hostName, const AvahiAddress *address,
			      std::uint16_t port, AvahiStringList *txt, AvahiLookupResultFlags flags,
			      void *self) noexcept
{
	guarded("Avahi resolver callback", [&] {
		static_cast<Browser *>(self)->resolveEvent(interface, protocol, event, name, domain, hostName,
							   address, port, txt, flags);
	});
}

void Browser::resolveEvent(AvahiIfIndex interface, AvahiProtocol protocol, AvahiResolverEvent event,
			   const char *name, const char *domain, const char *hostName,
			   const AvahiAddress *address, std::uint16_t port, AvahiStringList *txt,
			   AvahiLookupResultFlags flags)
{
	InstanceKey key{ interface, protocol, name, domain };
	auto it = entries_.find(key);
	// A resolver due for a restart reports nothing in between.
	if (it == entries_.end() || it->second.restartAt)
		return;
	if (event == AVAHI_RESOLVER_FAILURE) {
		// A kept-open resolver fails when the host stopped answering:
		// the instance is gone even if the browser has not said so.
		log(LogLevel::Info, "'{}' stopped resolving: {}", name,
		    avahi_strerror(avahi_client_errno(client_.running())));
		if (it->second.resolved)
			handler_.instanceRemoved(key);
		// Not freed here: this is the resolver's own callback. Avahi's
		// resolver keeps running after a timeout and reports the instance
		// if its records come later.
		it->second.resolved = false;
		it->second.failed = true;
		return;
	}
	it->second.resolved = true;
	it->second.failed = false;
	ResolvedInstance instance;
	instance.key = key;
	instance.hostName = hostName ? hostName : "";
	instance.address = toAddress(address, interface);
	instance.port = port;
	instance.txt = toStrings(txt);
	instance.local = (flags & AVAHI_LOOKUP_RESULT_LOCAL) != 0;
	handler_.instanceResolved(instance);
}

} // namespace dmdns::avahi
