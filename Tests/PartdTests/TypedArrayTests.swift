// SPDX-License-Identifier: Apache-2.0

import Foundation
import Partd
import PartdCompression
import PartdTestSupport
@testable import PartdTyped
import Testing

/// Counterparts of partd's test_numpy, plus what partd's Numpy store gets wrong
/// (shape lost, first dtype wins, missing key raises, delete keeps the data).
@Suite("Typed arrays")
struct TypedArrayTests {
    @Test("arrays of different dtypes concatenate per key, dtype kept")
    func dtypesKept() throws {
        let store = ArrayStore(over: MemoryStore())
        try store.append(["a": NDArray<Int32>([1, 2, 3])])
        try store.append(["b": NDArray<Int16>([10, 20])])
        try store.append(["c": NDArray<Double>([0.5])])
        try store.append(["a": NDArray<Int32>([4])])
        #expect(try store.get("a", as: NDArray<Int32>.self) == [1, 2, 3, 4])
        #expect(try store.get("b", as: NDArray<Int16>.self) == [10, 20])
        #expect(try store.get("c", as: NDArray<Double>.self) == [0.5])
        #expect(try store.layout(of: "a")?.dtype == .int32)
        #expect(try store.layout(of: "b")?.dtype.numpy == "<i2")
        #expect(try store.layout(of: "missing") == nil)
    }

    @Test("every element type round-trips")
    func everyElementType() throws {
        let store = ArrayStore(over: MemoryStore())
        func check<E: ArrayElement>(_ values: [E]) throws {
            let key = PartdKey("\(E.self)")
            try store.append(key, NDArray(values))
            try store.append(key, NDArray(values))
            #expect(try store.get(key, as: NDArray<E>.self).elements == values + values, "\(E.self)")
        }
        try check([true, false, true])
        try check([Int8.min, -1, 0, Int8.max])
        try check([Int16.min, 0, Int16.max])
        try check([Int32.min, 7, Int32.max])
        try check([Int64.min, 7, Int64.max])
        try check([Int.min, 0, Int.max])
        try check([UInt8.max, 0])
        try check([UInt16.max, 0])
        try check([UInt32.max, 0])
        try check([UInt64.max, 0])
        try check([UInt.max, 1])
        try check([Float(1.5), -.infinity, .greatestFiniteMagnitude])
        try check([Double.pi, -0.0, .leastNonzeroMagnitude])
        try check([Float16(0.5), Float16(-2)])
        try check([Timestamp<Seconds>(1_700_000_000)])
        try check([Timestamp<Milliseconds>(-5)])
        try check([Timestamp<Microseconds>(1), Timestamp<Microseconds>(2)])
        try check([Timestamp<Nanoseconds>(Int64.max)])
    }

    @Test("timestamps keep their unit: <M8[us]> and <M8[s]>")
    func timestampUnits() throws {
        let store = ArrayStore(over: try DirectoryStore.temporary())
        try store.append(["us": NDArray([Timestamp<Microseconds>(1), Timestamp<Microseconds>(2)])])
        try store.append(["s": NDArray([Timestamp<Seconds>(3)])])
        #expect(try store.layout(of: "us")?.dtype.numpy == "<M8[us]")
        #expect(try store.layout(of: "s")?.dtype.numpy == "<M8[s]")
        #expect(try store.get("us", as: NDArray<Timestamp<Microseconds>>.self).elements.map(\.rawValue) == [1, 2])
        let fresh = ArrayStore(over: store.inner)
        expectPartdError(.typeMismatch) { try fresh.get("s", as: NDArray<Timestamp<Microseconds>>.self) }
    }

    @Test("tuple and nested keys", arguments: [PartdKey.tuple("y", 1), .tuple("z", "a", 3), 5])
    func compositeKeys(key: PartdKey) throws {
        let store = ArrayStore(over: try DirectoryStore.temporary())
        try store.append(key, NDArray<Int64>([1, 2]))
        try store.append(key, NDArray<Int64>([3]))
        #expect(try store.get(key, as: NDArray<Int64>.self) == [1, 2, 3])
    }

