// What kind of build command the runner starts, whether it speaks the jobserver, and its fixed -j fallback.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "run/jobserver.h"

namespace dmdns::run {

enum class CommandKind {
	Make,
	Ninja,
	CMakeBuild,
	MesonCompile,
	Other
};

struct CommandInfo {
	CommandKind kind = CommandKind::Other;
	bool speaksJobserver = false; // make (any), ninja >= 1.13 (version from `ninja --version`)
	// make 4.4+ (jobserver-fifo in .FEATURES): Fifo or Both; make 4.3: Both; ninja 1.13: Fifo
	Jobserver::Style style = Jobserver::Style::Both;
	std::optional<unsigned> userJobs; // a -j N / -jN / --jobs=N / --parallel N the user gave
};

// Looks at argv[0]'s basename and the arguments; runs `make --version` (and
// asks make for .FEATURES) or `ninja --version` (the program argv[0] names,
// searched in PATH, MAKEFLAGS removed, 5 s at most) to learn the version.
// Never throws for an unknown or missing program: it speaks no jobserver.
//
// cmake --build and meson compile run the build tool with the environment
// they got, MAKEFLAGS included, and add a -j only when asked (tried with
// cmake 3.25: `cmake --build b` over Unix Makefiles ran 4 recipes at once on
// 3 tokens; with `-j8` gmake said "-j8 forced in submake: resetting
// jobserver mode" and ran 8). So cmake --build speaks the jobserver exactly
// when the tool its CMakeCache.txt names (CMAKE_GENERATOR,
// CMAKE_MAKE_PROGRAM) does: GNU make always, ninja from 1.13; meson compile
// when ninja does. Debian 12's ninja 1.11 does not: those get a fixed -j.
//
// userJobs: the last -j the user gave in any spelling of the kind's tool
// (for cmake --build also a -j after its "--" and CMAKE_BUILD_PARALLEL_LEVEL
// in the environment); 0 for a -j without a count (make: no limit).
CommandInfo inspectCommand(const std::vector<std::string> &argv);

// argv with `-j N` added where the command speaks no jobserver (ninja <
// 1.13, cmake --build, meson compile): `-j N` for make and ninja (after
// argv[0]), `--parallel N` for cmake --build (after the build directory,
// before a `--` that passes native tool options), `-j N` for meson compile
// (after `compile`). Unchanged when the user gave a -j or the kind is Other.
std::vector<std::string> withFixedJobs(const std::vector<std::string> &argv, const CommandInfo &info, unsigned jobs);

} // namespace dmdns::run
