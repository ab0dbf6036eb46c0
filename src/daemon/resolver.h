// Follows every _distcc._tcp service on the network and keeps the directory of servers.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "avahi/mdns.h"
#include "distcc-mdns/directory.h"
#include "host/interfaces.h"

namespace dmdns {

class Resolver final : public avahi::BrowserHandler
{
public:
	static constexpr std::chrono::milliseconds kReresolveDelay{ 1500 };

	// This host's interface addresses (host::localNetworks, or a test's).
	using LocalNetworks = std::function<std::vector<Network>()>;

	// Borrows @mdns (avahi::Client, or a fake) for its lifetime; asks
	// @localNetworks at every change, since interfaces come and go.
	explicit Resolver(avahi::Mdns &mdns, LocalNetworks localNetworks = host::localNetworks);

	const Directory &directory() const noexcept { return directory_; }
	// What gossip says outweighs mDNS's goodbyes and identity changes for
	// the servers @vouch vouches for (see Directory).
	void setVouch(Directory::Vouch vouch) { directory_.setVouch(std::move(vouch)); }
	// The TXT digests gossip has from the servers themselves: a TXT change
	// of a vouched server is taken only when it matches (see Directory).
	void setProfile(Directory::Profile profile) { directory_.setProfile(std::move(profile)); }
	// Avahi reported every instance present at start, and each resolved
	// or failed.
	bool settled() const noexcept;

	// Called after every change to the directory.
	std::function<void()> onChange;

	void instanceResolved(const ResolvedInstance &instance) override;
	void instanceRemoved(const InstanceKey &key) override;
	void allForNow() override;
	void browserReset() override;

private:
	// What -v reports of a server when it changes.
	struct Seen {
		ServerState state = ServerState::Up;
		std::string address; // the preferred one, "" if none is usable
		bool operator==(const Seen &) const = default;
	};

	void changed();
	// Logs the servers that joined, left, changed state or address since
	// the last call.
	void logChanges();

	// Names whose contested advertisement was reported already: the
	// forged record stays in Avahi's cache and comes back at every
	// re-resolve. At most one per browsed instance.
	std::set<std::pair<std::string, std::string>> contested_;
	Directory directory_;
	LocalNetworks localNetworks_;
	std::map<std::string, Seen> seen_;	   // by instance name, as large as the directory
	std::unique_ptr<avahi::Browsing> browser_; // after directory_: its callbacks fill it
};

} // namespace dmdns
