// SPDX-License-Identifier: Apache-2.0

/// Any byte store behind one concrete type, for stacks chosen at run time:
///
/// ```swift
/// let base: any ByteStore = useDisk ? try DirectoryStore.temporary() : MemoryStore()
/// let tables = TableStore(over: AnyByteStore(base))
/// ```
public struct AnyByteStore: ByteStore {
    /// The store every call is forwarded to.
    public let base: any ByteStore

    public init(_ base: any ByteStore) {
        self.base = (base as? AnyByteStore)?.base ?? base
    }

    public func append(_ batch: [(key: PartdKey, value: [UInt8])]) throws { try base.append(batch) }
    public func append(chunked batch: [(key: PartdKey, chunks: [[UInt8]])]) throws { try base.append(chunked: batch) }
    public func get(_ keys: [PartdKey]) throws -> [[UInt8]] { try base.get(keys) }
    public func get(_ key: PartdKey, reservingCapacity extraCapacity: Int) throws -> [UInt8] {
        try base.get(key, reservingCapacity: extraCapacity)
    }
    public func withBytes<R>(of key: PartdKey, _ body: (ArraySlice<UInt8>) throws -> R) throws -> R {
        try base.withBytes(of: key, body)
    }
    @discardableResult
    public func setOnce(_ key: PartdKey, _ value: [UInt8]) throws -> Bool { try base.setOnce(key, value) }
    public func delete(_ keys: [PartdKey]) throws { try base.delete(keys) }
    public func drop() throws { try base.drop() }
    public func keys() throws -> [PartdKey] { try base.keys() }
    public func contains(_ key: PartdKey) throws -> Bool { try base.contains(key) }
    public func byteCount(of key: PartdKey) throws -> Int { try base.byteCount(of: key) }
    public func validate(_ key: PartdKey) throws { try base.validate(key) }
    public func waitForWrites() throws { try base.waitForWrites() }
}
