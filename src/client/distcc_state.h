// This user's running distcc jobs, read from distcc's state files ($DISTCC_DIR/state/binstate_*) as distccmon does.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dmdns::client {

// What a distcc client writes at every phase change: distcc 3.4's struct
// dcc_task_state in the machine's native layout (src/state.h there). On
// LP64 (x86_64, aarch64): size_t struct_size @0, unsigned long magic @8,
// unsigned long cpid @16, char file[128] @24, char host[128] @152, int slot
// @280, enum curr_phase @284, a pointer @288 (undefined in the file); 296
// bytes. The size field must match, so another layout is refused, not
// misread.
inline constexpr std::size_t kStateFileSize = 296;
inline constexpr std::uint64_t kStateMagic = 0x44494800; // "DIH\0"
inline constexpr std::string_view kStatePrefix = "binstate_";
// distccmon believes no file older than this (a client killed mid-job).
inline constexpr std::chrono::seconds kStateMaxAge{ 60 };
// A state directory holds one file per running distcc process; more than
// this is not read (the view has room for a few dozen at most).
inline constexpr std::size_t kMaxStateFiles = 512;

// distcc's enum dcc_phase, in its order.
enum class DistccPhase : std::uint8_t {
	Startup,
	Blocked,
	Connect,
	Preprocess,
	Send,
	Compile,
	Receive,
	Done
};

// distccmon's word for @phase ("Startup", "Blocked", ..., "Done").
std::string_view phaseName(DistccPhase phase) noexcept;

// One distcc process's state.
struct DistccJob {
	pid_t pid = 0;
	std::string file; // the source it compiles, as distcc names it
	std::string host; // where: a host description, "localhost" when local
	int slot = 0;
	DistccPhase phase = DistccPhase::Startup;
	std::chrono::seconds inPhase{ 0 }; // since the file was last written
};

// Parses one state file's bytes; nullopt when they are not a task state of
// this layout (wrong size or magic). Unprintable bytes in file and host
// become '?': they are whatever a process of this user wrote.
std::optional<DistccJob> parseStateFile(std::span<const std::byte> bytes);

// The state directory distcc writes: $DISTCC_DIR/state, else
// ~/.distcc/state; empty when neither can be named.
std::string distccStateDir();

// The live jobs in @dir, sorted by host then slot as distccmon lists them:
// files too old (kStateMaxAge before @now), of a process that is gone, or
// that do not parse are skipped (never deleted: distcc cleans them up).
// A missing directory has no jobs.
std::vector<DistccJob> readDistccJobs(const std::string &dir, std::chrono::system_clock::time_point now);

} // namespace dmdns::client
