// Reading distcc's binstate files: the layout, stale and orphaned files, links, bounds.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "client/distcc_state.h"

using namespace dmdns::client;

namespace {

// distcc 3.4's struct dcc_task_state as its client writes it on LP64.
struct TaskState {
	std::size_t structSize;
	unsigned long magic;
	unsigned long cpid;
	char file[128];
	char host[128];
	int slot;
	int phase;
	void *next;
};
static_assert(sizeof(TaskState) == kStateFileSize);

TaskState task(pid_t pid, const char *file, const char *host, int slot, DistccPhase phase)
{
	TaskState t{};
	t.structSize = sizeof t;
	t.magic = kStateMagic;
	t.cpid = static_cast<unsigned long>(pid);
	std::strncpy(t.file, file, sizeof t.file - 1);
	std::strncpy(t.host, host, sizeof t.host - 1);
	t.slot = slot;
	t.phase = static_cast<int>(phase);
	return t;
}

std::span<const std::byte> bytes(const TaskState &t)
{
	return { reinterpret_cast<const std::byte *>(&t), sizeof t };
}

class TempDir final
{
public:
	TempDir()
	{
		char name[] = "/tmp/dmdns-state-XXXXXX";
		REQUIRE(::mkdtemp(name));
		path = name;
	}
	~TempDir() { std::filesystem::remove_all(path); }
	void write(const std::string &name, const void *data, std::size_t size) const
	{
		std::ofstream out(path + "/" + name, std::ios::binary);
		out.write(static_cast<const char *>(data), static_cast<std::streamsize>(size));
	}
	std::string path;
};

// A pid that no process has now: a child that exited and was reaped.
pid_t deadPid()
{
	const pid_t pid = ::fork();
	if (pid == 0)
		::_exit(0);
	int status = 0;
	::waitpid(pid, &status, 0);
	return pid;
}

} // namespace

TEST_SUITE("distcc_state")
{
	TEST_CASE("parses distcc's layout and refuses others")
	{
		const TaskState t = task(1234, "src/a.c", "10.0.0.1:3632", 2, DistccPhase::Send);
		const auto job = parseStateFile(bytes(t));
		REQUIRE(job);
		CHECK(job->pid == 1234);
		CHECK(job->file == "src/a.c");
		CHECK(job->host == "10.0.0.1:3632");
		CHECK(job->slot == 2);
		CHECK(job->phase == DistccPhase::Send);
		CHECK(phaseName(job->phase) == "Send");
		CHECK(phaseName(DistccPhase::Preprocess) == "Preprocess");

		TaskState bad = t;
		bad.magic = 0x12345678;
		CHECK(!parseStateFile(bytes(bad)));
		bad = t;
		bad.structSize = 300;
		CHECK(!parseStateFile(bytes(bad)));
		CHECK(!parseStateFile(bytes(t).first(200)));
		bad = t;
		bad.cpid = 0;
		CHECK(!parseStateFile(bytes(bad)));
		// An unknown phase is shown as compiling, as distccmon does.
		bad = t;
		bad.phase = 99;
		CHECK(parseStateFile(bytes(bad))->phase == DistccPhase::Compile);
		// No NUL in 128 bytes, and control characters: cut and printable.
		bad = t;
		std::memset(bad.file, 'x', sizeof bad.file);
		bad.host[0] = '\x1b';
		const auto odd = parseStateFile(bytes(bad));
		REQUIRE(odd);
		CHECK(odd->file == std::string(127, 'x'));
		CHECK(odd->host == "?0.0.0.1:3632");
	}

	TEST_CASE("reads live jobs sorted by host and slot; skips the dead, the stale and the strange")
	{
		TempDir dir;
		const auto now = std::chrono::system_clock::now();
		const TaskState a = task(::getpid(), "b.c", "s2", 1, DistccPhase::Compile);
		const TaskState b = task(::getpid(), "a.c", "s1", 3, DistccPhase::Receive);
		const TaskState c = task(::getpid(), "c.c", "s1", 0, DistccPhase::Preprocess);
		const TaskState dead = task(deadPid(), "dead.c", "s1", 1, DistccPhase::Compile);
		const TaskState old = task(::getpid(), "old.c", "s1", 2, DistccPhase::Compile);
		dir.write("binstate_1", &a, sizeof a);
		dir.write("binstate_2", &b, sizeof b);
		dir.write("binstate_3", &c, sizeof c);
		dir.write("binstate_4", &dead, sizeof dead);
		dir.write("binstate_5", &old, sizeof old);
		const timeval times[2] = { { ::time(nullptr) - 120, 0 }, { ::time(nullptr) - 120, 0 } };
		REQUIRE(::utimes((dir.path + "/binstate_5").c_str(), times) == 0);
		dir.write("binstate_short", &a, 100);
		dir.write("other_file", &a, sizeof a);
		REQUIRE(::symlink((dir.path + "/binstate_1").c_str(), (dir.path + "/binstate_link").c_str()) == 0);
		REQUIRE(::mkfifo((dir.path + "/binstate_fifo").c_str(), 0600) == 0);

		const auto jobs = readDistccJobs(dir.path, now + std::chrono::seconds(3));
		REQUIRE(jobs.size() == 3);
		CHECK(jobs[0].file == "c.c");
		CHECK(jobs[0].slot == 0);
		CHECK(jobs[1].file == "a.c");
		CHECK(jobs[2].file == "b.c");
		CHECK(jobs[0].inPhase.count() >= 2);
		CHECK(jobs[0].inPhase.count() <= 5);
	}

	TEST_CASE("a missing directory has no jobs; the directory is named as distcc names it")
	{
		CHECK(readDistccJobs("/nonexistent/dmdns/state", std::chrono::system_clock::now()).empty());
		CHECK(readDistccJobs("", std::chrono::system_clock::now()).empty());
		::setenv("DISTCC_DIR", "/x/y", 1);
		CHECK(distccStateDir() == "/x/y/state");
		::unsetenv("DISTCC_DIR");
		::setenv("HOME", "/home/u", 1);
		CHECK(distccStateDir() == "/home/u/.distcc/state");
	}

	TEST_CASE("at most kMaxStateFiles files are read")
	{
		TempDir dir;
		const TaskState t = task(::getpid(), "x.c", "s1", 0, DistccPhase::Compile);
		for (std::size_t i = 0; i < kMaxStateFiles + 20; ++i)
			dir.write("binstate_" + std::to_string(i), &t, sizeof t);
		CHECK(readDistccJobs(dir.path, std::chrono::system_clock::now()).size() == kMaxStateFiles);
	}
}
