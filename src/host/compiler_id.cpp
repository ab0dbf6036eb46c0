// A compiler's identity: a short hash of the binaries its driver runs for C and C++ (of the driver, when it compiles itself).
#include "host/compiler_id.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <sodium.h>

#include "common/log.h"
#include "distcc-mdns/server.h"
#include "host/capture.h"
#include "host/files.h"

namespace dmdns::host {

namespace {

// Where @driver says its part @prog is: an absolute path of a regular file.
std::optional<std::string> partPath(const std::string &driver, const char *prog, std::chrono::milliseconds timeout)
{
	CaptureLimits limits;
	limits.timeout = timeout;
	limits.maxOutput = 4096; // PATH_MAX and a newline
	auto out = runCapture(driver, { driver, fmt::format("-print-prog-name={}", prog) }, limits);
	if (!out)
		return std::nullopt;
	while (!out->empty() && (out->back() == '\n' || out->back() == '\r'))
		out->pop_back();
	// gcc prints the bare name for a part it does not have; clang always.
	if (out->empty() || out->front() != '/' || out->find('\n') != std::string::npos)
		return std::nullopt;
	struct stat st { };
	if (::stat(out->c_str(), &st) != 0 || !S_ISREG(st.st_mode))
		return std::nullopt;
	return out;
}

} // namespace

CompilerParts compilerParts(const std::string &driver, std::chrono::milliseconds timeout)
{
	CompilerParts parts;
	parts.driver = driver;
	parts.cc1 = partPath(driver, "cc1", timeout);
	parts.cc1plus = partPath(driver, "cc1plus", timeout);
	return parts;
}

CompilerIdentifier::CompilerIdentifier()
{
	if (sodium_init() < 0)
		throw std::runtime_error("libsodium failed to initialise");
}

std::optional<CompilerIdentifier::Digest> CompilerIdentifier::fileDigest(const std::string &path)
{
	// O_NONBLOCK: a FIFO put where a compiler was expected must not hang
	// the probe; it is refused below as not a regular file.
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
	if (fd.get() < 0) {
		log(LogLevel::Debug, "compiler identity: cannot open {}: {}", path, std::strerror(errno));
		return std::nullopt;
	}
	struct stat st { };
	if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
		return std::nullopt;
	const auto size = static_cast<std::uint64_t>(st.st_size);
	if (size > maxFile_) {
		log(LogLevel::Warning, "compiler identity: {} has {} bytes, more than the {} hashed", path, size,
		    maxFile_);
		return std::nullopt;
	}
	const Key key{ path, static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino), size,
		       static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec };
	std::lock_guard lock(mutex_);
	if (const auto it = cache_.find(key); it != cache_.end())
		return it->second;

	crypto_generichash_state state;
	crypto_generichash_init(&state, nullptr, 0, sizeof(Digest));
	std::vector<unsigned char> buffer(1u << 16);
	std::uint64_t read = 0;
	for (;;) {
		const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log(LogLevel::Debug, "compiler identity: reading {}: {}", path, std::strerror(errno));
			return std::nullopt;
		}
		if (n == 0)
			break;
		read += static_cast<std::uint64_t>(n);
		// Grown while read: not the file that was measured.
		if (read > size)
			return std::nullopt;
		crypto_generichash_update(&state, buffer.data(), static_cast<unsigned long long>(n));
	}
	if (read != size)
		return std::nullopt;
	Digest digest{};
	crypto_generichash_final(&state, digest.data(), digest.size());
	++hashed_;
	if (cache_.size() >= kMaxCached)
		cache_.clear();
	cache_.emplace(key, digest);
	return digest;
}

std::string CompilerIdentifier::identify(const CompilerParts &parts)
{
	crypto_generichash_state state;
	constexpr std::size_t kOut = crypto_generichash_BYTES_MIN; // at least the digits we keep
	static_assert(kOut * 2 >= kCompilerIdentityDigits);
	crypto_generichash_init(&state, nullptr, 0, kOut);
	// Domain and version of this scheme, so that a later change of what is
	// hashed cannot collide with today's identities.
	constexpr std::string_view kDomain = "distcc-mdns compiler identity 1";
	crypto_generichash_update(&state, reinterpret_cast<const unsigned char *>(kDomain.data()), kDomain.size());
	const std::pair<char, const std::optional<std::string> *> slots[] = {
		{ 'c', &parts.cc1 },
		{ 'p', &parts.cc1plus },
	};
	auto add = [&](char tag, const std::optional<std::string> &path) {
		unsigned char head[2] = { static_cast<unsigned char>(tag), 0 };
		if (!path) {
			crypto_generichash_update(&state, head, sizeof head);
			return true;
		}
		const auto digest = fileDigest(*path);
		if (!digest)
			return false;
		head[1] = 1;
		crypto_generichash_update(&state, head, sizeof head);
		crypto_generichash_update(&state, digest->data(), digest->size());
		return true;
	};
	// gcc's drivers (gcc, g++, cc, c++) only run the compilers proper,
	// which decide the code: the drivers of one installation share an
	// identity, so that a C++ build under --match=exact matches servers
	// whose identity was taken through `cc`. A driver that compiles by
	// itself (clang) is what is hashed.
	if (!parts.cc1 && !parts.cc1plus && !add('d', parts.driver))
		return {};
	for (const auto &[tag, path] : slots)
		if (!add(tag, *path))
			return {};
	unsigned char out[kOut];
	crypto_generichash_final(&state, out, sizeof out);
	std::string hex;
	for (std::size_t i = 0; i < kCompilerIdentityDigits / 2; ++i)
		hex += fmt::format("{:02x}", out[i]);
	return hex;
}

std::string CompilerIdentifier::identify(const std::string &driver)
{
	return identify(compilerParts(driver));
}

std::size_t CompilerIdentifier::filesHashed() const
{
	std::lock_guard lock(mutex_);
	return hashed_;
}

CompilerIdentifier &compilerIdentifier()
{
	static CompilerIdentifier identifier;
	return identifier;
}

} // namespace dmdns::host
