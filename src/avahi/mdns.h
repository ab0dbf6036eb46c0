// What the daemon's parts ask of mDNS: publish a service, follow a service type. Avahi in the daemon, fakes in tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/directory.h"

namespace dmdns::avahi {

struct ServiceSpec {
	std::string name; // instance name, e.g. distcc@host
	std::string type; // e.g. _distcc._tcp
	std::uint16_t port = 0;
	std::vector<std::string> txt;
	std::vector<std::string> subtypes; // full names, e.g. _x._sub._distcc._tcp
};

// The name Avahi moves a service to when its name is taken: "NAME #2",
// then "NAME #3", and so on.
std::string alternativeName(const std::string &name);

// One service, published for as long as it is wanted. On a collision it
// takes alternativeName() of its name and publishes again.
class Publishing
{
public:
	virtual ~Publishing() = default;

	// Publishes @spec, replacing whatever was published.
	virtual void publish(ServiceSpec spec) = 0;
	// New TXT for the published service.
	virtual void updateTxt(std::vector<std::string> txt) = 0;
	// Withdraws the service; the network hears a goodbye.
	virtual void withdraw() = 0;

	virtual bool wanted() const noexcept = 0;
	// The name in use, which may be an alternative after a collision.
	virtual const std::string &name() const noexcept = 0;
};

// Told about the instances of one service type.
class BrowserHandler
{
public:
	// First resolution, and every later change the resolver reports.
	virtual void instanceResolved(const ResolvedInstance &instance) = 0;
	// The instance left (goodbye, or the resolver timed out).
	virtual void instanceRemoved(const InstanceKey &key) = 0;
	// Every instance that existed when browsing started has been reported
	// or has failed to resolve.
	virtual void allForNow() = 0;
	// The client went away: every instance is forgotten.
	virtual void browserReset() = 0;

protected:
	~BrowserHandler() = default;
};

// Follows every instance of one service type and reports to its handler.
class Browsing
{
public:
	virtual ~Browsing() = default;

	// Drops what was reported of @key and resolves it afresh after @delay,
	// once caches had time to flush a departed owner's records. Safe from
	// inside the handler's callbacks.
	virtual void reresolve(const InstanceKey &key, std::chrono::milliseconds delay) = 0;
	// The same for every interface and protocol @name was seen on.
	virtual void reresolve(std::string_view name, std::string_view domain, std::chrono::milliseconds delay) = 0;

	// Instances found that have not resolved yet.
	virtual std::size_t unresolved() const noexcept = 0;
	// Every instance present at start was reported.
	virtual bool allForNowSeen() const noexcept = 0;
};

// Makes publishers and browsers: Client does it with avahi-daemon.
class Mdns
{
public:
	virtual std::unique_ptr<Publishing> publisher() = 0;
	// Browses @type in @domain (empty: Avahi's default, .local), reporting
	// to @handler, which it borrows for its life. Another domain is browsed
	// by unicast DNS when avahi-daemon enables wide-area.
	virtual std::unique_ptr<Browsing> browse(std::string type, BrowserHandler &handler,
						 std::string domain = {}) = 0;

protected:
	~Mdns() = default;
};

} // namespace dmdns::avahi
