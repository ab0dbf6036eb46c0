// One compile under distcc-mdns-run: the job wrapper that may race a backup copy of it on a faster server.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dmdns::run {

// The environment variable naming the runner's job socket; the runner sets
// it in the build's environment and the wrapper connects there.
inline constexpr const char *kJobSocketEnv = "DISTCC_MDNS_RUN_JOBS";
// The wrapper's first word on the runner's command line (CC="RUNNER --job
// distcc gcc").
inline constexpr std::string_view kJobOption = "--job";
// The files of the build's DISTCC_DIR the runner writes for the wrapper:
// the remembered works (WorkHistory's text) and the line with its speeds
// (Placement's text).
inline constexpr const char *kWorksFile = "works";
inline constexpr const char *kPlacementFile = "placement";
// Bounds of the wrapper protocol: one line each way, at most this long.
inline constexpr std::size_t kMaxJobLine = 300;

// A compile's copy: the same distcc command writing @temp, which replaces
// @output if the copy wins.
struct BackupCommand {
	std::vector<std::string> argv;
	std::string output;
	std::string temp;
};

// The copy of @job (distcc COMPILER ARGS...) writing to a temporary file
// beside its output, named with @tag; nullopt when the command is not one
// compile whose only product is its -o file: no distcc in front, no
// single -c and -o, or an option that writes a second file named after the
// output or reads arguments from elsewhere (-M*, -save-temps, -gsplit-dwarf,
// coverage and dump files, @FILE, -E, -S), or the source on standard
// input. Such a job runs once, as ever.
std::optional<BackupCommand> backupCommand(std::span<const std::string> job, std::string_view tag);

// The host entry of a "backup ENTRY" line from the runner, checked: one
// distcc host specification of printable characters distcc's grammar uses;
// nullopt for anything else.
std::optional<std::string> parseBackupLine(std::string_view line);

// distcc-mdns-run --job COMMAND...: runs COMMAND; under a runner that says
// so, also runs a copy on the server the runner names, and the first to
// succeed gives the output (the other is ended). Returns COMMAND's exit
// code; execs COMMAND directly when there is no runner or the command
// cannot be copied.
int runJob(const std::vector<std::string> &job);

} // namespace dmdns::run
