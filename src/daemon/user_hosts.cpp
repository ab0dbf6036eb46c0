// Keeps one live distcc hosts file per local user who asked, in the daemon's runtime directory.
#include "daemon/user_hosts.h"

#include <charconv>
#include <stdexcept>

#include "common/log.h"
#include "daemon/hosts_file.h"
#include "host/files.h"

namespace dmdns {

namespace {

// A few thousand uids at most, each a short line.
constexpr std::size_t kMaxStateBytes = 64u << 10;

} // namespace

std::set<std::uint32_t> parseUserList(std::string_view text, std::size_t max, std::vector<std::size_t> *bad)
{
	std::set<std::uint32_t> uids;
	std::size_t number = 0;
	while (!text.empty()) {
		++number;
		const std::size_t end = text.find('\n');
		const std::string_view line = text.substr(0, end);
		text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
		if (line.empty())
			continue;
		std::uint32_t uid = 0;
		const auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), uid);
		// (uid_t)-1 is "no uid" to the kernel: never a user.
		if (ec != std::errc{} || ptr != line.data() + line.size() || uid == UINT32_MAX || uids.size() >= max) {
			if (bad)
				bad->push_back(number);
			continue;
		}
		uids.insert(uid);
	}
	return uids;
}

UserHostsFiles::UserHostsFiles(uv::Clock &clock, std::string runtimeDir, std::string stateFile,
			       std::chrono::milliseconds interval, Lines lines)
	: runtimeDir_(std::move(runtimeDir)), stateFile_(std::move(stateFile)), lines_(std::move(lines)),
	  faults_("per-user hosts files in " + runtimeDir_ + "/users"), stateFaults_("user list " + stateFile_),
	  timer_(clock.alarm([this] { refresh(); }))
{
	load();
	refresh();
	timer_->start(interval, interval);
}

void UserHostsFiles::load()
{
	if (stateFile_.empty())
		return;
	const auto file = host::readBounded(stateFile_, kMaxStateBytes);
	if (!file)
		return; // none yet
	std::vector<std::size_t> bad;
	for (std::uint32_t uid : parseUserList(host::wholeLines(*file), kMaxUsers, &bad))
		files_.emplace(uid, File{});
	if (!bad.empty() || file->truncated)
		log(LogLevel::Warning, "{}: skipped {} line(s) that are no uid or beyond {} users{}", stateFile_,
		    bad.size(), kMaxUsers, file->truncated ? ", and the rest of a file too long" : "");
	if (!files_.empty())
		log(LogLevel::Info, "keeping hosts files for {} user(s) listed in {}", files_.size(), stateFile_);
}

void UserHostsFiles::save()
{
	if (stateFile_.empty())
		return;
	std::string text;
	for (const auto &[uid, file] : files_)
		text += std::to_string(uid) + "\n";
	try {
		writeAtomically(stateFile_, text);
		stateFaults_.succeeded();
	} catch (const host::PathError &e) {
		// The files are kept for this run all the same.
		stateFaults_.failed(e);
	}
}

std::string UserHostsFiles::pathOf(std::uint32_t uid) const
{
	return runtimeDir_ + "/users/" + std::to_string(uid) + "/hosts";
}

std::set<std::uint32_t> UserHostsFiles::uids() const
{
	std::set<std::uint32_t> out;
	for (const auto &[uid, file] : files_)
		out.insert(uid);
	return out;
}

std::string UserHostsFiles::add(std::uint32_t uid)
{
	auto it = files_.find(uid);
	const bool added = it == files_.end();
	if (added) {
		if (files_.size() >= kMaxUsers)
			throw std::runtime_error("setup-user: this daemon already keeps hosts files for " +
						 std::to_string(kMaxUsers) + " users");
		it = files_.emplace(uid, File{}).first;
	}
	// Written now, so that the path answered names a file.
	const std::map<std::uint32_t, std::string> lines = lines_({ uid });
	const auto line = lines.find(uid);
	try {
		it->second.id.reset(); // written again even if unchanged
		write(uid, it->second, line == lines.end() ? std::string("localhost") : line->second);
	} catch (const host::PathError &e) {
		if (added)
			files_.erase(it);
		throw std::runtime_error(std::string("setup-user: ") + e.what());
	}
	if (added) {
		save();
		log(LogLevel::Info, "keeping a hosts file for uid {}: {}", uid, pathOf(uid));
	}
	return pathOf(uid);
}

void UserHostsFiles::write(std::uint32_t uid, File &file, const std::string &line)
{
	std::string content = line + "\n";
	const host::SafeDir dir =
		host::SafeDir::open(runtimeDir_).subdir("users").subdir(std::to_string(uid));
	// Compared every time, not only when the line changes: a file deleted
	// or replaced behind our back is written again.
	if (content == file.written && file.id && dir.identity("hosts") == file.id)
		return;
	file.id = dir.replace("hosts", content);
	file.written = std::move(content);
}

void UserHostsFiles::refresh()
{
	if (files_.empty())
		return;
	const std::map<std::uint32_t, std::string> lines = lines_(uids());
	try {
		for (auto &[uid, file] : files_)
			if (const auto line = lines.find(uid); line != lines.end())
				write(uid, file, line->second);
		faults_.succeeded();
	} catch (const host::PathError &e) {
		faults_.failed(e);
	}
}

} // namespace dmdns
