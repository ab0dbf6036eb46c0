// distcc-mdnsd: advertises a distccd host and resolves its peers (entry point).
#include <getopt.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>
#include <string>

#include <fmt/format.h>

#include "advertiser.h"
#include "auth.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/live.h"
#include "distcc-mdns/text.h"
#include "gossip_node.h"
#include "incarnation.h"
#include "probe.h"
#include "speed.h"
#include "client.h"
#include "dmdns-config.h"
#include "handle.h"
#include "hosts_file.h"
#include "hosts_query.h"
#include "log.h"
#include "options.h"
#include "uv_poll.h"
#include "zeroconf_compat.h"
#include "query_server.h"
#include "demand_ledger.h"
#include "json_codec.h"
#include "resolver.h"

namespace {

using namespace dmdns;

void usage(std::FILE *out)
{
	fmt::print(out, "{}", "Usage: distcc-mdnsd [OPTION]...\n"
		   "Advertise this distccd host over mDNS/DNS-SD and resolve the others.\n"
		   "\n"
		   "      --advertise=MODE    auto (while distccd accepts connections), yes, no [auto]\n"
		   "      --distcc-port=N     distccd's TCP port [3632]\n"
		   "      --cpus=N            advertise N cpus instead of the online ones\n"
		   "      --slots=N           advertise N slots instead of distccd's --jobs\n"
		   "      --speed=X           this machine's speed, 1 being the reference\n"
		   "                          machine [measured at start]\n"
		   "      --masquerade-dir=D  compilers distccd runs [/usr/lib/distcc]\n"
		   "      --no-resolve        do not browse for servers nor serve queries\n"
		   "      --gossip-port=N     UDP port of the gossip protocol [3632]\n"
		   "      --no-gossip         no gossip: load from TXT only, crashed servers\n"
		   "                          stay listed until mDNS drops them\n"
		   "      --peer=HOST[:PORT]  also gossip with HOST, which mDNS cannot reach\n"
		   "                          (repeatable); a server there is listed too\n"
		   "      --key-file=PATH     authenticate gossip with the key in PATH; give it\n"
		   "                          twice to rotate keys (the first signs, both verify)\n"
		   "      --generate-key      print a new random key for --key-file and exit\n"
		   "      --sample-interval=MS  how often a server samples its load [250]\n"
		   "      --auto-drain=SHARE  take no new jobs while this machine's own (non-\n"
		   "                          distcc) load exceeds SHARE x its cpus (a desktop\n"
		   "                          whose owner works); back below half of it\n"
		   "      --zeroconf-compat=DIR  serve stock distcc's +zeroconf from DISTCC_DIR\n"
		   "                          DIR: hold DIR/zeroconf/lock and keep\n"
		   "                          DIR/zeroconf/hosts with this daemon's picks\n"
		   "      --hosts-file=PATH   keep PATH (e.g. ~/.distcc/hosts) holding a fresh\n"
		   "                          hosts line, rewritten atomically when it changes\n"
		   "                          (at most once a second); jobs in flight are\n"
		   "                          read from the lock directory beside it\n"
		   "      --socket=PATH       query socket [/run/distcc-mdns/socket for root,\n"
		   "                          else $XDG_RUNTIME_DIR/distcc-mdns/socket, without\n"
		   "                          it /tmp/distcc-mdns-UID/socket; $DISTCC_MDNS_SOCKET\n"
		   "                          overrides]\n"
		   "      --state-dir=DIR     keep the last run's incarnation in DIR, so peers\n"
		   "                          take a restart as newer even after the clock\n"
		   "                          stepped back [$STATE_DIRECTORY, else\n"
		   "                          /var/lib/distcc-mdns for root, else\n"
		   "                          $XDG_STATE_HOME/distcc-mdns or\n"
		   "                          ~/.local/state/distcc-mdns]\n"
		   "  -v, --verbose           log more (repeat for debug output)\n"
		   "  -h, --help              show this help and exit\n"
		   "      --version           show the version and exit\n");
}

struct Options {
	AdvertiserConfig advertiser;
	bool resolve = true;
	std::optional<double> speed;
	std::string hostsFile;
	std::string zeroconfDir;
	bool gossip = true;
	std::uint16_t gossipPort = kDistccPort;
	std::vector<text::HostPort> peers;
	std::vector<std::string> keyFiles;
	std::string socket = defaultSocketPath();
	std::string stateDir = host::defaultStateDir();
	int verbosity = 0;
};

// Parses the command line; exits on --help, --version and usage errors.
Options parse(int argc, char **argv)
{
	enum {
		OptAdvertise = 0x100,
		OptDistccPort,
		OptCpus,
		OptSlots,
		OptSpeed,
		OptMasquerade,
		OptNoResolve,
		OptSocket,
		OptGossipPort,
		OptNoGossip,
		OptPeer,
		OptKeyFile,
		OptGenerateKey,
		OptSampleInterval,
		OptHostsFile,
		OptAutoDrain,
		OptZeroconfCompat,
		OptStateDir,
		OptVersion,
	};
	static const option longOptions[] = {
		{ "advertise", required_argument, nullptr, OptAdvertise },
		{ "distcc-port", required_argument, nullptr, OptDistccPort },
		{ "cpus", required_argument, nullptr, OptCpus },
		{ "slots", required_argument, nullptr, OptSlots },
		{ "speed", required_argument, nullptr, OptSpeed },
		{ "masquerade-dir", required_argument, nullptr, OptMasquerade },
		{ "no-resolve", no_argument, nullptr, OptNoResolve },
		{ "socket", required_argument, nullptr, OptSocket },
		{ "gossip-port", required_argument, nullptr, OptGossipPort },
		{ "no-gossip", no_argument, nullptr, OptNoGossip },
		{ "peer", required_argument, nullptr, OptPeer },
		{ "key-file", required_argument, nullptr, OptKeyFile },
		{ "generate-key", no_argument, nullptr, OptGenerateKey },
		{ "sample-interval", required_argument, nullptr, OptSampleInterval },
		{ "hosts-file", required_argument, nullptr, OptHostsFile },
		{ "auto-drain", required_argument, nullptr, OptAutoDrain },
		{ "zeroconf-compat", required_argument, nullptr, OptZeroconfCompat },
		{ "state-dir", required_argument, nullptr, OptStateDir },
		{ "verbose", no_argument, nullptr, 'v' },
		{ "help", no_argument, nullptr, 'h' },
		{ "version", no_argument, nullptr, OptVersion },
		{ nullptr, 0, nullptr, 0 },
	};
	Options o;
	cli::Parser cli("distcc-mdnsd");
	for (int c; (c = getopt_long(argc, argv, "vh", longOptions, nullptr)) != -1;) {
		switch (c) {
		case OptAdvertise: {
			const std::string mode = optarg;
			if (mode == "auto")
				o.advertiser.mode = AdvertiserConfig::Mode::Auto;
			else if (mode == "yes")
				o.advertiser.mode = AdvertiserConfig::Mode::Yes;
			else if (mode == "no")
				o.advertiser.mode = AdvertiserConfig::Mode::No;
			else
				cli.fail("--advertise must be auto, yes or no, not '{}'", mode);
			break;
		}
		case OptDistccPort:
			o.advertiser.distccPort = static_cast<std::uint16_t>(cli.integer("--distcc-port", optarg, 1, 65535));
			break;
		case OptCpus:
			o.advertiser.cpus = static_cast<std::uint32_t>(cli.integer("--cpus", optarg, 1, kMaxCpus));
			break;
		case OptSlots:
			o.advertiser.slots = static_cast<std::uint32_t>(cli.integer("--slots", optarg, 1, kMaxSlots));
			break;
		case OptSpeed:
			o.speed = cli.decimal("--speed", optarg, kMinSpeed, kMaxSpeed);
			break;
		case OptMasquerade:
			o.advertiser.masqueradeDir = optarg;
			break;
		case OptNoResolve:
			o.resolve = false;
			break;
		case OptSocket:
			o.socket = optarg;
			break;
		case OptGossipPort:
			o.gossipPort = static_cast<std::uint16_t>(cli.integer("--gossip-port", optarg, 1, 65535));
			break;
		case OptNoGossip:
			o.gossip = false;
			break;
		case OptPeer: {
			auto peer = text::parseHostPort(optarg, 0);
			if (!peer)
				cli.fail("--peer must be HOST, HOST:PORT or [IPV6]:PORT, not '{}'", optarg);
			o.peers.push_back(std::move(*peer));
			break;
		}
		case OptKeyFile:
			if (!*optarg)
				cli.fail("--key-file needs a path");
			if (o.keyFiles.size() == 2)
				cli.fail("--key-file at most twice: the current key and the next");
			o.keyFiles.emplace_back(optarg);
			break;
		case OptGenerateKey:
			fmt::print("{}\n", net::Authenticator::generateKeyHex());
			std::exit(EXIT_SUCCESS);
		case OptSampleInterval:
			o.advertiser.checkInterval =
				std::chrono::milliseconds(cli.integer("--sample-interval", optarg, 50, 10000));
			break;
		case OptZeroconfCompat:
			o.zeroconfDir = optarg;
			if (o.zeroconfDir.empty())
				cli.fail("--zeroconf-compat needs the DISTCC_DIR to serve");
			break;
		case OptStateDir:
			o.stateDir = optarg;
			if (o.stateDir.empty())
				cli.fail("--state-dir needs a directory");
			break;
		case OptAutoDrain:
			o.advertiser.autoDrain = cli.decimal("--auto-drain", optarg, 0.05, 4.0);
			break;
		case OptHostsFile:
			o.hostsFile = optarg;
			if (o.hostsFile.empty() || o.hostsFile.back() == '/')
				cli.fail("--hosts-file needs a file path, not '{}'", optarg);
			break;
		case 'v':
			++o.verbosity;
			break;
		case 'h':
			usage(stdout);
			std::exit(EXIT_SUCCESS);
		case OptVersion:
			fmt::print("distcc-mdnsd {}\n", DMDNS_VERSION);
			std::exit(EXIT_SUCCESS);
		default:
			cli.tryHelp();
		}
	}
	if (optind < argc)
		cli.fail("unexpected argument '{}'", argv[optind]);
	if (o.socket.empty())
		cli.fail("--socket needs a path");
	// A peer without a port gossips on the port we use.
	for (text::HostPort &p : o.peers)
		if (p.port == 0)
			p.port = o.gossipPort;
	if (!o.resolve && (!o.hostsFile.empty() || !o.zeroconfDir.empty()))
		cli.fail("--hosts-file and --zeroconf-compat need the resolver; drop --no-resolve");
	if (!o.gossip && (!o.peers.empty() || !o.keyFiles.empty()))
		cli.fail("--peer and --key-file need gossip; drop --no-gossip");
	return o;
}

std::unique_ptr<GossipNode> startGossip(uv_loop_t &loop, avahi::Client &client, const Options &options)
{
	GossipNodeConfig config;
	const std::string id = host::hostId();
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
		farm.wanted = node->gossip().demand(now, false).wanted;
		farm.demands = node->gossip().demands(now);
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

// {"op":"set-state","state":"drain"|"up"}: only root or the daemon's own
// user may change what this host advertises.
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

int main(int argc, char **argv)
{
	Options options = parse(argc, argv);
	setLogLevel(options.verbosity > 1 ? LogLevel::Debug : options.verbosity ? LogLevel::Info : LogLevel::Warning);
	if (!options.speed) {
		options.speed = host::measureSpeed();
		log(LogLevel::Info, "measured speed {:.2f}", *options.speed);
	}
	options.advertiser.speed = *options.speed;
	// Drawn once: the TXT record and gossip name the same run.
	options.advertiser.incarnation = host::IncarnationStore(options.stateDir).next();
	log(LogLevel::Info, "incarnation {}", options.advertiser.incarnation);

	try {
		uv::Loop loop;
		avahi::UvPoll poll(loop.get());
		avahi::Client client(loop.get(), *poll.get());

		// Declared in the order they must be torn down in reverse.
		std::unique_ptr<GossipNode> gossip;
		if (options.gossip)
			gossip = startGossip(loop.get(), client, options);
		std::unique_ptr<Advertiser> advertiser;
		if (options.advertiser.mode != AdvertiserConfig::Mode::No)
			advertiser = std::make_unique<Advertiser>(loop.get(), client, options.advertiser);
		if (advertiser && gossip)
			advertiser->onSample = [&gossip](const Server &self, const host::LoadReading &reading,
							 bool accepting) {
				gossip->gossip().setOwnSample(sampleOf(self, reading, accepting),
							      std::chrono::steady_clock::now());
			};
		std::unique_ptr<Resolver> resolver;
		std::unique_ptr<QueryServer> queries;
		DemandLedger ledger([&gossip](const DemandLedger::Reservations &reservations, std::uint32_t want,
					      std::uint32_t localSlots) {
			if (gossip)
				gossip->handedOut(reservations, want, localSlots);
		});
		const LocalMachine local{ host::onlineCpus(), *options.speed };
		auto answer = [&](const Request &request, const Caller &caller) -> nlohmann::json {
			if (std::holds_alternative<StatsRequest>(request))
				return gossip ? gossip->stats() : nlohmann::json{ { "gossip", nullptr } };
			if (const auto *set = std::get_if<SetStateRequest>(&request))
				return codec::encode(setState(*set, caller, advertiser.get()));
			const LiveServers live = liveServers(*resolver, gossip.get());
			HostsAnswer hosts = answerHosts(std::get<HostsRequest>(request), live.entries,
							farmState(live, gossip.get()), local, "daemon");
			ledger.answered(hosts);
			return codec::encode(hosts.view);
		};
		if (options.resolve) {
			resolver = std::make_unique<Resolver>(client);
			if (gossip) {
				resolver->onChange = [&] { gossip->setListed(listedIds(*resolver)); };
				resolver->setVouch([&gossip](std::string_view id, SteadyTime now) {
					return gossipVouches(gossip->gossip(), id, now);
				});
			}
			queries = std::make_unique<QueryServer>(
				loop.get(), options.socket,
				[&](std::string_view line, const QueryServer::Caller &caller) {
					return codec::answerLine(line, [&](const Request &request, const Caller &who) {
						return answer(request, who);
					}, caller);
				});
			log(LogLevel::Info, "answering queries on {}", options.socket);
		}
		// The line a hosts file holds: no reservation, this user's jobs in
		// flight and recent failures from distcc's files in @lockDir, a
		// fixed seed.
		auto fileLine = [&](const std::string &lockDir, std::uint64_t seed, bool lzoCpp) {
			const LiveServers live = liveServers(*resolver, gossip.get());
			FarmState farm = farmState(live, gossip.get());
			farm.own = ownJobs(live.entries, lockDir);
			farm.failing = host::distccBackoffs(lockDir, host::distccBackoffPeriod());
			HostsRequest request;
			request.localSlots = host::onlineCpus();
			request.lzo = request.cpp = lzoCpp;
			// The distcc clients running here are the builds' demand: told
			// by gossip, it gives every client its fair share of an
			// overloaded farm, this one included; at the end of a build it
			// also keeps the last jobs off servers slower than here.
			const std::uint32_t demand = host::distccClients();
			if (demand > 0)
				request.want = demand;
			ledger.buildsRunning(demand, host::onlineCpus());
			return answerHosts(request, live.entries, farm, local, "daemon", seed).view.line;
		};
		std::unique_ptr<HostsFileKeeper> hostsFile;
		if (!options.hostsFile.empty()) {
			const std::string lockDir =
				std::filesystem::path(options.hostsFile).parent_path().append("lock").string();
			// One seed for the file: its order changes when the farm does,
			// not at every rewrite; other clients have other seeds.
			const std::uint64_t seed = std::random_device{}();
			hostsFile = std::make_unique<HostsFileKeeper>(
				loop.get(), options.hostsFile, std::chrono::seconds(1),
				[&, lockDir, seed] { return fileLine(lockDir, seed, false); });
		}
		std::unique_ptr<ZeroconfCompat> zeroconf;
		if (!options.zeroconfDir.empty()) {
			const std::string lockDir = options.zeroconfDir + "/lock";
			const std::uint64_t seed = std::random_device{}();
			zeroconf = std::make_unique<ZeroconfCompat>(loop.get(), options.zeroconfDir, std::chrono::seconds(1),
								    [&, lockDir, seed] { return fileLine(lockDir, seed, true); });
		}

		auto quit = [&] {
			log(LogLevel::Info, "stopping");
			if (gossip)
				gossip->leave();
			if (advertiser)
				advertiser->stop();
			queries.reset();
			hostsFile.reset();
			zeroconf.reset();
			loop.stop();
		};
		uv::Signal term(loop.get(), SIGTERM, quit);
		uv::Signal interrupt(loop.get(), SIGINT, quit);
		std::signal(SIGPIPE, SIG_IGN);

		loop.run();
	} catch (const std::exception &e) {
		log(LogLevel::Error, "{}", e.what());
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
