// SPDX-License-Identifier: Apache-2.0

@_exported import PartdTyped

/// Makes a `Codable` struct a ``PartdTyped/MessagePackRecord`` by writing its three members from the struct's
/// declaration, so that lists of it are coded field by field without `Codable`'s per-record dispatch and
/// allocations (W5: about five times faster than through `Codable`), in exactly the bytes `Codable` writes.
///
/// ```swift
/// import PartdRecords
///
/// @MessagePackRecord
/// struct Visit: Codable {
///     var user: Int
///     var page: String
/// }
///
/// let visits = ListStore<MemoryStore, Visit>(over: MemoryStore())
/// try visits.append(["p0": [Visit(user: 1, page: "/")]])
/// ```
///
/// The fields are the struct's `CodingKeys` cases, with their string raw values as names, if it declares
/// `CodingKeys`; otherwise its stored properties in declaration order, as `Codable` synthesises them. Each
/// field must be a ``PartdTyped/MessagePackField``: an integer, `Float`, `Double`, `Bool`, `String`,
/// `[UInt8]`, `Data`, `Date`, `UUID`, another record, a raw-value enum that declares `MessagePackField`, or an
/// optional, array, set or `String`- or `Int`-keyed dictionary of these. The macro reports dictionaries with
/// other keys, tuples, property wrappers, `lazy` fields and initialised `let`s (which `Codable` never
/// decodes) as errors on the declaration, and the compiler reports other field types at the generated `pack`
/// call. In a generic struct, a field whose type names a generic parameter makes the conformance conditional on
/// that parameter being a field (`Box<Int>` is a record, `Box<SomePlainCodable>` stays plain `Codable`); a
/// field of an associated type of a parameter (`T.ID`) makes it conditional on that type.
/// A struct with its own `encode(to:)` or `init(from:)` is refused: conform it by hand.
/// A property or `CodingKeys` case spelled with backticks (`` `default` ``) is named without them, as `Codable`
/// names it. The macro sees only the struct's declaration: stored properties inside `#if` are an error (which
/// clause is compiled is not known when it expands), and `CodingKeys`, `encode(to:)` or `init(from:)` declared
/// in an extension are not seen; conform such a struct by hand.
/// Records whose stored layout differs (an older version of the type, a Python dict in another order) are
/// still read, through `Codable`.
///
/// The macro lives in its own module so that code that does not use it never builds swift-syntax.
@attached(extension, conformances: MessagePackRecord, MessagePackField, names: named(messagePackFields), named(pack), named(init(unpacking:)))
public macro MessagePackRecord() = #externalMacro(module: "PartdRecordMacros", type: "MessagePackRecordMacro")
