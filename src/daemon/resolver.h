// Follows every _distcc._tcp service on the network and keeps the directory of servers.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avahi/mdns.h"
#include "daemon/stock_probe.h"
#include "distcc-mdns/directory.h"
#include "host/interfaces.h"
#include "uv/clock.h"

namespace dmdns {

// --domain: unicast DNS domains browsed besides .local, at most this many
// (each costs a browser and its resolvers among Avahi's 1024 objects per
// client).
inline constexpr std::size_t kMaxBrowseDomains = 4;

// A --domain value as Avahi is asked to browse it (lower case, no final
// dot), or why it is not a DNS name that wide-area DNS-SD can browse.
struct BrowseDomain {
	std::string domain;
	std::string error; // empty when @domain is usable
};
BrowseDomain parseBrowseDomain(std::string_view text);
// --domain @text added to @domains (a repeat changes nothing); else what
// is wrong with it, for the option's error.
std::string addBrowseDomain(std::vector<std::string> &domains, std::string_view text);

class Resolver final : public avahi::BrowserHandler
{
public:
	static constexpr std::chrono::milliseconds kReresolveDelay{ 1500 };

	// This host's interface addresses (host::localNetworks, or a test's).
	using LocalNetworks = std::function<std::vector<Network>()>;

	// Borrows @mdns (avahi::Client, or a fake) for its lifetime; asks
	// @localNetworks at every change, since interfaces come and go. Browses
	// .local and each of @domains (parseBrowseDomain's, at most
	// kMaxBrowseDomains; else std::invalid_argument) into one directory: a
	// server found in a domain obeys the same rules as one found on the link.
	explicit Resolver(avahi::Mdns &mdns, LocalNetworks localNetworks = host::localNetworks,
			  const std::vector<std::string> &domains = {});

	const Directory &directory() const noexcept { return directory_; }
	// What gossip says outweighs mDNS's goodbyes and identity changes for
	// the servers @vouch vouches for (see Directory).
	void setVouch(Directory::Vouch vouch)
	{
		vouch_ = vouch;
		directory_.setVouch(std::move(vouch));
	}
	// The TXT digests gossip has from the servers themselves: a TXT change
	// of a vouched server is taken only when it matches (see Directory).
	void setProfile(Directory::Profile profile) { directory_.setProfile(std::move(profile)); }
	// Avahi reported every instance present at start, in every domain,
	// and each resolved or failed.
	bool settled() const noexcept;
	// The --domain domains whose browse reported all it found with no
	// server resolved there yet: wide-area off in avahi-daemon.conf, no
	// nameserver serving them, or no records (warned once each).
	std::vector<std::string> emptyDomains() const;

	// Called after every change to the directory.
	std::function<void()> onChange;

	// Probes the distcc ports of the stock-only servers (stockOnly(): no
	// gossip says whether they live) through @connector, or TCP on @loop;
	// markUnreachable() then leaves out those whose connect failed, until
	// one succeeds or mDNS announces them again. Borrows @clock (and
	// @connector) for the resolver's lifetime.
	void probeStock(uv::Clock &clock, uv_loop_t &loop, StockProbeConfig config = {});
	void probeStock(uv::Clock &clock, Connector &connector, StockProbeConfig config = {});
	// Sets state Down on the stock entries of @entries the probe found
	// unreachable, unless gossip hears a server at the same address and
	// port (an entry with a gossip id, alive or suspect: what
	// overlayGossip marked). Returns how many; 0 without probing.
	std::size_t markUnreachable(std::vector<DirectoryEntry> &entries) const;
	// The probe, when probeStock() started one.
	const StockProbe *stockProbe() const noexcept { return probe_.get(); }

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
	// Warns once per domain that emptyDomains() names.
	void warnEmptyDomains();
	// Asks every browser: only the one that reported @key knows it.
	void reresolve(const InstanceKey &key);
	// Logs the servers that joined, left, changed state or address since
	// the last call.
	void logChanges();

	// Names whose contested advertisement was reported already: the
	// forged record stays in Avahi's cache and comes back at every
	// re-resolve. At most one per browsed instance.
	std::set<std::pair<std::string, std::string>> contested_;
	Directory directory_;
	LocalNetworks localNetworks_;
	std::map<std::string, Seen> seen_;     // by instance name, as large as the directory
	Directory::Vouch vouch_;	       // the directory's too: which ids gossip hears
	std::unique_ptr<Connector> connector_; // probeStock()'s own TCP connector
	std::unique_ptr<StockProbe> probe_;    // before browsers_: their callbacks tell the probe
	std::vector<std::string> domains_;     // --domain, as browsers_[1...]
	std::set<std::string> domainsFound_;   // those a server resolved in
	std::set<std::string> domainsWarned_;  // emptyDomains() already logged
	// .local's first, then one per --domain; after directory_: their
	// callbacks fill it.
	std::vector<std::unique_ptr<avahi::Browsing>> browsers_;
};

} // namespace dmdns
