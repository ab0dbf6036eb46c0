// Gossip packet authentication with a pre-shared key: libsodium's crypto_auth (HMAC-SHA512-256).
#include "net/auth.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <sodium.h>

namespace dmdns::net {

static_assert(Authenticator::kKeyBytes == crypto_auth_KEYBYTES);
static_assert(Authenticator::kTagBytes == crypto_auth_BYTES);

namespace {

constexpr std::size_t kHexChars = 2 * Authenticator::kKeyBytes;

void initSodium()
{
	// sodium_init is thread-safe itself; the static saves the call after the first.
	static const bool ready = sodium_init() >= 0;
	if (!ready)
		throw std::runtime_error("libsodium failed to initialise");
}

// Wipes a buffer that held key material when it goes out of scope.
template <std::size_t N>
struct Secret {
	std::array<char, N> bytes{};
	~Secret() { sodium_memzero(bytes.data(), bytes.size()); }
};

bool isHex(char c) noexcept
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Where @hex falls short of a key, or nothing; says nothing about the key itself.
std::optional<std::string> hexProblem(std::string_view hex)
{
	if (hex.size() != kHexChars)
		return fmt::format("holds {} characters, a key is {} hex characters ({} bytes)", hex.size(),
				   kHexChars, Authenticator::kKeyBytes);
	for (std::size_t i = 0; i < hex.size(); ++i)
		if (!isHex(hex[i]))
			return fmt::format("character {} is not a hex digit", i + 1);
	return std::nullopt;
}

// Guarded, mlock'd memory holding the key from @hex, made read-only.
unsigned char *loadKey(std::string_view hex)
{
	initSodium();
	auto *key = static_cast<unsigned char *>(sodium_malloc(Authenticator::kKeyBytes));
	if (!key)
		throw std::runtime_error("cannot allocate secure memory for the key");
	std::size_t length = 0;
	const char *end = nullptr;
	if (sodium_hex2bin(key, Authenticator::kKeyBytes, hex.data(), hex.size(), nullptr, &length, &end) != 0 ||
	    length != Authenticator::kKeyBytes || end != hex.data() + hex.size()) {
		sodium_free(key);
		throw std::runtime_error("the key is not valid hex");
	}
	// Read-only from here: a stray write faults instead of changing the key.
	sodium_mprotect_readonly(key);
	return key;
}

[[noreturn]] void refuse(const std::string &path, std::string_view why)
{
	throw std::runtime_error(fmt::format("key file {}: {}", path, why));
}

} // namespace

Authenticator Authenticator::fromFile(const std::string &path)
{
	const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			refuse(path, "does not exist");
		refuse(path, std::strerror(errno));
	}
	// Closed on every path out, exceptions included.
	struct Closer {
		int fd;
		~Closer() { ::close(fd); }
	} closer{ fd };
	// The checks look at the file that is read, not at whatever the path
	// names a moment later.
	struct stat st { };
	if (::fstat(fd, &st) != 0)
		refuse(path, std::strerror(errno));
	if (!S_ISREG(st.st_mode))
		refuse(path, "is not a regular file");
	if ((st.st_mode & 077) != 0)
		refuse(path, fmt::format("has mode {:04o}, but a key must be private to its owner (chmod 600 {})",
					 st.st_mode & 07777, path));
	// Like sshd's StrictModes: another user could read or replace the key.
	if (st.st_uid != ::geteuid() && st.st_uid != 0)
		refuse(path, fmt::format("is owned by uid {}, neither this user ({}) nor root", st.st_uid,
					 ::geteuid()));
	// Room for a few stray characters, so that "65 characters" (a CRLF, a
	// space) is reported as such; only what fills it is "too long".
	Secret<4 * kHexChars> content;
	std::size_t size = 0;
	while (size < content.bytes.size()) {
		const ssize_t n = ::read(fd, content.bytes.data() + size, content.bytes.size() - size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			refuse(path, std::strerror(errno));
		}
		if (n == 0)
			break;
		size += static_cast<std::size_t>(n);
	}
	std::string_view hex(content.bytes.data(), size);
	if (hex.ends_with('\n'))
		hex.remove_suffix(1);
	if (size == content.bytes.size())
		refuse(path, fmt::format("is too long, a key file holds {} hex characters and optionally a newline",
					 kHexChars));
	if (const auto problem = hexProblem(hex))
		refuse(path, *problem);
	return Authenticator(loadKey(hex));
}

