// Tests of the incarnation store: monotone across clock steps, robust against whatever its file holds.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "host/incarnation.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

using namespace dmdns::host;
namespace fs = std::filesystem;

using dmdns::test::TempDir;

namespace {

using dmdns::test::ScopedEnv;

std::string slurp(const fs::path &path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream out;
	out << in.rdbuf();
	return out.str();
}

void spit(const fs::path &path, const std::string &text)
{
	std::ofstream(path, std::ios::binary) << text;
}

// One daemon run: a fresh store over @dir with the clock at @now.
std::uint64_t run(const fs::path &dir, std::uint64_t now, bool *persisted = nullptr)
{
	IncarnationStore store(dir.string(), [now] { return now; });
	const std::uint64_t incarnation = store.next();
	if (persisted)
		*persisted = store.persisted();
	return incarnation;
}

// 2026-01-01 in ms: a plausible wall clock.
constexpr std::uint64_t kT = 1767225600000ULL;
constexpr std::uint64_t kHourMs = 3600000ULL;

} // namespace

TEST_SUITE("host_incarnation")
{
	TEST_CASE("the clock's value on a first run, and larger at every run even after the clock steps back")
	{
		TempDir tmp;
		const fs::path dir = tmp.path() / "state";
		bool persisted = false;
		const std::uint64_t first = run(dir, kT, &persisted);
		CHECK(first == kT);
		CHECK(persisted);
		// Created for its owner only, holding the value.
		struct stat st { };
		REQUIRE(::stat(dir.c_str(), &st) == 0);
		CHECK((st.st_mode & 07777) == 0700);
		CHECK(slurp(dir / "incarnation") == std::to_string(kT) + "\n");

		// The clock stepped back an hour (NTP, a wrong RTC): still newer.
		const std::uint64_t second = run(dir, kT - kHourMs, &persisted);
		CHECK(second > first);
		CHECK(second == kT + 1);
		CHECK(persisted);
		const std::uint64_t third = run(dir, kT - kHourMs);
		CHECK(third == kT + 2);
		// The clock ahead again: its value.
		CHECK(run(dir, kT + kHourMs) == kT + kHourMs);
		CHECK(slurp(dir / "incarnation") == std::to_string(kT + kHourMs) + "\n");
		// No temporary left behind.
		std::size_t files = 0;
		for ([[maybe_unused]] const auto &e : fs::directory_iterator(dir))
			++files;
		CHECK(files == 1);
	}

	TEST_CASE("the real clock: one store, two runs, increasing")
	{
		TempDir tmp;
		IncarnationStore a(tmp.path().string());
		const std::uint64_t x = a.next();
		IncarnationStore b(tmp.path().string());
		const std::uint64_t y = b.next();
		CHECK(y > x);
		CHECK(x > 1600000000000ULL); // milliseconds since 1970, after 2020
		CHECK(y < kMaxIncarnation);
	}

	TEST_CASE("a corrupt file is ignored and replaced; the clock takes over")
	{
		TempDir tmp;
		const fs::path file = tmp.path() / "incarnation";
		const std::string corrupt[] = { "", "\n", "garbage\n", "-5\n", "12 34\n", "0x10\n", "1.5\n",
						std::string(40, '9'), std::string("12\0", 3) + "34\n", std::string(1000, '7') };
		for (const std::string &bad : corrupt) {
			CAPTURE(bad);
			spit(file, bad);
			bool persisted = false;
			CHECK(run(tmp.path(), kT, &persisted) == kT);
			CHECK(persisted);
			CHECK(slurp(file) == std::to_string(kT) + "\n");
		}
		// A good file with surrounding newline is read.
		spit(file, std::to_string(kT + 5) + "\n");
		CHECK(run(tmp.path(), kT) == kT + 6);
	}

	TEST_CASE("absurd values: a stored one is refused, the result never passes the cap")
	{
		TempDir tmp;
		const fs::path file = tmp.path() / "incarnation";
		// A hostile or corrupt 2^64-1 must not become this run's (it would
		// wrap to 0 at the first refutation).
		spit(file, "18446744073709551615\n");
		const std::uint64_t fromMax = run(tmp.path(), kT);
		CHECK(fromMax == kT);
		spit(file, std::to_string(kMaxIncarnation + 1) + "\n");
		CHECK(run(tmp.path(), kT) == kT);
		// The largest value kept: the next is the cap, and stays there.
		spit(file, std::to_string(kMaxIncarnation - 1) + "\n");
		CHECK(run(tmp.path(), kT) == kMaxIncarnation);
		CHECK(run(tmp.path(), kT) == kMaxIncarnation);
		// An absurd clock is capped too, and 0 is never drawn.
		fs::remove(file);
		CHECK(run(tmp.path(), UINT64_MAX) == kMaxIncarnation);
		fs::remove(file);
		CHECK(run(tmp.path(), 0) == 1);
		CHECK(kMaxIncarnation < (std::uint64_t{ 1 } << 63));
	}

	TEST_CASE("a symbolic link or a FIFO as the state file is not followed nor read, and is replaced")
	{
		TempDir tmp;
		const fs::path dir = tmp.path() / "state";
		fs::create_directory(dir);
		fs::permissions(dir, fs::perms::owner_all);
		// A link to a file elsewhere holding a large value.
		const fs::path elsewhere = tmp.path() / "elsewhere";
		spit(elsewhere, std::to_string(kT + kHourMs) + "\n");
		fs::create_symlink(elsewhere, dir / "incarnation");
		bool persisted = false;
		CHECK(run(dir, kT, &persisted) == kT); // not kT + 1h + 1: not read
		CHECK(persisted);
		CHECK(slurp(elsewhere) == std::to_string(kT + kHourMs) + "\n"); // not written through
		CHECK_FALSE(fs::is_symlink(dir / "incarnation"));
		CHECK(slurp(dir / "incarnation") == std::to_string(kT) + "\n");

		// A dangling link: nothing is created where it points.
		fs::remove(dir / "incarnation");
		fs::create_symlink(tmp.path() / "created", dir / "incarnation");
		CHECK(run(dir, kT) == kT);
		CHECK_FALSE(fs::exists(tmp.path() / "created"));

		// A FIFO would block a reader: opened without blocking, ignored.
		fs::remove(dir / "incarnation");
		REQUIRE(::mkfifo((dir / "incarnation").c_str(), 0600) == 0);
		CHECK(run(dir, kT + 1, &persisted) == kT + 1);
		CHECK(persisted);
		CHECK(fs::is_regular_file(dir / "incarnation"));
	}

	TEST_CASE("an unusable state directory: warned about, the clock alone is used")
	{
		TempDir tmp;
		bool persisted = true;
		// Its parent is a regular file.
		spit(tmp.path() / "file", "x");
		CHECK(run(tmp.path() / "file" / "state", kT, &persisted) == kT);
		CHECK_FALSE(persisted);
		// The state directory is a regular file.
		CHECK(run(tmp.path() / "file", kT, &persisted) == kT);
		CHECK_FALSE(persisted);
		CHECK(slurp(tmp.path() / "file") == "x");

		// Writable by others: whatever it holds may be planted; not used.
		const fs::path open = tmp.path() / "open";
		fs::create_directory(open);
		fs::permissions(open, fs::perms::all);
		spit(open / "incarnation", std::to_string(kT + kHourMs) + "\n");
		CHECK(run(open, kT, &persisted) == kT);
		CHECK_FALSE(persisted);
		CHECK(slurp(open / "incarnation") == std::to_string(kT + kHourMs) + "\n");

		// Read but not writable: the value still follows the last run's.
		const fs::path locked = tmp.path() / "locked";
		fs::create_directory(locked);
		spit(locked / "incarnation", std::to_string(kT) + "\n");
		if (::geteuid() == 0) {
			// Root writes anywhere; a directory of another user is refused.
			REQUIRE(::chown(locked.c_str(), 65534, 65534) == 0);
			CHECK(run(locked, kT - kHourMs, &persisted) == kT - kHourMs);
		} else {
			fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
			CHECK(run(locked, kT - kHourMs, &persisted) == kT + 1);
		}
		CHECK_FALSE(persisted);
		CHECK(slurp(locked / "incarnation") == std::to_string(kT) + "\n");

		// No directory at all.
		IncarnationStore none("", [] { return kT; });
		CHECK(none.next() == kT);
		CHECK_FALSE(none.persisted());
	}

	TEST_CASE("the default state directory: systemd's, else root's, else the user's")
	{
		{
			ScopedEnv state("STATE_DIRECTORY", "/var/lib/distcc-mdns:/var/lib/other");
			CHECK(defaultStateDir() == "/var/lib/distcc-mdns");
		}
		ScopedEnv state("STATE_DIRECTORY", std::nullopt);
		ScopedEnv xdg("XDG_STATE_HOME", "/home/u/.state");
		ScopedEnv home("HOME", "/home/u");
		if (::geteuid() == 0) {
			CHECK(defaultStateDir() == "/var/lib/distcc-mdns");
			return;
		}
		CHECK(defaultStateDir() == "/home/u/.state/distcc-mdns");
		{
			ScopedEnv relative("XDG_STATE_HOME", "relative"); // the spec says ignore it
			CHECK(defaultStateDir() == "/home/u/.local/state/distcc-mdns");
		}
		ScopedEnv noXdg("XDG_STATE_HOME", std::nullopt);
		CHECK(defaultStateDir() == "/home/u/.local/state/distcc-mdns");
		ScopedEnv noHome("HOME", std::nullopt);
		CHECK(defaultStateDir().empty());
	}
}
