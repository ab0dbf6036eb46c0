// distcc-mdnsd's one owner: every part of the daemon, started and stopped in one documented order.
#include "daemon/daemon.h"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <random>
#include <stdexcept>

#include <unistd.h>

#include "common/log.h"
#include "daemon/json_codec.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/live.h"
#include "host/files.h"
#include "host/host_id.h"
#include "host/incarnation.h"
#include "host/interfaces.h"
#include "host/probe.h"
#include "host/procfs.h"
#include "host/speed.h"
#include "net/auth.h"

namespace dmdns {

namespace {

// How often the load is looked at while the benchmark may be re-run.
constexpr std::chrono::seconds kIdleCheck{ 5 };

// Step 1 of the start: what the options leave to be found out.
DaemonConfig prepared(DaemonConfig config)
{
	if (!config.speed) {
		config.measured = host::measureSpeedRuns();
		config.speed = config.measured->best;
		// A wide spread: something else ran meanwhile; the re-runs while
		// idle (SpeedKeeper) may find more.
		log(LogLevel::Info, "measured speed {:.2f} (runs {:.2f} to {:.2f}, spread {:.2f})", *config.speed,
		    config.measured->worst, config.measured->best, config.measured->spread());
	}
	config.advertiser.speed = *config.speed;
	// Drawn once: the TXT record and gossip name the same run.
	config.advertiser.incarnation = host::IncarnationStore(config.stateDir).next();
	log(LogLevel::Info, "incarnation {}", config.advertiser.incarnation);
	return config;
}

std::unique_ptr<GossipNode> startGossip(uv_loop_t &loop, avahi::Client &client, const DaemonConfig &options)
{
	GossipNodeConfig config;
	const std::string id =
		options.userUid ? host::userHostIdFrom(host::hostId(), *options.userUid) : host::hostId();
	const auto node = wire::parseNodeId(id);
	if (!node)
		throw std::runtime_error("host id '" + id + "' is not a gossip node id");
	config.gossip.node = *node;
	// The same as the TXT record's: one incarnation per run.
	config.gossip.incarnation = options.advertiser.incarnation;
	config.gossip.seed = std::random_device{}() ^ config.gossip.incarnation;
	config.gossip.learnSpeed = options.learnSpeed;
	config.port = options.gossipPort;
	// A backstop only: the DemandLedger tells every change of demand, and
	// re-tells it every second while builds run.
	config.demandHold = 2 * DemandLedger::kQueryHold;
	config.peers = options.peers;
	config.domains = options.domains;
	for (const std::string &file : options.keyFiles)
		config.keys.push_back(net::Authenticator::fromFile(file));
	return std::make_unique<GossipNode>(loop, client, std::move(config));
}

// A server's gossip sample from the advertiser's reading.
wire::Sample sampleOf(const Server &self, const host::LoadReading &reading, bool accepting)
{
	wire::Sample s;
	s.running = reading.running;
	s.runnable = reading.runnable;
	s.slots = self.slots;
	s.cpus = self.cpus;
	s.speed = self.speed;
	// distccd stopped accepting: others leave it out at once.
	s.state = accepting ? self.state : ServerState::Down;
	s.lzo = self.lzo;
	s.cpp = self.cpp;
	s.port = self.port;
	return s;
}

// The servers a query chooses from: mDNS's, the --peer ones, with gossip
// laid over them.
LiveServers liveServers(const Resolver &resolver, const GossipNode *node)
{
	const auto now = std::chrono::steady_clock::now();
	std::vector<DirectoryEntry> entries = resolver.directory().snapshot(now);
	if (!node) {
		resolver.markUnreachable(entries);
		return LiveServers{ std::move(entries), {} };
	}
	for (DirectoryEntry &e : node->peerServers(now))
		entries.push_back(std::move(e));
	// Stock-only servers whose port stopped answering are down: gossip
	// knows nothing of them (after the overlay, which says who it hears).
	LiveServers live = overlayGossip(std::move(entries), node->gossip(), now);
	resolver.markUnreachable(live.entries);
	return live;
}

// What the farm is busy with, beyond the samples, for this daemon's answers.
FarmState farmState(const LiveServers &live, const GossipNode *node)
{
	FarmState farm{ live.reserved, 0, {}, {}, {} };
	if (node) {
		const auto now = std::chrono::steady_clock::now();
		auto others = node->gossip().othersDemand(now);
		farm.wanted = others.summary.wanted;
		farm.demands = std::move(others.each);
	}
	return farm;
}

// A user's jobs in flight on each entry (from distcc's slot locks or the
// socket table), matched by the address and port the line lists.
std::vector<std::uint32_t> ownJobs(const std::vector<DirectoryEntry> &entries, const host::JobsByServer &inFlight)
{
	std::vector<std::uint32_t> own(entries.size(), 0);
	if (inFlight.empty())
		return own;
	for (std::size_t i = 0; i < entries.size(); ++i)
		if (const auto address = entries[i].server.preferredAddress())
			if (auto it = inFlight.find({ address->text, entries[i].server.port }); it != inFlight.end())
				own[i] = it->second;
	return own;
}

// {"op":"set-state"}: only root, the daemon's own user and the admin
// group may change what this host advertises; who asks is checked before
// what is asked.
SetStateReply setState(const SetStateRequest &request, const Caller &caller, const Admins &admins,
		       Advertiser *advertiser)
{
	if (!caller.uid || !admins.allows(*caller.uid))
		throw std::invalid_argument(fmt::format("set-state: only {} may change the state; uid {} may not",
							admins.who(),
							caller.uid ? std::to_string(*caller.uid) : std::string("unknown")));
	if (!advertiser)
		throw std::invalid_argument("set-state: this daemon advertises no server (--advertise=no)");
	const auto state = parseServerState(request.state);
	if (!state || *state == ServerState::Down)
		throw std::invalid_argument("set-state: 'state' must be \"drain\" or \"up\"");
	advertiser->setState(*state);
	return { *state };
}

// The remote slots @view's line lists.
std::uint32_t remoteLimits(const View &view)
{
	std::uint64_t slots = 0;
	for (const ServerView &s : view.servers)
		if (s.excluded == Exclusion::None && !s.local)
			slots += s.limit;
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(slots, UINT32_MAX));
}

// The other local users building now ask of this machine's share as other
// clients ask of the farm: counted into @farm's demands (each at most the
// farm's slots, as a demand told by gossip), an overloaded share is split
// among them and @uid by demand, and one user alone keeps it all. Returns
// their demand added up: what they add to this machine's, which other
// machines see as one client's. For the query socket (the kernel names the
// uid) and for a uid's hosts file alike.
//
// For a build's lease (@build) another user counts by what runs: its own
// builds and its distcc clients, not a look it made within the last
// seconds. A look may come before a build (`make -j$(distcc-mdns-hosts -j)`)
// or before nothing (`--status`, a readiness probe); a build follows its
// share for its whole life, so a look would cut it for no job, while the
// census counts a build that does follow within a second.
std::uint64_t addLocalUsers(FarmState &farm, const LocalUsers &users,
			    const std::map<std::uint32_t, std::uint32_t> &demandByUid, uid_t uid,
			    const std::vector<DirectoryEntry> &entries, SteadyTime now, bool build)
{
	std::uint64_t slots = 0;
	for (const DirectoryEntry &e : entries)
		slots += e.server.slots;
	const auto most = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(slots, 1, wire::kMaxWantedJobs));
	std::uint64_t added = 0;
	const auto add = [&](std::uint32_t demand) {
		farm.demands.push_back(std::min(demand, most));
		farm.wanted += std::min(demand, most);
		added += std::min(demand, most);
	};
	for (const LocalUsers::Other &other : users.others(uid, now)) {
		std::uint32_t demand = build && !other.build ? 0 : other.demand;
		// A build's distcc clients beyond its want count too, and so do
		// those of a user held only by its reservations, who asks nothing.
		if (const auto it = demandByUid.find(other.uid);
		    (other.build || demand == 0) && it != demandByUid.end())
			demand = std::max(demand, it->second);
		if (demand > 0)
			add(demand);
	}
	// Users building from a hosts file or an old line ask nothing: their
	// distcc clients running (the ledger's census) are their demand.
	const std::vector<uid_t> asking = users.building(now);
	for (const auto &[other, demand] : demandByUid)
		if (other != uid && demand > 0 && !std::binary_search(asking.begin(), asking.end(), other))
			add(demand);
	return added;
}

