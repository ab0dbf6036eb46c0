// distcc-mdns-hosts: prints a distcc hosts line, asking the local daemon or browsing itself (entry point).
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "avahi/client.h"
#include "avahi/uv_poll.h"
#include "client/compiler.h"
#include "client/daemon_socket.h"
#include "common/log.h"
#include "common/options.h"
#include "daemon/hosts_query.h"
#include "daemon/json_codec.h"
#include "daemon/query_server.h"
#include "daemon/resolver.h"
#include "daemon/socket_dir.h"
#include "daemon/view.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/hosts_line.h"
#include "dmdns-config.h"
#include "host/probe.h"
#include "hosts/setup_user.h"
#include "hosts/top.h"
#include "uv/handle.h"

namespace {

using namespace dmdns;

void usage(std::FILE *out)
{
	fmt::print(out, "{}", "Usage: distcc-mdns-hosts [OPTION]...\n"
			      "Print a distcc hosts line for the servers on this network.\n"
			      "\n"
			      "  -j, --jobs             print the suggested make -j value for the line\n"
			      "      --json             print the machine-readable view\n"
			      "      --status           print a table of the servers and the line\n"
			      "      --top              watch the farm through the local daemon: servers,\n"
			      "                         clients, your distcc jobs (plain lines when\n"
			      "                         stdout is not a terminal); q quits\n"
			      "      --sort=KEY         --top's server order: name, busy, free, state,\n"
			      "                         speed or age [name]\n"
			      "      --watch            with --json: the daemon's farm object, one line\n"
			      "                         each time it changes\n"
			      "      --set-state=STATE  make the local daemon advertise this host as\n"
			      "                         drain (no new jobs) or up; root, its user or\n"
			      "                         its admin group (exit 1 if refused)\n"
			      "      --setup-user       ask the daemon to keep a live hosts file for you\n"
			      "                         and link $DISTCC_DIR/hosts (~/.distcc/hosts) to it;\n"
			      "                         a file already there is left alone unless --force\n"
			      "                         (moved to hosts.orig); exit 1 if not done\n"
			      "      --local-slots=N    jobs to run on this machine [online CPUs]\n"
			      "      --want=N           remote jobs this build will run at once: the\n"
			      "                         line lists the fastest free slots for them and\n"
			      "                         the daemon reserves them on the servers listed\n"
			      "                         [as many as the line offers]\n"
			      "      --compiler=CC      list only servers that run the compiler CC runs\n"
			      "                         here (same target and version) [$CC, else cc]\n"
			      "      --any-compiler     list servers whatever compilers they run\n"
			      "      --match=MODE       how servers' compilers must match CC's: version\n"
			      "                         (same target and version; --status warns when\n"
			      "                         their identity, a hash of the compiler's\n"
			      "                         binaries, differs) or exact (such servers are\n"
			      "                         left out; those that advertise no identity are\n"
			      "                         listed, marked unverified) [version]\n"
			      "      --speed=X          this machine's speed (1 = the reference machine)\n"
			      "                         [the daemon's; 1 when browsing]\n"
			      "      --min-speed=F      leave out servers slower than F times this\n"
			      "                         machine [0.5]\n"
			      "      --lzo              add ,lzo for servers that offer compression\n"
			      "      --pump             add ,cpp (and ,lzo) for servers that offer pump\n"
			      "                         mode\n"
			      "      --wait=SECONDS     browse at most this long without a daemon [1.5]\n"
			      "      --no-daemon        browse even if a daemon answers\n"
			      "      --domain=DOMAIN    when browsing, also browse DOMAIN by unicast DNS\n"
			      "                         (wide-area DNS-SD), at most 4 times\n"
			      "      --socket=PATH      the daemon's query socket, used only if it and its\n"
			      "                         directory belong to you, root or distcc-mdns;\n"
			      "                         exit 1 if no daemon answers there\n"
			      "                         [$DISTCC_MDNS_SOCKET, else the first that answers\n"
			      "                         of $XDG_RUNTIME_DIR/distcc-mdns/socket (without\n"
			      "                         XDG_RUNTIME_DIR /tmp/distcc-mdns-UID/socket; for\n"
			      "                         root /run/distcc-mdns/socket), then\n"
			      "                         /run/distcc-mdns/socket]\n"
			      "  -v, --verbose          log more\n"
			      "  -h, --help             show this help and exit\n"
			      "      --version          show the version and exit\n"
			      "\n"
			      "Example: DISTCC_HOSTS=\"$(distcc-mdns-hosts)\" make -j$(distcc-mdns-hosts -j) CC=\"distcc gcc\"\n");
}

enum class Output {
	Line,
	Jobs,
	Json,
	Status,
	Top
};

struct Options {
	Output output = Output::Line;
	std::uint32_t localSlots = host::onlineCpus();
	std::optional<std::uint32_t> want;
	std::optional<std::string> compiler; // empty string: any
	std::optional<MatchMode> match;
	std::optional<double> speed;
	std::optional<double> minSpeed;
	std::optional<std::string> setState;
	bool watch = false;
	top::SortKey sort = top::SortKey::Name;
	bool setupUser = false;
	bool force = false;
	bool lzo = false;
	bool pump = false;
	std::chrono::milliseconds wait{ 1500 };
	bool useDaemon = true;
	std::vector<std::string> domains; // --domain, when browsing
	// --socket or $DISTCC_MDNS_SOCKET; else socketSearchOrder().
	std::optional<std::string> socket;
};

Options parse(int argc, char **argv)
{
	enum {
		OptJson = 0x100,
		OptStatus,
		OptTop,
		OptSort,
		OptWatch,
		OptLocalSlots,
		OptWant,
		OptCompiler,
		OptAnyCompiler,
		OptMatch,
		OptSpeed,
		OptMinSpeed,
		OptSetState,
		OptSetupUser,
		OptForce,
		OptLzo,
		OptPump,
		OptWait,
		OptNoDaemon,
		OptDomain,
		OptSocket,
		OptVersion
	};
	static const option longOptions[] = {
		{ "jobs", no_argument, nullptr, 'j' },
		{ "json", no_argument, nullptr, OptJson },
		{ "status", no_argument, nullptr, OptStatus },
		{ "top", no_argument, nullptr, OptTop },
		{ "sort", required_argument, nullptr, OptSort },
		{ "watch", no_argument, nullptr, OptWatch },
		{ "local-slots", required_argument, nullptr, OptLocalSlots },
		{ "want", required_argument, nullptr, OptWant },
		{ "compiler", required_argument, nullptr, OptCompiler },
		{ "any-compiler", no_argument, nullptr, OptAnyCompiler },
		{ "match", required_argument, nullptr, OptMatch },
		{ "speed", required_argument, nullptr, OptSpeed },
		{ "set-state", required_argument, nullptr, OptSetState },
		{ "setup-user", no_argument, nullptr, OptSetupUser },
		{ "force", no_argument, nullptr, OptForce },
		{ "min-speed", required_argument, nullptr, OptMinSpeed },
		{ "lzo", no_argument, nullptr, OptLzo },
		{ "pump", no_argument, nullptr, OptPump },
		{ "wait", required_argument, nullptr, OptWait },
		{ "no-daemon", no_argument, nullptr, OptNoDaemon },
		{ "domain", required_argument, nullptr, OptDomain },
		{ "socket", required_argument, nullptr, OptSocket },
		{ "verbose", no_argument, nullptr, 'v' },
		{ "help", no_argument, nullptr, 'h' },
		{ "version", no_argument, nullptr, OptVersion },
		{ nullptr, 0, nullptr, 0 },
	};
	Options o;
	if (const char *env = std::getenv("DISTCC_MDNS_SOCKET"); env && *env)
		o.socket = env;
	cli::Parser cli("distcc-mdns-hosts");
	for (int c; (c = getopt_long(argc, argv, "jvh", longOptions, nullptr)) != -1;) {
		switch (c) {
		case 'j':
			o.output = Output::Jobs;
			break;
		case OptJson:
			o.output = Output::Json;
			break;
		case OptStatus:
			o.output = Output::Status;
			break;
		case OptTop:
			o.output = Output::Top;
			break;
		case OptSort:
			if (const auto key = top::parseSortKey(optarg))
				o.sort = *key;
			else
				cli.fail("--sort must be name, busy, free, state, speed or age, not '{}'", optarg);
			break;
		case OptWatch:
			o.watch = true;
			break;
		case OptWant:
			o.want = static_cast<std::uint32_t>(cli.integer("--want", optarg, 0, wire::kMaxWantedJobs));
			break;
		case OptCompiler:
			o.compiler = optarg;
			if (o.compiler->empty())
				cli.fail("--compiler needs a compiler name");
			break;
		case OptAnyCompiler:
			o.compiler = "";
			break;
		case OptMatch:
			o.match = parseMatchMode(optarg);
			if (!o.match)
				cli.fail("--match must be exact or version, not '{}'", optarg);
			break;
		case OptSetState:
			o.setState = optarg;
			if (*o.setState != "drain" && *o.setState != "up")
				cli.fail("--set-state must be drain or up, not '{}'", optarg);
			break;
		case OptSetupUser:
			o.setupUser = true;
			break;
		case OptForce:
			o.force = true;
			break;
		case OptSpeed:
			o.speed = cli.decimal("--speed", optarg, kMinSpeed, kMaxSpeed);
			break;
		case OptMinSpeed:
			o.minSpeed = cli.decimal("--min-speed", optarg, 0.0, 1.0);
			break;
		case OptLzo:
			o.lzo = true;
			break;
		case OptPump:
			o.pump = true;
			break;
		case OptLocalSlots:
			o.localSlots = static_cast<std::uint32_t>(cli.integer("--local-slots", optarg, 1, kMaxHostLimit));
			break;
		case OptWait:
			o.wait = std::chrono::milliseconds(
				static_cast<std::int64_t>(cli.decimal("--wait", optarg, 0.0, 600.0) * 1000));
			break;
		case OptNoDaemon:
			o.useDaemon = false;
			break;
		case OptDomain:
			if (const std::string error = addBrowseDomain(o.domains, optarg); !error.empty())
				cli.fail("{}", error);
			break;
		case OptSocket:
			o.socket = optarg;
			if (o.socket->empty())
				cli.fail("--socket needs a path");
			break;
		case 'v':
			setLogLevel(LogLevel::Info);
			break;
		case 'h':
			usage(stdout);
			std::exit(EXIT_SUCCESS);
		case OptVersion:
			fmt::print("distcc-mdns-hosts {}\n", DMDNS_VERSION);
			std::exit(EXIT_SUCCESS);
		default:
			cli.tryHelp();
		}
	}
	if (optind < argc)
		cli.fail("unexpected argument '{}'", argv[optind]);
	if (o.watch && o.output != Output::Json)
		cli.fail("--watch goes with --json");
	if ((o.watch || o.output == Output::Top) && !o.useDaemon)
		cli.fail("{} shows what the daemon knows: it cannot go with --no-daemon", o.watch ? "--watch" : "--top");
	if (o.force && !o.setupUser)
		cli.fail("--force goes with --setup-user");
	if (o.match == MatchMode::Exact && o.compiler && o.compiler->empty())
		cli.fail("--match=exact needs a compiler to match; --any-compiler names none");
	return o;
}

// The compiler a build here runs: the last word of CC that is not a wrapper
// ("distcc gcc", "ccache clang-14"), else cc. nullopt when --any-compiler.
std::optional<std::string> compilerName(const Options &o)
{
	if (o.compiler)
		return o.compiler->empty() ? std::nullopt : o.compiler;
	return client::compilerOf(std::getenv("CC"));
}

// What an answer without a daemon assumes of this machine: the slots the
// request gives, and the reference speed (1.0) unless --speed says
// otherwise: a measurement here would cost each call 0.2 s and vary with
// what else runs.
LocalMachine withoutDaemon(const HostsRequest &request)
{
	return { request.localSlots.value_or(host::onlineCpus()), 1.0 };
}

using client::Candidate;
using client::Exchange;
using client::kDaemonFailed;
using client::roundTrip;

// The sockets to try: the one given, or the documented order
// (client::socketsToTry()).
std::vector<Candidate> socketsToTry(const Options &o)
{
	return client::socketsToTry(o.socket);
}

// What asking the daemons came to: the exchange that was used, if any,
// and what happened at every place tried, in order.
struct Search {
	std::optional<Exchange> used;
	std::vector<std::pair<std::string, std::string>> tried; // path, what happened
};

// Asks @candidates in order until one gives a reply @usable accepts.
template <typename Usable>
Search ask(const std::vector<Candidate> &candidates, const nlohmann::json &request, Usable usable)
{
	Search search;
	for (const Candidate &c : candidates) {
		if (c.skipped) {
			search.tried.emplace_back(c.path, *c.skipped);
			continue;
		}
		Exchange e = roundTrip(c.path, request);
		if (e.reply && usable(*e.reply)) {
			search.used = std::move(e);
			return search;
		}
		if (e.reply) {
			e.failure = "no usable answer";
			log(LogLevel::Warning, "the daemon at {} gave no usable answer", c.path);
		}
		search.tried.emplace_back(c.path, e.failure);
	}
	return search;
}

// "PATH: WHAT; PATH: WHAT" for the places tried.
std::string triedText(const Search &search)
{
	std::string out;
	for (const auto &[path, what] : search.tried)
		out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", path, what);
	return out.empty() ? std::string("no socket to try") : out;
}

// The first usable answer of a daemon, in order, and where it came from.
std::optional<View> askDaemon(Search &search, const std::vector<Candidate> &candidates, const HostsRequest &request)
{
	search = ask(candidates, codec::encode(request), [](const nlohmann::json &reply) {
		return reply.value("ok", false) && reply.contains("jobs") && reply["jobs"].is_number_unsigned();
	});
	if (search.used) {
		try {
			return codec::decodeView(*search.used->reply);
		} catch (const std::invalid_argument &e) {
			log(LogLevel::Warning, "the daemon at {} gave no usable answer: {}", search.used->path, e.what());
			search.tried.emplace_back(search.used->path, fmt::format("no usable answer: {}", e.what()));
			search.used.reset();
		}
	}
	log(LogLevel::Info, "no daemon answers ({}): browsing", triedText(search));
	return std::nullopt;
}

// --set-state: asks the local daemon to change what it advertises.
int setState(const std::vector<Candidate> &candidates, const std::string &state)
{
	const Search search = ask(candidates, codec::encode(SetStateRequest{ state }),
				  [](const nlohmann::json &) { return true; });
	if (!search.used) {
		log(LogLevel::Error, "no distcc-mdnsd answers: {}", triedText(search));
		return kDaemonFailed;
	}
	const nlohmann::json &reply = *search.used->reply;
	if (!reply.value("ok", false)) {
		const nlohmann::json error = reply.value("error", nlohmann::json("unknown error"));
		log(LogLevel::Error, "the daemon at {} refused: {}", search.used->path,
		    error.is_string() ? error.get<std::string>() : error.dump());
		return kDaemonFailed;
	}
	fmt::print("state: {}\n", reply.value("state", std::string(state)));
	return EXIT_SUCCESS;
}

// Asks the daemons in order to keep a hosts file for this user.
std::optional<UserFileAnswer> askUserFile(const std::vector<Candidate> &candidates)
{
	const Search search = ask(candidates, codec::encode(SetupUserRequest{}), [](const nlohmann::json &) { return true; });
	if (!search.used) {
		log(LogLevel::Error, "no distcc-mdnsd answers: {}", triedText(search));
		return std::nullopt;
	}
	const nlohmann::json &reply = *search.used->reply;
	if (!reply.value("ok", false)) {
		const nlohmann::json error = reply.value("error", nlohmann::json("unknown error"));
		return UserFileAnswer{ {}, error.is_string() ? error.get<std::string>() : error.dump() };
	}
	try {
		return UserFileAnswer{ codec::decodeSetupUserReply(reply).path, {} };
	} catch (const std::invalid_argument &e) {
		return UserFileAnswer{ {}, fmt::format("its answer: {}", e.what()) };
	}
}

// Set (even empty), DISTCC_HOSTS makes distcc ignore every hosts file; a
// hosts file there then helps no build. The sentence, or nothing.
std::optional<std::string> distccHostsOverride()
{
	if (!std::getenv("DISTCC_HOSTS"))
		return std::nullopt;
	const std::string dir = host::distccDir();
	const std::string file = dir.empty() ? std::string("~/.distcc/hosts") : dir + "/hosts";
	return fmt::format("DISTCC_HOSTS is set in the environment: distcc uses it and ignores {} (unset it "
			   "to use the hosts file)",
			   file);
}

// The lines --status adds under the table: which daemon answered, or why
// none did, what its gossip refused, and whether distcc reads the hosts file.
std::string statusFooter(const Search &search, bool asked)
{
	std::string out;
	if (search.used) {
		out += fmt::format("answered by {} (distcc-mdnsd running as {})\n", search.used->path,
				   userName(search.used->server));
		const Exchange stats = roundTrip(search.used->path, nlohmann::json{ { "op", "stats" } });
		try {
			if (stats.reply) {
				for (const AuthFailure &f : codec::decodeAuthFailures(*stats.reply))
					out += authFailureText(f) + "\n";
				if (const std::string why = codec::decodeNotAdvertising(*stats.reply); !why.empty())
					out += fmt::format("this host is not advertised: {}\n", why);
			}
		} catch (const std::invalid_argument &e) {
			log(LogLevel::Info, "the daemon's stats: {}", e.what());
		}
	} else if (asked) {
		out += fmt::format("no daemon answered, browsed instead: {}\n", triedText(search));
	} else {
		out += "browsed (--no-daemon)\n";
	}
	if (const auto note = distccHostsOverride())
		out += *note + "\n";
	return out;
}

// Browses until everything found is resolved or @wait has passed, then
// answers as the daemon would.
View browse(const HostsRequest &request, std::chrono::milliseconds wait, const std::vector<std::string> &domains)
{
	uv::Loop loop;
	avahi::UvPoll poll(loop.get());
	avahi::Client client(loop.get(), *poll.get());
	Resolver resolver(client, host::localNetworks, domains);
	uv::Timer deadline(loop.get(), [&loop] { loop.stop(); });
	resolver.onChange = [&] {
		if (resolver.settled())
			loop.stop();
	};
	deadline.start(wait);
	loop.run();
	return answerHosts(request, resolver.directory().snapshot(std::chrono::steady_clock::now()), {},
			   withoutDaemon(request), "browse")
		.view;
}

} // namespace

