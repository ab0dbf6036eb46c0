// The servers a resolver knows, merged from every interface and protocol they were seen on.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/server.h"
#include "distcc-mdns/txt.h"

namespace dmdns {

using SteadyTime = std::chrono::steady_clock::time_point;

// One DNS-SD instance as seen on one interface and protocol.
struct InstanceKey {
	int interface = -1;
	int protocol = -1;
	std::string name;
	std::string domain;

	auto operator<=>(const InstanceKey &) const = default;
};

// What resolving one instance gave.
struct ResolvedInstance {
	InstanceKey key;
	std::string hostName; // e.g. build-01.local
	std::optional<Address> address;
	std::uint16_t port = 0;
	std::vector<std::string> txt;
	bool local = false; // published by this very host
};

// One server as the directory presents it.
struct DirectoryEntry {
	std::string name;     // DNS-SD instance name, e.g. distcc@build-01
	std::string hostName; // mDNS host name
	Server server;	      // sample age relative to the snapshot time
	bool stock = false;   // a stock distccd without our keys
	bool local = false;
	// mDNS withdrew it (a goodbye, maybe forged) but gossip still hears the
	// server itself: listed at its last known address.
	bool withdrawn = false;
	std::vector<TxtProblem> problems; // what its TXT had wrong
};

// The addresses of @server a distcc client with the interface addresses
// @local may connect to, in the order seen: never a link-local IPv6 without
// its scope, only addresses distccd listens on, and not one whose link this
// client is on with addresses the server's --allow admits none of. What
// the server did not advertise (a stock distccd) and what the client does
// not know (no @local) constrain nothing. Server::preferredAddress() then
// picks IPv4 first.
std::vector<Address> usableAddresses(const Server &server, std::span<const Network> local);

// What tells two records of one distccd apart from two servers: the mDNS
// host name (case folded) and distccd's port, "build-01.local:3632". Avahi
// keeps a host name unique on the link (it renames the newcomer on a
// conflict), and a host publishes it on every interface and protocol with
// all its addresses, so a multi-homed server and a host advertised both by
// a stock `distccd --zeroconf` and by distcc-mdnsd share it while their
// records may resolve to different addresses (of different interfaces or
// families). Addresses alone cannot say it; the instance name cannot either
// (Avahi names the second advertiser "distcc@h #2").
std::string sameHostKey(std::string_view hostName, std::uint16_t port);

// Merges the instances of one service name seen over several interfaces and
// protocols into one server. Records are keyed by (name, domain): DNS-SD
// names are unique on a link, and Avahi renames on collision. Bounded by
// kMaxServers; beyond that new names are refused.
//
// mDNS is a hint: anyone on the link can send a goodbye or a TXT record for
// any name, so what the server itself says by gossip outweighs it. While the
// vouch function says gossip hears a record's id first-hand (alive or
// suspect), a goodbye only marks the record withdrawn (still listed, at its
// last address), and a TXT that would change its identity (another id,
// host, a stock or unusable record) is refused and the record kept, as is a
// new name on another host claiming that id. A
// stock record of a host one of our records stands for (same sameHostKey)
// is left out of the snapshot: the server's own record speaks for its
// distccd (load, liveness, compilers), so the host is listed once. Ours
// stands for its host while listed, and also once it died with its gossip:
// mDNS withdrew it while gossip vouched (avahi-daemon withdraws a crashed
// client's services) and gossip then let go, or (the host itself crashed)
// mDNS still has it and gossip calls it dead. So the host leaves with its
// gossip, and the stock record, stale or not, does not bring it back until
// our record is announced again, or for kDeadHostHidden after mDNS withdrew
// ours (a daemon that crashed alone leaves a distccd that may still serve:
// its stock record then lists it again, as a stock-only server). A record mDNS withdrew while gossip did
// not vouch (a clean stop: gossip's LEAVE goes first) is forgotten, and the
// stock record lists the host again: its distccd may well still run. A
// record gossip does not vouch for, a stock one above all, behaves as plain
// DNS-SD says. TXT values that gossip samples carry too (state, slots,
// cpus, speed, load) are replaced by the sample later (overlayGossip). For
// the rest (compilers, listen, allow, versions, every other key) the
// server's own PROFILE carries a digest of its TXT (txtProfileDigest):
// while gossip vouches for a record and has that digest, a TXT change is
// taken only when it matches. One that does not is kept aside (the newest
// one only) and taken once the digest moves to it: a genuine change whose
// TXT outran the gossip. A record without a digest yet (an older daemon,
// or before its first PROFILE) behaves as above.
class Directory final
{
public:
	static constexpr std::size_t kMaxServers = 512;
	// How long a record of ours mDNS withdrew, whose gossip then let go,
	// still hides the stock record of its host.
	static constexpr std::chrono::minutes kDeadHostHidden{ 10 };