// The servers whose jobs are timed: the ones mDNS lists and the --peer
// ones, by the addresses and ports hosts lines name them with.
std::vector<DirectoryEntry> timedServers(const Resolver &resolver, const GossipNode &node)
{
	const auto now = std::chrono::steady_clock::now();
	std::vector<DirectoryEntry> entries = resolver.directory().snapshot(now);
	for (DirectoryEntry &e : node.peerServers(now))
		entries.push_back(std::move(e));
	return entries;
}

// Runnable tasks of the host now, the reader excluded.
std::optional<double> runnableNow()
{
	const auto file = host::readBounded("/proc/loadavg", 4096);
	const auto load = file ? procfs::parseLoadavg(file->text) : std::nullopt;
	if (!load)
		return std::nullopt;
	return load->runnable > 0 ? load->runnable - 1.0 : 0.0;
}

std::vector<std::uint64_t> listedIds(const Resolver &resolver)
{
	std::vector<std::uint64_t> ids;
	for (const DirectoryEntry &e : resolver.directory().snapshot(std::chrono::steady_clock::now()))
		if (auto id = gossipId(e))
			ids.push_back(*id);
	return ids;
}

// The distcc ports of @entries: where a user's connections are jobs.
std::set<std::uint16_t> serverPorts(const std::vector<DirectoryEntry> &entries)
{
	std::set<std::uint16_t> ports;
	for (const DirectoryEntry &e : entries)
		if (e.server.port != 0)
			ports.insert(e.server.port);
	return ports;
}

} // namespace

