// distcc-mdns-run: runs a build as a GNU make jobserver whose tokens follow the build's live share of the farm (entry point).
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/compiler.h"
#include "client/daemon_socket.h"
#include "common/log.h"
#include "common/options.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/hosts_line.h"
#include "distcc-mdns/server.h"
#include "distcc-mdns/token_policy.h"
#include "dmdns-config.h"
#include "host/files.h"
#include "host/probe.h"
#include "run/backup_job.h"
#include "run/backups.h"
#include "run/child.h"
#include "run/command.h"
#include "run/jobserver.h"
#include "run/share.h"
#include "run/work_store.h"

extern char **environ;

namespace {

using namespace dmdns;
using Clock = std::chrono::steady_clock;

// How long the runner waits after its first answer for the leases of builds
// that started with it, before it starts the command (Share::settle()).
constexpr std::chrono::milliseconds kSettle{ 300 };

// distcc's wait between looks for a free slot (DISTCC_PAUSE_TIME_MSEC).
constexpr std::chrono::milliseconds kDistccPause{ 50 };

void usage(std::FILE *out)
{
	fmt::print(out, "{}", "Usage: distcc-mdns-run [OPTION]... [--] COMMAND [ARG]...\n"
			      "Run a build whose parallelism follows its live share of the distcc farm:\n"
			      "COMMAND runs as a GNU make jobserver whose tokens the local distcc-mdnsd's\n"
			      "answer sets, with its own DISTCC_DIR whose hosts file matches them.\n"
			      "\n"
			      "      --socket=PATH      the daemon's query socket, used only if it and its\n"
			      "                         directory belong to you, root or distcc-mdns;\n"
			      "                         exit 1 if no daemon answers there\n"
			      "                         [$DISTCC_MDNS_SOCKET, else the search order of\n"
			      "                         distcc-mdns-hosts]\n"
			      "      --local-slots=N    this machine's slots [online CPUs]\n"
			      "      --max-jobs=N       never more than N jobs at once\n"
			      "      --masquerade       put /usr/lib/distcc first in PATH instead of\n"
			      "                         setting CC and CXX\n"
			      "      --no-cc            change neither CC/CXX nor PATH (the build calls\n"
			      "                         distcc itself, or through CCACHE_PREFIX=distcc)\n"
			      "      --no-copies        never start a second copy of a slow compile on a\n"
			      "                         faster server that would idle (with CC wrapped,\n"
			      "                         the default, the build's end does)\n"
			      "      --trace=FILE       append one JSON object per change and per second\n"
			      "  -v, --verbose          log more\n"
			      "  -q, --quiet            log only errors\n"
			      "  -h, --help             show this help and exit\n"
			      "      --version          show the version and exit\n"
			      "\n"
			      "Without a daemon or without any server the build runs with local\n"
			      "parallelism. The exit status is COMMAND's (128+N, or the same signal,\n"
			      "when a signal N ended it).\n"
			      "\n"
			      "Example: distcc-mdns-run make -C src\n");
}

enum class CcMode {
	Wrap,
	Masquerade,
	None
};

struct Options {
	std::optional<std::string> socket;
	std::uint32_t localSlots = host::onlineCpus();
	std::optional<unsigned> maxJobs;
	CcMode cc = CcMode::Wrap;
	bool copies = true;
	std::optional<std::string> trace;
	std::vector<std::string> command;
};

Options parse(int argc, char **argv)
{
	enum {
		OptSocket = 0x100,
		OptLocalSlots,
		OptMaxJobs,
		OptMasquerade,
		OptNoCc,
		OptNoCopies,
		OptTrace,
		OptVersion
	};
	static const option longOptions[] = {
		{ "socket", required_argument, nullptr, OptSocket },
		{ "local-slots", required_argument, nullptr, OptLocalSlots },
		{ "max-jobs", required_argument, nullptr, OptMaxJobs },
		{ "masquerade", no_argument, nullptr, OptMasquerade },
		{ "no-cc", no_argument, nullptr, OptNoCc },
		{ "no-copies", no_argument, nullptr, OptNoCopies },
		{ "trace", required_argument, nullptr, OptTrace },
		{ "verbose", no_argument, nullptr, 'v' },
		{ "quiet", no_argument, nullptr, 'q' },
		{ "help", no_argument, nullptr, 'h' },
		{ "version", no_argument, nullptr, OptVersion },
		{ nullptr, 0, nullptr, 0 },
	};
	Options o;
	if (const char *env = std::getenv("DISTCC_MDNS_SOCKET"); env && *env)
		o.socket = env;
	cli::Parser cli("distcc-mdns-run");
	bool masquerade = false, noCc = false;
	// '+': options end at COMMAND, whose own options are its business.
	for (int c; (c = getopt_long(argc, argv, "+vqh", longOptions, nullptr)) != -1;) {
		switch (c) {
		case OptSocket:
			o.socket = optarg;
			if (o.socket->empty())
				cli.fail("--socket needs a path");
			break;
		case OptLocalSlots:
			o.localSlots = static_cast<std::uint32_t>(cli.integer("--local-slots", optarg, 1, kMaxHostLimit));
			break;
		case OptMaxJobs:
			o.maxJobs = static_cast<unsigned>(cli.integer("--max-jobs", optarg, 1, run::Jobserver::MaxTokens));
			break;
		case OptMasquerade:
			masquerade = true;
			break;
		case OptNoCc:
			noCc = true;
			break;
		case OptNoCopies:
			o.copies = false;
			break;
		case OptTrace:
			o.trace = optarg;
			if (o.trace->empty())
				cli.fail("--trace needs a file");
			break;
		case 'v':
			setLogLevel(LogLevel::Info);
			break;
		case 'q':
			setLogLevel(LogLevel::Error);
			break;
		case 'h':
			usage(stdout);
			std::exit(EXIT_SUCCESS);
		case OptVersion:
			fmt::print("distcc-mdns-run {}\n", DMDNS_VERSION);
			std::exit(EXIT_SUCCESS);
		default:
			cli.tryHelp();
		}
	}
	if (masquerade && noCc)
		cli.fail("--masquerade and --no-cc exclude each other");
	o.cc = masquerade ? CcMode::Masquerade : noCc ? CcMode::None
						      : CcMode::Wrap;
	for (int i = optind; i < argc; ++i)
		o.command.emplace_back(argv[i]);
	if (o.command.empty())
		cli.fail("no command to run");
	return o;
}

// The build's private DISTCC_DIR (0700): its live hosts file, and distcc's
// lock and state files for this build. Removed at the end.
class DistccDir final
{
public:
	DistccDir()
	{
		const char *tmp = std::getenv("TMPDIR");
		std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/distcc-mdns-run.XXXXXX";
		if (!::mkdtemp(pattern.data()))
			throw std::system_error(errno, std::generic_category(), fmt::format("cannot create {}", pattern));
		path_ = pattern;
	}
	~DistccDir()
	{
		std::error_code ignored;
		std::filesystem::remove_all(path_, ignored);
	}
	DistccDir(const DistccDir &) = delete;
	DistccDir &operator=(const DistccDir &) = delete;

