// Who may change what this host advertises (--set-state): root, the daemon's own user and the members of an admin group.
#pragma once

#include <optional>
#include <string>

#include <sys/types.h>

namespace dmdns {

// The group whose members may --set-state when --admin-group is not given:
// the packaged daemon's, if it exists.
inline constexpr const char *kDefaultAdminGroup = "distcc-mdns";

class Admins final
{
public:
	// Root and @self only; with @group also its members.
	explicit Admins(uid_t self, std::optional<gid_t> group = std::nullopt, std::string groupName = {});

	// --admin-group: @name nullopt takes kDefaultAdminGroup when that group
	// exists (else no group), "" no group; a group @name that does not exist
	// throws std::invalid_argument naming it.
	static Admins forDaemon(const std::optional<std::string> &name, uid_t self);

	// Whether @uid may change the state: root, the daemon's user, or a user
	// whose primary group is the admin group or who is listed in it (the
	// group database's word when asked, not the peer's groups at connect:
	// SO_PEERCRED carries no supplementary groups).
	bool allows(uid_t uid) const;
	// Who may, for a refusal: "root, the daemon's user or members of group
	// distcc-mdns".
	std::string who() const;

	std::optional<gid_t> adminGid() const noexcept { return group_; }

private:
	uid_t self_;
	std::optional<gid_t> group_;
	std::string groupName_;
};

} // namespace dmdns