Daemon::Daemon(DaemonConfig config)
	: config_(prepared(std::move(config))), admins_(Admins::forDaemon(config_.adminGroup, ::geteuid())),
	  poll_(loop_.get()), client_(loop_.get(), *poll_.get()), clock_(loop_.get()), hostId_(host::hostId()),
	  ledger_(
		  clock_,
		  [this](const DemandLedger::Reservations &reservations, std::uint32_t want, std::uint32_t localSlots) {
			  if (gossip_)
				  gossip_->handedOut(reservations, want, localSlots);
		  },
		  [] { return host::distccClientsByUid(); }, [] { return host::onlineCpus(); })
{
	if (config_.gossip)
		gossip_ = startGossip(loop_.get(), client_, config_);
	if (config_.advertiser.mode != AdvertiserConfig::Mode::No)
		advertiser_ = std::make_unique<Advertiser>(loop_.get(), client_, config_.advertiser);
	if (advertiser_ && gossip_)
		advertiser_->onSample = [this](const Server &self, const host::LoadReading &reading, bool accepting) {
			const auto now = std::chrono::steady_clock::now();
			if (const std::optional<std::uint64_t> digest = advertiser_->profileDigest())
				gossip_->gossip().setOwnProfile(*digest, now);
			gossip_->gossip().setOwnSample(sampleOf(self, reading, accepting), now);
			// Who runs those jobs: gossip says it when it changes.
			std::vector<ClientJobs> clients;
			for (const auto &[address, running] : reading.clients)
				clients.push_back({ address, running });
			gossip_->gossip().setOwnClients(std::move(clients));
		};
	if (config_.measured) {
		speedKeeper_.emplace(*config_.measured, host::onlineCpus());
		idleAlarm_ = clock_.alarm([this] { checkIdle(); });
		idleAlarm_->start(kIdleCheck, kIdleCheck);
	}
	if (!config_.resolve)
		return;
	resolver_ = std::make_unique<Resolver>(client_, host::localNetworks, config_.domains);
	// No gossip says when a stock-only distccd vanished: a connect probe does.
	if (config_.probeStock)
		resolver_->probeStock(clock_, loop_.get());
	if (gossip_) {
		resolver_->onChange = [this] { gossip_->setListed(listedIds(*resolver_)); };
		resolver_->setVouch([this](std::string_view id, SteadyTime now) {
			return gossipVouches(gossip_->gossip(), id, now);
		});
		resolver_->setProfile([this](std::string_view id) -> std::optional<std::uint64_t> {
			const std::optional<std::uint64_t> node = wire::parseNodeId(id);
			return node ? gossip_->gossip().profileDigest(*node) : std::nullopt;
		});
	}
	queries_ = std::make_unique<QueryServer>(
		loop_.get(), config_.socket,
		[this](std::string_view line, const Caller &caller) { return answer(line, caller); });
	// A build's demand lasts as long as its connection.
	queries_->onClosed = [this](std::uint64_t connection, std::optional<uid_t> uid) {
		ledger_.ended(connection);
		if (uid)
			users_.builds(*uid, ledger_.buildWant(*uid), std::chrono::steady_clock::now());
	};
	log(LogLevel::Info, "answering queries on {}", config_.socket);
	// The history is kept from the start, so that a view opening has it.
	farmAlarm_ = clock_.alarm([this] { farmTick(); });
	farmAlarm_->start(kFarmPeriod, kFarmPeriod);
	if (!config_.hostsFile.empty()) {
		FileFor file;
		file.lockDir = std::filesystem::path(config_.hostsFile).parent_path().append("lock").string();
		// One seed for the file: its order changes when the farm does, not
		// at every rewrite; other clients have other seeds.
		file.seed = std::random_device{}();
		hostsFile_ = std::make_unique<HostsFileKeeper>(loop_.get(), config_.hostsFile, std::chrono::seconds(1),
							       [this, file] { return fileLine(file); });
	}
	if (!config_.zeroconfDir.empty()) {
		FileFor file;
		file.lockDir = config_.zeroconfDir + "/lock";
		file.seed = std::random_device{}();
		// A plain +zeroconf build gets what stock distcc's browser writes
		// plus ,lzo where the server offers it, which needs nothing of the
		// build; ,cpp (pump mode) only when asked: distcc warns twice per
		// compile run outside distcc-pump and preprocesses locally anyway.
		file.lzo = true;
		file.cpp = config_.zeroconfPump;
		zeroconf_ = std::make_unique<ZeroconfCompat>(loop_.get(), config_.zeroconfDir, std::chrono::seconds(1),
							     [this, file] { return fileLine(file); });
	}
	const std::filesystem::path socket(config_.socket);
	userFiles_ = std::make_unique<UserHostsFiles>(
		clock_, socket.parent_path().string(), config_.stateDir.empty() ? "" : config_.stateDir + "/users",
		std::chrono::seconds(1), [this](const std::set<std::uint32_t> &uids) { return userLines(uids); });
	// Files that builds read follow the builds running here.
	if (hostsFile_ || zeroconf_ || !userFiles_->empty())
		ledger_.watchAlways();
	if (config_.learnSpeed && gossip_)
		jobs_ = JobWatch::forKernel(
			clock_, [this] { return timedServers(*resolver_, *gossip_); },
			[this](std::uint64_t server, std::chrono::milliseconds wall, SteadyTime end) {
				gossip_->gossip().recordJob(server, wall, end);
			});
}

