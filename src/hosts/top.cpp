// distcc-mdns-hosts --top and --json --watch (hosts/top.h): the stream, the terminal, the keys.
#include "hosts/top.h"

#include <curses.h>
#include <langinfo.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "common/log.h"
#include "hosts/terminfo.h"

namespace dmdns::top {

namespace {

using Clock = std::chrono::steady_clock;

// A farm object describes at most a few hundred servers with 600 s of
// history each: a line longer than this is no farm object.
constexpr std::size_t kMaxLine = 16u << 20;
// How long the first object may take: the daemon sends it at once.
constexpr int kFirstObjectMs = 2000;
// The daemon sends an object at least every 5 s: silence for longer means
// it is stuck or gone.
constexpr auto kSilence = std::chrono::seconds(12);

// One watch connection: lines in, bounded.
class Watch final
{
public:
	explicit Watch(client::Connection connection)
		: connection_(std::move(connection)) { }

	int fd() const noexcept { return connection_.fd.get(); }

	// Reads what is there; false at the end of the stream or on an error
	// (failure() says which).
	bool readSome()
	{
		char buffer[65536];
		const ssize_t n = ::recv(fd(), buffer, sizeof buffer, MSG_DONTWAIT);
		if (n > 0) {
			pending_.append(buffer, static_cast<std::size_t>(n));
			if (pending_.size() > kMaxLine && pending_.find('\n') == std::string::npos) {
				failure_ = "the daemon sent a line too long for a farm object";
				return false;
			}
			return true;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		failure_ = n == 0 ? "the daemon closed the watch" : std::strerror(errno);
		return false;
	}

	// The next whole line, if one arrived.
	std::optional<std::string> line()
	{
		const std::size_t end = pending_.find('\n');
		if (end == std::string::npos)
			return std::nullopt;
		std::string out = pending_.substr(0, end);
		pending_.erase(0, end + 1);
		return out;
	}

	const std::string &failure() const noexcept { return failure_; }

private:
	client::Connection connection_;
	std::string pending_;
	std::string failure_;
};

// The first farm object of a new watch on @path, or why there is none.
struct Opened {
	std::optional<Watch> watch;
	std::optional<Farm> farm;
	std::string firstLine;
	std::string failure;
};

Opened open(const std::string &path)
{
	Opened out;
	client::Connection c = client::connectTrusted(path);
	if (c.fd.get() < 0) {
		out.failure = c.failure;
		return out;
	}
	static constexpr std::string_view kRequest = "{\"op\":\"watch\"}\n";
	if (::send(c.fd.get(), kRequest.data(), kRequest.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(kRequest.size())) {
		out.failure = fmt::format("refused the request: {}", std::strerror(errno));
		return out;
	}
	Watch watch(std::move(c));
	const auto deadline = Clock::now() + std::chrono::milliseconds(kFirstObjectMs);
	for (;;) {
		if (auto line = watch.line()) {
			try {
				out.farm = decodeFarm(*line);
				out.firstLine = std::move(*line);
				out.watch = std::move(watch);
			} catch (const std::invalid_argument &e) {
				out.failure = e.what();
			}
			return out;
		}
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
		pollfd p{ watch.fd(), POLLIN, 0 };
		if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
			out.failure = "no answer within 2 s";
			return out;
		}
		if (!watch.readSome()) {
			out.failure = watch.failure();
			return out;
		}
	}
}

// Asks @candidates in order; the first that answers with a farm object.
Opened openFirst(const std::vector<client::Candidate> &candidates, std::string &tried)
{
	for (const client::Candidate &c : candidates) {
		if (c.skipped) {
			tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", c.path, *c.skipped);
			continue;
		}
		Opened o = open(c.path);
		if (o.watch)
			return o;
		tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", c.path, o.failure);
	}
	return {};
}

std::vector<client::DistccJob> distccJobs()
{
	return client::readDistccJobs(client::distccStateDir(), std::chrono::system_clock::now());
}

// Plain lines and JSON: every object as it comes, until the stream ends.
int stream(Opened opened, Output output, SortKey sort)
{
	int width = 200;
	if (const char *c = std::getenv("COLUMNS"))
		width = std::clamp(std::atoi(c), 40, 1000);
	std::string line = std::move(opened.firstLine);
	Watch &watch = *opened.watch;
	for (;;) {
		if (output == Output::Json) {
			fmt::print("{}\n", line);
		} else {
			LayoutOptions o;
			o.width = width;
			o.height = 0;
			o.sort = sort;
			o.unicode = false;
			o.keys = false;
			const Farm farm = decodeFarm(line);
			for (const std::string &l : layoutTop(farm, distccJobs(), o).lines)
				fmt::print("{}\n", l);
			fmt::print("\n");
		}
		std::fflush(stdout);
		if (std::ferror(stdout))
			return EXIT_SUCCESS; // the reader went away
		for (;;) {
			if (auto next = watch.line()) {
				try {
					decodeFarm(*next);
					line = std::move(*next);
					break;
				} catch (const std::invalid_argument &e) {
					log(LogLevel::Warning, "skipping an object of the watch: {}", e.what());
					continue;
				}
			}
			pollfd p{ watch.fd(), POLLIN, 0 };
			const int n = ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kSilence).count()));
			if (n == 0) {
				log(LogLevel::Error, "the daemon sent nothing for {} s", kSilence.count());
				return client::kDaemonFailed;
			}
			if (n > 0 && !watch.readSome()) {
				log(LogLevel::Error, "{}", watch.failure());
				return client::kDaemonFailed;
			}
		}
	}
}

