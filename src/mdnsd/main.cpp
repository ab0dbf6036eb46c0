// distcc-mdnsd: advertises a distccd host and resolves its peers (entry point).
#include <getopt.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <fmt/format.h>

#include "common/log.h"
#include "common/options.h"
#include "daemon/daemon.h"
#include "daemon/query_server.h"
#include "distcc-mdns/host_port.h"
#include "dmdns-config.h"
#include "host/incarnation.h"
#include "http/address.h"
#include "http/http_server.h"
#include "net/auth.h"

namespace {

using namespace dmdns;

void usage(std::FILE *out)
{
	fmt::print(out, "{}", "Usage: distcc-mdnsd [OPTION]...\n"
			      "Advertise this distccd host over mDNS/DNS-SD and resolve the others.\n"
			      "\n"
			      "      --advertise=MODE    auto (while distccd accepts connections), yes, no\n"
			      "                          [auto; no for a per-user daemon]\n"
			      "      --distcc-port=N     distccd's TCP port [3632]\n"
			      "      --cpus=N            advertise N cpus instead of the online ones\n"
			      "      --slots=N           advertise N slots instead of distccd's --jobs\n"
			      "      --speed=X           this machine's speed, 1 being the reference\n"
			      "                          machine [measured at start]\n"
			      "      --learn-speed=yes|no  time this machine's remote jobs and learn the\n"
			      "                          servers' speeds from every client's jobs\n"
			      "                          (gossiped); no: trust the advertised speeds [yes]\n"
			      "      --probe-stock=yes|no  connect to each stock-only distccd (no gossip)\n"
			      "                          every second, at most 32 a second, so that one\n"
			      "                          whose link went leaves the lines [yes]\n"
			      "      --masquerade-dir=D  compilers distccd runs [/usr/lib/distcc]\n"
			      "      --no-resolve        do not browse for servers nor serve queries\n"
			      "      --gossip-port=N     UDP port of the gossip protocol [3632; for a\n"
			      "                          per-user daemon, one the kernel chooses]\n"
			      "      --no-gossip         no gossip: load from TXT only, crashed servers\n"
			      "                          stay listed until mDNS drops them\n"
			      "      --peer=HOST[:PORT]  also gossip with HOST, which mDNS cannot reach\n"
			      "                          (repeatable); a server there, and the servers\n"
			      "                          it hears on its own link, are listed too\n"
			      "      --domain=DOMAIN     also browse DOMAIN by unicast DNS (wide-area\n"
			      "                          DNS-SD: avahi-daemon's enable-wide-area=yes and a\n"
			      "                          nameserver serving the domain's records), at\n"
			      "                          most 4 times; .local is always browsed\n"
			      "      --key-file=PATH     authenticate gossip with the key in PATH; give it\n"
			      "                          twice to rotate keys (the first signs, both verify)\n"
			      "                          [$CREDENTIALS_DIRECTORY/gossip-key when present]\n"
			      "      --generate-key[=PATH]  write a new random key for --key-file to PATH\n"
			      "                          (a new file, mode 0600) or print it, and exit\n"
			      "      --sample-interval=MS  how often a server samples its load [250]\n"
			      "      --auto-drain=SHARE  take no new jobs while this machine's own (non-\n"
			      "                          distcc) load exceeds SHARE x its cpus (a desktop\n"
			      "                          whose owner works); back below half of it\n"
			      "      --zeroconf-compat=DIR  serve stock distcc's +zeroconf from DISTCC_DIR\n"
			      "                          DIR: hold DIR/zeroconf/lock and keep\n"
			      "                          DIR/zeroconf/hosts with this daemon's picks\n"
			      "      --zeroconf-compat-pump  add ,lzo,cpp (pump mode) to that file's hosts\n"
			      "                          that offer it: only for builds run under pump\n"
			      "      --hosts-file=PATH   keep PATH (e.g. ~/.distcc/hosts) holding a fresh\n"
			      "                          hosts line, rewritten atomically when it changes\n"
			      "                          (at most once a second); jobs in flight are\n"
			      "                          read from the lock directory beside it\n"
			      "      --socket=PATH       query socket [/run/distcc-mdns/socket for root,\n"
			      "                          else $XDG_RUNTIME_DIR/distcc-mdns/socket, without\n"
			      "                          it /tmp/distcc-mdns-UID/socket; $DISTCC_MDNS_SOCKET\n"
			      "                          overrides]\n"
			      "      --admin-group=GROUP  members of GROUP may --set-state too (besides\n"
			      "                          root and this daemon's user); '' for none\n"
			      "                          [distcc-mdns if that group exists]\n"
			      "      --http=[ADDR:]PORT  serve a read-only web page of the farm, farm.json,\n"
			      "                          live events and Prometheus /metrics on PORT of\n"
			      "                          ADDR (numeric; [IPV6]:PORT) [off; ADDR 127.0.0.1:\n"
			      "                          this machine only, 0.0.0.0 for the LAN]\n"
			      "      --state-dir=DIR     keep the last run's incarnation in DIR, so peers\n"
			      "                          take a restart as newer even after the clock\n"
			      "                          stepped back [$STATE_DIRECTORY, else\n"
			      "                          /var/lib/distcc-mdns for root, else\n"
			      "                          $XDG_STATE_HOME/distcc-mdns or\n"
			      "                          ~/.local/state/distcc-mdns]\n"
			      "  -v, --verbose           log more: peers and servers joining and leaving\n"
			      "                          (repeat for debug output)\n"
			      "  -h, --help              show this help and exit\n"
			      "      --version           show the version and exit\n"
			      "\n"
			      "Run as root or as the system user distcc-mdns it is the machine's daemon.\n"
			      "Run as any other user it is a per-user daemon: it does not advertise, gossips\n"
			      "on a port the kernel chooses and under a node id of its own, so that it runs\n"
			      "beside the machine's daemon.\n");
}

// The user the packaged unit runs the system daemon as (data/sysusers.d).
constexpr const char *kSystemUser = "distcc-mdns";
// The credential the unit loads the gossip key into (LoadCredential=).
constexpr const char *kKeyCredential = "gossip-key";

// The machine's daemon runs as root or as the unit's user; any other
// user's is a per-user daemon, which must not take the machine's place.
bool systemDaemon()
{
	const uid_t uid = ::geteuid();
	if (uid == 0)
		return true;
	const passwd *pw = ::getpwnam(kSystemUser);
	return pw && pw->pw_uid == uid;
}

// --generate-key: a new key to @path, or to stdout, made private first
// when it is a file (`> FILE` creates it with the umask's 0644).
[[noreturn]] void generateKey(const char *path)
{
	try {
		if (path) {
			net::Authenticator::generateKeyFile(path);
			fmt::print(stderr, "distcc-mdnsd: wrote a new key to {} (mode 0600)\n", path);
		} else {
			if (net::Authenticator::makeOutputPrivate(STDOUT_FILENO))
				fmt::print(stderr, "distcc-mdnsd: the output is a file: made it private (mode 0600), "
						   "as --key-file requires\n");
			fmt::print("{}\n", net::Authenticator::generateKeyHex());
			std::fflush(stdout);
		}
	} catch (const std::exception &e) {
		fmt::print(stderr, "distcc-mdnsd: {}\n", e.what());
		std::exit(EXIT_FAILURE);
	}
	std::exit(EXIT_SUCCESS);
}

struct Options {
	DaemonConfig daemon;
	int verbosity = 0;
	bool perUser = false; // see systemDaemon()
	bool keyFileGiven = false;
	std::optional<http::HttpConfig> http; // --http
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
		OptLearnSpeed,
		OptProbeStock,
		OptMasquerade,
		OptNoResolve,
		OptSocket,
		OptGossipPort,
		OptNoGossip,
		OptPeer,
		OptDomain,
		OptKeyFile,
		OptGenerateKey,
		OptSampleInterval,
		OptHostsFile,
		OptAutoDrain,
		OptZeroconfCompat,
		OptZeroconfPump,
		OptStateDir,
		OptAdminGroup,
		OptHttp,
		OptVersion,
	};
	static const option longOptions[] = {
		{ "advertise", required_argument, nullptr, OptAdvertise },
		{ "distcc-port", required_argument, nullptr, OptDistccPort },
		{ "cpus", required_argument, nullptr, OptCpus },
		{ "slots", required_argument, nullptr, OptSlots },
		{ "speed", required_argument, nullptr, OptSpeed },
		{ "learn-speed", required_argument, nullptr, OptLearnSpeed },
		{ "probe-stock", required_argument, nullptr, OptProbeStock },
		{ "masquerade-dir", required_argument, nullptr, OptMasquerade },
		{ "no-resolve", no_argument, nullptr, OptNoResolve },
		{ "socket", required_argument, nullptr, OptSocket },
		{ "gossip-port", required_argument, nullptr, OptGossipPort },
		{ "no-gossip", no_argument, nullptr, OptNoGossip },
		{ "peer", required_argument, nullptr, OptPeer },
		{ "domain", required_argument, nullptr, OptDomain },
		{ "key-file", required_argument, nullptr, OptKeyFile },
		{ "generate-key", optional_argument, nullptr, OptGenerateKey },
		{ "sample-interval", required_argument, nullptr, OptSampleInterval },
		{ "hosts-file", required_argument, nullptr, OptHostsFile },
		{ "auto-drain", required_argument, nullptr, OptAutoDrain },
		{ "zeroconf-compat", required_argument, nullptr, OptZeroconfCompat },
		{ "zeroconf-compat-pump", no_argument, nullptr, OptZeroconfPump },
		{ "state-dir", required_argument, nullptr, OptStateDir },
		{ "admin-group", required_argument, nullptr, OptAdminGroup },
		{ "http", required_argument, nullptr, OptHttp },
		{ "verbose", no_argument, nullptr, 'v' },
		{ "help", no_argument, nullptr, 'h' },
		{ "version", no_argument, nullptr, OptVersion },
		{ nullptr, 0, nullptr, 0 },
	};
	Options options;
	DaemonConfig &o = options.daemon;
	o.socket = defaultSocketPath();
	o.stateDir = host::defaultStateDir();
	options.perUser = !systemDaemon();
	bool advertiseGiven = false;
	bool gossipPortGiven = false;
	cli::Parser cli("distcc-mdnsd");
	for (int c; (c = getopt_long(argc, argv, "vh", longOptions, nullptr)) != -1;) {
		switch (c) {
		case OptAdvertise: {
			const std::string mode = optarg;
			advertiseGiven = true;
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
		case OptLearnSpeed: {
			const std::string learn = optarg;
			if (learn != "yes" && learn != "no")
				cli.fail("--learn-speed must be yes or no, not '{}'", learn);
			o.learnSpeed = learn == "yes";
			break;
		}
		case OptProbeStock: {
			const std::string probe = optarg;
			if (probe != "yes" && probe != "no")
				cli.fail("--probe-stock must be yes or no, not '{}'", probe);
			o.probeStock = probe == "yes";
			break;
		}
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
			gossipPortGiven = true;
			break;
		case OptNoGossip:
			o.gossip = false;
			break;
		case OptPeer: {
			HostPortParse peer = readHostPort(optarg, 0);
			if (!peer.hostPort)
				cli.fail("--peer must be HOST, HOST:PORT or [IPV6]:PORT, not '{}': {}", optarg, peer.error);
			o.peers.push_back(std::move(*peer.hostPort));
			break;
		}
		case OptDomain:
			if (const std::string error = addBrowseDomain(o.domains, optarg); !error.empty())
				cli.fail("{}", error);
			break;
		case OptKeyFile:
			if (!*optarg)
				cli.fail("--key-file needs a path");
			if (o.keyFiles.size() == 2)
				cli.fail("--key-file at most twice: the current key and the next");
			o.keyFiles.emplace_back(optarg);
			options.keyFileGiven = true;
			break;
		case OptGenerateKey:
			if (optarg && !*optarg)
				cli.fail("--generate-key=PATH needs a path (or no '=' to print the key)");
			generateKey(optarg);
		case OptSampleInterval:
			o.advertiser.checkInterval =
				std::chrono::milliseconds(cli.integer("--sample-interval", optarg, 50, 10000));
			break;
		case OptZeroconfCompat:
			o.zeroconfDir = optarg;
			if (o.zeroconfDir.empty())
				cli.fail("--zeroconf-compat needs the DISTCC_DIR to serve");
			break;
		case OptZeroconfPump:
			o.zeroconfPump = true;
			break;
		case OptStateDir:
			o.stateDir = optarg;
			if (o.stateDir.empty())
				cli.fail("--state-dir needs a directory");
			break;
		case OptAdminGroup:
			o.adminGroup = optarg;
			try {
				Admins::forDaemon(o.adminGroup, ::geteuid());
			} catch (const std::invalid_argument &e) {
				cli.fail("{}", e.what());
			}
			break;
		case OptHttp: {
			auto listen = http::parseListenAddress(optarg);
			if (const std::string *error = std::get_if<std::string>(&listen))
				cli.fail("--http=[ADDR:]PORT: {}", *error);
			const http::ListenAddress &a = std::get<http::ListenAddress>(listen);
			options.http = http::HttpConfig{ a.address, a.port, {} };
			break;
		}
		case OptAutoDrain:
			o.advertiser.autoDrain = cli.decimal("--auto-drain", optarg, 0.05, 4.0);
			break;
		case OptHostsFile:
			o.hostsFile = optarg;
			if (o.hostsFile.empty() || o.hostsFile.back() == '/')
				cli.fail("--hosts-file needs a file path, not '{}'", optarg);
			break;
		case 'v':
			++options.verbosity;
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
	// A per-user daemon runs beside the machine's: it leaves advertising
	// the host and the gossip port to that one, and gossips as a node of
	// its own, so that its goodbye is not the machine's distccd leaving.
	if (options.perUser) {
		if (!advertiseGiven)
			o.advertiser.mode = AdvertiserConfig::Mode::No;
		if (!gossipPortGiven)
			o.gossipPort = 0;
		o.userUid = static_cast<std::uint32_t>(::geteuid());
	}
	// A peer without a port gossips on the port we use, or on the
	// machine daemons' one when the kernel chose ours.
	for (HostPort &p : o.peers)
		if (p.port == 0)
			p.port = o.gossipPort ? o.gossipPort : kDistccPort;
	if (!o.resolve && (!o.hostsFile.empty() || !o.zeroconfDir.empty()))
		cli.fail("--hosts-file and --zeroconf-compat need the resolver; drop --no-resolve");
	if (o.zeroconfPump && o.zeroconfDir.empty())
		cli.fail("--zeroconf-compat-pump needs --zeroconf-compat=DIR");
	if (!o.gossip && (!o.peers.empty() || !o.keyFiles.empty()))
		cli.fail("--peer and --key-file need gossip; drop --no-gossip");
	if (!o.resolve && !o.gossip && !o.domains.empty())
		cli.fail("--domain browses for servers and gossip peers; drop --no-resolve or --no-gossip");
	if (!o.resolve && options.http)
		cli.fail("--http shows what the resolver knows; drop --no-resolve");
	return options;
}

// Whether the small file @path holds nothing but white space.
bool blank(const std::string &path)
{
	std::FILE *f = std::fopen(path.c_str(), "re");
	if (!f)
		return false;
	bool onlySpace = true;
	for (int c, n = 0; n < 8 && (c = std::fgetc(f)) != EOF; ++n)
		onlySpace = onlySpace && (c == '\n' || c == ' ' || c == '\r' || c == '\t');
	std::fclose(f);
	return onlySpace;
}

// The unit's key: LoadCredential= puts /etc/distcc-mdns/key in
// $CREDENTIALS_DIRECTORY/gossip-key, or (the unit's SetCredential= default,
// a newline) a blank file when the machine has no key. --key-file wins.
void addCredentialKey(Options &options)
{
	DaemonConfig &o = options.daemon;
	const char *dir = std::getenv("CREDENTIALS_DIRECTORY");
	if (!dir || !*dir || !o.gossip)
		return;
	const std::string path = std::string(dir) + "/" + kKeyCredential;
	struct stat st { };
	if (::stat(path.c_str(), &st) != 0)
		return;
	if (options.keyFileGiven) {
		log(LogLevel::Info, "gossip key: --key-file given, credential {} not used", path);
		return;
	}
	if (S_ISREG(st.st_mode) && st.st_size <= 2 && blank(path)) {
		log(LogLevel::Info, "gossip key: credential {} is empty (no /etc/distcc-mdns/key): gossip "
				    "is not authenticated",
		    path);
		return;
	}
	// Anything else is a key file, and Authenticator::fromFile says what
	// is wrong with it, if anything.
	o.keyFiles.push_back(path);
}

} // namespace

int main(int argc, char **argv)
{
	Options options = parse(argc, argv);
	setLogLevel(options.verbosity > 1 ? LogLevel::Debug : options.verbosity ? LogLevel::Info
										: LogLevel::Warning);
	addCredentialKey(options);
	if (options.perUser)
		log(LogLevel::Info, "per-user daemon of uid {}: advertise {}, gossip port {}", ::geteuid(),
		    options.daemon.advertiser.mode == AdvertiserConfig::Mode::No ? "no" : "as asked",
		    options.daemon.gossipPort ? std::to_string(options.daemon.gossipPort) : "chosen by the kernel");
	try {
		// Bound first, so that a port in use is said before anything
		// starts; outlives the daemon, whose loop hands it farm objects.
		std::unique_ptr<http::HttpServer> web;
		if (options.http)
			web = std::make_unique<http::HttpServer>(std::move(*options.http));
		Daemon daemon(options.daemon);
		if (web) {
			web->start();
			// On the loop thread, at most once a second: publish() only
			// swaps a pointer under the server's lock.
			daemon.setFarmSink([server = web.get()](std::string json) { server->publish(std::move(json)); });
		}
		daemon.run();
	} catch (const std::exception &e) {
		log(LogLevel::Error, "{}", e.what());
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