Daemon::~Daemon() = default;

void Daemon::run()
{
	uv::Signal term(loop_.get(), SIGTERM, [this] { stop(); });
	uv::Signal interrupt(loop_.get(), SIGINT, [this] { stop(); });
	std::signal(SIGPIPE, SIG_IGN);
	loop_.run();
}

void Daemon::stop()
{
	log(LogLevel::Info, "stopping");
	jobs_.reset();
	idleAlarm_.reset();
	farmAlarm_.reset();
	if (gossip_)
		gossip_->leave();
	if (advertiser_)
		advertiser_->stop();
	queries_.reset();
	hostsFile_.reset();
	zeroconf_.reset();
	userFiles_.reset();
	loop_.stop();
}

std::string Daemon::answer(std::string_view line, const Caller &caller)
{
	bool failed = false;
	std::string reply = codec::answerLine(
		line,
		[this](const Request &request, const Caller &who) -> nlohmann::json {
			countQuery(request);
			if (std::holds_alternative<StatsRequest>(request))
				return codec::encode(farmStats());
			// A look at the whole farm: it reserves nothing and tells
			// nobody, whoever asks.
			if (std::holds_alternative<FarmRequest>(request))
				return codec::encode(farmObject());
			if (std::holds_alternative<WatchRequest>(request)) {
				if (!queries_->watch(who.connection))
					throw std::invalid_argument(fmt::format(
						"too many watchers: at most {} per user and {} in all",
						QueryLimits::kMaxWatchersPerUid, QueryLimits::kMaxWatchers));
				FarmView farm = farmObject();
				// The only one to tell: the next object when this one is
				// no longer true (others keep theirs, or they would miss a
				// change).
				if (queries_->watchers() == 1 && !farmSink_) {
					farmKey_ = changeKey(farm);
					farmSentAt_ = std::chrono::steady_clock::now();
				}
				return codec::encode(farm);
			}
			if (const auto *set = std::get_if<SetStateRequest>(&request))
				return codec::encode(setState(*set, who, admins_, advertiser_.get()));
			if (std::holds_alternative<SetupUserRequest>(request))
				return codec::encode(setupUser(who));
			const auto &query = std::get<HostsRequest>(request);
			// A build lives as long as its connection, which the kernel
			// names with its user: without both it could never end.
			if (query.build && (!who.uid || who.connection == 0))
				throw std::invalid_argument("'build' needs a connection whose user the kernel names");
			const auto now = std::chrono::steady_clock::now();
			const LiveServers live = liveServers(*resolver_, gossip_.get());
			FarmState farm = farmState(live, gossip_.get());
			const std::uint64_t localOthers =
				who.uid ? addLocalUsers(farm, users_, ledger_.demandByUid(), *who.uid, live.entries, now,
							query.build)
					: 0;
			// A build asks again while its jobs run: they are its own, not
			// other clients' (a line for a single query is asked before
			// any job runs).
			if (query.build) {
				farm.own = ownJobs(live.entries, buildJobs(*who.uid, live.entries));
				// A server's load sample is younger or older than that
				// reading, and jobs start and end in between: up to what
				// this machine reserved there, its running jobs are ours.
				// Without this a build alone saw its line jitter by a
				// slot or two at every renewal.
				const LocalUsers::Reservations reserved = users_.reservations(now);
				for (std::size_t i = 0; i < live.entries.size(); ++i)
					if (const auto id = wire::parseNodeId(live.entries[i].server.id))
						for (const auto &[server, jobs] : reserved)
							if (server == *id)
								farm.own[i] = std::max(farm.own[i], jobs);
			}
			// A user's builds together are one user: the remote slots the
			// user would get for their wants added up are split among them,
			// and a build gets no more than its siblings' last lines leave
			// of them, so that opening more leases takes no more than one
			// user's share, not even until the others renew.
			HostsRequest asked = query;
			std::optional<std::uint32_t> demand;
			if (query.build) {
				auto builds = ledger_.buildsOf(*who.uid);
				std::erase_if(builds, [&](const auto &b) { return b.connection == who.connection; });
				if (!builds.empty()) {
					std::uint64_t all = *query.want, held = 0;
					for (const DemandLedger::UserBuild &b : builds) {
						all += b.want;
						held += b.handed;
					}
					builds.push_back({ who.connection, *query.want, 0 });
					std::sort(builds.begin(), builds.end(),
						  [](const auto &a, const auto &b) { return a.connection < b.connection; });
					std::vector<std::uint32_t> wants;
					for (const DemandLedger::UserBuild &b : builds)
						wants.push_back(b.want);
					HostsRequest together = query;
					together.want = static_cast<std::uint32_t>(std::min<std::uint64_t>(all, wire::kMaxWantedJobs));
					const HostsAnswer user = answerHosts(together, live.entries, farm, localMachine(), "daemon");
					const std::uint32_t slots = remoteLimits(user.view);
					const std::size_t at = static_cast<std::size_t>(
						std::find_if(builds.begin(), builds.end(),
							     [&](const auto &b) { return b.connection == who.connection; }) -
						builds.begin());
					const std::uint64_t free = slots > held ? slots - held : 0;
					demand = std::min(*query.want, user.want);
					asked.want = static_cast<std::uint32_t>(
						std::min<std::uint64_t>({ *query.want, splitAmong(wants, slots)[at], free }));
				}
			}
			HostsAnswer hosts = answerHosts(asked, live.entries, farm, localMachine(), "daemon");
			// The build still stands for all it asked: the portion is what
			// it gets now, not what it would take.
			if (demand)
				hosts.want = *demand;
			if (who.uid) {
				// A build counts through builds() below, for as long as it
				// runs; a hold would outlast its end.
				if (!query.build)
					users_.asked(*who.uid, query.want.value_or(LocalUsers::kAll), hosts.reserve, now);
				// Gossip keeps one reservation per client and server: the
				// machine's are every local user's added up.
				if (hosts.reserve) {
					const auto ttl = gossip_ ? gossip_->gossip().config().reservationTtl
								 : GossipConfig{}.reservationTtl;
					users_.reserved(*who.uid, hosts.reservations, now + ttl, now);
					hosts.reservations = users_.reservations(now);
				}
			}
			if (query.build) {
				// The ledger adds the machine's demand up from every uid's.
				ledger_.building(who.connection, *who.uid, hosts.want, hosts.reservations, hosts.localSlots,
						 remoteLimits(hosts.view));
				users_.builds(*who.uid, ledger_.buildWant(*who.uid), now);
				return codec::encode(hosts.view);
			}
			// To other machines this one is one client: its demand is
			// every local user's together.
			hosts.want = static_cast<std::uint32_t>(
				std::min<std::uint64_t>(hosts.want + localOthers, wire::kMaxWantedJobs));
			ledger_.answered(hosts);
			return codec::encode(hosts.view);
		},
		caller, &failed);
	if (failed)
		++queryCounts_.errors;
	return reply;
}

