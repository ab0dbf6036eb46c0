// Tests of run::Jobserver: its FIFO, the token ledger as a client takes and returns tokens, and the MAKEFLAGS it writes.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/jobserver.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

using dmdns::run::Jobserver;
using dmdns::test::TempDir;
namespace fs = std::filesystem;

namespace {

using dmdns::test::ScopedEnv;

// A job's side of the pool: its own open file of the FIFO, as make 4.4 and
// ninja 1.13 open it, non-blocking so a test never hangs on an empty pipe.
class Client final
{
public:
	explicit Client(const std::string &path)
		: fd_(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC))
	{
		REQUIRE(fd_ >= 0);
	}
	~Client() { close(); }
	Client(const Client &) = delete;
	Client &operator=(const Client &) = delete;

	// Takes up to @n tokens; returns how many it got.
	unsigned take(unsigned n)
	{
		std::string buf(n, '\0');
		ssize_t got = ::read(fd_, buf.data(), n);
		return got > 0 ? static_cast<unsigned>(got) : 0;
	}
	void give(unsigned n)
	{
		std::string plus(n, '+');
		REQUIRE(::write(fd_, plus.data(), n) == static_cast<ssize_t>(n));
	}
	int fd() const { return fd_; }
	void close()
	{
		if (fd_ >= 0)
			::close(fd_);
		fd_ = -1;
	}

private:
	int fd_;
};

std::string auth(const Jobserver &js)
{
	return "--jobserver-auth=fifo:" + js.fifoPath() + " --jobserver-auth=" + std::to_string(js.readFd()) + "," + std::to_string(js.writeFd());
}

} // namespace

