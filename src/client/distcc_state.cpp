// This user's running distcc jobs from distcc's state files (client/distcc_state.h).
#include "client/distcc_state.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "host/files.h"

namespace dmdns::client {

namespace {

constexpr std::array<std::string_view, 8> kPhaseNames = { "Startup", "Blocked", "Connect", "Preprocess",
							  "Send", "Compile", "Receive", "Done" };

// The offsets of struct dcc_task_state's fields on LP64 (distcc_state.h).
constexpr std::size_t kMagicAt = 8, kPidAt = 16, kFileAt = 24, kHostAt = 152, kSlotAt = 280, kPhaseAt = 284;
constexpr std::size_t kNameSize = 128;

template <typename T>
T load(std::span<const std::byte> bytes, std::size_t at)
{
	T value;
	std::memcpy(&value, bytes.data() + at, sizeof value);
	return value;
}

// A NUL-terminated field of at most kNameSize bytes, made printable.
std::string name(std::span<const std::byte> bytes, std::size_t at)
{
	std::string out;
	for (std::size_t i = 0; i < kNameSize - 1; ++i) {
		const auto c = static_cast<unsigned char>(bytes[at + i]);
		if (c == 0)
			break;
		out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
	}
	return out;
}

// Whether process @pid exists (EPERM: it does, someone else's).
bool alive(pid_t pid)
{
	return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

} // namespace

std::string_view phaseName(DistccPhase phase) noexcept
{
	const auto i = static_cast<std::size_t>(phase);
	return i < kPhaseNames.size() ? kPhaseNames[i] : "Compile";
}

std::optional<DistccJob> parseStateFile(std::span<const std::byte> bytes)
{
	// The fields are read as the machine's own types: refuse a build
	// where the layout above is not the native one.
	static_assert(sizeof(std::size_t) == 8 && sizeof(unsigned long) == 8 && sizeof(int) == 4,
		      "distcc's state layout is known for LP64 only");
	if (bytes.size() != kStateFileSize || load<std::size_t>(bytes, 0) != kStateFileSize ||
	    load<unsigned long>(bytes, kMagicAt) != kStateMagic)
		return std::nullopt;
	DistccJob job;
	const auto pid = load<unsigned long>(bytes, kPidAt);
	if (pid == 0 || pid > static_cast<unsigned long>(0x3fffffff))
		return std::nullopt;
	job.pid = static_cast<pid_t>(pid);
	job.file = name(bytes, kFileAt);
	job.host = name(bytes, kHostAt);
	job.slot = load<int>(bytes, kSlotAt);
	// distccmon shows an unknown phase as compiling.
	const auto phase = load<std::uint32_t>(bytes, kPhaseAt);
	job.phase = phase <= static_cast<std::uint32_t>(DistccPhase::Done) ? static_cast<DistccPhase>(phase)
									   : DistccPhase::Compile;
	return job;
}

std::string distccStateDir()
{
	if (const char *dir = std::getenv("DISTCC_DIR"); dir && *dir)
		return std::string(dir) + "/state";
	if (const char *home = std::getenv("HOME"); home && *home)
		return std::string(home) + "/.distcc/state";
	return {};
}

std::vector<DistccJob> readDistccJobs(const std::string &dir, std::chrono::system_clock::time_point now)
{
	std::vector<DistccJob> jobs;
	if (dir.empty())
		return jobs;
	host::UniqueFd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (dirFd.get() < 0)
		return jobs;
	DIR *d = ::fdopendir(dirFd.get());
	if (!d)
		return jobs;
	dirFd.release();
	std::size_t seen = 0;
	for (const dirent *e; (e = ::readdir(d)) != nullptr && seen < kMaxStateFiles;) {
		if (!std::string_view(e->d_name).starts_with(kStatePrefix))
			continue;
		++seen;
		// O_NOFOLLOW and a regular-file check: the directory is the
		// user's, but a link there must not make us read elsewhere (or
		// block on a FIFO).
		host::UniqueFd fd(::openat(::dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
		struct stat st { };
		if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size != static_cast<off_t>(kStateFileSize))
			continue;
		const auto written = std::chrono::system_clock::from_time_t(st.st_mtime);
		if (now - written > kStateMaxAge)
			continue;
		std::array<std::byte, kStateFileSize> buffer{};
		if (::read(fd.get(), buffer.data(), buffer.size()) != static_cast<ssize_t>(buffer.size()))
			continue;
		auto job = parseStateFile(buffer);
		if (!job || (job->phase != DistccPhase::Done && !alive(job->pid)))
			continue;
		job->inPhase = std::max(std::chrono::seconds(0),
					std::chrono::duration_cast<std::chrono::seconds>(now - written));
		jobs.push_back(std::move(*job));
	}
	::closedir(d);
	std::sort(jobs.begin(), jobs.end(), [](const DistccJob &a, const DistccJob &b) {
		return a.host != b.host ? a.host < b.host : a.slot < b.slot;
	});
	return jobs;
}

} // namespace dmdns::client