void Daemon::countQuery(const Request &request)
{
	std::visit(
		[this](const auto &r) {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, HostsRequest>)
				++queryCounts_.hosts;
			else if constexpr (std::is_same_v<T, StatsRequest>)
				++queryCounts_.stats;
			else if constexpr (std::is_same_v<T, SetStateRequest>)
				++queryCounts_.setState;
			else if constexpr (std::is_same_v<T, SetupUserRequest>)
				++queryCounts_.setupUser;
			else if constexpr (std::is_same_v<T, FarmRequest>)
				++queryCounts_.farm;
			else
				++queryCounts_.watch;
		},
		request);
}

void Daemon::setFarmSink(std::function<void(std::string json)> sink)
{
	farmSink_ = std::move(sink);
	// The first object at the next tick, whatever the last one was.
	farmKey_.clear();
}

FarmStats Daemon::farmStats() const
{
	FarmStats stats;
	if (gossip_)
		stats.gossip = gossip_->stats();
	stats.notAdvertising =
		advertiser_ ? advertiser_->notAdvertising() : std::string("advertising is off (--advertise=no)");
	stats.speed = speedStats();
	if (const StockProbe *probe = resolver_ ? resolver_->stockProbe() : nullptr)
		stats.stockProbe = StockProbeReport{ probe->stats(), probe->tracked(), probe->inFlight() };
	return stats;
}

