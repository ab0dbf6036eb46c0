// Gossip wire format v2: the bounded encoder.
#include "distcc-mdns/gossip_wire.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "core/wire_fields.h"

namespace dmdns::wire {

namespace {

using detail::bodySize;
using detail::kOptCpp;
using detail::kOptLzo;

// A Speed's log time, in 1/10000: steps of 0.01 % in time.
constexpr double kSpeedLogUnit = 10000.0;

// Fixed point in thousandths; callers validate the range first.
std::uint32_t toMilli(double value) noexcept
{
	return static_cast<std::uint32_t>(std::llround(value * 1000.0));
}

class Writer final
{
public:
	explicit Writer(std::vector<std::uint8_t> &out)
		: out_(out) { }

	void u8(std::uint8_t v) { out_.push_back(v); }
	void u16(std::uint16_t v) { be(v, 2); }
	void u32(std::uint32_t v) { be(v, 4); }
	void u64(std::uint64_t v) { be(v, 8); }

private:
	void be(std::uint64_t v, unsigned bytes)
	{
		for (unsigned i = bytes; i-- > 0;)
			out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
	}

	std::vector<std::uint8_t> &out_;
};

RecordType typeOf(const Record &record) noexcept
{
	return std::visit(
		[](const auto &r) {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, Sample>)
				return RecordType::Sample;
			else if constexpr (std::is_same_v<T, Leave>)
				return RecordType::Leave;
			else if constexpr (std::is_same_v<T, Reservation>)
				return RecordType::Reservation;
			else if constexpr (std::is_same_v<T, Demand>)
				return RecordType::Demand;
			else if constexpr (std::is_same_v<T, Load>)
				return RecordType::Load;
			else if constexpr (std::is_same_v<T, Cookie>)
				return RecordType::Cookie;
			else if constexpr (std::is_same_v<T, Profile>)
				return RecordType::Profile;
			else if constexpr (std::is_same_v<T, Speed>)
				return RecordType::Speed;
			else if constexpr (std::is_same_v<T, Clients>)
				return RecordType::Clients;
			else if constexpr (std::is_same_v<T, LocalJobs>)
				return RecordType::LocalJobs;
			else {
				static_assert(std::is_same_v<T, Where>, "a record type without a number");
				return RecordType::Where;
			}
		},
		record);
}

void writeBody(Writer &w, const Record &record)
{
	std::visit(
		[&](const auto &r) {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, Sample>) {
				w.u64(r.server);
				w.u64(r.incarnation);
				w.u64(r.sequence);
				w.u32(r.ageMs);
				w.u16(static_cast<std::uint16_t>(r.running));
				w.u16(static_cast<std::uint16_t>(r.slots));
				w.u16(static_cast<std::uint16_t>(r.cpus));
				w.u32(toMilli(r.runnable));
				w.u32(toMilli(r.speed));
				w.u8(static_cast<std::uint8_t>(r.state));
				w.u8(static_cast<std::uint8_t>((r.lzo ? kOptLzo : 0) | (r.cpp ? kOptCpp : 0)));
				w.u16(r.port);
			} else if constexpr (std::is_same_v<T, Leave>) {
				w.u64(r.node);
				w.u64(r.incarnation);
			} else if constexpr (std::is_same_v<T, Reservation>) {
				w.u64(r.client);
				w.u64(r.server);
				w.u16(static_cast<std::uint16_t>(r.count));
				w.u32(r.ttlMs);
				w.u32(r.ageMs);
				w.u64(r.incarnation);
				w.u64(r.sequence);
			} else if constexpr (std::is_same_v<T, Demand>) {
				w.u64(r.client);
				w.u64(r.incarnation);
				w.u64(r.sequence);
				w.u32(r.ageMs);
				w.u32(r.wanted);
				w.u16(static_cast<std::uint16_t>(r.localSlots));
			} else if constexpr (std::is_same_v<T, Cookie>) {
				w.u64(r.value);
			} else if constexpr (std::is_same_v<T, Profile>) {
				w.u64(r.server);
				w.u64(r.incarnation);
				w.u64(r.digest);
			} else if constexpr (std::is_same_v<T, Speed>) {
				w.u64(r.client);
				w.u64(r.server);
				w.u64(r.incarnation);
				w.u64(r.sequence);
				w.u32(r.ageMs);
				w.u32(static_cast<std::uint32_t>(std::llround(r.logTime * kSpeedLogUnit)));
				w.u16(static_cast<std::uint16_t>(r.jobs));
			} else if constexpr (std::is_same_v<T, Clients>) {
				w.u64(r.server);
				w.u64(r.incarnation);
				w.u64(r.sequence);
				w.u8(static_cast<std::uint8_t>(r.part << 4 | r.parts));
				w.u16(static_cast<std::uint16_t>(r.others));
				for (const ClientEntry &e : r.entries) {
					for (std::uint8_t b : e.address)
						w.u8(b);
					w.u16(static_cast<std::uint16_t>(e.running));
				}
			} else if constexpr (std::is_same_v<T, LocalJobs>) {
				w.u64(r.client);
				w.u64(r.incarnation);
				w.u64(r.sequence);
				w.u16(static_cast<std::uint16_t>(r.jobs));
			} else if constexpr (std::is_same_v<T, Where>) {
				w.u64(r.server);
				w.u64(r.incarnation);
				for (std::uint8_t b : r.address)
					w.u8(b);
				w.u16(r.port);
			} else {
				static_assert(std::is_same_v<T, Load>, "a record type without its encoding");
				w.u64(r.server);
				w.u16(r.incarnation);
				w.u32(r.sequence);
				w.u16(static_cast<std::uint16_t>(r.ageMs / 10));
				w.u16(static_cast<std::uint16_t>(r.running));
				w.u16(static_cast<std::uint16_t>(std::lround(r.runnable * 10.0)));
			}
		},
		record);
}

