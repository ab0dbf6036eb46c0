// Publishes one DNS-SD service through avahi-daemon and keeps it published.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <avahi-client/publish.h>

#include "avahi/client.h"
#include "avahi/mdns.h"

namespace dmdns::avahi {

// Owns one entry group. Re-publishes after avahi-daemon restarts, takes
// Avahi's alternative name on a collision, and changes TXT only while the
// group is ESTABLISHED: updating it while probing can make Avahi withdraw
// the service as a false self-conflict.
class Publisher final : public Publishing, public ClientListener
{
public:
	explicit Publisher(Client &client);
	~Publisher();

	Publisher(const Publisher &) = delete;
	Publisher &operator=(const Publisher &) = delete;

	void publish(ServiceSpec spec) override;
	// Applied once the group is established.
	void updateTxt(std::vector<std::string> txt) override;
	// avahi-daemon sends the goodbye.
	void withdraw() override;

	bool wanted() const noexcept override { return spec_.has_value(); }
	bool established() const noexcept { return established_; }
	const std::string &name() const noexcept override { return name_; }

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