	const std::string &path() const noexcept { return path_; }

	// Writes @line as the hosts file by rename, so that distcc, which
	// reads it for every compile, sees the old line or the new one whole.
	// Returns false (and logs) when it cannot.
	bool write(const std::string &line)
	{
		if (line == line_)
			return true;
		if (!replace("hosts", line + "\n"))
			return false;
		line_ = line;
		return true;
	}

	// Writes @text as the file @name here, by rename.
	bool replace(const std::string &name, const std::string &text) const
	{
		const std::string temp = path_ + "/" + name + ".tmp", file = path_ + "/" + name;
		host::UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
		if (fd.get() < 0 || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
		    ::rename(temp.c_str(), file.c_str()) != 0) {
			log(LogLevel::Error, "cannot write {}: {}", file, std::strerror(errno));
			return false;
		}
		return true;
	}

private:
	std::string path_;
	std::string line_;
};

// This program's own path, for the job wrapper in CC; empty when it cannot be
// named as one shell word.
std::string selfPath()
{
	std::error_code ec;
	const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
	if (ec || self.empty() || self.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") != std::string::npos)
		return {};
	return self;
}

// The environment the build gets: ours, with the jobserver in MAKEFLAGS,
// the private DISTCC_DIR, no DISTCC_HOSTS (it would hide the hosts file),
// and distcc put in front of the compilers as the user chose.
std::vector<std::string> buildEnvironment(const Options &o, const run::Jobserver &jobs, run::Jobserver::Style style,
					  const std::string &distccDir, const run::Backups *copies, const std::string &self)
{
	const char *makeflags = std::getenv("MAKEFLAGS");
	const char *cc = std::getenv("CC");
	const char *cxx = std::getenv("CXX");
	const char *path = std::getenv("PATH");
	std::vector<std::string> env;
	for (char **e = environ; *e; ++e) {
		const std::string_view entry(*e);
		const std::string_view key = entry.substr(0, entry.find('='));
		if (key == "MAKEFLAGS" || key == "DISTCC_HOSTS" || key == "DISTCC_DIR" || key == "DISTCC_MDNS_RUN" ||
		    key == run::kJobSocketEnv)
			continue;
		if (o.cc == CcMode::Wrap && (key == "CC" || key == "CXX"))
			continue;
		if (o.cc == CcMode::Masquerade && key == "PATH")
			continue;
		env.emplace_back(entry);
	}
	env.push_back("MAKEFLAGS=" + jobs.makeflags(makeflags ? makeflags : "", style));
	env.push_back("DISTCC_DIR=" + distccDir);
	env.push_back("DISTCC_MDNS_RUN=1");
	// A compile that finds every slot of the line taken sleeps this long
	// before it looks again (distcc's default: 1 s). Slots free every few
	// tenths of a second in a build of many remote slots, and a compile
	// make started early must not idle behind the ones it starts later.
	if (!std::getenv("DISTCC_PAUSE_TIME_MSEC"))
		env.push_back(fmt::format("DISTCC_PAUSE_TIME_MSEC={}", kDistccPause.count()));
	// A compiler already behind distcc (CC="distcc gcc") stays as it is.
	// With copies, every compile runs under this program's job wrapper,
	// which may race a copy of it on a faster server (run/backup_job.h).
	const std::string wrapper = copies ? fmt::format("{} {} ", self, run::kJobOption) : std::string();
	if (copies)
		env.push_back(fmt::format("{}={}", run::kJobSocketEnv, copies->path()));
	const auto wrapped = [&](const char *value, const char *fallback) {
		const std::string compiler = value && *value ? value : fallback;
		return wrapper + (compiler.rfind("distcc ", 0) == 0 ? compiler : "distcc " + compiler);
	};
	switch (o.cc) {
	case CcMode::Wrap:
		env.push_back("CC=" + wrapped(cc, "cc"));
		env.push_back("CXX=" + wrapped(cxx, "c++"));
		break;
	case CcMode::Masquerade:
		env.push_back(fmt::format("PATH={}{}{}", host::kMasqueradeDir, path && *path ? ":" : "", path ? path : ""));
		break;
	case CcMode::None:
		break;
	}
	return env;
}

// --trace: one JSON object a line, appended.
class Trace final
{
public:
	explicit Trace(const std::optional<std::string> &path)
	{
		if (!path)
			return;
		fd_.reset(::open(path->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
		if (fd_.get() < 0)
			throw std::system_error(errno, std::generic_category(), fmt::format("cannot open {}", *path));
	}

	bool on() const noexcept { return fd_.get() >= 0; }

	void write(const nlohmann::json &record)
	{
		const std::string line = record.dump() + "\n";
		if (::write(fd_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) && !failed_) {
			failed_ = true;
			log(LogLevel::Warning, "cannot write the trace: {}", std::strerror(errno));
		}
	}

private:
	host::UniqueFd fd_;
	bool failed_ = false;
};

// What the build runs with at one moment: the line and the decision.
struct State {
	std::string line;
	TokenDecision decision;
	std::optional<std::uint32_t> share;
	bool daemon = false;

	bool operator==(const State &o) const
	{
		return line == o.line && decision.want == o.decision.want && decision.target == o.decision.target &&
		       decision.tail == o.decision.tail && share == o.share && daemon == o.daemon;
	}
};

// How the runner ends: with the child's wait status, or a code of its own
// when there was no build.
struct Outcome {
	std::optional<int> waitStatus;
	int code = 0;
};

// The signals the loop takes through a signalfd: the child's end, and the
// ones forwarded to it.
sigset_t loopSignals()
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	return set;
}

class Runner final
{
public:
	explicit Runner(const Options &o)
		: options_(o), policy_(o.maxJobs), trace_(o.trace), share_(o.socket, baseRequest(o))
	{
	}

	Outcome run();

private:
	static HostsRequest baseRequest(const Options &o);
	State decide(Clock::time_point now, const run::Jobserver::Status &status);
	void apply(const State &next);
	void traceState(Clock::time_point now, const run::Jobserver::Status &status);
	std::vector<FailingHost> failingHosts() const;
	void place();

	const Options &options_;
	TokenPolicy policy_;
	Trace trace_;
	run::Share share_;
	run::Jobserver jobs_;
	DistccDir dir_;
	std::optional<run::Backups> copies_;
	// The compile times remembered from earlier builds (with copies only:
	// the job wrapper measures and places), and the placement file's text.
	std::optional<run::WorkStore> store_;
	std::optional<double> median_; // of the remembered works
	std::string placement_;
	State state_;
	Clock::time_point start_ = Clock::now();
	bool warnedLocal_ = false;
};

HostsRequest Runner::baseRequest(const Options &o)
{
	HostsRequest request;
	request.localSlots = o.localSlots;
	request.reserve = true;
	// Listing servers by version needs no hash of the compiler's binaries.
	const std::string name = client::compilerOf(std::getenv("CC"));
	if (const auto c = host::probeCompiler(name, host::kMasqueradeDir, false))
		request.compiler = *c;
	else
		log(LogLevel::Warning, "cannot ask {} for its target and version: using servers whatever compilers "
				       "they run",
		    name);
	return request;
}

std::vector<FailingHost> Runner::failingHosts() const
{
	std::vector<FailingHost> out;
	for (const auto &[name, port] : host::distccBackoffs(dir_.path() + "/lock", host::distccBackoffPeriod()))
		if (out.size() < HostsRequest::kMaxFailing)
			out.push_back({ name, port });
	return out;
}

State Runner::decide(Clock::time_point now, const run::Jobserver::Status &status)
{
	const TokenUse use{ status.idle, status.inUse, status.heldBack };
	State next;
	const View *view = share_.view(now);
	std::optional<ShareAnswer> answer;
	if (view) {
		answer = run::shareAnswer(*view);
		const bool servers = std::any_of(answer->line.begin(), answer->line.end(), [](const LineSlot &s) { return !s.local; }) ||
				     answer->farmSlots > 0;
		if (!servers)
			answer.reset();
	}
	next.decision = policy_.decide(answer, use, options_.localSlots);
	// Without servers the want still asks for the farm, so that one that
	// joins is seen.
	if (!answer)
		next.decision.want = wire::kMaxWantedJobs;
	next.daemon = view != nullptr;
	next.line = answer ? view->line : fmt::format("localhost/{}", options_.localSlots);
	if (answer && !next.decision.localCompiles)
		next.line = withoutLocalCompiles(next.line, options_.localSlots);
	else if (answer && next.decision.localCompileSlots < options_.localSlots)
		next.line = withLocalCompileSlots(next.line, next.decision.localCompileSlots, options_.localSlots);
	next.share = view ? view->share : std::nullopt;
	if (!answer && !warnedLocal_) {
		warnedLocal_ = true;
		if (view)
			log(LogLevel::Warning, "no distcc server answers: building with local parallelism ({} jobs)",
			    next.decision.target + 1);
		else if (state_.daemon)
			log(LogLevel::Warning, "no daemon for {} s: building with local parallelism ({} jobs)",
			    run::Share::kKeep.count() / 1000, next.decision.target + 1);
		else
			log(LogLevel::Warning, "no distcc-mdnsd answers ({}): building with local parallelism ({} jobs)",
			    share_.failure(), next.decision.target + 1);
	} else if (answer && warnedLocal_) {
		warnedLocal_ = false;
		log(LogLevel::Info, "servers are back: the build follows its share again");
	}
	return next;
}

void Runner::apply(const State &next)
{
	// Where jobs go and how many run change together: the hosts file
	// before more tokens, fewer tokens before a shorter line.
	if (next.decision.target >= state_.decision.target) {
		dir_.write(next.line);
		jobs_.setTarget(next.decision.target);
	} else {
		jobs_.setTarget(next.decision.target);
		dir_.write(next.line);
	}
	if (next.line != state_.line || next.decision.target != state_.decision.target)
		log(LogLevel::Info, "{} tokens{}: {}", next.decision.target + 1, next.decision.tail ? " (tail)" : "",
		    next.line);
	state_ = next;
	place();
}

// DISTCC_DIR/placement, for the job wrapper: the line with the speed one
// more job would get at each entry now, and the median remembered work
// (Placement::forWork()). Written at every look whose text differs: a
// fast server that its jobs (the long ones sent there included) fill up
// stops keeping the others out. Nothing while nothing is remembered.
void Runner::place()
{
	HostsLineParse parsed = parseHostsLine(state_.line);
	if (!median_ || !parsed.line)
		return;
	const View *view = share_.view(Clock::now());
	Placement p;
	p.line = std::move(*parsed.line);
	p.median = *median_;
	for (const HostSpec &spec : p.line.hosts) {
		double speed = view ? view->localSpeed : 1.0;
		if (view && spec.kind == HostSpec::Kind::Tcp) {
			const auto server = std::find_if(view->servers.begin(), view->servers.end(), [&](const ServerView &s) {
				return s.port == spec.port && s.address && *s.address == spec.host;
			});
			if (server != view->servers.end())
				speed = run::effectiveSpeed(*server, 1);
		}
		// The range Placement::parse() takes.
		p.speeds.push_back(std::clamp(speed, kMinSpeed, kMaxSpeed));
	}
	std::string text;
	try {
		text = p.format();
	} catch (const std::invalid_argument &e) {
		log(LogLevel::Debug, "no placement for {}: {}", state_.line, e.what());
		return;
	}
	if (text != placement_ && dir_.replace(run::kPlacementFile, text))
		placement_ = std::move(text);
}

void Runner::traceState(Clock::time_point now, const run::Jobserver::Status &status)
{
	nlohmann::json record = {
		{ "t", std::chrono::duration<double>(now - start_).count() },
		{ "tokens", state_.decision.target + 1 },
		{ "in_use", status.inUse + 1 },
		{ "idle", status.idle },
		{ "share", state_.share ? nlohmann::json(*state_.share) : nlohmann::json(nullptr) },
		{ "want", state_.decision.want },
		{ "tail", state_.decision.tail },
		{ "line", state_.line },
	};
	if (copies_) {
		record["copies"] = copies_->started();
		record["copies_won"] = copies_->won();
	}
	trace_.write(record);
}

Outcome Runner::run()
{
	const run::CommandInfo info = run::inspectCommand(options_.command);
	// The demand is asked, and so gossiped, before the first job.
	if (!share_.open(wire::kMaxWantedJobs) && options_.socket) {
		log(LogLevel::Error, "no distcc-mdnsd answers at {} ({}): start it, or fix --socket or DISTCC_MDNS_SOCKET",
		    *options_.socket, share_.failure());
		return { std::nullopt, client::kDaemonFailed };
	}
	// Builds started at the same moment each heard only their own lease
	// in that first answer; a moment later every lease has been gossiped
	// (a round takes 0.2 s at p99), and the share counts them all. Without
	// this, four builds started together sent 30 jobs each to a farm of 40.
	share_.settle(kSettle);
	run::Jobserver::Status status = jobs_.refresh();
	apply(decide(Clock::now(), status));

	std::vector<std::string> argv = options_.command;
	if (info.userJobs) {
		log(LogLevel::Warning, "{} runs {} jobs as its -j says: the share cannot follow", argv[0], *info.userJobs);
	} else if (!info.speaksJobserver && info.kind != run::CommandKind::Other) {
		argv = run::withFixedJobs(argv, info, state_.decision.target + 1);
		log(LogLevel::Info, "{} speaks no jobserver: it runs {} jobs throughout (-j given once)", argv[0],
		    state_.decision.target + 1);
	}

	// SIGINT and SIGQUIT come from the terminal to the whole foreground
	// group, the build included: the runner waits for the build's end.
	std::signal(SIGINT, SIG_IGN);
	std::signal(SIGQUIT, SIG_IGN);
	const sigset_t signals = loopSignals();
	sigprocmask(SIG_BLOCK, &signals, nullptr);
	host::UniqueFd sigfd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
	if (sigfd.get() < 0)
		throw std::system_error(errno, std::generic_category(), "signalfd");

	const std::string self = options_.copies && options_.cc == CcMode::Wrap ? selfPath() : std::string();
	if (!self.empty()) {
		try {
			copies_.emplace(dir_.path());
			if ((store_ = run::WorkStore::open())) {
				const WorkHistory history = store_->load();
				if (!history.empty() && dir_.replace(run::kWorksFile, history.format())) {
					median_ = history.median();
					place();
				}
			}
		} catch (const std::system_error &e) {
			log(LogLevel::Warning, "no copies of slow compiles: {}", e.what());
		}
	}
	const std::vector<std::string> env =
		buildEnvironment(options_, jobs_, info.style, dir_.path(), copies_ ? &*copies_ : nullptr, self);
	if (!run::becomeSubreaper())
		log(LogLevel::Debug, "cannot reap the build's orphans: {}", std::strerror(errno));
	std::optional<run::Child> child;
	try {
		child.emplace(argv, env, std::vector<int>{ jobs_.readFd(), jobs_.writeFd() });
	} catch (const std::system_error &e) {
		log(LogLevel::Error, "{}", e.what());
		share_.close();
		return { std::nullopt, e.code().value() == ENOENT ? 127 : 126 };
	}

	constexpr auto kRefresh = std::chrono::milliseconds(100);
	constexpr auto kTraceEvery = std::chrono::seconds(1);
	Clock::time_point nextRefresh = Clock::now();
	Clock::time_point lastTrace{};
	unsigned refreshes = 0;
	std::optional<int> exit;
	std::optional<int> forwarded; // a signal passed on to the build
	if (trace_.on()) {
		lastTrace = Clock::now();
		traceState(lastTrace, status);
	}
	while (!(exit = child->poll())) {
		Clock::time_point now = Clock::now();
		if (now >= nextRefresh) {
			nextRefresh = now + kRefresh;
			status = jobs_.refresh();
			// The tail is judged on observations about 200 ms apart.
			if (++refreshes % 2 == 0)
				policy_.observe({ status.idle, status.inUse, status.heldBack });
			const State next = decide(now, status);
			const bool changed = !(next == state_);
			if (changed)
				apply(next);
			// distcc would skip these servers for a while: their slots go to none.
			if (refreshes % 10 == 0)
				share_.setFailing(failingHosts());
			share_.tick(state_.decision.want, now);
			// A copy only where a slot would idle: make waits for no token.
			if (copies_)
				copies_->tick(now, share_.view(now), status.idle == 0, dir_.path() + "/state");
			place();
			if (trace_.on() && (changed || now - lastTrace >= kTraceEvery)) {
				traceState(now, status);
				lastTrace = now;
			}
		}
		pollfd fds[2] = { { sigfd.get(), POLLIN, 0 }, { share_.fd(), POLLIN, 0 } };
		const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(nextRefresh - Clock::now()).count();
		if (::poll(fds, share_.fd() >= 0 ? 2 : 1, static_cast<int>(std::max<long long>(wait, 0) + 1)) < 0 &&
		    errno != EINTR)
			throw std::system_error(errno, std::generic_category(), "poll");
		if (fds[0].revents & POLLIN) {
			signalfd_siginfo info{};
			while (::read(sigfd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info))
				if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGHUP) {
					log(LogLevel::Info, "passing signal {} on to the build", info.ssi_signo);
					child->signal(static_cast<int>(info.ssi_signo));
					forwarded = static_cast<int>(info.ssi_signo);
				}
		}
		run::reapOrphans(child->pid());
		if (share_.fd() >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			share_.onReadable(Clock::now());
	}

	// The build is over: its demand goes at once.
	share_.close();
	if (copies_)
		copies_->drain();
	if (copies_ && store_) {
		store_->save(copies_->measured());
		log(LogLevel::Debug, "{} compile time{} measured", copies_->measured().size(),
		    copies_->measured().size() == 1 ? "" : "s");
	}
	// A build ended by a signal leaves nothing behind: what its dead shells
	// orphaned gets the same signal (a shell's foreground child does not
	// when make kills the shell alone). A build that ended by itself keeps
	// what it started in the background, as under a shell.
	if (forwarded || WIFSIGNALED(*exit))
		run::endOrphans(sigfd.get(), forwarded ? *forwarded : WTERMSIG(*exit));
	else
		run::reapOrphans(-1);
	status = jobs_.refresh();
	if (trace_.on())
		traceState(Clock::now(), status);
	if (copies_ && copies_->started())
		log(LogLevel::Info, "{} cop{} of slow compiles started, {} gave the output", copies_->started(),
		    copies_->started() == 1 ? "y" : "ies", copies_->won());
	if (const unsigned lost = jobs_.lost())
		log(LogLevel::Warning, "{} jobserver token{} never came back (a job killed by SIGKILL?)", lost,
		    lost == 1 ? "" : "s");
	return { exit, 0 };
}

} // namespace

int main(int argc, char **argv)
{
	// A compile under the runner: CC="distcc-mdns-run --job distcc gcc".
	if (argc >= 2 && argv[1] == run::kJobOption)
		return run::runJob(std::vector<std::string>(argv + 2, argv + argc));
	const Options options = parse(argc, argv);
	Outcome outcome;
	// The runner's files go before it exits as the build did.
	try {
		Runner runner(options);
		outcome = runner.run();
	} catch (const std::exception &e) {
		log(LogLevel::Error, "{}", e.what());
		return EXIT_FAILURE;
	}
	if (outcome.waitStatus)
		run::exitAs(*outcome.waitStatus);
	return outcome.code;
}