std::size_t bodyOf(const Record &record) noexcept
{
	if (const auto *c = std::get_if<Clients>(&record))
		return kClientsHeadSize + kClientEntrySize * c->entries.size();
	return bodySize(typeOf(record));
}

} // namespace

std::size_t encodedSize(const Record &record) noexcept
{
	return 2 + bodyOf(record);
}

PacketWriter::PacketWriter(const Header &header, std::size_t maxSize)
	: header_(header), maxSize_(std::min(maxSize, kMaxDatagram))
{
	if (header_.sender == 0)
		throw std::invalid_argument("sender id 0");
	if (!detail::checkCounters(header_.incarnation, header_.sequence).empty())
		throw std::invalid_argument("header counters absurd");
	if (header_.flags & ~kKnownFlags)
		throw std::invalid_argument("unknown flags");
	if (maxSize_ < kHeaderSize + tagRoom())
		throw std::invalid_argument("datagram size too small for a header");
	bytes_.reserve(maxSize_);
	finish();
}

std::size_t PacketWriter::tagRoom() const noexcept
{
	return (header_.flags & kFlagTagged) ? kTagSize : 0;
}

bool PacketWriter::add(const Record &record)
{
	if (std::string why = validate(record); !why.empty())
		throw std::invalid_argument("gossip record: " + why);
	if (count_ == kMaxRecords || size() + encodedSize(record) > maxSize_)
		return false;
	Writer w(bytes_);
	const RecordType type = typeOf(record);
	w.u8(static_cast<std::uint8_t>(type));
	w.u8(static_cast<std::uint8_t>(bodyOf(record)));
	writeBody(w, record);
	++count_;
	return true;
}

void PacketWriter::padTo(std::size_t size)
{
	size = std::min(size, maxSize_);
	if (count_ == kMaxRecords || this->size() + 2 > size)
		return;
	const std::size_t length = std::min<std::size_t>(size - this->size() - 2, 255);
	bytes_.push_back(static_cast<std::uint8_t>(RecordType::Pad));
	bytes_.push_back(static_cast<std::uint8_t>(length));
	bytes_.resize(bytes_.size() + length, 0);
	++count_;
}

std::vector<std::uint8_t> PacketWriter::finish()
{
	std::vector<std::uint8_t> out;
	out.swap(bytes_);
	if (!out.empty()) {
		out[kHeaderSize - 1] = static_cast<std::uint8_t>(count_);
		out.resize(out.size() + tagRoom(), 0);
	}
	// Start the next datagram with its header.
	bytes_.reserve(maxSize_);
	Writer w(bytes_);
	w.u8(kMagic0);
	w.u8(kMagic1);
	w.u8(kVersion);
	w.u8(header_.flags);
	w.u64(header_.sender);
	w.u64(header_.incarnation);
	w.u64(header_.sequence);
	w.u8(0);
	count_ = 0;
	return out;
}

void stampSequence(std::span<std::uint8_t> datagram, std::uint64_t sequence)
{
	if (datagram.size() < kHeaderSize || datagram[0] != kMagic0 || datagram[1] != kMagic1)
		throw std::invalid_argument("not a gossip datagram");
	for (unsigned i = 0; i < 8; ++i)
		datagram[20 + i] = static_cast<std::uint8_t>(sequence >> (8 * (7 - i)));
}

std::vector<std::uint8_t> encode(const Packet &packet)
{
	PacketWriter writer(packet.header);
	for (const Record &record : packet.records)
		if (!writer.add(record))
			throw std::length_error("gossip packet over one datagram");
	return writer.finish();
}

} // namespace dmdns::wire