    @Test("N-dimensional arrays keep their shape and concatenate along the first axis")
    func shapes() throws {
        let store = ArrayStore(over: MemoryStore())
        try store.append("m", try NDArray<Float>([1, 2, 3, 4, 5, 6], shape: [3, 2]))
        try store.append("m", try NDArray<Float>([7, 8], shape: [1, 2]))
        let m = try store.get("m", as: NDArray<Float>.self)
        #expect(m.shape == [4, 2])
        #expect(m.elements == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try store.layout(of: "m")?.rowShape == [2])
        // An empty array with a row shape keeps it.
        try store.append("e", NDArray<Float>(emptyWithRowShape: [3, 4]))
        #expect(try store.get("e", as: NDArray<Float>.self).shape == [0, 3, 4])
        expectPartdError(.invalidArgument) { try NDArray<Float>([1, 2, 3], shape: [2, 2]) }
        expectPartdError(.invalidArgument) { try NDArray<Float>([1], shape: []) }
    }

    @Test("a mismatched row shape or element type is a typed error naming both")
    func mismatches() throws {
        let store = ArrayStore(over: MemoryStore())
        try store.append("m", try NDArray<Double>([1, 2], shape: [1, 2]))
        let shapeError = #expect(throws: PartdError.self) { try store.append("m", try NDArray<Double>([1, 2, 3], shape: [1, 3])) }
        #expect(shapeError?.code == .typeMismatch)
        #expect(shapeError?.message.contains("[2]") == true && shapeError?.message.contains("[3]") == true)
        let typeError = #expect(throws: PartdError.self) { try store.append("m", try NDArray<Int64>([1, 2], shape: [1, 2])) }
        #expect(typeError?.message.contains("<f8") == true && typeError?.message.contains("<i8") == true)
        // Nothing of a refused batch is written.
        expectPartdError(.typeMismatch) {
            try store.append([(key: PartdKey("new"), value: NDArray<Double>([1])), (key: PartdKey("m"), value: NDArray<Double>([1]))])
        }
        #expect(try store.contains("new") == false)
        // A second instance (another process, say) learns what a key holds when reading it.
        let other = ArrayStore(over: store.inner)
        expectPartdError(.typeMismatch) { try other.get("m", as: NDArray<Int64>.self) }
        expectPartdError(.typeMismatch) { try other.get("m", as: StringArray.self) }
        _ = try other.get("m", as: NDArray<Double>.self)
        expectPartdError(.typeMismatch) { try other.append("m", NDArray<Double>([1])) }
        // Frames written by two instances that disagree are reported when read.
        try ArrayStore(over: store.inner).append("m", NDArray<Double>([1, 2, 3]))
        expectPartdError(.corruptData) { try other.get("m", as: NDArray<Double>.self) }
    }

