// Publishes one DNS-SD service through avahi-daemon and keeps it published.
#include "avahi/publisher.h"

#include <new>

#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>

#include "common/log.h"
#include "uv/guarded.h"

namespace dmdns::avahi {

namespace {

struct FreeStringList {
	void operator()(AvahiStringList *l) const noexcept { avahi_string_list_free(l); }
};
using StringList = std::unique_ptr<AvahiStringList, FreeStringList>;

StringList makeStringList(const std::vector<std::string> &strings)
{
	// avahi_string_list_add prepends: add in reverse to keep the order.
	AvahiStringList *list = nullptr;
	for (auto it = strings.rbegin(); it != strings.rend(); ++it)
		list = avahi_string_list_add_arbitrary(list, reinterpret_cast<const std::uint8_t *>(it->data()),
						       it->size());
	return StringList(list);
}

std::string errorOf(AvahiEntryGroup *group)
{
	return avahi_strerror(avahi_client_errno(avahi_entry_group_get_client(group)));
}

} // namespace

std::string alternativeName(const std::string &name)
{
	char *alt = avahi_alternative_service_name(name.c_str());
	if (!alt)
		throw std::bad_alloc();
	std::string out = alt;
	avahi_free(alt);
	return out;
}

Publisher::Publisher(Client &client)
	: client_(client)
{
	client_.addListener(*this);
}

Publisher::~Publisher()
{
	client_.removeListener(*this);
}

void Publisher::publish(ServiceSpec spec)
{
	name_ = spec.name;
	spec_ = std::move(spec);
	group_.reset();
	established_ = false;
	txtPending_ = false;
	create();
}

void Publisher::updateTxt(std::vector<std::string> txt)
{
	if (!spec_ || spec_->txt == txt)
		return;
	spec_->txt = std::move(txt);
	txtPending_ = true;
	applyTxt();
}

void Publisher::withdraw()
{
	if (spec_)
		log(LogLevel::Info, "withdrawing '{}'", name_);
	spec_.reset();
	group_.reset();
	established_ = false;
	txtPending_ = false;
}

void Publisher::clientRunning(AvahiClient &)
{
	create();
}

void Publisher::clientGone()
{
	group_.reset();
	established_ = false;
}

void Publisher::create()
{
	AvahiClient *client = client_.running();
	if (!spec_ || !client || group_)
		return;
	// The callback may fire from inside avahi_entry_group_new and then
	// works on the pointer it is given.
	AvahiEntryGroup *group = avahi_entry_group_new(client, &Publisher::callback, this);
	if (!group) {
		log(LogLevel::Error, "cannot create an Avahi entry group: {}",
		    avahi_strerror(avahi_client_errno(client)));
		return;
	}
	group_.reset(group);
	txtPending_ = false;
	if (!fill(group))
		group_.reset();
}

bool Publisher::fill(AvahiEntryGroup *group)
{
	const ServiceSpec &spec = *spec_;
	StringList txt = makeStringList(spec.txt);
	for (;;) {
		const int ret = avahi_entry_group_add_service_strlst(group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
								     AvahiPublishFlags(0), name_.c_str(),
								     spec.type.c_str(), nullptr, nullptr,
								     spec.port, txt.get());
		if (ret == AVAHI_ERR_COLLISION) {
			// A local collision: another service of ours has the name.
			name_ = alternativeName(name_);
			continue;
		}
		if (ret < 0) {
			log(LogLevel::Error, "cannot add service '{}': {}", name_, avahi_strerror(ret));
			return false;
		}
		break;
	}
	for (const std::string &subtype : spec.subtypes) {
		const int ret = avahi_entry_group_add_service_subtype(group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
								      AvahiPublishFlags(0), name_.c_str(),
								      spec.type.c_str(), nullptr, subtype.c_str());
		if (ret < 0)
			log(LogLevel::Warning, "cannot add subtype {}: {}", subtype, avahi_strerror(ret));
	}
	if (const int ret = avahi_entry_group_commit(group); ret < 0) {
		log(LogLevel::Error, "cannot commit service '{}': {}", name_, avahi_strerror(ret));
		return false;
	}
	return true;
}

void Publisher::callback(AvahiEntryGroup *group, AvahiEntryGroupState state, void *self) noexcept
{
	guarded("Avahi entry group callback", [&] { static_cast<Publisher *>(self)->stateChanged(group, state); });
}

void Publisher::stateChanged(AvahiEntryGroup *group, AvahiEntryGroupState state)
{
	switch (state) {
	case AVAHI_ENTRY_GROUP_ESTABLISHED:
		established_ = true;
		log(LogLevel::Info, "published '{}'", name_);
		applyTxt();
		break;
	case AVAHI_ENTRY_GROUP_COLLISION: {
		// Someone else on the network has the name: take the next one.
		std::string alt = alternativeName(name_);
		log(LogLevel::Warning, "service name '{}' is taken; renaming to '{}'", name_, alt);
		name_ = std::move(alt);
		established_ = false;
		avahi_entry_group_reset(group);
		// Not freed here on failure: this is the group's own callback.
		fill(group);
		break;
	}
	case AVAHI_ENTRY_GROUP_FAILURE:
		log(LogLevel::Error, "publishing '{}' failed: {}", name_, errorOf(group));
		established_ = false;
		break;
	case AVAHI_ENTRY_GROUP_UNCOMMITED:
	case AVAHI_ENTRY_GROUP_REGISTERING:
		established_ = false;
		break;
	}
}

void Publisher::applyTxt()
{
	if (!txtPending_ || !established_ || !group_ || !spec_)
		return;
	StringList txt = makeStringList(spec_->txt);
	const int ret = avahi_entry_group_update_service_txt_strlst(group_.get(), AVAHI_IF_UNSPEC,
								    AVAHI_PROTO_UNSPEC, AvahiPublishFlags(0),
								    name_.c_str(), spec_->type.c_str(),
								    nullptr, txt.get());
	if (ret < 0)
		log(LogLevel::Warning, "cannot update TXT of '{}': {}", name_, avahi_strerror(ret));
	txtPending_ = false;
}

} // namespace dmdns::avahi
