// distcc-mdnsd's one owner: every part of the daemon, started and stopped in one documented order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "avahi/client.h"
#include "avahi/uv_poll.h"
#include "daemon/admins.h"
#include "daemon/advertiser.h"
#include "daemon/demand_ledger.h"
#include "daemon/farm_view.h"
#include "daemon/gossip_node.h"
#include "daemon/history.h"
#include "daemon/hosts_file.h"
#include "daemon/job_watch.h"
#include "daemon/local_users.h"
#include "daemon/query_server.h"
#include "daemon/resolver.h"
#include "daemon/user_hosts.h"
#include "daemon/view.h"
#include "daemon/zeroconf_compat.h"
#include "distcc-mdns/text.h"
#include "host/speed.h"
#include "host/user_jobs.h"
#include "uv/clock.h"
#include "uv/handle.h"

namespace dmdns {

// What distcc-mdnsd's options ask for.
struct DaemonConfig {
	AdvertiserConfig advertiser; // speed and incarnation are filled in at start
	std::optional<double> speed; // measured at start when not given
	// The start-up benchmark's runs, when it measured the speed.
	std::optional<host::SpeedMeasurement> measured;
	// --learn-speed: time this machine's remote jobs, learn the servers'
	// speeds from every client's (gossip), and pick by them.
	bool learnSpeed = true;
	// --probe-stock: TCP connects to stock-only servers (no gossip), so
	// that one whose link went leaves the lines (StockProbe).
	bool probeStock = true;
	std::string stateDir; // where the incarnation is kept
	bool resolve = true;  // browse for servers and serve queries
	std::string socket;
	std::string hostsFile;	   // empty: none
	std::string zeroconfDir;   // empty: no +zeroconf compatibility
	bool zeroconfPump = false; // ,cpp (and ,lzo) in the +zeroconf file: builds run under pump
	bool gossip = true;
	std::uint16_t gossipPort = kDistccPort;
	std::vector<HostPort> peers; // with their ports
	// --domain: unicast DNS-SD domains browsed besides .local, for servers
	// and their gossip ports (parseBrowseDomain's, kMaxBrowseDomains).
	std::vector<std::string> domains;
	std::vector<std::string> keyFiles;
	// --admin-group: nullopt takes kDefaultAdminGroup if it exists, ""
	// none (Admins::forDaemon()).
	std::optional<std::string> adminGroup;
	// A per-user daemon's uid: it gossips as a node id of its own
	// (host::userHostIdFrom), not as the host.
	std::optional<std::uint32_t> userUid;
};

// Owns the event loop, the Avahi client and the parts that borrow them.
//
// Start order (the constructor), each part finding the ones it uses ready:
//   1. this machine's speed (measured unless given) and the run's
//      incarnation, which the TXT record and gossip share;
//   2. the loop, then the Avahi client on it;
//   3. the gossip node (unless --no-gossip): the advertiser's first sample
//      and the resolver's vouching go to it;
//   4. the advertiser (unless --advertise=no), its samples fed to gossip;
//   5. the resolver (unless --no-resolve), then the query socket that
//      answers from it and from gossip;
//   6. the hosts file, the +zeroconf file and the per-user hosts files
//      (UserHostsFiles, beside the query socket), whose first lines are
//      written at once from what 5 and 3 know;
//   7. the job watch (--learn-speed, with gossip and the resolver): this
//      machine's remote jobs timed and told to gossip; and the re-runs of
//      the benchmark while the host idles (when it measured the speed).
// Stop order (stop(), on SIGTERM or SIGINT): the job watch and the
// benchmark's re-runs stop, gossip says goodbye, the
// advertiser withdraws its record, the query socket, the hosts file and the
// +zeroconf file close (releasing its lock), the per-user files stop being
// rewritten, then the loop ends. The rest
// is destroyed in the reverse of the start order.
class Daemon final
{
public:
	// Starts every part; throws std::exception for a part that cannot start.
	explicit Daemon(DaemonConfig config);
	~Daemon();

	Daemon(const Daemon &) = delete;
	Daemon &operator=(const Daemon &) = delete;

	// Runs the loop until SIGTERM or SIGINT, then stops.
	void run();
	void stop();

