// Test tool: runs a command under a run::Jobserver whose target follows a schedule, and traces the ledger.
//
//   jobserver-harness [--tokens=N] [--at=SECONDS:N ...] [--style=pipe|fifo|both]
//                     [--trace=FILE] -- COMMAND [ARGS...]
//
// The command gets MAKEFLAGS from Jobserver::makeflags() (the inherited
// MAKEFLAGS kept) and the pool's fds. The trace has one line per change of
// the ledger and one every 200 ms: "WALL target issued idle in_use held_back"
// with WALL in seconds since the epoch (the recipes' `date +%s.%N` clock).
// The harness ignores SIGINT/SIGQUIT (the terminal's signals reach the whole
// group), forwards SIGTERM/SIGHUP, prints "lost N" on stderr at the end, and
// exits with run::exitCodeOf() of the command's status.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "run/child.h"
#include "run/jobserver.h"

extern char **environ;

using namespace dmdns::run;
using namespace std::chrono_literals;

namespace {

std::atomic<int> forwarded{ 0 };

void onForward(int sig)
{
	forwarded = sig;
}

[[noreturn]] void usage(const std::string &why)
{
	fmt::print(stderr, "jobserver-harness: {}\n", why);
	std::exit(64);
}

unsigned parseCount(std::string_view s)
{
	char *end = nullptr;
	std::string text(s);
	unsigned long v = std::strtoul(text.c_str(), &end, 10);
	if (text.empty() || *end != '\0' || v > 100000)
		usage("bad count: " + text);
	return static_cast<unsigned>(v);
}

} // namespace

int main(int argc, char **argv)
{
	unsigned tokens = 0;
	Jobserver::Style style = Jobserver::Style::Both;
	std::vector<std::pair<double, unsigned>> schedule;
	std::string tracePath;
	std::vector<std::string> command;
	for (int i = 1; i < argc; ++i) {
		std::string_view a = argv[i];
		if (a == "--") {
			command.assign(argv + i + 1, argv + argc);
			break;
		}
		if (a.substr(0, 9) == "--tokens=") {
			tokens = parseCount(a.substr(9));
		} else if (a.substr(0, 5) == "--at=") {
			auto colon = a.find(':');
			if (colon == std::string_view::npos)
				usage("--at=SECONDS:N");
			schedule.emplace_back(std::strtod(std::string(a.substr(5, colon - 5)).c_str(), nullptr), parseCount(a.substr(colon + 1)));
		} else if (a == "--style=pipe") {
			style = Jobserver::Style::Pipe;
		} else if (a == "--style=fifo") {
			style = Jobserver::Style::Fifo;
		} else if (a == "--style=both") {
			style = Jobserver::Style::Both;
		} else if (a.substr(0, 8) == "--trace=") {
			tracePath = a.substr(8);
		} else {
			usage(fmt::format("unknown option {}", a));
		}
	}
	if (command.empty())
		usage("no command after --");

	std::signal(SIGINT, SIG_IGN);
	std::signal(SIGQUIT, SIG_IGN);
	struct sigaction sa { };
	sa.sa_handler = onForward;
	::sigaction(SIGTERM, &sa, nullptr);
	::sigaction(SIGHUP, &sa, nullptr);

	Jobserver js;
	js.setTarget(tokens);
	const char *inherited = std::getenv("MAKEFLAGS");
	std::vector<std::string> env;
	for (char **e = environ; *e; ++e)
		if (std::strncmp(*e, "MAKEFLAGS=", 10) != 0 && std::strncmp(*e, "MFLAGS=", 7) != 0)
			env.emplace_back(*e);
	env.push_back("MAKEFLAGS=" + js.makeflags(inherited ? inherited : "", style));
	env.push_back("JOBSERVER_HARNESS_FIFO=" + js.fifoPath());

	std::ofstream trace;
	if (!tracePath.empty())
		trace.open(tracePath, std::ios::app);
	auto wall = [] {
		return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
	};
	auto started = std::chrono::steady_clock::now();
	Child child(command, env, { js.readFd(), js.writeFd() });

	std::size_t next = 0;
	std::optional<Jobserver::Status> last;
	auto lastLine = started;
	int status = 0;
	for (;;) {
		if (int sig = forwarded.exchange(0))
			child.signal(sig);
		double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
		while (next < schedule.size() && schedule[next].first <= elapsed)
			js.setTarget(schedule[next++].second);
		Jobserver::Status s = js.refresh();
		auto now = std::chrono::steady_clock::now();
		bool changed = !last || s.target != last->target || s.issued != last->issued || s.idle != last->idle;
		if (trace.is_open() && (changed || now - lastLine >= 200ms)) {
			trace << fmt::format("{:.3f} {} {} {} {} {}\n", wall(), s.target, s.issued, s.idle, s.inUse, s.heldBack) << std::flush;
			lastLine = now;
		}
		last = s;
		if (auto done = child.wait(10ms)) {
			status = *done;
			break;
		}
	}
	fmt::print(stderr, "lost {}\n", js.lost());
	return exitCodeOf(status);
}
