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

// Looks at argv[0]'s basename and the arguments; runs `make --version` or
// `ninja --version` (the program argv[0] names, searched in PATH) to learn
// the version. Never throws for an unknown or missing program: Other.
CommandInfo inspectCommand(const std::vector<std::string> &argv);

// argv with `-j N` added where the command speaks no jobserver (ninja <
// 1.13, cmake --build, meson compile): `-j N` for make and ninja (after
// argv[0]), `--parallel N` for cmake --build (after the build directory,
// before a `--` that passes native tool options), `-j N` for meson compile
// (after `compile`). Unchanged when the user gave a -j or the kind is Other.
std::vector<std::string> withFixedJobs(const std::vector<std::string> &argv, const CommandInfo &info, unsigned jobs);

} // namespace dmdns::run
