// Tests of run::Child and run::exitCodeOf with real processes: exit codes, signals, inherited fds, environment, process group.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "run/child.h"
#include "run/jobserver.h"
#include "support/temp_dir.h"

using namespace dmdns::run;
using dmdns::run::Jobserver;
using namespace std::chrono_literals;
using dmdns::test::TempDir;

namespace {

const std::vector<std::string> kEnv = { "PATH=/usr/local/bin:/usr/bin:/bin" };

int runToEnd(const std::vector<std::string> &argv, const std::vector<std::string> &env = kEnv, const std::vector<int> &fds = {})
{
	Child child(argv, env, fds);
	auto status = child.wait(20s);
	REQUIRE(status);
	return exitCodeOf(*status);
}

std::string readAll(int fd)
{
	std::string out;
	char buf[256];
	ssize_t n;
	while ((n = ::read(fd, buf, sizeof buf)) > 0)
		out.append(buf, static_cast<std::size_t>(n));
	return out;
}

// Restores a signal's disposition at the end of a scope.
class ScopedSignal final
{
public:
	ScopedSignal(int sig, void (*handler)(int))
		: sig_(sig)
	{
		struct sigaction sa { };
		sa.sa_handler = handler;
		::sigaction(sig, &sa, &old_);
	}
	~ScopedSignal() { ::sigaction(sig_, &old_, nullptr); }
	ScopedSignal(const ScopedSignal &) = delete;
	ScopedSignal &operator=(const ScopedSignal &) = delete;

private:
	int sig_;
	struct sigaction old_ { };
};

} // namespace

TEST_SUITE("run")
{
	TEST_CASE("the child's exit code and death by signal become the runner's code")
	{
		CHECK(runToEnd({ "sh", "-c", "exit 0" }) == 0);
		CHECK(runToEnd({ "sh", "-c", "exit 3" }) == 3);
		CHECK(runToEnd({ "sh", "-c", "exit 255" }) == 255);
		CHECK(runToEnd({ "sh", "-c", "kill -TERM $$" }) == 128 + SIGTERM);
		CHECK(runToEnd({ "sh", "-c", "kill -KILL $$" }) == 128 + SIGKILL);
	}

	TEST_CASE("a command that cannot run throws and leaves no child")
	{
		CHECK_THROWS_AS(Child({ "no-such-command-dmdns" }, kEnv, {}), std::system_error);
		TempDir dir;
		std::string notExec = dir / "script";
		std::ofstream(notExec) << "#!/bin/sh\n";
		CHECK_THROWS_AS(Child({ notExec }, kEnv, {}), std::system_error);
		CHECK_THROWS_AS(Child({}, kEnv, {}), std::invalid_argument);
	}

	TEST_CASE("the program is searched in the child's PATH and gets exactly the given environment")
	{
		TempDir dir;
		std::string tool = dir / "dmdns-tool";
		std::ofstream(tool) << "#!/bin/sh\ntest \"$FOO\" = bar && test -z \"$HOME\" && exit 7\n";
		::chmod(tool.c_str(), 0755);
		CHECK(runToEnd({ "dmdns-tool" }, { "PATH=" + dir.path().string() + ":/usr/bin:/bin", "FOO=bar" }) == 7);
		CHECK_THROWS_AS(Child({ "dmdns-tool" }, kEnv, {}), std::system_error);
	}

	TEST_CASE("only the listed fds are inherited, CLOEXEC or not")
	{
		int listed[2], other[2];
		REQUIRE(::pipe2(listed, O_CLOEXEC) == 0);
		REQUIRE(::pipe2(other, O_CLOEXEC) == 0);
		std::string script = "echo hi >&" + std::to_string(listed[1]) + "; test -e /proc/self/fd/" + std::to_string(other[1]) + " && exit 1; exit 0";
		int code = runToEnd({ "sh", "-c", script }, kEnv, { listed[1] });
		::close(listed[1]);
		::close(other[1]);
		CHECK(code == 0);
		CHECK(readAll(listed[0]) == "hi\n");
		::close(listed[0]);
		::close(other[0]);
		// The runner's own copy keeps its CLOEXEC.
	}

	TEST_CASE("the child stays in the runner's process group with default signal handling")
	{
		ScopedSignal ignoreInt(SIGINT, SIG_IGN);
		int out[2];
		REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
		// Field 5 of /proc/PID/stat is the process group; SigIgn the ignored set.
		std::string script = "cut -d' ' -f5 /proc/$$/stat >&" + std::to_string(out[1]) + "; grep SigIgn /proc/$$/status >&" + std::to_string(out[1]);
		CHECK(runToEnd({ "sh", "-c", script }, kEnv, { out[1] }) == 0);
		::close(out[1]);
		std::string text = readAll(out[0]);
		::close(out[0]);
		CHECK(text.substr(0, text.find('\n')) == std::to_string(::getpgrp()));
		auto mask = text.substr(text.find(':') + 1);
		unsigned long ignored = std::stoul(mask, nullptr, 16);
		CHECK((ignored & (1ul << (SIGINT - 1))) == 0);
	}

	TEST_CASE("a caught signal ends a wait early, even with a Jobserver's thread running")
	{
		static volatile sig_atomic_t caught = 0;
		caught = 0;
		ScopedSignal onAlarm(SIGALRM, [](int) { caught = 1; });
		Jobserver js;
		Child child({ "sleep", "30" }, kEnv, {});
		struct itimerval in100ms { };
		in100ms.it_value.tv_usec = 100000;
		REQUIRE(::setitimer(ITIMER_REAL, &in100ms, nullptr) == 0);
		auto started = std::chrono::steady_clock::now();
		CHECK_FALSE(child.wait(20s));
		CHECK(caught == 1);
		CHECK(std::chrono::steady_clock::now() - started < 10s);
		child.signal(SIGKILL);
		CHECK(child.wait(20s));
	}

	TEST_CASE("poll and wait do not block; signal reaches the child")
	{
		Child child({ "sleep", "30" }, kEnv, {});
		CHECK(child.pid() > 0);
		CHECK_FALSE(child.poll());
		auto started = std::chrono::steady_clock::now();
		CHECK_FALSE(child.wait(50ms));
		CHECK(std::chrono::steady_clock::now() - started < 5s);
		child.signal(SIGTERM);
		auto status = child.wait(20s);
		REQUIRE(status);
		CHECK(exitCodeOf(*status) == 128 + SIGTERM);
		// Reaped: the status stays, and signalling is a no-op.
		CHECK(child.poll() == status);
		child.signal(SIGTERM);
	}
}