TEST_SUITE("run")
{
	TEST_CASE("the FIFO is private, under $TMPDIR, and removed with the Jobserver")
	{
		TempDir tmp;
		ScopedEnv env("TMPDIR", tmp.path().string());
		std::string path, dir;
		{
			Jobserver js;
			path = js.fifoPath();
			dir = fs::path(path).parent_path().string();
			CHECK(fs::path(dir).parent_path() == tmp.path());
			struct stat st;
			REQUIRE(::lstat(path.c_str(), &st) == 0);
			CHECK(S_ISFIFO(st.st_mode));
			CHECK((st.st_mode & 07777) == 0600);
			REQUIRE(::lstat(dir.c_str(), &st) == 0);
			CHECK((st.st_mode & 07777) == 0700);
			// The build's fds stay CLOEXEC in the runner: only Child clears it.
			CHECK(js.readFd() != js.writeFd());
			CHECK((::fcntl(js.readFd(), F_GETFD) & FD_CLOEXEC) != 0);
			CHECK((::fcntl(js.writeFd(), F_GETFD) & FD_CLOEXEC) != 0);
			// The build's file blocks (make 4.3 expects to set O_NONBLOCK itself).
			CHECK((::fcntl(js.readFd(), F_GETFL) & O_NONBLOCK) == 0);
		}
		CHECK_FALSE(fs::exists(path));
		CHECK_FALSE(fs::exists(dir));
	}

	TEST_CASE("a $TMPDIR MAKEFLAGS cannot carry unescaped is not used")
	{
		TempDir tmp;
		std::string spaced = tmp / "with space";
		fs::create_directory(spaced);
		ScopedEnv env("TMPDIR", spaced);
		Jobserver js;
		CHECK(js.fifoPath().rfind("/tmp/", 0) == 0);
		CHECK(js.fifoPath().find(' ') == std::string::npos);
	}

	TEST_CASE("growing writes tokens at once; the ledger counts what clients hold")
	{
		Jobserver js;
		auto s = js.refresh();
		CHECK(s.issued == 0);
		CHECK(s.idle == 0);

		js.setTarget(3);
		s = js.refresh();
		CHECK(s.target == 3);
		CHECK(s.issued == 3);
		CHECK(s.idle == 3);
		CHECK(s.inUse == 0);

		Client job(js.fifoPath());
		CHECK(job.take(2) == 2);
		s = js.refresh();
		CHECK(s.idle == 1);
		CHECK(s.inUse == 2);
		CHECK(s.heldBack == 0);

		// Growing while tokens are out adds only the difference.
		js.setTarget(5);
		s = js.refresh();
		CHECK(s.issued == 5);
		CHECK(s.idle == 3);
		CHECK(s.inUse == 2);
	}

	TEST_CASE("shrinking takes only idle tokens, never blocks, and keeps tokens as they come back")
	{
		Jobserver js;
		js.setTarget(4);
		Client job(js.fifoPath());
		REQUIRE(job.take(3) == 3);

		auto started = std::chrono::steady_clock::now();
		js.setTarget(0);
		auto s = js.refresh();
		CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
		// The one idle token is gone; the three running jobs keep theirs.
		CHECK(s.target == 0);
		CHECK(s.idle == 0);
		CHECK(s.issued == 3);
		CHECK(s.inUse == 3);
		CHECK(s.heldBack == 3);
		CHECK(job.take(1) == 0);

		js.setTarget(1);
		job.give(1);
		s = js.refresh();
		// Issued 3 above a target of 1: the returned token is kept.
		CHECK(s.issued == 2);
		CHECK(s.idle == 0);
		CHECK(s.inUse == 2);
		CHECK(s.heldBack == 1);

		job.give(1);
		s = js.refresh();
		CHECK(s.issued == 1);
		CHECK(s.idle == 0);
		CHECK(s.heldBack == 0);

		// Back within the target: the token stays in the pipe for the next job.
		job.give(1);
		s = js.refresh();
		CHECK(s.issued == 1);
		CHECK(s.idle == 1);
		CHECK(s.inUse == 0);
		CHECK(job.take(5) == 1);
	}

	TEST_CASE("bytes a client returns beyond what it took are taken out")
	{
		Jobserver js;
		js.setTarget(2);
		Client job(js.fifoPath());
		job.give(5);
		auto s = js.refresh();
		CHECK(s.issued == 2);
		CHECK(s.idle == 2);
		CHECK(job.take(10) == 2);
	}

	TEST_CASE("the target is capped at what one pipe page holds")
	{
		Jobserver js;
		js.setTarget(1000000);
		auto s = js.refresh();
		CHECK(s.target == Jobserver::MaxTokens);
		CHECK(s.issued == Jobserver::MaxTokens);
		CHECK(s.idle == Jobserver::MaxTokens);
		js.setTarget(2);
		s = js.refresh();
		CHECK(s.issued == 2);
		CHECK(s.idle == 2);
	}

	TEST_CASE("tokens a dead job took are reported lost")
	{
		Jobserver js;
		js.setTarget(3);
		{
			Client job(js.fifoPath());
			REQUIRE(job.take(2) == 2);
		}
		CHECK(js.lost() == 2);
		Client other(js.fifoPath());
		other.give(2);
		CHECK(js.lost() == 0);
	}

	TEST_CASE("the build's fds reach the same pool")
	{
		Jobserver js;
		js.setTarget(2);
		char c = 0;
		REQUIRE(::read(js.readFd(), &c, 1) == 1);
		CHECK(js.refresh().inUse == 1);
		REQUIRE(::write(js.writeFd(), "+", 1) == 1);
		CHECK(js.refresh().idle == 2);
	}

	TEST_CASE("tokens returned through the pipe form are forwarded by the thread, or kept above the target")
	{
		Jobserver js;
		js.setTarget(2);
		Client job(js.fifoPath());
		REQUIRE(job.take(2) == 2);
		js.setTarget(1);
		// Returned while 2 are out and 1 is the target: kept.
		REQUIRE(::write(js.writeFd(), "+", 1) == 1);
		auto s = js.refresh();
		CHECK(s.issued == 1);
		CHECK(s.idle == 0);
		CHECK(s.inUse == 1);
		// Within the target: the thread puts it back into the FIFO with no
		// refresh() from the runner. Three times: the first may meet the
		// thread still busy with setTarget(), the later ones only its poll
		// of the return pipe.
		for (int round = 0; round < 3; ++round) {
			REQUIRE(::write(js.writeFd(), "+", 1) == 1);
			bool forwarded = false;
			auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
			for (int i = 0; i < 5000 && std::chrono::steady_clock::now() < deadline; ++i) {
				forwarded = job.take(1) == 1;
				if (forwarded)
					break;
				::usleep(1000);
			}
			CHECK(forwarded);
		}
		s = js.refresh();
		CHECK(s.issued == 1);
		CHECK(s.inUse == 1);
		CHECK(js.lost() == 1);
		job.give(1);
		CHECK(js.lost() == 0);
	}

	TEST_CASE("a fifo-form client's returns are taken back by the thread while tokens are held back")
	{
		Jobserver js;
		js.setTarget(3);
		Client job(js.fifoPath());
		REQUIRE(job.take(3) == 3);
		js.setTarget(0);
		// make 4.4 and ninja 1.13 return into the FIFO itself: the thread,
		// polling it while tokens are held back, reads each returned token
		// before anyone asks for a refresh(). Three in turn: the first may
		// meet the thread still busy with setTarget(), the later ones only
		// its poll of the FIFO.
		for (unsigned out = 3; out > 0; --out) {
			job.give(1);
			bool gone = false;
			auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
			for (int i = 0; i < 5000 && std::chrono::steady_clock::now() < deadline; ++i) {
				int n = -1;
				REQUIRE(::ioctl(job.fd(), FIONREAD, &n) == 0);
				gone = n == 0;
				if (gone)
					break;
				::usleep(1000);
			}
			CHECK(gone);
		}
		auto s = js.refresh();
		CHECK(s.issued == 0);
		CHECK(s.heldBack == 0);
	}

	TEST_CASE("MAKEFLAGS: the auth words for each style, fifo first and R,W last")
	{
		Jobserver js;
		std::string fifo = "--jobserver-auth=fifo:" + js.fifoPath();
		std::string pipe = "--jobserver-auth=" + std::to_string(js.readFd()) + "," + std::to_string(js.writeFd());
		CHECK(js.makeflags("", Jobserver::Style::Both) == fifo + " " + pipe);
		CHECK(js.makeflags("", Jobserver::Style::Fifo) == fifo);
		CHECK(js.makeflags("", Jobserver::Style::Pipe) == pipe);
	}

	TEST_CASE("MAKEFLAGS: the user's flags and variables are kept, old pools and -j go")
	{
		Jobserver js;
		std::string a = auth(js);
		// What make 4.3 exports under `make -ks -j4` with variables.
		CHECK(js.makeflags("ks -j4 --jobserver-auth=3,4 -- CC=gcc X=a\\ b", Jobserver::Style::Both) == "ks " + a + " -- CC=gcc X=a\\ b");
		CHECK(js.makeflags(" -j --jobserver-fds=5,6 -Otarget", Jobserver::Style::Both) == "-Otarget " + a);
		CHECK(js.makeflags("-- V=1", Jobserver::Style::Both) == a + " -- V=1");
		CHECK(js.makeflags("j8 -k", Jobserver::Style::Both) == "-k " + a);
		CHECK(js.makeflags("-j 4 --jobs 3 --jobs=2 -l4", Jobserver::Style::Both) == "-l4 " + a);
		CHECK(js.makeflags("--jobserver-auth=fifo:/tmp/GMfifo1 -I/inc\\ dir", Jobserver::Style::Both) == "-I/inc\\ dir " + a);
		// A variable value that looks like a flag is not a flag.
		CHECK(js.makeflags("k -- OPT=-j4", Jobserver::Style::Both) == "k " + a + " -- OPT=-j4");
	}
}