int main(int argc, char **argv)
{
	const Options options = parse(argc, argv);
	if (options.setState)
		return setState(socketsToTry(options), *options.setState);
	// The live view is the daemon's: there is nothing to browse for.
	if (options.output == Output::Top || options.watch) {
		top::Output output = top::Output::Plain;
		if (options.watch)
			output = top::Output::Json;
		else if (::isatty(STDOUT_FILENO))
			output = top::Output::Screen;
		return top::run(socketsToTry(options), output, options.sort);
	}
	// distcc is ignoring a hosts file right now; --status says so in its
	// table.
	if (options.output != Output::Status && !options.setupUser && std::getenv("DISTCC_HOSTS"))
		if (const std::string dir = host::distccDir(); !dir.empty() && ::access((dir + "/hosts").c_str(), F_OK) == 0)
			log(LogLevel::Warning, "{}", *distccHostsOverride());
	if (options.setupUser) {
		const std::vector<Candidate> candidates = socketsToTry(options);
		const int status = setupUser(
			[&] { return askUserFile(candidates); },
			host::distccDir(), options.force, stdout);
		// The link is made, but distcc reads it only without DISTCC_HOSTS.
		if (status == EXIT_SUCCESS)
			if (const auto override = distccHostsOverride())
				log(LogLevel::Warning, "{}", *override);
		return status;
	}
	HostsRequest request;
	request.localSlots = options.localSlots;
	request.want = options.want;
	// Only a printed line is handed out to distcc; the other outputs look.
	request.reserve = options.output == Output::Line;
	request.speed = options.speed;
	request.minSpeed = options.minSpeed;
	request.lzo = options.lzo;
	request.cpp = options.pump;
	request.match = options.match;
	// distcc would skip these hosts for a while: give their slots to none.
	if (const std::string dir = host::distccDir(); !dir.empty())
		for (const auto &[name, port] : host::distccBackoffs(dir + "/lock", host::distccBackoffPeriod()))
			if (request.failing.size() < HostsRequest::kMaxFailing)
				request.failing.push_back({ name, port });
	if (const auto name = compilerName(options)) {
		// Hashing the compiler's binaries (tens of MB) is for an exact match
		// and for the outputs that show identities; a line matched by
		// version does not depend on them.
		const bool identify = options.match == MatchMode::Exact || options.output == Output::Json ||
				      options.output == Output::Status;
		if (const auto c = host::probeCompiler(*name, host::kMasqueradeDir, identify)) {
			request.compiler = *c;
			if (c->identity.empty() && identify)
				log(LogLevel::Warning, "cannot read {}'s binaries: no server's compiler can be verified",
				    *name);
		} else {
			log(LogLevel::Warning, "cannot ask {} for its target and version: listing servers whatever "
					       "compilers they run",
			    *name);
		}
	}

	View view;
	Search search;
	try {
		std::optional<View> answer;
		if (options.useDaemon) {
			answer = askDaemon(search, socketsToTry(options), request);
			// The user named this daemon: browsing instead would hide that
			// it is not there.
			if (!answer && options.socket) {
				log(LogLevel::Error,
				    "no distcc-mdnsd answers at {} ({}): start it, fix --socket or "
				    "DISTCC_MDNS_SOCKET, or use --no-daemon to browse",
				    *options.socket, triedText(search));
				return kDaemonFailed;
			}
		}
		view = answer ? std::move(*answer) : browse(request, options.wait, options.domains);
	} catch (const std::exception &e) {
		// Never leave the build without a line: localhost always works.
		log(LogLevel::Warning, "{}; using this machine only", e.what());
		HostsRequest alone;
		alone.localSlots = options.localSlots;
		view = answerHosts(alone, {}, {}, withoutDaemon(alone), "none").view;
	}

	switch (options.output) {
	case Output::Line:
		fmt::print("{}\n", view.line);
		break;
	case Output::Jobs:
		fmt::print("{}\n", view.jobs);
		break;
	case Output::Json:
		fmt::print("{}\n", codec::encode(view).dump(2));
		break;
	case Output::Status:
		fmt::print("{}{}", statusTable(view), statusFooter(search, options.useDaemon));
		break;
	case Output::Top: // top::run() answered above
		break;
	}
	return EXIT_SUCCESS;
}