// The terminal, set up and restored on every way out.
class Terminal final
{
public:
	// Throws when the terminal is not one terminfo knows ($TERM).
	Terminal()
	{
		if (!knownTerminal(STDOUT_FILENO) || !(screen_ = newterm(nullptr, stdout, stdin))) {
			const char *term = std::getenv("TERM");
			throw std::runtime_error(fmt::format("cannot drive the terminal '{}' (TERM): not in terminfo",
							     term ? term : ""));
		}
		cbreak();
		noecho();
		keypad(stdscr, TRUE);
		nodelay(stdscr, TRUE);
		curs_set(0);
	}
	~Terminal()
	{
		endwin();
		delscreen(screen_);
	}
	Terminal(const Terminal &) = delete;
	Terminal &operator=(const Terminal &) = delete;

	void draw(const Screen &screen)
	{
		erase();
		for (std::size_t i = 0; i < screen.lines.size() && i < static_cast<std::size_t>(LINES); ++i) {
			const bool mark = std::find(screen.marked.begin(), screen.marked.end(), i) != screen.marked.end();
			if (mark)
				attron(A_BOLD);
			mvaddstr(static_cast<int>(i), 0, screen.lines[i].c_str());
			if (mark)
				attroff(A_BOLD);
		}
		refresh();
	}

private:
	SCREEN *screen_;
};

int interactive(Opened opened, const std::vector<client::Candidate> &candidates, SortKey sort)
{
	std::setlocale(LC_ALL, "");
	const bool unicode = std::string_view(nl_langinfo(CODESET)) == "UTF-8";
	Farm farm = std::move(*opened.farm);
	std::optional<Watch> watch = std::move(opened.watch);
	std::string note;
	auto lastObject = Clock::now();
	auto nextRetry = Clock::now();
	Terminal terminal;
	// Keys come from a terminal only: /dev/null or a file on stdin would
	// wake poll() for ever.
	const int keys = ::isatty(STDIN_FILENO) ? STDIN_FILENO : -1;
	for (bool redraw = true;;) {
		if (redraw) {
			LayoutOptions o;
			o.width = COLS;
			o.height = LINES;
			o.sort = sort;
			o.unicode = unicode;
			o.note = note;
			terminal.draw(layoutTop(farm, distccJobs(), o));
		}
		redraw = false;
		// Wake for the stream, the keys, and each second to redraw the
		// jobs' times.
		pollfd p[2] = { { keys, POLLIN, 0 }, { watch ? watch->fd() : -1, POLLIN, 0 } };
		const int n = ::poll(p, 2, 1000);
		if (n == 0)
			redraw = true;
		// The terminal hung up: nobody is watching.
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			return EXIT_SUCCESS;
		for (int key; (key = getch()) != ERR;) {
			if (key == 'q' || key == 'Q')
				return EXIT_SUCCESS;
			if (key < 256)
				if (const auto s = sortKeyOf(static_cast<char>(key)))
					sort = *s;
			redraw = true;
		}
		if (watch && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !watch->readSome()) {
			note = watch->failure() + ": reconnecting";
			watch.reset();
			redraw = true;
		}
		while (watch)
			if (auto line = watch->line()) {
				try {
					farm = decodeFarm(*line);
					note.clear();
				} catch (const std::invalid_argument &e) {
					note = e.what();
				}
				lastObject = Clock::now();
				redraw = true;
			} else {
				break;
			}
		if (watch && Clock::now() - lastObject > kSilence) {
			note = fmt::format("the daemon sent nothing for {} s: reconnecting", kSilence.count());
			watch.reset();
		}
		// The daemon restarted or went away: the last picture stays,
		// marked, while a new watch is tried each second.
		if (!watch && Clock::now() >= nextRetry) {
			nextRetry = Clock::now() + std::chrono::seconds(1);
			std::string tried;
			Opened again = openFirst(candidates, tried);
			if (again.watch) {
				watch = std::move(again.watch);
				farm = std::move(*again.farm);
				note.clear();
				lastObject = Clock::now();
			}
			redraw = true;
		}
	}
}

} // namespace

int run(const std::vector<client::Candidate> &candidates, Output output, SortKey sort)
{
	std::string tried;
	Opened opened = openFirst(candidates, tried);
	if (!opened.watch) {
		log(LogLevel::Error, "{} needs a running distcc-mdnsd with the watch operation: {}",
		    output == Output::Json ? "--watch" : "--top", tried.empty() ? "no socket to try" : tried);
		return client::kDaemonFailed;
	}
	if (output == Output::Screen) {
		try {
			return interactive(std::move(opened), candidates, sort);
		} catch (const std::runtime_error &e) {
			log(LogLevel::Error, "--top: {}", e.what());
			return EXIT_FAILURE;
		}
	}
	return stream(std::move(opened), output, sort);
}

} // namespace dmdns::top
