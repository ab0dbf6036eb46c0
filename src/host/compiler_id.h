// A compiler's identity: a short hash of the binaries its driver runs for C and C++ (of the driver, when it compiles itself).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

namespace dmdns::host {

// A larger file is not hashed and its compiler has no identity: cc1plus is
// about 40 MiB, a statically linked clang a few hundred.
inline constexpr std::uint64_t kMaxCompilerFile = 1ull << 30;

// What a driver runs: the paths it prints for -print-prog-name=cc1 and
// =cc1plus, when they are absolute paths of regular files. clang compiles
// in the driver itself and prints a bare name: absent, like a cc1plus not
// installed.
struct CompilerParts {
	std::string driver;
	std::optional<std::string> cc1;
	std::optional<std::string> cc1plus;
};

// Asks @driver (an absolute path, run with itself as argv[0]) where its
// parts are; each run is killed after @timeout.
CompilerParts compilerParts(const std::string &driver,
			    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

// Hashes compilers' files (BLAKE2b, libsodium's crypto_generichash), each
// file read once while its path, device, inode, size and modification time
// stay the same, so that probing again costs the -print-prog-name runs and
// a stat per file, not a re-read of tens of megabytes. Thread-safe.
class CompilerIdentifier final
{
public:
	CompilerIdentifier();

	// kCompilerIdentityDigits (server.h) hex digits over the parts'
	// contents, a missing part counted as missing, and over the driver's
	// only when it has neither part (clang compiles in the driver); empty when
	// the driver or a present part cannot be read whole (unreadable,
	// changing while read, larger than @maxFile).
	std::string identify(const CompilerParts &parts);
	// The same for @driver, asking it for its parts first.
	std::string identify(const std::string &driver);

	// Files read and hashed so far (cache misses): for tests.
	std::size_t filesHashed() const;

	// At most this many files are remembered; then the cache starts over.
	static constexpr std::size_t kMaxCached = 256;

	// Files larger than this are refused (for tests: a smaller bound).
	void setMaxFile(std::uint64_t bytes) { maxFile_ = bytes; }

private:
	using Digest = std::array<unsigned char, 32>;
	// Path, device, inode, size, modification time in nanoseconds.
	using Key = std::tuple<std::string, std::uint64_t, std::uint64_t, std::uint64_t, std::int64_t>;

	std::optional<Digest> fileDigest(const std::string &path);

	mutable std::mutex mutex_;
	std::map<Key, Digest> cache_;
	std::size_t hashed_ = 0;
	std::uint64_t maxFile_ = kMaxCompilerFile;
};

// The identifier the compiler probes of this process share (probe.h).
CompilerIdentifier &compilerIdentifier();

} // namespace dmdns::host