FarmView Daemon::lookAtFarm() const
{
	const auto now = std::chrono::steady_clock::now();
	View look;
	if (resolver_) {
		const LiveServers live = liveServers(*resolver_, gossip_.get());
		const FarmState farm = farmState(live, gossip_.get());
		HostsRequest request;
		request.reserve = false;
		look = answerHosts(request, live.entries, farm, localMachine(), "daemon").view;
	}
	OwnClient self;
	if (gossip_) {
		self.node = gossip_->gossip().config().node;
		self.localJobs = gossip_->gossip().localJobs(*self.node);
	}
	self.host = host::hostName();
	self.want = ledger_.demand();
	self.localSlots = host::onlineCpus();
	for (const auto &[server, jobs] : users_.reservations(now))
		self.holding += jobs;
	for (const Network &n : host::localNetworks())
		self.addresses.push_back(n.address.text);
	const GossipNode *node = gossip_.get();
	return makeFarmView(look, node ? &node->gossip() : nullptr, self, now,
			    [node](const Endpoint &peer) { return node ? node->hostAt(peer) : std::nullopt; });
}

FarmView Daemon::farmObject()
{
	FarmView farm = lookAtFarm();
	addHistory(farm, history_);
	farm.seq = ++farmSeq_;
	farm.timeMs = std::chrono::duration_cast<std::chrono::milliseconds>(
			      std::chrono::system_clock::now().time_since_epoch())
			      .count();
	farm.stats = farmStats();
	farm.queries = queryCounts_;
	if (queries_)
		farm.queries.refused = queries_->refused();
	return farm;
}

