// Avahi stand-ins: a publisher that records what is published and a browser the test feeds with instances.
#include "support/fake_mdns.h"

#include <stdexcept>

namespace dmdns::test {

FakePublisher::FakePublisher(FakeMdns &mdns)
	: mdns_(mdns)
{
	mdns_.publishers_.push_back(this);
}

FakePublisher::~FakePublisher()
{
	std::erase(mdns_.publishers_, this);
}

void FakePublisher::record(Event::Kind kind)
{
	if (events_.size() >= kMaxEvents)
		throw std::length_error("FakePublisher: too many events");
	events_.push_back({ kind, name_, spec_ ? spec_->txt : std::vector<std::string>{} });
}

void FakePublisher::publish(avahi::ServiceSpec spec)
{
	name_ = spec.name;
	type_ = spec.type;
	spec_ = std::move(spec);
	record(Event::Kind::Publish);
}

void FakePublisher::updateTxt(std::vector<std::string> txt)
{
	// As avahi::Publisher: an unchanged TXT is no update.
	if (!spec_ || spec_->txt == txt)
		return;
	spec_->txt = std::move(txt);
	record(Event::Kind::Txt);
}

void FakePublisher::withdraw()
{
	if (!spec_)
		return;
	record(Event::Kind::Withdraw);
	spec_.reset();
}

void FakePublisher::collide()
{
	if (!spec_)
		throw std::logic_error("FakePublisher: a collision of nothing published");
	name_ = avahi::alternativeName(name_);
	record(Event::Kind::Publish);
}

FakeBrowser::FakeBrowser(FakeMdns &mdns, std::string type, avahi::BrowserHandler &handler, std::string domain)
	: mdns_(mdns), type_(std::move(type)), domain_(std::move(domain)), handler_(handler)
{
	mdns_.browsers_.push_back(this);
}

FakeBrowser::~FakeBrowser()
{
	std::erase(mdns_.browsers_, this);
}

void FakeBrowser::record(Reresolve r)
{
	if (reresolves_.size() >= kMaxReresolves)
		throw std::length_error("FakeBrowser: too many reresolve calls");
	reresolves_.push_back(std::move(r));
}

void FakeBrowser::reresolve(const InstanceKey &key, std::chrono::milliseconds delay)
{
	record({ key, key.name, key.domain, delay });
}

void FakeBrowser::reresolve(std::string_view name, std::string_view domain, std::chrono::milliseconds delay)
{
	record({ std::nullopt, std::string(name), std::string(domain), delay });
}

void FakeBrowser::allForNow()
{
	allForNow_ = true;
	handler_.allForNow();
}

void FakeBrowser::reset()
{
	allForNow_ = false;
	unresolved_ = 0;
	handler_.browserReset();
}

std::unique_ptr<avahi::Publishing> FakeMdns::publisher()
{
	return std::make_unique<FakePublisher>(*this);
}

std::unique_ptr<avahi::Browsing> FakeMdns::browse(std::string type, avahi::BrowserHandler &handler,
						  std::string domain)
{
	return std::make_unique<FakeBrowser>(*this, std::move(type), handler, std::move(domain));
}

FakePublisher &FakeMdns::published(std::string_view type) const
{
	for (FakePublisher *p : publishers_)
		if (p->type() == type)
			return *p;
	throw std::out_of_range("no fake publisher published " + std::string(type));
}

FakeBrowser &FakeMdns::browser(std::string_view type, std::string_view domain) const
{
	for (FakeBrowser *b : browsers_)
		if (b->type() == type && b->domain() == domain)
			return *b;
	throw std::out_of_range("no fake browser of " + std::string(type) + " in '" + std::string(domain) + "'");
}

} // namespace dmdns::test