    @Test("a key of one typed kind read as another is typeMismatch naming what it holds, not damage")
    func otherKinds() throws {
        let inner = MemoryStore()
        try ArrayStore(over: inner).append("f8", try NDArray<Double>([1, 2, 3, 4], shape: [2, 2]))
        try ArrayStore(over: inner).append("strings", StringArray(["a", "b"]))
        try TableStore(over: inner).append("table", try Table([Column("a", [1, 2] as [Int64])]))
        try ListStore<MemoryStore, Int>(over: inner).append("list", [1, 2, 3])
        try ListStore<MemoryStore, Int>(over: inner, encoding: .json).append("json", [1, 2, 3])
        try ListStore<MemoryStore, Int>(over: inner, framing: .partd).append("partd", [1, 2, 3])
        try ListStore<MemoryStore, Int>(over: inner, encoding: .json, framing: .partd).append("partd-json", [1, 2, 3])
        try inner.append("junk", Array("\u{5}\0\0\0\0\0\0\0hello".utf8))
        func mismatch(_ holds: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
            let error = expectPartdError(.typeMismatch, sourceLocation: sourceLocation, body)
            #expect(error?.message.contains("holds \(holds)") == true, "\(error.map { "\($0)" } ?? "")", sourceLocation: sourceLocation)
        }
        let arrays = ArrayStore(over: inner)
        mismatch("tables") { _ = try arrays.get("table", as: NDArray<Double>.self) }
        mismatch("tables") { _ = try arrays.get("table", as: StringArray.self) }
        mismatch("a MessagePack list") { _ = try arrays.get("list", as: NDArray<Double>.self) }
        mismatch("a JSON list") { _ = try arrays.get("json", as: StringArray.self) }
        let tables = TableStore(over: inner)
        mismatch("<f8 arrays with rows of shape [2]") { _ = try tables.get("f8") }
        mismatch("string arrays") { _ = try tables.get("strings") }
        mismatch("a MessagePack list") { _ = try tables.get("list") }
        mismatch("a JSON list") { _ = try tables.get("json", columns: ["a"]) }
        let lists = ListStore<MemoryStore, Int>(over: inner)
        mismatch("<f8 arrays with rows of shape [2]") { _ = try lists.get("f8") }
        mismatch("string arrays") { _ = try lists.get("strings") }
        mismatch("tables") { _ = try lists.get("table") }
        // Asking what a key holds says the same.
        mismatch("tables") { _ = try ArrayStore(over: inner).layout(of: "table") }
        mismatch("a MessagePack list") { _ = try ArrayStore(over: inner).layout(of: "list") }
        mismatch("<f8 arrays with rows of shape [2]") { _ = try TableStore(over: inner).schema(of: "f8") }
        mismatch("a JSON list") { _ = try TableStore(over: inner).schema(of: "json") }
        // Lists in Python partd's framing have no checked frames, but are named too.
        mismatch("a MessagePack list in partd's framing") { _ = try arrays.get("partd", as: NDArray<Double>.self) }
        mismatch("a JSON list in partd's framing") { _ = try arrays.get("partd-json", as: StringArray.self) }
        mismatch("a MessagePack list in partd's framing") { _ = try tables.get("partd") }
        mismatch("a MessagePack list in partd's framing") { _ = try ArrayStore(over: inner).layout(of: "partd") }
        mismatch("a JSON list in partd's framing") { _ = try TableStore(over: inner).schema(of: "partd-json") }
        #expect(try lists.get("partd") == [1, 2, 3])
        // Damage is still damage: bytes framed as partd's but holding no list, and a damaged table frame, read
        // as corrupt, not as another kind.
        expectPartdError(.corruptData) { _ = try arrays.get("junk", as: NDArray<Double>.self) }
        expectPartdError(.corruptData) { _ = try tables.get("junk") }
        var damaged = try inner.get("table")
        damaged[damaged.count - 1] ^= 0xFF
        try inner.delete("table")
        try inner.append("table", damaged)
        expectPartdError(.corruptData) { _ = try tables.get("table") }
        #expect(try lists.get("list") == [1, 2, 3])
    }

    @Test("a missing key reads as an empty array; delete removes the data")
    func missingAndDelete() throws {
        let store = ArrayStore(over: try DirectoryStore.temporary())
        #expect(try store.get("nothing", as: NDArray<Double>.self) == [])
        #expect(try store.get("nothing", as: StringArray.self).isEmpty)
        try store.append("x", NDArray<Double>([1]))
        try store.delete("x")
        #expect(try store.get("x", as: NDArray<Double>.self) == [])
        #expect(try store.contains("x") == false)
        // After a delete the key may hold another type.
        try store.append("x", NDArray<Int8>([1]))
        #expect(try store.get("x", as: NDArray<Int8>.self) == [1])
        try store.drop()
        #expect(try store.keys() == [])
    }

    @Test("string arrays concatenate; non-UTF-8 bytes survive")
    func strings() throws {
        let store = ArrayStore(over: try DirectoryStore.temporary())
        try store.append("s", StringArray(["Alice", "", "Bob"]))
        let raw: [[UInt8]] = [[0xFF, 0xFE, 0x00], [0xC3], Array("é".utf8)]
        try store.append("s", StringArray(byteStrings: raw))
        let back = try store.get("s", as: StringArray.self)
        #expect(back.count == 6)
        #expect(Array(back.prefix(3)) == ["Alice", "", "Bob"])
        #expect((3..<6).map { Array(back.bytes(at: $0)) } == raw)
        #expect(back[5] == "é")
        #expect(try store.layout(of: "s")?.dtype == .string)
        expectPartdError(.typeMismatch) { try store.get("s", as: NDArray<UInt8>.self) }
        expectPartdError(.typeMismatch) { try store.append("s", NDArray<UInt8>([1])) }
    }

