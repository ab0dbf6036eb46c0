// distcc-mdnsd's one owner: every part of the daemon, started and stopped in one documented order.
#include "daemon/daemon.h"

#include <csignal>
#include <filesystem>
#include <random>
#include <stdexcept>

#include <unistd.h>

#include "common/log.h"
#include "daemon/json_codec.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/live.h"
#include "host/host_id.h"
#include "host/incarnation.h"
#include "host/probe.h"
#include "host/speed.h"
#include "net/auth.h"

namespace dmdns {

namespace {

// Step 1 of the start: what the options leave to be found out.
DaemonConfig prepared(DaemonConfig config)
{
	if (!config.speed) {
		config.speed = host::measureSpeed();
		log(LogLevel::Info, "measured speed {:.2f}", *config.speed);
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
	config.port = options.gossipPort;
	config.peers = options.peers;
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
	if (!node)
		return LiveServers{ std::move(entries), {} };
	for (DirectoryEntry &e : node->peerServers(now))
		entries.push_back(std::move(e));
	return overlayGossip(std::move(entries), node->gossip(), now);
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

// This user's jobs in flight on each entry, from distcc's slot locks in
// @lockDir, matched by the address and port the line lists.
std::vector<std::uint32_t> ownJobs(const std::vector<DirectoryEntry> &entries, const std::string &lockDir)
{
	const auto inFlight = host::distccJobsInFlight(lockDir);
	std::vector<std::uint32_t> own(entries.size(), 0);
	if (inFlight.empty())
		return own;
	for (std::size_t i = 0; i < entries.size(); ++i)
		if (const auto address = entries[i].server.preferredAddress())
			if (auto it = inFlight.find({ address->text, entries[i].server.port }); it != inFlight.end())
				own[i] = it->second;
	return own;
}

// {"op":"set-state"}: only root or the daemon's own user may change what
// this host advertises; who asks is checked before what is asked.
SetStateReply setState(const SetStateRequest &request, const Caller &caller, Advertiser *advertiser)
{
	if (!caller.uid || (*caller.uid != 0 && *caller.uid != ::geteuid()))
		throw std::invalid_argument("set-state: only root or the daemon's user may change the state");
	if (!advertiser)
		throw std::invalid_argument("set-state: this daemon advertises no server (--advertise=no)");
	const auto state = parseServerState(request.state);
	if (!state || *state == ServerState::Down)
		throw std::invalid_argument("set-state: 'state' must be \"drain\" or \"up\"");
	advertiser->setState(*state);
	return { *state };
}

std::vector<std::uint64_t> listedIds(const Resolver &resolver)
{
	std::vector<std::uint64_t> ids;
	for (const DirectoryEntry &e : resolver.directory().snapshot(std::chrono::steady_clock::now()))
		if (auto id = gossipId(e))
			ids.push_back(*id);
	return ids;
}

} // namespace

Daemon::Daemon(DaemonConfig config)
	: config_(prepared(std::move(config))), poll_(loop_.get()), client_(loop_.get(), *poll_.get()),
	  ledger_([this](const DemandLedger::Reservations &reservations, std::uint32_t want, std::uint32_t localSlots) {
		  if (gossip_)
			  gossip_->handedOut(reservations, want, localSlots);
	  })
{
	if (config_.gossip)
		gossip_ = startGossip(loop_.get(), client_, config_);
	if (config_.advertiser.mode != AdvertiserConfig::Mode::No)
		advertiser_ = std::make_unique<Advertiser>(loop_.get(), client_, config_.advertiser);
	if (advertiser_ && gossip_)
		advertiser_->onSample = [this](const Server &self, const host::LoadReading &reading, bool accepting) {
			gossip_->gossip().setOwnSample(sampleOf(self, reading, accepting), std::chrono::steady_clock::now());
		};
	if (!config_.resolve)
		return;
	resolver_ = std::make_unique<Resolver>(client_);
	if (gossip_) {
		resolver_->onChange = [this] { gossip_->setListed(listedIds(*resolver_)); };
		resolver_->setVouch([this](std::string_view id, SteadyTime now) {
			return gossipVouches(gossip_->gossip(), id, now);
		});
	}
	queries_ = std::make_unique<QueryServer>(
		loop_.get(), config_.socket,
		[this](std::string_view line, const Caller &caller) { return answer(line, caller); });
	log(LogLevel::Info, "answering queries on {}", config_.socket);
	if (!config_.hostsFile.empty()) {
		const std::string lockDir = std::filesystem::path(config_.hostsFile).parent_path().append("lock").string();
		// One seed for the file: its order changes when the farm does, not
		// at every rewrite; other clients have other seeds.
		const std::uint64_t seed = std::random_device{}();
		hostsFile_ = std::make_unique<HostsFileKeeper>(loop_.get(), config_.hostsFile, std::chrono::seconds(1),
							       [this, lockDir, seed] { return fileLine(lockDir, seed, false); });
	}
	if (!config_.zeroconfDir.empty()) {
		const std::string lockDir = config_.zeroconfDir + "/lock";
		const std::uint64_t seed = std::random_device{}();
		zeroconf_ = std::make_unique<ZeroconfCompat>(loop_.get(), config_.zeroconfDir, std::chrono::seconds(1),
							     [this, lockDir, seed] { return fileLine(lockDir, seed, true); });
	}
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
	if (gossip_)
		gossip_->leave();
	if (advertiser_)
		advertiser_->stop();
	queries_.reset();
	hostsFile_.reset();
	zeroconf_.reset();
	loop_.stop();
}

std::string Daemon::answer(std::string_view line, const Caller &caller)
{
	return codec::answerLine(
		line,
		[this](const Request &request, const Caller &who) -> nlohmann::json {
			if (std::holds_alternative<StatsRequest>(request))
				return codec::encode(gossip_ ? std::optional(gossip_->stats()) : std::nullopt);
			if (const auto *set = std::get_if<SetStateRequest>(&request))
				return codec::encode(setState(*set, who, advertiser_.get()));
			const LiveServers live = liveServers(*resolver_, gossip_.get());
			const HostsAnswer hosts = answerHosts(std::get<HostsRequest>(request), live.entries,
							      farmState(live, gossip_.get()),
							      localMachine(), "daemon");
			ledger_.answered(hosts);
			return codec::encode(hosts.view);
		},
		caller);
}

// No reservation, this user's jobs in flight and recent failures from
// distcc's files in @lockDir, a fixed seed.
std::string Daemon::fileLine(const std::string &lockDir, std::uint64_t seed, bool lzoCpp)
{
	const LiveServers live = liveServers(*resolver_, gossip_.get());
	FarmState farm = farmState(live, gossip_.get());
	farm.own = ownJobs(live.entries, lockDir);
	farm.failing = host::distccBackoffs(lockDir, host::distccBackoffPeriod());
	const LocalMachine local = localMachine();
	HostsRequest request; // local slots: this machine's
	request.lzo = request.cpp = lzoCpp;
	// The distcc clients running here are the builds' demand: told by
	// gossip, it gives every client its fair share of an overloaded farm,
	// this one included; at the end of a build it also keeps the last jobs
	// off servers slower than here.
	const std::uint32_t demand = host::distccClients();
	if (demand > 0)
		request.want = demand;
	ledger_.buildsRunning(demand, local.slots);
	return answerHosts(request, live.entries, farm, local, "daemon", seed).view.line;
}

LocalMachine Daemon::localMachine() const
{
	return { host::onlineCpus(), *config_.speed };
}

} // namespace dmdns