	// Called on the loop thread with every new farm object (the JSON text,
	// one line, as the "watch" operation sends it), at most once a second
	// and at least every 5 s while set; an empty function unsets it. The
	// callee must not block (hand it to another thread). Set it before
	// run(). Without the query side (--no-resolve) no object is made.
	void setFarmSink(std::function<void(std::string json)> sink);

private:
	// Answers one query-socket request.
	std::string answer(std::string_view line, const Caller &caller);
	// What a file's line is for: whose jobs in flight, with which options.
	struct FileFor {
		std::uint64_t seed = 0; // one per file: its order changes when the farm does
		bool lzo = false;
		bool cpp = false;
		// This user's distcc files (lock and backoff), when the daemon can
		// read them; else jobs in flight come from @jobs.
		std::string lockDir;
		const host::JobsByServer *jobs = nullptr;
		// The distcc clients of this user running here; unset: every user's.
		std::optional<std::uint32_t> uid;
	};
	// The line a hosts file, the +zeroconf file or a user's file holds.
	std::string fileLine(const FileFor &file);
	// Every registered user's line ("setup-user"), from one look at the
	// farm and the socket table.
	std::map<std::uint32_t, std::string> userLines(const std::set<std::uint32_t> &uids);
	// {"op":"setup-user"}.
	SetupUserReply setupUser(const Caller &caller);
	// @uid's jobs in flight per server, for its build's lease: its
	// connections to @entries' distcc ports in the socket table, read at
	// most every kBuildJobsAge for every user with a build at once.
	const host::JobsByServer &buildJobs(std::uint32_t uid, const std::vector<DirectoryEntry> &entries);
	// This machine's slots (its online CPUs, read anew) and speed.
	LocalMachine localMachine() const;
	// Every few seconds while the benchmark may still be re-run: re-runs it
	// once the host has idled long enough (SpeedKeeper), and advertises a
	// speed that rose.
	void checkIdle();
	SpeedStats speedStats() const;
	FarmStats farmStats() const;
	// Counts a request by its operation (the farm object's "queries").
	void countQuery(const Request &request);
	// The farm as this machine sees it now, without history, seq or
	// counters (a look: reserves nothing, tells nobody).
	FarmView lookAtFarm() const;
	// A farm object to hand out: the look with its history, the next seq,
	// the time, the stats and the counters.
	FarmView farmObject();
	// Every second: the history gets a sample; watchers and the farm sink
	// get an object when the farm changed or kFarmHeartbeat passed.
	void farmTick();

	DaemonConfig config_;
	// Who may --set-state.
	Admins admins_;
	// This machine's users, among whom its share of the farm is split.
	LocalUsers users_;
	uv::Loop loop_;
	avahi::UvPoll poll_;
	avahi::Client client_;
	uv::LoopClock clock_;
	std::string hostId_; // this machine's, as its TXT record names it
	std::map<std::uint32_t, std::uint64_t> userSeeds_;
	// buildJobs()'s last reading of the socket table, and when it was made.
	static constexpr std::chrono::milliseconds kBuildJobsAge{ 200 };
	std::map<std::uint32_t, host::JobsByServer> buildJobs_;
	std::chrono::steady_clock::time_point buildJobsAt_{};
	// Declared in the start order: destroyed in reverse.
	std::unique_ptr<GossipNode> gossip_;
	std::unique_ptr<Advertiser> advertiser_;
	std::unique_ptr<Resolver> resolver_;
	DemandLedger ledger_;
	std::unique_ptr<QueryServer> queries_;
	std::unique_ptr<HostsFileKeeper> hostsFile_;
	std::unique_ptr<ZeroconfCompat> zeroconf_;
	std::unique_ptr<UserHostsFiles> userFiles_;
	std::unique_ptr<JobWatch> jobs_;
	std::optional<host::SpeedKeeper> speedKeeper_;
	std::unique_ptr<uv::Alarm> idleAlarm_;
	// The live view (farm, watch, the farm sink): the history it shows,
	// the objects produced, the requests answered by operation.
	static constexpr std::chrono::seconds kFarmPeriod{ 1 };
	static constexpr std::chrono::seconds kFarmHeartbeat{ 5 };
	History history_;
	std::uint64_t farmSeq_ = 0;
	QueryCounts queryCounts_;
	std::function<void(std::string json)> farmSink_;
	std::string farmKey_; // changeKey() of the last object sent
	std::chrono::steady_clock::time_point farmSentAt_{};
	std::unique_ptr<uv::Alarm> farmAlarm_;
};

} // namespace dmdns