void Daemon::farmTick()
{
	// This machine's users' compiles that run here, not on a server: the
	// distcc clients the census counts beyond the connections to servers
	// (the job watch follows every user's).
	if (gossip_ && jobs_) {
		const std::size_t remote = jobs_->timer().open();
		const std::uint32_t all = ledger_.clients();
		gossip_->gossip().setOwnLocalJobs(all > remote ? all - static_cast<std::uint32_t>(remote) : 0);
	}
	FarmView look = lookAtFarm();
	record(history_, look);
	const bool watched = queries_ && queries_->watchers() > 0;
	if (!watched && !farmSink_)
		return;
	const auto now = std::chrono::steady_clock::now();
	std::string key = changeKey(look);
	// Ticks come a second apart and a little late: a heartbeat due at 5 s
	// waited for the next one, and came 6 s and more after the last object
	// (farm_watch failed at 6.00 s under the sanitizers). Half a period
	// early, it comes 4.5-5.5 s after.
	if (key == farmKey_ && now - farmSentAt_ < kFarmHeartbeat - std::chrono::milliseconds(kFarmPeriod) / 2)
		return;
	farmKey_ = std::move(key);
	farmSentAt_ = now;
	const std::string line = codec::farmLine(farmObject());
	if (watched)
		queries_->broadcast(line);
	if (farmSink_)
		farmSink_(line);
}

// No reservation, the user's jobs in flight and recent failures, a fixed
// seed.
std::string Daemon::fileLine(const FileFor &file)
{
	const LiveServers live = liveServers(*resolver_, gossip_.get());
	FarmState farm = farmState(live, gossip_.get());
	if (!file.lockDir.empty()) {
		farm.own = ownJobs(live.entries, host::distccJobsInFlight(file.lockDir));
		farm.failing = host::distccBackoffs(file.lockDir, host::distccBackoffPeriod());
	} else if (file.jobs) {
		farm.own = ownJobs(live.entries, *file.jobs);
	}
	if (file.uid)
		farm = withLocalUsers(std::move(farm), ledger_.demandByUid(), *file.uid);
	HostsRequest request; // local slots: this machine's
	request.lzo = file.lzo;
	request.cpp = file.cpp;
	// The distcc clients running here are the builds' demand: told by
	// gossip (DemandLedger), it gives every client its fair share of an
	// overloaded farm, this one included; at the end of a build it also
	// keeps the last jobs off servers slower than here.
	const std::uint32_t demand = file.uid ? ledger_.clients(*file.uid) : ledger_.clients();
	if (demand > 0)
		request.want = demand;
	return answerHosts(request, live.entries, farm, localMachine(), "daemon", file.seed).view.line;
}