Authenticator Authenticator::fromHex(std::string_view hex)
{
	if (const auto problem = hexProblem(hex))
		throw std::runtime_error("key " + *problem);
	return Authenticator(loadKey(hex));
}

std::string Authenticator::generateKeyHex()
{
	initSodium();
	Secret<kKeyBytes> key;
	randombytes_buf(key.bytes.data(), key.bytes.size());
	Secret<kHexChars + 1> hex;
	sodium_bin2hex(hex.bytes.data(), hex.bytes.size(), reinterpret_cast<const unsigned char *>(key.bytes.data()),
		       key.bytes.size());
	return std::string(hex.bytes.data(), kHexChars);
}

void Authenticator::generateKeyFile(const std::string &path)
{
	if (path.empty())
		throw std::runtime_error("--generate-key needs a file path");
	const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			refuse(path, "already exists; a new key never replaces one (remove it first to rotate keys)");
		refuse(path, std::strerror(errno));
	}
	struct Closer {
		int fd;
		~Closer() { ::close(fd); }
	} closer{ fd };
	// The umask may only have taken bits away; make it exactly 0600.
	if (::fchmod(fd, 0600) != 0)
		refuse(path, std::strerror(errno));
	const std::string line = generateKeyHex() + "\n";
	std::size_t written = 0;
	while (written < line.size()) {
		const ssize_t n = ::write(fd, line.data() + written, line.size() - written);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			const std::string why = std::strerror(n < 0 ? errno : EIO);
			::unlink(path.c_str()); // a half key would only be refused later
			refuse(path, why);
		}
		written += static_cast<std::size_t>(n);
	}
	if (::fsync(fd) != 0) {
		const std::string why = std::strerror(errno);
		::unlink(path.c_str());
		refuse(path, why);
	}
}

bool Authenticator::makeOutputPrivate(int fd)
{
	struct stat st { };
	if (::fstat(fd, &st) != 0)
		throw std::runtime_error(fmt::format("cannot check the output: {}", std::strerror(errno)));
	if (!S_ISREG(st.st_mode))
		return false;
	if ((st.st_mode & 077) != 0 && ::fchmod(fd, st.st_mode & 0700) != 0)
		throw std::runtime_error(fmt::format("the output file has mode {:04o} and cannot be made private: {}",
						     st.st_mode & 07777, std::strerror(errno)));
	return true;
}

Authenticator::Authenticator(Authenticator &&other) noexcept
	: key_(std::exchange(other.key_, nullptr)) { }

Authenticator &Authenticator::operator=(Authenticator &&other) noexcept
{
	if (this != &other) {
		if (key_)
			sodium_free(key_);
		key_ = std::exchange(other.key_, nullptr);
	}
	return *this;
}

Authenticator::~Authenticator()
{
	// sodium_free wipes the key before it releases the pages.
	if (key_)
		sodium_free(key_);
}

std::vector<std::uint8_t> Authenticator::sign(std::span<const std::uint8_t> body) const
{
	if (!key_)
		throw std::logic_error("Authenticator used after move");
	std::vector<std::uint8_t> packet(body.size() + kTagBytes);
	if (!body.empty())
		std::memcpy(packet.data(), body.data(), body.size());
	crypto_auth(packet.data() + body.size(), body.data(), body.size(), key_);
	return packet;
}

std::optional<std::span<const std::uint8_t>>
Authenticator::verify(std::span<const std::uint8_t> packet) const noexcept
{
	if (!key_ || packet.size() < kTagBytes)
		return std::nullopt;
	const std::span<const std::uint8_t> body = packet.first(packet.size() - kTagBytes);
	// crypto_auth_verify compares the tags in constant time.
	if (crypto_auth_verify(packet.data() + body.size(), body.data(), body.size(), key_) != 0)
		return std::nullopt;
	return body;
}

std::uint64_t randomU64() noexcept
{
	std::uint64_t v = 0;
	randombytes_buf(&v, sizeof v);
	return v;
}

} // namespace dmdns::net
