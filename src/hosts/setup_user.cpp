// distcc-mdns-hosts --setup-user: links the user's distcc hosts file to the one the daemon keeps for them.
#include "hosts/setup_user.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.h"

namespace dmdns {

namespace {

std::optional<std::string> linkTarget(const std::string &path)
{
	std::error_code ec;
	const std::filesystem::path target = std::filesystem::read_symlink(path, ec);
	if (ec)
		return std::nullopt;
	return target.string();
}

// Makes @link point at @target, replacing what @link is (a link of ours)
// in one rename, so that distcc never finds no hosts file in between.
bool pointAt(const std::string &link, const std::string &target)
{
	const std::string temporary = fmt::format("{}.{}.tmp", link, std::random_device{}());
	if (::symlink(target.c_str(), temporary.c_str()) != 0) {
		log(LogLevel::Error, "cannot create a link in {}: {}",
		    std::filesystem::path(link).parent_path().string(), std::strerror(errno));
		return false;
	}
	if (::rename(temporary.c_str(), link.c_str()) != 0) {
		log(LogLevel::Error, "cannot put the link at {}: {}", link, std::strerror(errno));
		::unlink(temporary.c_str());
		return false;
	}
	return true;
}

} // namespace

int setupUser(const AskDaemon &ask, const std::string &distccDir, bool force, std::FILE *out)
{
	if (distccDir.empty()) {
		log(LogLevel::Error, "neither DISTCC_DIR nor HOME is set: no place for distcc's hosts file");
		return kSetupUserFailed;
	}
	const std::optional<UserFileAnswer> answer = ask();
	if (!answer) {
		log(LogLevel::Error, "no distcc-mdnsd answers: start the system daemon (systemctl start "
				     "distcc-mdnsd) or name its socket with --socket");
		return kSetupUserFailed;
	}
	if (!answer->refused.empty()) {
		log(LogLevel::Error, "the daemon keeps no hosts file for you: {}", answer->refused);
		return kSetupUserFailed;
	}
	if (!answer->path.starts_with('/')) {
		log(LogLevel::Error, "the daemon's answer to setup-user names no absolute path: '{}'", answer->path);
		return kSetupUserFailed;
	}
	const std::string &target = answer->path;

	// distcc makes ~/.distcc itself, but only when it runs; a missing one
	// here is made as distcc would make it.
	if (::mkdir(distccDir.c_str(), 0755) != 0 && errno != EEXIST) {
		log(LogLevel::Error, "cannot create {}: {}", distccDir, std::strerror(errno));
		return kSetupUserFailed;
	}
	const std::string link = distccDir + "/hosts";
	const std::string orig = link + ".orig";
	struct stat st { };
	bool moved = false;
	if (::lstat(link.c_str(), &st) == 0) {
		const std::optional<std::string> current = S_ISLNK(st.st_mode) ? linkTarget(link) : std::nullopt;
		if (current == target) {
			fmt::print(out, "{} already links to {}: nothing to do\n", link, target);
			return EXIT_SUCCESS;
		}
		const std::string what = current ? "a link to " + *current : "a file of your own";
		if (!force) {
			log(LogLevel::Error,
			    "{} exists ({}); left alone. distcc reads it instead of the daemon's {}. Run again "
			    "with --force to move it to {} and link to the daemon's file",
			    link, what, target, orig);
			return kSetupUserFailed;
		}
		if (::lstat(orig.c_str(), &st) == 0) {
			log(LogLevel::Error, "{} exists too: move one of them away yourself; nothing changed", orig);
			return kSetupUserFailed;
		}
		if (::rename(link.c_str(), orig.c_str()) != 0) {
			log(LogLevel::Error, "cannot move {} to {}: {}", link, orig, std::strerror(errno));
			return kSetupUserFailed;
		}
		moved = true;
	} else if (errno != ENOENT) {
		log(LogLevel::Error, "cannot look at {}: {}", link, std::strerror(errno));
		return kSetupUserFailed;
	}
	if (!pointAt(link, target)) {
		if (moved)
			::rename(orig.c_str(), link.c_str());
		return kSetupUserFailed;
	}
	fmt::print(out, "{} -> {}\n", link, target);
	fmt::print(out, "distcc now reads the hosts the daemon picks for you at every compile:\n"
			"build with CC=\"distcc gcc\" (or distcc's masquerade directory first in PATH)\n"
			"and without DISTCC_HOSTS, which distcc would read instead.\n");
	if (moved)
		fmt::print(out, "Your old file is {}. To undo: mv {} {}\n", orig, orig, link);
	else
		fmt::print(out, "To undo: rm {}\n", link);
	if (const char *hosts = std::getenv("DISTCC_HOSTS"); hosts)
		log(LogLevel::Warning, "DISTCC_HOSTS is set in this shell: distcc ignores the hosts file while it is");
	return EXIT_SUCCESS;
}

} // namespace dmdns
