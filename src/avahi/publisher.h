// Publishes one DNS-SD service through avahi-daemon and keeps it published.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <avahi-client/publish.h>

#include "client.h"

namespace dmdns::avahi {

struct ServiceSpec {
	std::string name;  // instance name, e.g. distcc@host
	std::string type;  // e.g. _distcc._tcp
	std::uint16_t port = 0;
	std::vector<std::string> txt;
	std::vector<std::string> subtypes; // full names, e.g. _x._sub._distcc._tcp
};

// Owns one entry group. Re-publishes after avahi-daemon restarts, takes
// Avahi's alternative name on a collision, and changes TXT only while the
// group is ESTABLISHED: updating it while probing can make Avahi withdraw
// the service as a false self-conflict.
class Publisher final : public ClientListener
{
public:
	explicit Publisher(Client &client);
	~Publisher();

	Publisher(const Publisher &) = delete;
	Publisher &operator=(const Publisher &) = delete;

	// Publishes @spec, replacing whatever this publisher had published.
	void publish(ServiceSpec spec);
	// New TXT for the published service; applied once it is established.
	void updateTxt(std::vector<std::string> txt);
	// Withdraws the service; avahi-daemon sends the goodbye.
	void withdraw();

	bool wanted() const noexcept { return spec_.has_value(); }
	bool established() const noexcept { return established_; }
	// The name in use, which may be an alternative after a collision.
	const std::string &name() const noexcept { return name_; }

	void clientRunning(AvahiClient &client) override;
	void clientGone() override;

private:
	struct Free {
		void operator()(AvahiEntryGroup *g) const noexcept { avahi_entry_group_free(g); }
	};

	static void callback(AvahiEntryGroup *group, AvahiEntryGroupState state, void *self) noexcept;
	void stateChanged(AvahiEntryGroup *group, AvahiEntryGroupState state);
	// Adds the service to @group and commits; false on failure.
	bool fill(AvahiEntryGroup *group);
	void create();
	void applyTxt();

	Client &client_;
	std::optional<ServiceSpec> spec_;
	std::string name_;
	std::unique_ptr<AvahiEntryGroup, Free> group_;
	bool established_ = false;
	bool txtPending_ = false;
};

} // namespace dmdns::avahi
