// Tests of run::inspectCommand and run::withFixedJobs: kinds, versions from fake and real tools, -j spellings.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "run/command.h"
#include "support/temp_dir.h"

using namespace dmdns::run;
using dmdns::test::TempDir;
using Args = std::vector<std::string>;

namespace {

// A fake build tool: a shell script at @dir/@name running @body.
std::string fakeTool(const TempDir &dir, const std::string &name, const std::string &body)
{
	std::string path = dir / name;
	std::ofstream(path) << "#!/bin/sh\n"
			    << body << "\n";
	::chmod(path.c_str(), 0755);
	return path;
}

std::optional<unsigned> jobsOf(const Args &argv)
{
	return inspectCommand(argv).userJobs;
}

} // namespace

TEST_SUITE("run")
{
	TEST_CASE("make: GNU make 4.4 serves the fifo form, 4.3 needs both")
	{
		TempDir dir;
		std::string make44 = fakeTool(dir, "make", "echo 'GNU Make 4.4.1'; echo 'Built for x86_64-pc-linux-gnu'");
		CommandInfo info = inspectCommand({ make44, "-C", "src" });
		CHECK(info.kind == CommandKind::Make);
		CHECK(info.speaksJobserver);
		CHECK(info.style == Jobserver::Style::Fifo);
		CHECK_FALSE(info.userJobs);

		TempDir dir43;
		std::string make43 = fakeTool(dir43, "gmake", "case \"$1\" in --version) echo 'GNU Make 4.3';; *) echo 'archives check-symlink jobserver';; esac");
		info = inspectCommand({ make43 });
		CHECK(info.kind == CommandKind::Make);
		CHECK(info.speaksJobserver);
		CHECK(info.style == Jobserver::Style::Both);

		// A make that says jobserver-fifo in .FEATURES has it, whatever its version says.
		TempDir dirPatched;
		std::string patched = fakeTool(dirPatched, "make", "case \"$1\" in --version) echo 'GNU Make 4.3.90';; *) echo 'jobserver jobserver-fifo output-sync';; esac");
		CHECK(inspectCommand({ patched }).style == Jobserver::Style::Fifo);
	}

	TEST_CASE("make: a make that is not GNU make, or none at all, speaks no jobserver and gets -j")
	{
		TempDir dir;
		std::string bmake = fakeTool(dir, "make", "echo 'usage: make [-BeikNnqrSstWwX]'");
		CommandInfo info = inspectCommand({ bmake, "all" });
		CHECK(info.kind == CommandKind::Make);
		CHECK_FALSE(info.speaksJobserver);
		CHECK(withFixedJobs({ bmake, "all" }, info, 6) == Args{ bmake, "-j", "6", "all" });

		info = inspectCommand({ dir / "nothing/make" });
		CHECK(info.kind == CommandKind::Make);
		CHECK_FALSE(info.speaksJobserver);
	}

	TEST_CASE("make: this machine's make speaks the jobserver and is left alone")
	{
		if (::access("/usr/bin/make", X_OK) != 0)
			return;
		CommandInfo info = inspectCommand({ "make", "-C", "x" });
		CHECK(info.speaksJobserver);
		CHECK(withFixedJobs({ "make", "-C", "x" }, info, 6) == Args{ "make", "-C", "x" });
	}

	TEST_CASE("ninja: 1.13 reads the fifo form, older ones get -j")
	{
		TempDir dir;
		std::string ninja113 = fakeTool(dir, "ninja", "echo 1.13.1");
		CommandInfo info = inspectCommand({ ninja113, "-C", "build" });
		CHECK(info.kind == CommandKind::Ninja);
		CHECK(info.speaksJobserver);
		CHECK(info.style == Jobserver::Style::Fifo);
		CHECK(withFixedJobs({ ninja113, "-C", "build" }, info, 9) == Args{ ninja113, "-C", "build" });

		TempDir dirOld;
		std::string ninja111 = fakeTool(dirOld, "ninja", "echo 1.11.1");
		info = inspectCommand({ ninja111, "-C", "build" });
		CHECK(info.kind == CommandKind::Ninja);
		CHECK_FALSE(info.speaksJobserver);
		CHECK(withFixedJobs({ ninja111, "-C", "build" }, info, 9) == Args{ ninja111, "-j", "9", "-C", "build" });

		TempDir dir2;
		CHECK(inspectCommand({ fakeTool(dir2, "ninja", "echo 2.0.0") }).speaksJobserver);
	}

	TEST_CASE("the user's -j in every spelling, for each kind")
	{
		TempDir dir;
		std::string make = fakeTool(dir, "make", "echo 'GNU Make 4.3'");
		CHECK(jobsOf({ make, "-j4" }) == 4u);
		CHECK(jobsOf({ make, "-j", "4" }) == 4u);
		CHECK(jobsOf({ make, "--jobs=5" }) == 5u);
		CHECK(jobsOf({ make, "--jobs", "5" }) == 5u);
		CHECK(jobsOf({ make, "-kj3" }) == 3u);
		CHECK(jobsOf({ make, "-j" }) == 0u);
		CHECK(jobsOf({ make, "-j", "all" }) == 0u);
		CHECK(jobsOf({ make, "-j2", "-j7" }) == 7u);
		// -C takes an argument: "-Cj4" is the directory j4, "-C -j" no -j at all.
		CHECK_FALSE(jobsOf({ make, "-Cj4" }));
		CHECK_FALSE(jobsOf({ make, "-C", "-j4" }));
		CHECK_FALSE(jobsOf({ make, "CFLAGS=-j4" }));
		// A user's -j makes the command keep it: nothing is added.
		CommandInfo withJ = inspectCommand({ make, "-j2" });
		CHECK(withFixedJobs({ make, "-j2" }, withJ, 8) == Args{ make, "-j2" });

		TempDir ndir;
		std::string ninja = fakeTool(ndir, "ninja", "echo 1.11.1");
		CHECK(jobsOf({ ninja, "-j8" }) == 8u);
		CHECK(jobsOf({ ninja, "-C", "b", "-j", "8" }) == 8u);
		CHECK_FALSE(jobsOf({ ninja, "-C", "-j8" }));

		CHECK(jobsOf({ "cmake", "--build", "b", "-j", "4" }) == 4u);
		CHECK(jobsOf({ "cmake", "--build", "b", "-j4" }) == 4u);
		CHECK(jobsOf({ "cmake", "--build", "b", "--parallel", "4" }) == 4u);
		CHECK(jobsOf({ "cmake", "--build", "b", "--parallel=4" }) == 4u);
		CHECK(jobsOf({ "cmake", "--build", "b", "--parallel" }) == 0u);
		CHECK(jobsOf({ "cmake", "--build", "b", "--", "-j5" }) == 5u);
		CHECK_FALSE(jobsOf({ "cmake", "--build", "b", "--target", "all" }));

		CHECK(jobsOf({ "meson", "compile", "-C", "b", "-j", "4" }) == 4u);
		CHECK(jobsOf({ "meson", "compile", "-j4" }) == 4u);
		CHECK(jobsOf({ "meson", "compile", "--jobs", "4" }) == 4u);
		CHECK(jobsOf({ "meson", "compile", "--jobs=4" }) == 4u);
		CHECK_FALSE(jobsOf({ "meson", "compile", "-C", "b" }));
	}

	TEST_CASE("CMAKE_BUILD_PARALLEL_LEVEL is the user's -j for cmake --build")
	{
		const char *old = std::getenv("CMAKE_BUILD_PARALLEL_LEVEL");
		std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
		::setenv("CMAKE_BUILD_PARALLEL_LEVEL", "6", 1);
		CHECK(jobsOf({ "cmake", "--build", "b" }) == 6u);
		if (saved)
			::setenv("CMAKE_BUILD_PARALLEL_LEVEL", saved->c_str(), 1);
		else
			::unsetenv("CMAKE_BUILD_PARALLEL_LEVEL");
	}

	TEST_CASE("cmake --build: the generator in the cache decides; -j goes before the native tool's --")
	{
		TempDir tools;
		std::string make44 = fakeTool(tools, "gmake", "echo 'GNU Make 4.4.1'");
		std::string ninja111 = fakeTool(tools, "ninja", "echo 1.11.1");

		TempDir makeBuild;
		std::ofstream(makeBuild / "CMakeCache.txt") << "# This is the CMakeCache file.\n"
							    << "CMAKE_MAKE_PROGRAM:FILEPATH=" << make44 << "\n"
							    << "CMAKE_GENERATOR:INTERNAL=Unix Makefiles\n";
		CommandInfo info = inspectCommand({ "cmake", "--build", makeBuild.path().string() });
		CHECK(info.kind == CommandKind::CMakeBuild);
		CHECK(info.speaksJobserver);
		CHECK(info.style == Jobserver::Style::Fifo);

		TempDir ninjaBuild;
		std::ofstream(ninjaBuild / "CMakeCache.txt") << "CMAKE_GENERATOR:INTERNAL=Ninja\n"
							     << "CMAKE_MAKE_PROGRAM:FILEPATH=" << ninja111 << "\n";
		std::string b = ninjaBuild.path().string();
		info = inspectCommand({ "cmake", "--build", b });
		CHECK(info.kind == CommandKind::CMakeBuild);
		CHECK_FALSE(info.speaksJobserver);
		CHECK(withFixedJobs({ "cmake", "--build", b }, info, 7) == Args{ "cmake", "--build", b, "--parallel", "7" });
		CHECK(withFixedJobs({ "cmake", "--build", b, "--", "-v" }, info, 7) == Args{ "cmake", "--build", b, "--parallel", "7", "--", "-v" });

		// No cache (not configured yet): nothing known, so -j.
		CHECK_FALSE(inspectCommand({ "cmake", "--build", tools / "nowhere" }).speaksJobserver);
	}

	TEST_CASE("meson compile follows ninja; other commands are left alone")
	{
		CommandInfo info = inspectCommand({ "meson", "compile", "-C", "b" });
		CHECK(info.kind == CommandKind::MesonCompile);
		if (!info.speaksJobserver)
			CHECK(withFixedJobs({ "meson", "compile", "-C", "b" }, info, 5) == Args{ "meson", "compile", "-j", "5", "-C", "b" });

		for (const Args &argv : { Args{ "cmake", "-S", ".", "-B", "b" }, Args{ "meson", "setup", "b" }, Args{ "./build.sh" }, Args{ "cmake" } }) {
			info = inspectCommand(argv);
			CHECK(info.kind == CommandKind::Other);
			CHECK_FALSE(info.speaksJobserver);
			CHECK(withFixedJobs(argv, info, 5) == argv);
		}
	}
}
