// distcc-mdnsd: advertises a distccd host and resolves its peers (entry point).
#include <getopt.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "advertiser.h"
#include "client.h"
#include "dmdns-config.h"
#include "handle.h"
#include "hosts_query.h"
#include "log.h"
#include "options.h"
#include "uv_poll.h"
#include "query_server.h"
#include "resolver.h"

namespace {

using namespace dmdns;

void usage(std::FILE *out)
{
	std::fputs("Usage: distcc-mdnsd [OPTION]...\n"
		   "Advertise this distccd host over mDNS/DNS-SD and resolve the others.\n"
		   "\n"
		   "      --advertise=MODE    auto (while distccd accepts connections), yes, no [auto]\n"
		   "      --distcc-port=N     distccd's TCP port [3632]\n"
		   "      --cpus=N            advertise N cpus instead of the online ones\n"
		   "      --slots=N           advertise N slots instead of distccd's --jobs\n"
		   "      --speed=X           relative speed to advertise [1]\n"
		   "      --masquerade-dir=D  compilers distccd runs [/usr/lib/distcc]\n"
		   "      --no-resolve        do not browse for servers nor serve queries\n"
		   "      --socket=PATH       query socket [/run/distcc-mdns/socket for root,\n"
		   "                          else $XDG_RUNTIME_DIR/distcc-mdns/socket;\n"
		   "                          $DISTCC_MDNS_SOCKET overrides]\n"
		   "  -v, --verbose           log more (repeat for debug output)\n"
		   "  -h, --help              show this help and exit\n"
		   "      --version           show the version and exit\n",
		   out);
}

struct Options {
	AdvertiserConfig advertiser;
	bool resolve = true;
	std::string socket = defaultSocketPath();
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
			o.advertiser.speed = cli.decimal("--speed", optarg, kMinSpeed, kMaxSpeed);
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
		case 'v':
			++o.verbosity;
			break;
		case 'h':
			usage(stdout);
			std::exit(EXIT_SUCCESS);
		case OptVersion:
			std::printf("distcc-mdnsd %s\n", DMDNS_VERSION);
			std::exit(EXIT_SUCCESS);
		default:
			cli.tryHelp();
		}
	}
	if (optind < argc)
		cli.fail("unexpected argument '{}'", argv[optind]);
	if (o.socket.empty())
		cli.fail("--socket needs a path");
	return o;
}

} // namespace

int main(int argc, char **argv)
{
	const Options options = parse(argc, argv);
	setLogLevel(options.verbosity > 1 ? LogLevel::Debug : options.verbosity ? LogLevel::Info : LogLevel::Warning);

	try {
		uv::Loop loop;
		avahi::UvPoll poll(loop.get());
		avahi::Client client(loop.get(), *poll.get());

		// Declared in the order they must be torn down in reverse.
		std::unique_ptr<Advertiser> advertiser;
		if (options.advertiser.mode != AdvertiserConfig::Mode::No)
			advertiser = std::make_unique<Advertiser>(loop.get(), client, options.advertiser);
		std::unique_ptr<Resolver> resolver;
		std::unique_ptr<QueryServer> queries;
		if (options.resolve) {
			resolver = std::make_unique<Resolver>(client);
			queries = std::make_unique<QueryServer>(loop.get(), options.socket,
				[&resolver](const nlohmann::json &request) {
					return answerHosts(request,
							   resolver->directory().snapshot(std::chrono::steady_clock::now()),
							   "daemon");
				});
			log(LogLevel::Info, "answering queries on {}", options.socket);
		}

		auto quit = [&] {
			log(LogLevel::Info, "stopping");
			if (advertiser)
				advertiser->stop();
			queries.reset();
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
