// Follows every _distcc._tcp service on the network and keeps the directory of servers.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "avahi/mdns.h"
#include "distcc-mdns/directory.h"

namespace dmdns {

class Resolver final : public avahi::BrowserHandler
{
public:
	static constexpr std::chrono::milliseconds kReresolveDelay{ 1500 };

	// Borrows @mdns (avahi::Client, or a fake) for its lifetime.
	explicit Resolver(avahi::Mdns &mdns);

	const Directory &directory() const noexcept { return directory_; }
	// What gossip says outweighs mDNS's goodbyes and identity changes for
	// the servers @vouch vouches for (see Directory).
	void setVouch(Directory::Vouch vouch) { directory_.setVouch(std::move(vouch)); }
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
	void changed();

	// Names whose contested advertisement was reported already: the
	// forged record stays in Avahi's cache and comes back at every
	// re-resolve. At most one per browsed instance.
	std::set<std::pair<std::string, std::string>> contested_;
	Directory directory_;
	std::unique_ptr<avahi::Browsing> browser_; // after directory_: its callbacks fill it
};

} // namespace dmdns