    @Test(".npy headers: 64-byte aligned, parsed back, and never evaluated")
    func npyHeaders() throws {
        for shape in [[0], [3], [2, 3], [1, 2, 3, 4]] {
            let header = NPYHeader(dtype: .float64, shape: shape)
            let bytes = header.encoded()
            #expect(bytes.count % 64 == 0)
            #expect(try NPYHeader.parse(bytes[...]).header == header)
            #expect(try NPYHeader.parse(bytes[...]).length == bytes.count)
        }
        // Byte for byte what numpy writes (`np.lib.format.write_array_header_1_0`) for these shapes, whatever the
        // capacity reserved. (For some large shapes numpy pads more, leaving room for the array to grow; readers take
        // both, and the golden files pin ours: do not "match numpy" there.)
        let written: [(DType, [Int], String)] = [
            (.float64, [3], "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"),
            (.int32, [2, 3], "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }"),
            (.bool, [], "{'descr': '|b1', 'fortran_order': False, 'shape': (), }"),
            (.datetime(.nanoseconds), [0, 5, 1_000_000_007], "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (0, 5, 1000000007), }"),
            (.uint8, Array(repeating: 123_456_789, count: 32), "{'descr': '|u1', 'fortran_order': False, 'shape': ("
                + Array(repeating: "123456789", count: 32).joined(separator: ", ") + "), }"),
        ]
        for (dtype, shape, dict) in written {
            let padded = Array((dict + String(repeating: " ", count: (64 - (10 + dict.utf8.count + 1) % 64) % 64) + "\n").utf8)
            let expected = NPYHeader.magic + [1, 0, UInt8(padded.count & 0xFF), UInt8(padded.count >> 8)] + padded
            #expect(NPYHeader(dtype: dtype, shape: shape).encoded() == expected, "\(dict)")
            #expect(NPYHeader(dtype: dtype, shape: shape).encoded(reservingCapacity: 1000) == expected)
        }
        func reject(_ dict: String) {
            var bytes = NPYHeader.magic + [1, 0, UInt8(dict.utf8.count & 0xFF), UInt8(dict.utf8.count >> 8)]
            bytes += Array(dict.utf8)
            #expect(throws: NPYHeader.HeaderError.self, "\(dict)") { try NPYHeader.parse(bytes[...]) }
        }
        reject("{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (1,), }")
        reject("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}")
        reject("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }")
        reject("{'descr': '[('a', '<i4')]', 'fortran_order': False, 'shape': (1,), }")
        reject("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }")
        reject("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }")
        reject("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }")
        reject("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }x")
        reject("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,), }")
        reject("{'descr': '<f8', 'fortran_order': False}")
        #expect(DType(numpy: "<M8[us]") == .datetime(.microseconds))
        #expect(DType(numpy: "|b1") == .bool)
        #expect(DType(numpy: "<b1") == nil)
        #expect(DType(numpy: "<i3") == nil)
    }

    @Test("numpy loads one of our array frames as-is: same values, dtype and shape")
    func numpyReadsOurFrames() throws {
        try #require(pythonHas("numpy"), "numpy is not importable; run scripts/test.sh, which installs it")
        let memory = MemoryStore()
        let store = ArrayStore(over: memory)
        try store.append("m", try NDArray<Int32>([1, -2, 3, 4, 5, 6], shape: [2, 3]))
        try store.append("t", NDArray([Timestamp<Microseconds>(1_700_000_000_000_000)]))
        let path = scratchPath("npy")
        defer { unlink(path + "-m.npy"); unlink(path + "-t.npy") }
        for key in ["m", "t"] {
            let frame = try ValueFrames.payloads(try memory.get(PartdKey(key))[...], key: PartdKey(key))[0].bytes
            try Data(frame).write(to: URL(fileURLWithPath: "\(path)-\(key).npy"))
        }
        let script = """
            import sys, numpy as np
            m = np.load(sys.argv[1] + '-m.npy', allow_pickle=False)
            t = np.load(sys.argv[1] + '-t.npy', allow_pickle=False)
            print(m.dtype.str, m.shape, m.tolist(), t.dtype.str, str(t[0]))
            """
        let result = try run("/usr/bin/env", ["python3", "-c", script, path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            == "<i4 (2, 3) [[1, -2, 3], [4, 5, 6]] <M8[us] 2023-11-14T22:13:20.000000")
    }
}

func pythonHas(_ module: String) -> Bool {
    (try? run("/usr/bin/env", ["python3", "-c", "import \(module)"]).status) == 0
}
