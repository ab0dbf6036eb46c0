// Gossip packet authentication: tags over every bit, truncation, other keys, key files and their permissions.
#include <doctest/doctest.h>

#include <cctype>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter/support.h"
#include "net/auth.h"

using dmdns::net::Authenticator;
using dmdns::test::Fd;
using dmdns::test::TempDir;

namespace {

using Bytes = std::vector<std::uint8_t>;

const std::string kHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// Writes @content to @path with exactly @mode, whatever the umask.
void writeFile(const std::string &path, const std::string &content, mode_t mode = 0600)
{
	Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (fd.get() < 0)
		dmdns::test::fail("open");
	dmdns::test::writeAll(fd.get(), content);
	if (::fchmod(fd.get(), mode) != 0)
		dmdns::test::fail("fchmod");
}

// The message fromFile throws for @path; empty if it accepted the file.
std::string refusal(const std::string &path)
{
	try {
		Authenticator::fromFile(path);
	} catch (const std::runtime_error &e) {
		return e.what();
	}
	return {};
}

bool contains(const std::string &text, const std::string &part)
{
	return text.find(part) != std::string::npos;
}

Bytes body(std::size_t size)
{
	Bytes out(size);
	for (std::size_t i = 0; i < size; ++i)
		out[i] = static_cast<std::uint8_t>(i * 7 + 3);
	return out;
}

} // namespace

