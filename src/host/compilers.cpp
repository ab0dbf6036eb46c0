// The compilers of this host: what distccd's masquerade directory lets it run.
#include "host/probe.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "host/capture.h"
#include "host/compiler_id.h"
#include "host/procfs.h"

namespace dmdns::host {

namespace {

// Debian ships about 16 entries; a directory far bigger is not a masquerade dir.
constexpr std::size_t kMaxMasqueradeEntries = 256;
// The whole scan; a hanging compiler costs its own timeout at most, but many
// of them must not stall the daemon's start for minutes.
constexpr std::chrono::seconds kMasqueradeBudget{ 30 };

bool sameFile(const struct stat &a, const struct stat &b) noexcept
{
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

bool executableFile(const std::string &path, struct stat &st) noexcept
{
	return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// What execvp would run for @name with @excludeDir taken out of $PATH, and
// never the file @excludeDir/@name points to (distcc itself) under another name.
std::optional<std::string> findOnPath(const std::string &name, const std::string &excludeDir)
{
	struct stat st;
	if (name.find('/') != std::string::npos)
		return executableFile(name, st) ? std::optional(name) : std::nullopt;

	std::string path;
	if (const char *env = std::getenv("PATH"))
		path = env;
	else
		path = "/bin:/usr/bin"; // execvp's default

	struct stat excluded;
	const bool haveExcluded = !excludeDir.empty() && ::stat(excludeDir.c_str(), &excluded) == 0;
	struct stat wrapper;
	const bool haveWrapper = !excludeDir.empty() && ::stat((excludeDir + "/" + name).c_str(), &wrapper) == 0;

	std::string_view rest = path;
	while (!rest.empty()) {
		const auto colon = rest.find(':');
		const std::string dir(rest.substr(0, colon));
		rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
		// Relative entries (an empty one means ".") would make the answer
		// depend on the daemon's working directory.
		if (dir.empty() || dir[0] != '/')
			continue;
		struct stat dirStat;
		if (::stat(dir.c_str(), &dirStat) != 0 || (haveExcluded && sameFile(dirStat, excluded)))
			continue;
		const std::string candidate = dir + "/" + name;
		if (!executableFile(candidate, st) || (haveWrapper && sameFile(st, wrapper)))
			continue;
		return candidate;
	}
	return std::nullopt;
}

} // namespace

namespace {

// The compiler @name answers for and the path it was run at.
std::optional<std::pair<Compiler, std::string>> probeAt(const std::string &name, const std::string &excludeDir)
{
	if (name.find('/') == std::string::npos && !procfs::validCompilerName(name))
		return std::nullopt;
	const auto path = findOnPath(name, excludeDir);
	if (!path) {
		log(LogLevel::Debug, "compiler {}: not found on PATH", name);
		return std::nullopt;
	}
	// argv[0] is the path found: gcc locates its parts from it, and a
	// target-prefixed clang symlink takes its target from its name.
	const auto machine = runCapture(*path, { *path, "-dumpmachine" });
	const auto version = machine ? runCapture(*path, { *path, "-dumpversion" }) : std::nullopt;
	if (!machine || !version) {
		log(LogLevel::Debug, "compiler {}: {} -dumpmachine/-dumpversion failed", name, *path);
		return std::nullopt;
	}
	auto compiler = procfs::parseCompilerOutput(*machine, *version);
	if (!compiler) {
		log(LogLevel::Debug, "compiler {}: output cannot be advertised", name);
		return std::nullopt;
	}
	return std::pair{ std::move(*compiler), *path };
}

// Adds the identity of the compiler at @path; none when its files cannot
// be read (the compiler is then matched by version, unverified).
void attachIdentity(Compiler &compiler, const std::string &path)
{
	compiler.identity = compilerIdentifier().identify(path);
	if (compiler.identity.empty())
		log(LogLevel::Debug, "compiler {}: no identity", path);
}

} // namespace

std::optional<Compiler> probeCompiler(const std::string &name, const std::string &excludeDir, bool identify)
{
	auto found = probeAt(name, excludeDir);
	if (!found)
		return std::nullopt;
	if (identify)
		attachIdentity(found->first, found->second);
	return std::move(found->first);
}

std::vector<Compiler> masqueradeCompilers(const std::string &dir)
{
	std::vector<Compiler> compilers;
	std::unique_ptr<DIR, int (*)(DIR *)> handle(::opendir(dir.c_str()), ::closedir);
	if (!handle) {
		log(LogLevel::Warning, "cannot read the masquerade directory {}: {}", dir, std::strerror(errno));
		return compilers;
	}
	std::vector<std::string> names;
	std::size_t seen = 0;
	while (const dirent *entry = ::readdir(handle.get())) {
		if (++seen > kMaxMasqueradeEntries) {
			log(LogLevel::Warning, "{}: more than {} entries; the rest ignored", dir, kMaxMasqueradeEntries);
			break;
		}
		if (procfs::validCompilerName(entry->d_name))
			names.emplace_back(entry->d_name);
	}
	handle.reset();

	// The default compiler first: stock distcc advertises and browses for
	// that one only. readdir order is arbitrary; sorting keeps ours stable.
	std::sort(names.begin(), names.end());
	const auto cc = std::find(names.begin(), names.end(), "cc");
	if (cc != names.end())
		std::rotate(names.begin(), cc, cc + 1);

	const auto deadline = std::chrono::steady_clock::now() + kMasqueradeBudget;
	for (const std::string &name : names) {
		if (std::chrono::steady_clock::now() >= deadline) {
			log(LogLevel::Warning, "{}: compilers after {} not probed: out of time", dir, name);
			break;
		}
		auto found = probeAt(name, dir);
		if (!found || std::any_of(compilers.begin(), compilers.end(),
					  [&](const Compiler &c) { return c.sameVersion(found->first); }))
			continue;
		// The first name of a version speaks for it (cc before c++, as
		// stock distcc advertises cc): only that one is hashed.
		attachIdentity(found->first, found->second);
		compilers.push_back(std::move(found->first));
	}
	return compilers;
}

} // namespace dmdns::host
