// SPDX-License-Identifier: Apache-2.0
//
// `w5-floor`: what `Codable` itself costs per record, measured with the least coders that go through it.
// `FloorEncoder`/`FloorDecoder` write and read a keyed struct's Int, Double and String fields back to back
// (no keys, no headers, no checks: only W5's record shape), so their time is the standard library's
// per-record work (a container box and its metadata each way, a dynamic call per field) plus a few byte
// copies. The same coders with their bytes switched off (`FloorBytes(copying: false)`: fields written
// nowhere, read as 0, 0.0 and "") measure those calls alone, the least any `Codable` coder can cost. The
// same records also go through MessagePackEncoder/Decoder and through `@MessagePackRecord`, all on one
// thread, without a store.

import BenchmarkSupport
import PartdTyped

/// The bytes every floor container writes to or reads from; with `copying` false, none (writes are
/// dropped, reads give zeros and empty strings).
final class FloorBytes {
    let copying: Bool
    var bytes: [UInt8] = []
    var position = 0

    init(copying: Bool = true) {
        self.copying = copying
    }

    func append<T: FixedWidthInteger>(_ value: T) {
        guard copying else { return }
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    func read<T: FixedWidthInteger>(_: T.Type) -> T {
        guard copying else { return T.zero }
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { raw in
            raw.copyBytes(from: bytes[position ..< position + MemoryLayout<T>.size])
        }
        position += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    func append(utf8: UnsafeBufferPointer<UInt8>) {
        guard copying else { return }
        append(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    func readString() -> String {
        guard copying else { return "" }
        let count = Int(read(UInt32.self))
        defer { position += count }
        return String(decoding: bytes[position ..< position + count], as: UTF8.self)
    }
}

struct FloorUnsupported: Error {}

struct FloorEncoder: Encoder {
    let sink: FloorBytes
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FloorKeyedEncoder<Key>(sink: sink))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("w5-floor codes keyed structs only") }
    func singleValueContainer() -> any SingleValueEncodingContainer { fatalError("w5-floor codes keyed structs only") }
}

struct FloorKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let sink: FloorBytes
    var codingPath: [any CodingKey] { [] }

    mutating func encode(_ value: Int, forKey key: Key) throws { sink.append(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { sink.append(value.bitPattern) }
    mutating func encode(_ value: String, forKey key: Key) throws {
        var value = value
        value.withUTF8 { sink.append(utf8: $0) }
    }
    mutating func encodeNil(forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: Int8, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: Int16, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: Int32, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: Int64, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: UInt, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw FloorUnsupported() }
    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy _: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> { fatalError("w5-floor codes flat structs only") }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        fatalError("w5-floor codes flat structs only")
    }
    mutating func superEncoder() -> any Encoder { fatalError("w5-floor codes flat structs only") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { fatalError("w5-floor codes flat structs only") }
}

struct FloorDecoder: Decoder {
    let source: FloorBytes
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(FloorKeyedDecoder<Key>(source: source))
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw FloorUnsupported() }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { throw FloorUnsupported() }
}

struct FloorKeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let source: FloorBytes
    var codingPath: [any CodingKey] { [] }
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { true }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { source.read(Int.self) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { Double(bitPattern: source.read(UInt64.self)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { source.readString() }
    func decodeNil(forKey key: Key) throws -> Bool { throw FloorUnsupported() }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { throw FloorUnsupported() }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw FloorUnsupported() }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { throw FloorUnsupported() }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { throw FloorUnsupported() }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { throw FloorUnsupported() }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { throw FloorUnsupported() }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { throw FloorUnsupported() }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { throw FloorUnsupported() }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { throw FloorUnsupported() }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { throw FloorUnsupported() }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { throw FloorUnsupported() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { throw FloorUnsupported() }
    func nestedContainer<NestedKey: CodingKey>(
        keyedBy _: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> { throw FloorUnsupported() }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { throw FloorUnsupported() }
    func superDecoder() throws -> any Decoder { throw FloorUnsupported() }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw FloorUnsupported() }
}

/// Encodes and decodes `records` with the floor coder, on this thread: (encode s, decode s). With `copying`
/// false, the coder's calls alone (see `FloorBytes`).
func floorRun<R: Codable>(_ records: [R], copying: Bool = true) throws -> (Double, Double) {
    let bytes = FloorBytes(copying: copying)
    bytes.bytes.reserveCapacity(records.count * 32)
    let t0 = now()
    for record in records { try record.encode(to: FloorEncoder(sink: bytes)) }
    let t1 = now()
    var back: [R] = []
    back.reserveCapacity(records.count)
    for _ in records.indices { back.append(try R(from: FloorDecoder(source: bytes))) }
    let t2 = now()
    precondition(back.count == records.count && bytes.position == bytes.bytes.count)
    return (t1 - t0, t2 - t1)
}

/// Encodes and decodes `records` as one MessagePack list, on this thread: (encode s, decode s).
func messagePackRun<R: Codable>(_ records: [R], _ encoding: MessagePackEncoder.StructEncoding) throws -> (Double, Double) {
    var bytes: [UInt8] = []
    let t0 = now()
    try MessagePackEncoder(structEncoding: encoding).encode(list: records, into: &bytes)
    let t1 = now()
    var back: [R] = []
    try MessagePackDecoder().decode(list: R.self, from: bytes[...], appendingTo: &back)
    let t2 = now()
    precondition(back.count == records.count)
    return (t1 - t0, t2 - t1)
}