TEST_SUITE("net_auth")
{
	TEST_CASE("sign appends a tag that verify accepts, returning the body in place")
	{
		const Authenticator auth = Authenticator::fromHex(kHex);
		for (const std::size_t size : { 0, 1, 31, 32, 33, 1400 }) {
			CAPTURE(size);
			const Bytes plain = body(size);
			const Bytes packet = auth.sign(plain);
			REQUIRE(packet.size() == size + Authenticator::kTagBytes);
			CHECK(Bytes(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(size)) == plain);
			const auto verified = auth.verify(packet);
			REQUIRE(verified);
			CHECK(verified->data() == packet.data());
			CHECK(Bytes(verified->begin(), verified->end()) == plain);
			// HMAC is deterministic: a peer with the key computes the same tag.
			CHECK(Authenticator::fromHex(kHex).sign(plain) == packet);
		}
	}

	TEST_CASE("any flipped bit, in body or tag, is rejected")
	{
		const Authenticator auth = Authenticator::fromHex(kHex);
		const Bytes packet = auth.sign(body(40));
		int rejected = 0;
		for (std::size_t i = 0; i < packet.size(); ++i)
			for (int bit = 0; bit < 8; ++bit) {
				Bytes forged = packet;
				forged[i] ^= static_cast<std::uint8_t>(1u << bit);
				rejected += !auth.verify(forged);
			}
		CHECK(rejected == static_cast<int>(packet.size() * 8));
		CHECK(auth.verify(packet));
	}

	TEST_CASE("truncated, extended and too-short packets are rejected")
	{
		const Authenticator auth = Authenticator::fromHex(kHex);
		const Bytes packet = auth.sign(body(100));
		// Every proper prefix, those shorter than a tag included.
		for (std::size_t size = 0; size < packet.size(); ++size) {
			CAPTURE(size);
			CHECK_FALSE(auth.verify(std::span<const std::uint8_t>(packet.data(), size)));
			// Dropping bytes from the front shifts the tag as well.
			CHECK_FALSE(auth.verify(std::span<const std::uint8_t>(packet).subspan(packet.size() - size)));
		}
		Bytes longer = packet;
		longer.push_back(0);
		CHECK_FALSE(auth.verify(longer));
		// A bare tag of an empty body verifies; the same bytes as zeroes do not.
		CHECK(auth.verify(auth.sign({})));
		CHECK_FALSE(auth.verify(Bytes(Authenticator::kTagBytes, 0)));
		CHECK_FALSE(auth.verify({}));
	}

	TEST_CASE("a packet signed with another key is rejected")
	{
		const Authenticator mine = Authenticator::fromHex(kHex);
		const Authenticator theirs = Authenticator::fromHex(Authenticator::generateKeyHex());
		const Bytes plain = body(64);
		CHECK_FALSE(mine.verify(theirs.sign(plain)));
		CHECK_FALSE(theirs.verify(mine.sign(plain)));
		CHECK(theirs.verify(theirs.sign(plain)));
	}

	TEST_CASE("a moved-from authenticator verifies nothing and refuses to sign")
	{
		Authenticator auth = Authenticator::fromHex(kHex);
		const Bytes packet = auth.sign(body(10));
		Authenticator taken = std::move(auth);
		CHECK(taken.verify(packet));
		// NOLINTBEGIN(bugprone-use-after-move): the behaviour under test.
		CHECK_FALSE(auth.verify(packet));
		CHECK_THROWS_AS(auth.sign(body(10)), std::logic_error);
		// NOLINTEND(bugprone-use-after-move)
		auth = Authenticator::fromHex(Authenticator::generateKeyHex());
		CHECK_FALSE(auth.verify(packet));
	}

	TEST_CASE("generated keys are 64 lowercase hex characters, differ and parse")
	{
		const std::string a = Authenticator::generateKeyHex();
		const std::string b = Authenticator::generateKeyHex();
		CHECK(a.size() == 64);
		CHECK(a != b);
		for (const char c : a)
			CHECK((std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f')));
		const Authenticator fromA = Authenticator::fromHex(a);
		TempDir dir;
		writeFile(dir.file("key"), a + "\n");
		const Authenticator fromFile = Authenticator::fromFile(dir.file("key"));
		CHECK(fromFile.verify(fromA.sign(body(5))));
		CHECK_FALSE(Authenticator::fromHex(b).verify(fromA.sign(body(5))));
	}

	TEST_CASE("fromHex explains what is wrong with a key")
	{
		const auto message = [](const std::string &hex) {
			try {
				Authenticator::fromHex(hex);
			} catch (const std::runtime_error &e) {
				return std::string(e.what());
			}
			return std::string();
		};
		CHECK(contains(message(""), "holds 0 characters"));
		CHECK(contains(message(kHex.substr(1)),
			       "holds 63 characters, a key is 64 hex characters (32 bytes)"));
		CHECK(contains(message(kHex + "0"), "holds 65 characters"));
		CHECK(contains(message(kHex.substr(0, 63) + "g"), "character 64 is not a hex digit"));
		CHECK(contains(message(kHex.substr(0, 62) + "\n0"), "character 63 is not a hex digit"));
		// Upper case is hex too.
		CHECK(message("ABCDEF" + kHex.substr(6)).empty());
	}

	TEST_CASE("key files: content, permissions and type, each with a clear message")
	{
		TempDir dir;
		const std::string path = dir.file("gossip.key");

		CHECK(refusal(path) == "key file " + path + ": does not exist");

		writeFile(path, kHex);
		CHECK(refusal(path).empty());
		writeFile(path, kHex + "\n");
		CHECK(refusal(path).empty());
		const Bytes plain = body(20);
		CHECK(Authenticator::fromFile(path).verify(Authenticator::fromHex(kHex).sign(plain)));

		writeFile(path, "");
		CHECK(refusal(path) ==
		      "key file " + path + ": holds 0 characters, a key is 64 hex characters (32 bytes)");
		writeFile(path, kHex.substr(2) + "\n");
		CHECK(contains(refusal(path), "holds 62 characters"));
		writeFile(path, kHex + "00");
		CHECK(contains(refusal(path), "holds 66 characters"));
		writeFile(path, kHex + "\n\n");
		CHECK(contains(refusal(path), "holds 65 characters"));
		writeFile(path, kHex + std::string(10000, 'a'));
		CHECK(refusal(path) == "key file " + path +
					       ": is too long, a key file holds 64 hex characters and optionally a newline");
		writeFile(path, kHex + "\r\n");
		CHECK(contains(refusal(path), "holds 65 characters"));
		writeFile(path, "zz" + kHex.substr(2));
		CHECK(refusal(path) == "key file " + path + ": character 1 is not a hex digit");
		writeFile(path, " " + kHex.substr(1));
		CHECK(contains(refusal(path), "character 1 is not a hex digit"));

		// Like ssh: any access by group or others, even write or execute.
		for (const mode_t mode : { 0644, 0640, 0604, 0620, 0602, 0610, 0601, 0666 }) {
			CAPTURE(mode);
			writeFile(path, kHex + "\n", mode);
			CHECK(contains(refusal(path), "key file " + path + ": has mode 0"));
			CHECK(contains(refusal(path), "must be private to its owner (chmod 600 " + path + ")"));
		}
		writeFile(path, kHex + "\n", 0644);
		CHECK(contains(refusal(path), "has mode 0644"));
		// Stricter than 0600 is fine: the owner may still read.
		for (const mode_t mode : { 0600, 0400 }) {
			writeFile(path, kHex + "\n", mode);
			CAPTURE(mode);
			CHECK(refusal(path).empty());
		}

		CHECK(refusal(dir.file("")) == "key file " + dir.file("") + ": is not a regular file");

		// Another user's key file could be read or replaced by that user.
		if (::geteuid() == 0) {
			writeFile(path, kHex + "\n", 0600);
			REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
			CHECK(contains(refusal(path), "is owned by uid 65534, neither this user (0) nor root"));
		} else {
			MESSAGE("not root: the foreign-owner check is not exercised");
		}
	}

	TEST_CASE("an unreadable key file says why")
	{
		if (::geteuid() == 0) {
			MESSAGE("root reads any file: skipped");
			return;
		}
		TempDir dir;
		const std::string path = dir.file("key");
		writeFile(path, kHex, 0000);
		CHECK(refusal(path) == "key file " + path + ": Permission denied");
	}

	TEST_CASE("generateKeyFile writes a 0600 key that fromFile accepts, whatever the umask, never over a file")
	{
		TempDir dir;
		const std::string path = dir.file("key");
		const mode_t old = ::umask(0);
		Authenticator::generateKeyFile(path);
		::umask(old);
		struct stat st { };
		REQUIRE(::lstat(path.c_str(), &st) == 0);
		CHECK(S_ISREG(st.st_mode));
		CHECK((st.st_mode & 07777) == 0600);
		CHECK(refusal(path).empty());

		// Neither a second key, nor a link, nor an empty path replaces anything.
		const Bytes plain = body(8);
		const Bytes signedBefore = Authenticator::fromFile(path).sign(plain);
		CHECK_THROWS_WITH_AS(Authenticator::generateKeyFile(path),
				     doctest::Contains("already exists; a new key never replaces one"),
				     std::runtime_error);
		CHECK(Authenticator::fromFile(path).sign(plain) == signedBefore);
		const std::string link = dir.file("link");
		REQUIRE(::symlink(dir.file("elsewhere").c_str(), link.c_str()) == 0);
		CHECK_THROWS_AS(Authenticator::generateKeyFile(link), std::runtime_error);
		CHECK(::access(dir.file("elsewhere").c_str(), F_OK) != 0);
		CHECK_THROWS_WITH_AS(Authenticator::generateKeyFile(dir.file("no/such/dir")),
				     doctest::Contains("No such file or directory"), std::runtime_error);
		CHECK_THROWS_AS(Authenticator::generateKeyFile(""), std::runtime_error);
	}

	TEST_CASE("makeOutputPrivate makes a 0644 regular file 0600 and leaves pipes alone")
	{
		TempDir dir;
		const std::string path = dir.file("out");
		writeFile(path, "", 0644);
		Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
		REQUIRE(fd.get() >= 0);
		CHECK(Authenticator::makeOutputPrivate(fd.get()));
		struct stat st { };
		REQUIRE(::stat(path.c_str(), &st) == 0);
		CHECK((st.st_mode & 07777) == 0600);
		dmdns::test::writeAll(fd.get(), kHex + "\n");
		CHECK(refusal(path).empty());

		int pipeFds[2];
		REQUIRE(::pipe(pipeFds) == 0);
		Fd readEnd(pipeFds[0]);
		Fd writeEnd(pipeFds[1]);
		struct stat before { };
		REQUIRE(::fstat(writeEnd.get(), &before) == 0);
		CHECK_FALSE(Authenticator::makeOutputPrivate(writeEnd.get()));
		struct stat after { };
		REQUIRE(::fstat(writeEnd.get(), &after) == 0);
		CHECK(before.st_mode == after.st_mode);
	}
}