const host::JobsByServer &Daemon::buildJobs(std::uint32_t uid, const std::vector<DirectoryEntry> &entries)
{
	const auto now = std::chrono::steady_clock::now();
	if (now - buildJobsAt_ >= kBuildJobsAge || !buildJobs_.contains(uid)) {
		// Every user with a build at once: each renews twice a second,
		// and one reading of the socket table serves them all.
		std::set<std::uint32_t> uids = ledger_.buildUids();
		uids.insert(uid);
		buildJobs_ = host::tcpJobsByUid(uids, serverPorts(entries));
		for (std::uint32_t user : uids)
			buildJobs_.try_emplace(user);
		buildJobsAt_ = now;
	}
	return buildJobs_.at(uid);
}

std::map<std::uint32_t, std::string> Daemon::userLines(const std::set<std::uint32_t> &uids)
{
	std::map<std::uint32_t, std::string> lines;
	if (uids.empty())
		return lines;
	// The daemon cannot read the users' lock files (the unit hides homes):
	// their connections to the servers' ports are their jobs in flight.
	// Only users with distcc clients running can have any: an idle machine
	// reads no socket table.
	std::set<std::uint32_t> building;
	for (std::uint32_t uid : uids)
		if (ledger_.clients(uid) > 0)
			building.insert(uid);
	const auto jobs = building.empty()
				  ? std::map<std::uint32_t, host::JobsByServer>{}
				  : host::tcpJobsByUid(building, serverPorts(resolver_->directory().snapshot(
									 std::chrono::steady_clock::now())));
	const host::JobsByServer none;
	for (std::uint32_t uid : uids) {
		// A seed per user, so that users spread over the servers.
		auto seed = userSeeds_.try_emplace(uid, std::random_device{}()).first->second;
		const auto it = jobs.find(uid);
		FileFor file;
		file.seed = seed;
		file.jobs = it == jobs.end() ? &none : &it->second;
		file.uid = uid;
		lines.emplace(uid, fileLine(file));
	}
	return lines;
}

SetupUserReply Daemon::setupUser(const Caller &caller)
{
	if (!caller.uid)
		throw std::invalid_argument("setup-user: the kernel did not say who asks");
	try {
		SetupUserReply reply{ userFiles_->add(*caller.uid) };
		ledger_.watchAlways();
		return reply;
	} catch (const std::runtime_error &e) {
		throw std::invalid_argument(e.what());
	}
}

LocalMachine Daemon::localMachine() const
{
	return { host::onlineCpus(), *config_.speed, hostId_ };
}

void Daemon::checkIdle()
{
	const auto runnable = runnableNow();
	if (!speedKeeper_ || !runnable || !speedKeeper_->idleCheck(*runnable, clock_.now()))
		return;
	// About 0.4 s on the loop, a few times in the daemon's life, while the
	// host has nothing else to do.
	const host::SpeedMeasurement m = host::measureSpeedRuns();
	const bool rose = speedKeeper_->add(m, clock_.now());
	log(LogLevel::Info, "benchmark re-run {} while idle: runs {:.2f} to {:.2f}; keeping {:.2f}",
	    speedKeeper_->reruns(), m.worst, m.best, speedKeeper_->speed());
	if (rose) {
		config_.speed = speedKeeper_->speed();
		if (advertiser_)
			advertiser_->setSpeed(*config_.speed);
	}
	if (speedKeeper_->done())
		idleAlarm_->stop();
}

SpeedStats Daemon::speedStats() const
{
	SpeedStats s;
	s.speed = *config_.speed;
	s.measured = speedKeeper_.has_value();
	if (speedKeeper_) {
		const host::SpeedMeasurement spread = speedKeeper_->spread();
		s.best = spread.best;
		s.worst = spread.worst;
		s.runs = spread.runs;
		s.reruns = speedKeeper_->reruns();
	} else {
		s.best = s.worst = *config_.speed;
	}
	s.learn = jobs_ != nullptr;
	if (jobs_) {
		s.jobsTimed = jobs_->recorded();
		s.jobsUnmatched = jobs_->unmatched();
		s.jobsUntimed = jobs_->timer().untimed();
	}
	return s;
}

} // namespace dmdns
