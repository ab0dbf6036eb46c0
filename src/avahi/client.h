// Owns the connection to avahi-daemon and survives the daemon's restarts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <avahi-client/client.h>

#include "avahi/mdns.h"
#include "uv/handle.h"

namespace dmdns::avahi {

// Publishers and browsers hang off the client and must follow its life.
class ClientListener
{
public:
	// The client is running: (re)create every Avahi object now.
	virtual void clientRunning(AvahiClient &client) = 0;
	// The client is gone (daemon stopped or restarting): free every Avahi
	// object now; the AvahiClient is about to be freed.
	virtual void clientGone() = 0;

protected:
	~ClientListener() = default;
};

// Created with AVAHI_CLIENT_NO_FAIL, so it waits for a daemon that is not
// there yet; when the daemon goes away it drops everything and connects
// anew, and the listeners re-create their objects once it runs again.
class Client final : public Mdns
{
public:
	Client(uv_loop_t &loop, const AvahiPoll &poll);
	~Client();

	Client(const Client &) = delete;
	Client &operator=(const Client &) = delete;

	// Borrows @listener until removeListener(); it is told at once if the
	// client already runs.
	void addListener(ClientListener &listener);
	void removeListener(ClientListener &listener);

	// The running client, or nullptr.
	AvahiClient *running() const noexcept { return running_ ? client_.get() : nullptr; }

	uv_loop_t &loop() const noexcept { return loop_; }

	// An avahi::Publisher and an avahi::Browser on this client.
	std::unique_ptr<Publishing> publisher() override;
	std::unique_ptr<Browsing> browse(std::string type, BrowserHandler &handler, std::string domain = {}) override;

private:
	struct Free {
		void operator()(AvahiClient *c) const noexcept { avahi_client_free(c); }
	};

	static void callback(AvahiClient *client, AvahiClientState state, void *self) noexcept;
	void stateChanged(AvahiClient *client, AvahiClientState state);
	void connect();
	void disconnected();

	uv_loop_t &loop_;
	const AvahiPoll &poll_;
	std::unique_ptr<AvahiClient, Free> client_;
	bool running_ = false;
	// avahi-daemon's absence was logged with what to do: later retries
	// log at Info only.
	bool toldUnreachable_ = false;
	std::vector<ClientListener *> listeners_;
	// Frees the dead client and reconnects outside Avahi's own callback.
	uv::Timer reconnect_;
};

} // namespace dmdns::avahi