	// Whether gossip hears the server with TXT id @id itself at @now, so
	// that its word outweighs mDNS's. Never called for stock records.
	using Vouch = std::function<bool(std::string_view id, SteadyTime now)>;
	// The digest of the TXT the server with TXT id @id says it advertises
	// (Gossip::profileDigest), empty when gossip has none.
	using Profile = std::function<std::optional<std::uint64_t>(std::string_view id)>;

	enum class Outcome {
		Accepted,
		// Table full, unusable TXT, or no port: not listed.
		Refused,
		// The name now belongs to another host or advertiser (its TXT id
		// or its host changed): the record is dropped, since a kept-open
		// resolver can briefly report the new TXT with the old address.
		// The caller should resolve the name afresh.
		IdentityChanged,
		// Such a change while gossip vouches for the record's id, or a
		// TXT whose digest is not the one the server gossips: the record
		// is kept as it was. The caller may resolve afresh later, when
		// gossip may have let go.
		Contested,
	};

	enum class Removal {
		Kept,	   // other sightings remain, or the name was unknown
		Gone,	   // the last sighting went: the record is forgotten
		Withdrawn, // the last sighting went, but gossip vouches: kept
	};

	// Without a vouch function (no gossip) mDNS alone decides, as DNS-SD
	// says.
	void setVouch(Vouch vouch) { vouch_ = std::move(vouch); }
	// Without a profile function every TXT change of a vouched record that
	// keeps its id and host is taken.
	void setProfile(Profile profile) { profile_ = std::move(profile); }

	Outcome resolved(const ResolvedInstance &instance, SteadyTime now);
	// The names (name, domain) whose server took a new name in resolved()
	// since the last call: their records are gone, and what a kept-open
	// resolver says of them next may mix the two owners' records.
	std::vector<std::pair<std::string, std::string>> takeReleased();
	Removal removed(const InstanceKey &key, SteadyTime now);
	// Forgets the withdrawn records gossip no longer vouches for (the
	// server left, died or went silent); returns how many.
	std::size_t forgetUnvouched(SteadyTime now);
	void clear() noexcept { records_.clear(); }
	// This client's own addresses with their prefixes (its interfaces),
	// for telling which of a server's addresses its distccd admits us on;
	// empty: unknown, every address is taken as admitted.
	void setLocalNetworks(std::vector<Network> networks) { local_ = std::move(networks); }

	std::size_t size() const noexcept { return records_.size(); }
	// The records, less the withdrawn ones gossip no longer vouches for
	// and the stock ones of a host one of ours stands for (see above).
	std::vector<DirectoryEntry> snapshot(SteadyTime now) const;

private:
	struct Sighting {
		std::optional<Address> address;
		std::uint16_t port = 0;
		// mDNS said goodbye on this interface and protocol while gossip
		// vouched for the server: kept, so that the server stays listed at
		// an address its distccd accepts (its IPv4 one may go before its
		// IPv6 one), until every sighting went and the record is withdrawn
		// or one is announced again.
		bool gone = false;
	};
	// A TXT change whose digest did not match the server's gossiped one.
	struct Pending {
		std::vector<std::string> txt;
		TxtDecoded decoded;
		std::uint64_t digest = 0;
		SteadyTime at{};
	};
	struct Record {
		std::map<InstanceKey, Sighting> sightings;
		std::string hostName;
		TxtDecoded decoded;
		std::vector<std::string> txt; // as last received, to skip repeats
		SteadyTime txtAt{};
		bool local = false;
		// mDNS withdrew the name; sightings holds the last one.
		bool withdrawn = false;
		SteadyTime withdrawnAt{};
		// The newest contested TXT: at most one a record.
		std::optional<Pending> pending;
	};
	using RecordKey = std::pair<std::string, std::string>; // name, domain

	bool vouched(const Record &record, SteadyTime now) const;
	std::optional<std::uint64_t> gossipedDigest(const Record &record) const;
	// Whether @record's pending TXT is the one to believe now: its digest
	// is the gossiped one, or gossip let go of the server.
	bool pendingWins(const Record &record, SteadyTime now) const;

	std::map<RecordKey, Record> records_;
	std::vector<RecordKey> released_;
	Vouch vouch_;
	Profile profile_;
	std::vector<Network> local_;
};

} // namespace dmdns
