// The GNU make jobserver a build runs under: one named FIFO whose tokens the runner adds and takes back.
#include "run/jobserver.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.h"

namespace dmdns::run {

namespace {

std::system_error sysError(const std::string &what)
{
	return std::system_error(errno, std::generic_category(), what);
}

// MAKEFLAGS separates words by blanks and escapes a blank inside a word with
// a backslash; a path with either would need escaping that make 4.4 and
// ninja 1.13 do not agree on, so such a $TMPDIR is not used.
bool plainPath(std::string_view path)
{
	return !path.empty() && path.front() == '/' && path.find_first_of(" \t\n\\") == std::string_view::npos;
}

std::string tempBase()
{
	const char *tmp = std::getenv("TMPDIR");
	if (tmp && plainPath(tmp))
		return tmp;
	return "/tmp";
}

// The words of MAKEFLAGS before its " -- ": blanks separate them, a backslash
// keeps the next character (an escaped blank) inside the word.
std::vector<std::string> splitWords(std::string_view flags)
{
	std::vector<std::string> words;
	std::string word;
	bool inWord = false;
	for (std::size_t i = 0; i < flags.size(); ++i) {
		char c = flags[i];
		if (c == ' ' || c == '\t') {
			if (inWord)
				words.push_back(std::move(word));
			word.clear();
			inWord = false;
			continue;
		}
		inWord = true;
		word += c;
		if (c == '\\' && i + 1 < flags.size())
			word += flags[++i];
	}
	if (inWord)
		words.push_back(std::move(word));
	return words;
}

bool allDigits(std::string_view s)
{
	return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool startsWith(std::string_view s, std::string_view prefix)
{
	return s.substr(0, prefix.size()) == prefix;
}

// A word that names the pool or its size: the pool is ours now, and a -j
// beside an auth word would make a make 4.4 or ninja child ignore the pool.
bool poolWord(std::string_view w)
{
	if (startsWith(w, "--jobserver-auth=") || startsWith(w, "--jobserver-fds="))
		return true;
	if (w == "-j" || (startsWith(w, "-j") && allDigits(w.substr(2))))
		return true;
	return w == "--jobs" || startsWith(w, "--jobs=");
}

} // namespace

Jobserver::Jobserver()
{
	std::string pattern = tempBase() + "/distcc-mdns-run.XXXXXX";
	std::vector<char> buf(pattern.begin(), pattern.end());
	buf.push_back('\0');
	if (!::mkdtemp(buf.data()))
		throw sysError(fmt::format("cannot create a directory for the jobserver in {}", tempBase()));
	dir_ = buf.data();
	path_ = dir_ + "/jobserver";
	try {
		if (::mkfifo(path_.c_str(), 0600) < 0)
			throw sysError(fmt::format("cannot create the jobserver FIFO {}", path_));
		// O_RDWR: open() of a FIFO waits for the other side otherwise; Linux
		// defines it for FIFOs. Two opens give two open files, so the
		// O_NONBLOCK make 4.3 sets on the build's file leaves ours alone.
		own_ = ::open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (own_ < 0)
			throw sysError(fmt::format("cannot open the jobserver FIFO {}", path_));
		// CLOEXEC here; Child clears it only in the build's process, so no
		// other program the runner starts holds the pool's fds.
		child_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
		if (child_ < 0)
			throw sysError(fmt::format("cannot open the jobserver FIFO {}", path_));
		int ret[2];
		if (::pipe2(ret, O_CLOEXEC) < 0)
			throw sysError("cannot create the jobserver's return pipe");
		returnRead_ = ret[0];
		returnWrite_ = ret[1];
		if (::fcntl(returnRead_, F_SETFL, O_NONBLOCK) < 0)
			throw sysError("cannot make the return pipe non-blocking");
		wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (wake_ < 0)
			throw sysError("eventfd");
		// The thread takes no signals: the runner's handlers must run on
		// its main thread, where they interrupt its waits.
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		try {
			thread_ = std::thread([this] { forward(); });
		} catch (...) {
			pthread_sigmask(SIG_SETMASK, &old, nullptr);
			throw;
		}
		pthread_sigmask(SIG_SETMASK, &old, nullptr);
	} catch (...) {
		close();
		throw;
	}
}

Jobserver::~Jobserver()
{
	close();
}

void Jobserver::close() noexcept
{
	if (thread_.joinable()) {
		{
			std::lock_guard lock(mutex_);
			stop_ = true;
		}
		wake();
		thread_.join();
	}
	for (int *fd : { &own_, &child_, &returnRead_, &returnWrite_, &wake_ }) {
		if (*fd >= 0)
			::close(*fd);
		*fd = -1;
	}
	if (!path_.empty())
		::unlink(path_.c_str());
	if (!dir_.empty())
		::rmdir(dir_.c_str());
}

void Jobserver::wake() noexcept
{
	uint64_t one = 1;
	(void)!::write(wake_, &one, sizeof one);
}

unsigned Jobserver::pending(int fd) const
{
	int n = 0;
	if (::ioctl(fd, FIONREAD, &n) < 0 || n < 0)
		return 0;
	return static_cast<unsigned>(n);
}

unsigned Jobserver::takeBack(unsigned count)
{
	std::array<char, 512> buf;
	unsigned taken = 0;
	while (taken < count) {
		std::size_t want = std::min<std::size_t>(buf.size(), count - taken);
		ssize_t n = ::read(own_, buf.data(), want);
		if (n > 0) {
			taken += static_cast<unsigned>(n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		// EAGAIN: a job took the token between FIONREAD and read; it runs
		// now and comes back later.
		break;
	}
	return taken;
}

unsigned Jobserver::put(unsigned count)
{
	std::string plus(count, '+');
	std::size_t done = 0;
	while (done < plus.size()) {
		ssize_t n = ::write(own_, plus.data() + done, plus.size() - done);
		if (n > 0) {
			done += static_cast<std::size_t>(n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		// A full pipe (a page once the user is past pipe-user-pages-soft):
		// fewer tokens than asked, never a blocked runner.
		log(LogLevel::Warning, "jobserver: the pipe took {} of {} tokens", done, plus.size());
		break;
	}
	return static_cast<unsigned>(done);
}

void Jobserver::settle()
{
	// Returned through the pipe form: each is kept while more are out than
	// the target, else it goes back into the FIFO for the next job.
	std::array<char, 512> buf;
	// Bounded per call: a build that floods the pipe cannot hold the lock
	// (and the runner's refresh()) for ever; the rest waits for the next.
	for (unsigned chunk = 0; chunk < 2 * MaxTokens / buf.size(); ++chunk) {
		ssize_t n = ::read(returnRead_, buf.data(), buf.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		unsigned back = static_cast<unsigned>(n);
		// A client returning more than it took: the extra is dropped, so
		// the pool keeps its size.
		unsigned idle = pending(own_);
		unsigned out = issued_ > idle ? issued_ - idle : 0;
		back = std::min(back, out);
		unsigned keep = std::min(back, issued_ > target_ ? issued_ - target_ : 0u);
		issued_ -= keep;
		unsigned passed = put(back - keep);
		issued_ -= (back - keep) - passed;
	}
	unsigned idle = pending(own_);
	// Any byte is a token; bytes beyond what was issued came from a client
	// that returned more than it took, and are taken out too.
	if (idle > issued_)
		idle -= takeBack(idle - issued_);
	if (issued_ > target_)
		issued_ -= takeBack(std::min(idle, issued_ - target_));
}

void Jobserver::forward()
{
	for (;;) {
		bool racing;
		{
			std::lock_guard lock(mutex_);
			if (stop_)
				return;
			settle();
			// Fifo-form clients return into the FIFO: while tokens are held
			// back, wake when one lands there and race the build for it.
			racing = issued_ > target_;
		}
		struct pollfd fds[3] = {
			{ returnRead_, POLLIN, 0 },
			{ wake_, POLLIN, 0 },
			{ own_, POLLIN, 0 },
		};
		// Racing never spins: after settle() the FIFO is empty while
		// tokens are held back; a 100 ms bound covers a lost race.
		int r = ::poll(fds, racing ? 3 : 2, racing ? 100 : -1);
		if (r < 0 && errno != EINTR) {
			log(LogLevel::Error, "jobserver: poll: {}", std::strerror(errno));
			return;
		}
		if (fds[1].revents & POLLIN) {
			uint64_t n;
			(void)!::read(wake_, &n, sizeof n);
		}
	}
}

void Jobserver::setTarget(unsigned tokens)
{
	{
		std::lock_guard lock(mutex_);
		target_ = std::min(tokens, MaxTokens);
		if (issued_ < target_)
			issued_ += put(target_ - issued_);
		settle();
	}
	// The thread's poll set depends on whether tokens are held back.
	wake();
}

Jobserver::Status Jobserver::refresh()
{
	std::lock_guard lock(mutex_);
	settle();
	Status s;
	s.target = target_;
	s.issued = issued_;
	s.idle = std::min(pending(own_), issued_);
	s.inUse = issued_ - s.idle;
	s.heldBack = issued_ > target_ ? std::min(issued_ - target_, s.inUse) : 0;
	return s;
}

std::string Jobserver::makeflags(std::string_view inherited, Style style) const
{
	// Variable assignments follow " -- " (or a leading "-- "); they are
	// kept verbatim, after the flags, since make reads options only before.
	std::string_view flags = inherited;
	std::string_view vars;
	if (startsWith(inherited, "-- ")) {
		flags = {};
		vars = inherited.substr(3);
	} else if (auto at = inherited.find(" -- "); at != std::string_view::npos) {
		flags = inherited.substr(0, at);
		vars = inherited.substr(at + 4);
	}

	std::vector<std::string> words = splitWords(flags);
	std::vector<std::string> kept;
	for (std::size_t i = 0; i < words.size(); ++i) {
		const std::string &w = words[i];
		// make writes its single-letter flags as one first word without a
		// dash ("ks"); a first word "j4" set by hand is a -j too.
		if (i == 0 && w.front() != '-') {
			if (w.front() == 'j' && allDigits(w.substr(1)))
				continue;
			kept.push_back(w);
			continue;
		}
		if (poolWord(w)) {
			// "-j 4" and "--jobs 4" written by hand: the count goes too.
			if ((w == "-j" || w == "--jobs") && i + 1 < words.size() && allDigits(words[i + 1]))
				++i;
			continue;
		}
		kept.push_back(w);
	}

	std::string fifo = "--jobserver-auth=fifo:" + path_;
	std::string pipe = fmt::format("--jobserver-auth={},{}", readFd(), writeFd());
	if (style == Style::Fifo || style == Style::Both)
		kept.push_back(fifo);
	// Last: make takes the last auth word, and make 4.3 stops on fifo:.
	if (style == Style::Pipe || style == Style::Both)
		kept.push_back(pipe);

	std::string out;
	for (const std::string &w : kept) {
		if (!out.empty())
			out += ' ';
		out += w;
	}
	if (!vars.empty()) {
		out += " -- ";
		out += vars;
	}
	return out;
}

int Jobserver::readFd() const
{
	return child_;
}

int Jobserver::writeFd() const
{
	return returnWrite_;
}

const std::string &Jobserver::fifoPath() const
{
	return path_;
}

unsigned Jobserver::lost() const
{
	std::lock_guard lock(mutex_);
	unsigned back = pending(own_) + pending(returnRead_);
	return issued_ - std::min(back, issued_);
}

} // namespace dmdns::run
