// Who may change what this host advertises (--set-state): root, the daemon's own user and the members of an admin group.
#include "daemon/admins.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace dmdns {

namespace {

// The largest buffer a group entry gets: a group of a few thousand members.
constexpr std::size_t kMaxEntry = 1u << 20;

// getgrnam_r/getgrgid_r with the buffer grown as they ask, up to kMaxEntry.
template <typename Lookup>
bool lookUpGroup(Lookup lookup, struct group &entry, std::vector<char> &buffer)
{
	for (buffer.resize(16384);; buffer.resize(buffer.size() * 2)) {
		struct group *found = nullptr;
		const int error = lookup(&entry, buffer.data(), buffer.size(), &found);
		if (error == ERANGE && buffer.size() < kMaxEntry)
			continue;
		return error == 0 && found;
	}
}

} // namespace

Admins::Admins(uid_t self, std::optional<gid_t> group, std::string groupName)
	: self_(self), group_(group), groupName_(std::move(groupName))
{
}

Admins Admins::forDaemon(const std::optional<std::string> &name, uid_t self)
{
	if (name && name->empty())
		return Admins(self);
	const std::string wanted = name.value_or(kDefaultAdminGroup);
	struct group entry { };
	std::vector<char> buffer;
	if (!lookUpGroup([&](struct group *g, char *b, std::size_t n,
			     struct group **found) { return ::getgrnam_r(wanted.c_str(), g, b, n, found); },
			 entry, buffer)) {
		if (name)
			throw std::invalid_argument(fmt::format("--admin-group: no group named '{}'", wanted));
		return Admins(self);
	}
	return Admins(self, entry.gr_gid, wanted);
}

bool Admins::allows(uid_t uid) const
{
	if (uid == 0 || uid == self_)
		return true;
	if (!group_)
		return false;
	passwd user{};
	passwd *found = nullptr;
	std::vector<char> userBuffer(16384);
	if (::getpwuid_r(uid, &user, userBuffer.data(), userBuffer.size(), &found) != 0 || !found)
		return false;
	if (user.pw_gid == *group_)
		return true;
	struct group entry { };
	std::vector<char> buffer;
	if (!lookUpGroup([&](struct group *g, char *b, std::size_t n,
			     struct group **out) { return ::getgrgid_r(*group_, g, b, n, out); },
			 entry, buffer))
		return false;
	for (char **member = entry.gr_mem; member && *member; ++member)
		if (std::string_view(*member) == user.pw_name)
			return true;
	return false;
}

std::string Admins::who() const
{
	if (!group_)
		return "root or the daemon's user";
	return fmt::format("root, the daemon's user or members of group {}", groupName_);
}

} // namespace dmdns
