// Owns the connection to avahi-daemon and survives the daemon's restarts.
#include "avahi/client.h"

#include <algorithm>

#include <avahi-common/error.h>

#include "avahi/browser.h"
#include "avahi/publisher.h"
#include "common/log.h"
#include "uv/guarded.h"

namespace dmdns::avahi {

Client::Client(uv_loop_t &loop, const AvahiPoll &poll)
	: loop_(loop), poll_(poll), reconnect_(loop, [this] { connect(); })
{
	connect();
}

Client::~Client()
{
	// Listeners are expected to have removed themselves; free the client
	// without telling anyone.
	running_ = false;
	client_.reset();
}

void Client::addListener(ClientListener &listener)
{
	listeners_.push_back(&listener);
	if (running_)
		listener.clientRunning(*client_);
}

void Client::removeListener(ClientListener &listener)
{
	std::erase(listeners_, &listener);
}

std::unique_ptr<Publishing> Client::publisher()
{
	return std::make_unique<Publisher>(*this);
}

std::unique_ptr<Browsing> Client::browse(std::string type, BrowserHandler &handler, std::string domain)
{
	return std::make_unique<Browser>(*this, std::move(type), handler, std::move(domain));
}

void Client::connect()
{
	client_.reset();
	int error = 0;
	// Callbacks fire from inside avahi_client_new, before it returns: the
	// callback works on the pointer it is given, not on client_.
	AvahiClient *client = avahi_client_new(&poll_, AVAHI_CLIENT_NO_FAIL, &Client::callback, this, &error);
	if (!client) {
		// Said in full once; every 5 s after that would bury the log.
		const LogLevel level = toldUnreachable_ ? LogLevel::Info : LogLevel::Error;
		if (error == AVAHI_ERR_NO_DAEMON)
			log(level,
			    "cannot reach avahi-daemon ({}): neither it nor the D-Bus system bus answers. Start them "
			    "(systemctl start dbus avahi-daemon; Debian package avahi-daemon). Gossip and --peer "
			    "work meanwhile; retrying every 5 s",
			    avahi_strerror(error));
		else
			log(level, "cannot create an Avahi client: {}; retrying every 5 s", avahi_strerror(error));
		toldUnreachable_ = true;
		reconnect_.start(std::chrono::seconds(5));
		return;
	}
	client_.reset(client);
	if (running_)
		for (ClientListener *l : std::vector(listeners_))
			l->clientRunning(*client_);
}

void Client::callback(AvahiClient *client, AvahiClientState state, void *self) noexcept
{
	guarded("Avahi client callback", [&] { static_cast<Client *>(self)->stateChanged(client, state); });
}

void Client::stateChanged(AvahiClient *client, AvahiClientState state)
{
	switch (state) {
	case AVAHI_CLIENT_S_RUNNING: {
		const bool inConstructor = !client_;
		running_ = true;
		toldUnreachable_ = false;
		log(LogLevel::Info, "avahi-daemon is running (host name {})",
		    avahi_client_get_host_name(client) ? avahi_client_get_host_name(client) : "?");
		// From inside avahi_client_new connect() notifies once it holds
		// the pointer.
		if (!inConstructor)
			for (ClientListener *l : std::vector(listeners_))
				l->clientRunning(*client);
		break;
	}
	case AVAHI_CLIENT_S_COLLISION:
	case AVAHI_CLIENT_S_REGISTERING:
		// The host name changes or is being re-announced: the listeners'
		// entry groups are reset by the daemon and re-added on RUNNING.
		if (running_) {
			running_ = false;
			for (ClientListener *l : std::vector(listeners_))
				l->clientGone();
		}
		break;
	case AVAHI_CLIENT_CONNECTING:
		// AVAHI_CLIENT_NO_FAIL: D-Bus is there, avahi-daemon is not.
		log(toldUnreachable_ ? LogLevel::Info : LogLevel::Warning,
		    "avahi-daemon is not running: waiting for it. Start it (systemctl start avahi-daemon); "
		    "until then this host is not advertised and finds servers only through gossip and --peer");
		toldUnreachable_ = true;
		break;
	case AVAHI_CLIENT_FAILURE:
		if (avahi_client_errno(client) == AVAHI_ERR_DISCONNECTED) {
			log(LogLevel::Warning, "avahi-daemon went away; reconnecting");
			disconnected();
		} else {
			log(LogLevel::Error, "Avahi client failed: {}; reconnecting in 5 s",
			    avahi_strerror(avahi_client_errno(client)));
			disconnected();
			reconnect_.start(std::chrono::seconds(5));
		}
		break;
	}
}

void Client::disconnected()
{
	if (running_) {
		running_ = false;
		for (ClientListener *l : std::vector(listeners_))
			l->clientGone();
	}
	// Freeing the client inside its own callback is not safe; the timer
	// frees it and connects again on the next loop iteration.
	if (!reconnect_.active())
		reconnect_.start(std::chrono::milliseconds(0));
}

} // namespace dmdns::avahi
